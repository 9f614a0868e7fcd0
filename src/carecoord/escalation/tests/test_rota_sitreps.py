"""The SCC rota (who is on shift, shown on the board) and sitreps produced at each system's own times."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from carecoord.core.models import OutboxMessage, Role
from carecoord.escalation import sitrep
from carecoord.escalation.models import Shift, SitrepRun, SitrepSchedule
from carecoord.testing.factories import user_with_roles

pytestmark = pytest.mark.django_db


def test_add_a_shift_and_the_board_shows_who_is_on(client, icb, trust):
    op = user_with_roles(icb, Role.SCC_OPERATOR, display_name="Sam Operator")
    client.force_login(op)
    now = timezone.localtime()
    form = {"user": str(op.pk), "role": "SCC lead", "starts_at": (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
            "ends_at": (now + timedelta(hours=7)).strftime("%Y-%m-%d %H:%M")}
    bad = client.post("/coordination/escalation/rota/", {**form, "ends_at": form["starts_at"]})
    assert bad.status_code == 400 and "must end after it starts" in bad.content.decode()
    r = client.post("/coordination/escalation/rota/", form, follow=True)
    assert "Shift added for Sam Operator" in r.content.decode() and Shift.objects.count() == 1
    board = client.get("/coordination/").content.decode()
    assert "On shift: Sam Operator (SCC lead" in board
    # an analyst reads the rota but cannot change it
    client.force_login(user_with_roles(icb, Role.ANALYST))
    assert client.get("/coordination/escalation/rota/").status_code == 200
    assert client.post("/coordination/escalation/rota/", form).status_code == 403


def test_sitreps_are_produced_once_at_each_configured_time(icb, trust, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    SitrepSchedule.objects.create(system=icb, at=time(8, 0), notify="scc-lead@example.nhs.uk")
    SitrepSchedule.objects.create(system=icb, at=time(16, 0))
    tz = timezone.get_current_timezone()
    day = datetime(2026, 12, 1, tzinfo=tz)
    assert sitrep.produce_due(day.replace(hour=7, minute=59)) == "0 sitreps produced"
    assert sitrep.produce_due(day.replace(hour=8, minute=1)) == "1 sitreps produced"
    assert sitrep.produce_due(day.replace(hour=9)) == "0 sitreps produced"  # once a day per time
    assert sitrep.produce_due(day.replace(hour=16, minute=30)) == "1 sitreps produced"
    runs = list(SitrepRun.objects.order_by("schedule__at"))
    assert [r.path.rsplit("/", 1)[1] for r in runs] == ["QAA-2026-12-01-0800.pdf", "QAA-2026-12-01-1600.pdf"]
    assert (tmp_path / "sitreps" / "QAA-2026-12-01-0800.pdf").read_bytes().startswith(b"%PDF")
    note = OutboxMessage.objects.get(template="sitrep-ready")
    assert note.to == "scc-lead@example.nhs.uk" and note.personalisation["time"] == "08:00"


def test_the_scheduler_runs_sitreps_on_every_check(icb, settings, tmp_path):
    from carecoord.core import scheduler

    settings.DATA_DIR = tmp_path
    settings.SCHEDULE = {"sitreps": {"every": True, "call": "carecoord.escalation.sitrep.produce_due"}}
    SitrepSchedule.objects.create(system=icb, at=time(0, 0))
    assert scheduler.run_due() == {"sitreps": "1 sitreps produced"}
    assert scheduler.run_due() == {"sitreps": "0 sitreps produced"}


@pytest.mark.parametrize("path", ["/coordination/escalation/", "/coordination/escalation/sitrep/",
                                  "/coordination/escalation/sitrep.pdf"])
@pytest.mark.parametrize("day, says", [("9999-12-31", "Choose a day from"), ("0001-01-01", "Choose a day from"),
                                       ("garbage", "is not a date")])
def test_out_of_range_or_bad_days_are_a_clear_400(client, icb, trust, path, day, says):
    from carecoord.core.models import Role
    from carecoord.testing.factories import user_with_roles

    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    r = client.get(path, {"day": day})
    assert r.status_code == 400 and says in r.content.decode()
    assert client.get(path, {"day": "2026-01-12"}).status_code == 200
