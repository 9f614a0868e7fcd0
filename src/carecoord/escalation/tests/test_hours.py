"""SCC service hours with England's bank holidays."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from carecoord.escalation import hours
from carecoord.escalation.models import ServiceHours

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")


def at(y, m, d, hh, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


def test_default_is_eight_to_six_every_day(icb):
    assert hours.is_staffed(icb, at(2026, 11, 22, 8, 0))       # Sunday 08:00: opens
    assert not hours.is_staffed(icb, at(2026, 11, 22, 18, 0))  # 18:00: closed (end is exclusive)
    assert not hours.is_staffed(icb, at(2026, 11, 23, 7, 59))


def test_weekday_and_bank_holiday_windows(icb):
    ServiceHours.objects.create(system=icb, days="weekdays", starts=time(8), ends=time(20))
    ServiceHours.objects.create(system=icb, days="weekends_bh", starts=time(9), ends=time(17))
    assert hours.is_staffed(icb, at(2026, 11, 23, 19, 30))      # Monday evening
    assert not hours.is_staffed(icb, at(2026, 11, 22, 19, 30))  # Sunday evening
    # Christmas Day 2026 is a Friday bank holiday: weekend hours apply
    assert hours.bank_holiday(datetime(2026, 12, 25).date())
    assert not hours.is_staffed(icb, at(2026, 12, 25, 8, 30))
    assert hours.is_staffed(icb, at(2026, 12, 25, 9, 30))
    assert "Weekdays" in hours.describe(icb)


def test_handover_note_shows_on_the_board(client, icb, trust):
    from carecoord.core.models import Role
    from carecoord.testing.factories import user_with_roles

    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    client.post("/coordination/escalation/handover/", {"text": "RAA expects 20 discharges by noon"})
    body = client.get("/coordination/").content.decode()
    assert "RAA expects 20 discharges by noon" in body and ("Staffed now" in body or "Out of hours" in body)
