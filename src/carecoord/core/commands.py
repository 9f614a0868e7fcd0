"""Argument helpers shared by the management commands, so every command names a bad argument the
same way ("--census must be a date as YYYY-MM-DD, not '15/11/2026'")."""

from __future__ import annotations

from datetime import date

from django.core.management.base import CommandError

from carecoord.core.models import Organisation


def organisation(code: str, flag: str = "--provider") -> Organisation:
    org = Organisation.objects.filter(ods_code=(code or "").strip().upper()).first()
    if org is None:
        raise CommandError(f"no organisation with ODS code {code!r} ({flag})")
    return org


def iso_date(value: str, flag: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise CommandError(f"{flag} must be a date as YYYY-MM-DD, not {value!r}") from exc
