"""SCC service hours: is the coordination centre staffed at a given time? England's bank holidays come
from the maintained `holidays` calendar (GB, subdivision ENG). With no hours configured, the default
is 08:00–18:00 every day (an SCC's minimum operating hours; configurable per ICB)."""

from __future__ import annotations

from datetime import datetime, time

import holidays
from django.utils import timezone

from carecoord.escalation.models import ServiceHours

DEFAULT = [(ServiceHours.Days.EVERY_DAY, time(8, 0), time(18, 0))]


def bank_holiday(day) -> bool:
    return day in holidays.country_holidays("GB", subdiv="ENG", years=day.year)


def windows(system) -> list[tuple[str, time, time]]:
    rows = list(ServiceHours.objects.filter(system=system).values_list("days", "starts", "ends"))
    return rows or DEFAULT


def is_staffed(system, at: datetime | None = None) -> bool:
    local = timezone.localtime(at or timezone.now())
    day, now = local.date(), local.time()
    off_day = local.weekday() >= 5 or bank_holiday(day)
    for days, starts, ends in windows(system):
        applies = (days == ServiceHours.Days.EVERY_DAY or (days == ServiceHours.Days.WEEKDAYS and not off_day)
                   or (days == ServiceHours.Days.WEEKENDS_AND_BANK_HOLIDAYS and off_day))
        if applies and starts <= now < ends:
            return True
    return False


def describe(system) -> str:
    return "; ".join(f"{ServiceHours.Days(d).label} {s:%H:%M}–{e:%H:%M}" for d, s, e in windows(system))


def on_shift(system, at=None) -> list:
    """The rota's shifts covering `at` (now by default), with their people."""
    from django.utils import timezone

    from carecoord.escalation.models import Shift

    at = at or timezone.now()
    return list(Shift.objects.filter(system=system, starts_at__lte=at, ends_at__gt=at).select_related("user"))
