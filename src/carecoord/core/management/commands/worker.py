"""`carecoord worker`: the django-tasks database worker, a heartbeat for `carecoord check`, and the daily
schedule (`core.scheduler`: nightly validation runs, digital validation reminders and letters), and an
OPEL scorer sweeping the queue (`coordination.scorer`)."""

from __future__ import annotations

import os
import socket
import threading

from django.db import close_old_connections
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from carecoord.core.models import WorkerHeartbeat

HEARTBEAT_SECONDS = 5


def _beat(worker_id: str, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            WorkerHeartbeat.objects.update_or_create(
                worker_id=worker_id,
                defaults={"hostname": socket.gethostname(), "pid": os.getpid(), "last_seen": timezone.now()},
            )
        except Exception:  # noqa: BLE001 - a missed beat must not kill the worker
            pass
        finally:
            close_old_connections()
        stop.wait(HEARTBEAT_SECONDS)


class Command(DbWorkerCommand):
    help = "Run the background worker (imports, validation runs, planning, simulation)"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(reload=False, queue_name="*")
        parser.add_argument("--no-schedule", action="store_true",
                            help="do not run the daily schedule (nightly validation, digital chase) here")

    def handle(self, *args, **options):
        stop = threading.Event()
        thread = threading.Thread(target=_beat, args=(options["worker_id"], stop), daemon=True)
        thread.start()
        if not options.get("no_schedule"):
            from carecoord.core import scheduler

            threading.Thread(target=scheduler.loop, args=(stop,), daemon=True).start()
        from carecoord.coordination import scorer

        scorer.run_in_background(stop)  # sweeps the OPEL score queue (web processes score their own posts)
        try:
            super().handle(*args, **options)
        finally:
            stop.set()
            WorkerHeartbeat.objects.filter(worker_id=options["worker_id"]).delete()
