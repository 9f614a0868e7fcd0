"""Theatre services over the database: sessions from templates, and `carecoord theatres plan`."""

import json
from datetime import date, time, timedelta

import pytest
from django.core.management import call_command

from carecoord.core.models import Site
from carecoord.testing.factories import pathway_at, patient_at
from carecoord.theatres import services
from carecoord.theatres.models import (
    ConsultantLeave,
    HistoricalCase,
    SessionTemplate,
    Theatre,
    TheatreSession,
)

pytestmark = pytest.mark.django_db
MONDAY = date(2026, 11, 23)


@pytest.fixture
def setup(trust):
    site = Site.objects.create(organisation=trust, ods_code="RAA01", name="Main")
    th = Theatre.objects.create(site=site, name="Theatre 1", specialties=["110"], equipment=["laminar_flow"])
    for wd in (0, 2):
        SessionTemplate.objects.create(theatre=th, weekday=wd, slot="am", start_time=time(8, 30), end_time=time(12, 30),
                                       specialty="110", consultant_code="C0001100", valid_from=MONDAY)
    for i in range(30):
        HistoricalCase.objects.create(organisation=trust, date=MONDAY - timedelta(days=i + 1), specialty="110",
                                      procedure="W371", consultant_code="C0001100", minutes=95 + i % 10,
                                      turnaround_minutes=20)
    return th


def test_sessions_follow_the_templates_and_are_not_duplicated(trust, setup):
    assert services.generate_sessions(trust, MONDAY, 2) == 4
    assert services.generate_sessions(trust, MONDAY, 2) == 0
    assert sorted(TheatreSession.objects.values_list("date", flat=True)) == [
        MONDAY, MONDAY + timedelta(days=2), MONDAY + timedelta(days=7), MONDAY + timedelta(days=9)]


def test_plan_suggests_ready_patients_in_priority_order_and_respects_leave(trust, setup, capsys):
    services.generate_sessions(trust, MONDAY, 2)
    ConsultantLeave.objects.create(organisation=trust, consultant_code="C0001100", starts_on=MONDAY + timedelta(days=7),
                                   ends_on=MONDAY + timedelta(days=11))
    start = MONDAY - timedelta(days=200)
    fit = dict(list_type="admitted", tfc="110", intended_procedure="W371", poa_status="fit",
               poa_valid_until=MONDAY + timedelta(days=90))
    urgent = pathway_at(trust, patient_at(trust), clinical_priority="P2", priority_rank=3, rtt_start=start, **fit)
    routine = [pathway_at(trust, patient_at(trust), clinical_priority="P4", priority_rank=5,
                          rtt_start=start + timedelta(days=i), **fit) for i in range(6)]
    unready = pathway_at(trust, patient_at(trust), clinical_priority="P2", priority_rank=3, rtt_start=start,
                         **{**fit, "poa_status": "not_started"})
    call_command("theatres", "plan", "--provider", "RAA", "--from", MONDAY.isoformat(), "--weeks", "2",
                 "--seconds", "3", "--seed", "1", "--format", "json")
    out = json.loads(capsys.readouterr().out)
    booked = [b["patient_pathway_identifier"] for b in out["suggested_bookings"]]
    assert urgent.ppid in booked and unready.ppid not in booked
    assert all(date.fromisoformat(b["date"]) < MONDAY + timedelta(days=7) for b in out["suggested_bookings"])
    assert {"session", "patient_pathway_identifier", "order", "predicted_minutes", "reasons"} <= set(
        out["suggested_bookings"][0])
    assert {"predicted_utilisation", "overrun_probability"} <= set(out["lists"][0])
    # treat in turn: the earliest-queued routine patients come first
    routine_booked = [p.ppid for p in routine if p.ppid in booked]
    assert routine_booked == [p.ppid for p in routine[:len(routine_booked)]]
    # nothing was booked
    from carecoord.theatres.models import Booking
    assert not Booking.objects.exists()


def test_plan_cli_errors(trust):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--from"):
        call_command("theatres", "plan", "--provider", "RAA", "--from", "23/11/2026")


def test_the_demo_health_system_has_lists_to_plan(settings, tmp_path, capsys):
    from carecoord.core.models import Organisation, OrganisationKind
    from carecoord.synth import services as synth

    settings.DATA_DIR = tmp_path
    synth.generate(seed=2, scale="demo", as_of=date(2026, 11, 22))
    trust = Organisation.objects.filter(kind=OrganisationKind.NHS_TRUST).order_by("ods_code").first()
    call_command("theatres", "plan", "--provider", trust.ods_code, "--from", "2026-11-30", "--weeks", "2",
                 "--seconds", "2", "--format", "json")
    out = json.loads(capsys.readouterr().out)
    assert len(out["lists"]) > 50 and len(out["suggested_bookings"]) > 50
    assert 0.5 < out["booked_utilisation"] <= 1.2


def _ready(trust, **kw):
    start = MONDAY - timedelta(days=200)
    fit = dict(list_type="admitted", tfc="110", intended_procedure="W371", poa_status="fit",
               poa_valid_until=MONDAY + timedelta(days=90), clinical_priority="P3", priority_rank=4, rtt_start=start)
    return pathway_at(trust, patient_at(trust), **{**fit, **kw})


def test_scheduler_books_a_suggested_patient_from_the_list_page(client, trust, setup):
    from carecoord.core.models import Role
    from carecoord.testing.factories import user_with_roles
    from carecoord.theatres.models import Booking

    services.generate_sessions(trust, MONDAY, 1)
    session = TheatreSession.objects.order_by("date").first()
    p = _ready(trust)
    client.force_login(user_with_roles(trust, Role.SCHEDULER))
    page = client.get(f"/theatres/sessions/{session.pk}/").content.decode()
    assert f"Book {p.ppid}" in page
    r = client.post(f"/theatres/sessions/{session.pk}/book/", {"pathway": p.pk, "reason": ["P3, listed ..."]})
    assert r.status_code == 302
    b = Booking.objects.get(pathway=p)
    assert b.session == session and b.order == 1 and b.suggested_by_planner and b.predicted_minutes > 60
    state = services.session_state(session)
    assert state.bookings == [b] and 0 <= state.overrun_probability < 0.5
    # the patient is no longer suggested for another list
    other = TheatreSession.objects.exclude(pk=session.pk).first()
    assert f"Book {p.ppid}" not in client.get(f"/theatres/sessions/{other.pk}/").content.decode()


def test_the_database_refusal_is_shown_not_a_500(client, trust, setup):
    from carecoord.core.models import Role
    from carecoord.testing.factories import user_with_roles
    from carecoord.theatres.models import Booking

    services.generate_sessions(trust, MONDAY, 1)
    session = TheatreSession.objects.order_by("date").first()
    expired = _ready(trust, poa_valid_until=MONDAY - timedelta(days=1))
    client.force_login(user_with_roles(trust, Role.SCHEDULER))
    r = client.post(f"/theatres/sessions/{session.pk}/book/", {"pathway": expired.pk}, follow=True)
    assert r.status_code == 200 and "Not booked" in r.content.decode() and "pre-operative assessment" in r.content.decode()
    assert not Booking.objects.exists()


def test_only_schedulers_book(client, trust, setup):
    from carecoord.core.models import Role
    from carecoord.testing.factories import user_with_roles

    services.generate_sessions(trust, MONDAY, 1)
    session = TheatreSession.objects.first()
    p = _ready(trust)
    client.force_login(user_with_roles(trust, Role.CLINICIAN))
    assert client.post(f"/theatres/sessions/{session.pk}/book/", {"pathway": p.pk}).status_code == 403
    assert "Book " not in client.get(f"/theatres/sessions/{session.pk}/").content.decode()


def test_metrics_over_the_synthetic_history(settings, tmp_path, capsys):
    from carecoord.core.models import Organisation, OrganisationKind
    from carecoord.synth import services as synth

    settings.DATA_DIR = tmp_path
    synth.generate(seed=3, scale="demo", as_of=date(2026, 11, 22))
    trust = Organisation.objects.filter(kind=OrganisationKind.NHS_TRUST).order_by("ods_code").first()
    call_command("theatres", "metrics", "--provider", trust.ods_code, "--from", "2026-10-01", "--to", "2026-11-22",
                 "--format", "json")
    out = json.loads(capsys.readouterr().out)
    assert out["lists"] > 50 and out["cases"] > 50 and out["lists_cancelled"] >= 0
    assert 0.3 < out["capped_utilisation"] <= 1.0
    assert out["uncapped_utilisation"] >= out["capped_utilisation"]
    assert out["on_the_day_cancellation_rate"]["numerator"] > 0
    for key in ("overrun_rate", "late_start_rate", "early_finish_rate", "priority_compliance_p1_p2"):
        assert set(out[key]) == {"numerator", "denominator", "value"}
