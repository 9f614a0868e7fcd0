"""Display formatting shared by presenters and templates (NHS.UK style: 2 January 2026)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def date_uk(value) -> str:
    if not value:
        return ""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{value.day} {value:%B} {value.year:04d}"  # four digits even for year 1 (a mistyped date)


def datetime_uk(value) -> str:
    if not value:
        return ""
    value = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{value.day} {value:%B %Y} at {value:%H:%M}"


def number(value, places: int = 0) -> str:
    if value is None:
        return ""
    return f"{value:,.{places}f}"


def pct(value, places: int = 1) -> str:
    if value is None:
        return ""
    return f"{value:.{places}f}%"


def nhs_number(value) -> str:
    """NHS numbers are shown as 3-3-4 digits."""
    if not value or len(value) != 10:
        return value or ""
    return f"{value[:3]} {value[3:6]} {value[6:]}"
