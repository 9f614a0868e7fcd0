"""Daily scheduled work, run by `carecoord worker` (no cron needed).

`SCHEDULE` in settings maps a name to a local time ("HH:MM") and a dotted callable, called with the
time of the check. Each worker checks
every `CHECK_SECONDS`; once the time has passed today, the first worker to insert the day's
`ScheduledRun` row runs the callable (which normally enqueues background jobs and returns a short
outcome). A worker started after the time still runs the day's work once; a day missed entirely
(no worker running) is not caught up. An entry with `"every": True` instead runs at every check and
keeps its own once-only records (e.g. sitreps at the times each system configured).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, time

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from carecoord.core.models import ScheduledRun

log = logging.getLogger(__name__)
CHECK_SECONDS = 30

def schedule() -> dict[str, dict]:
    return getattr(settings, "SCHEDULE", {})


def _at(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def due(now: datetime | None = None) -> list[str]:
    """Names whose time has passed today and that have not run today."""
    now = timezone.localtime(now)
    done = set(ScheduledRun.objects.filter(day=now.date()).values_list("name", flat=True))
    return [name for name, entry in schedule().items()
            if entry.get("at") and name not in done and now.time() >= _at(entry["at"])]


def _call(name: str, now: datetime) -> str:
    """Run one entry's callable with the check's time; a failure is recorded, not raised."""
    try:
        return str(import_string(schedule()[name]["call"])(now) or "done")
    except Exception as exc:  # noqa: BLE001 - record and carry on with the rest
        log.error("scheduled %s failed: %s", name, type(exc).__name__)
        return f"failed: {type(exc).__name__}"


def run_due(now: datetime | None = None) -> dict[str, str]:
    """Run every due entry this worker wins; returns {name: outcome} for those it ran."""
    now = timezone.localtime(now)
    ran = {name: _call(name, now) for name, entry in schedule().items() if entry.get("every")}
    for name in due(now):
        try:
            with transaction.atomic():
                row = ScheduledRun.objects.create(name=name, day=now.date())
        except IntegrityError:
            continue  # another worker took it
        ran[name] = _call(name, now)
        ScheduledRun.objects.filter(pk=row.pk).update(outcome=ran[name][:300])
    return ran


def loop(stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            run_due()
        except Exception as exc:  # noqa: BLE001 - the scheduler must not kill the worker
            log.error("scheduler check failed: %s", type(exc).__name__)
        finally:
            close_old_connections()
        stop.wait(CHECK_SECONDS)
