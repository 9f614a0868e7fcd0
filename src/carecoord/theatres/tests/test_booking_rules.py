"""Who may be booked (the planner's rule, everywhere), what happens to bookings when a patient leaves the
waiting list, the 28-day rebooking count, cancelling twice at once, and bounded inputs."""

import html
import io
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from carecoord.core.models import AuditLog, Job, Role
from carecoord.core.services.audit import Auditor
from carecoord.testing.concurrency import race
from carecoord.testing.factories import pathway_at, patient_at, user_with_roles
from carecoord.theatres import services
from carecoord.theatres.models import Booking, Cancellation, TheatreSession
from carecoord.theatres.tests.test_lifecycle import _book, _next_monday, lists, sched_client, scheduler  # noqa: F401
from carecoord.theatres.tests.test_services import _ready, setup  # noqa: F401

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")


# ---------------------------------------------------------------- 1. who may be booked

NOT_BOOKABLE = [
    ({"status": "closed"}, "not on the waiting list"),
    ({"status": "removed"}, "not on the waiting list"),
    ({"clock_state": "stopped"}, "RTT clock is not running"),
    ({"list_type": "non_admitted"}, "not the admitted list"),
    ({"tfc": "120"}, "is not this list's specialty 110"),
    ({"poa_status": "not_started", "poa_valid_until": None}, "not been assessed as fit"),
    ({"poa_status": "unfit"}, "not been assessed as fit"),
    ({"clinical_priority": "P5", "priority_rank": 6}, "defers surgery"),
    ({"clinical_priority": "", "priority_rank": 99}, "no clinical priority"),
]


@pytest.mark.parametrize("change,why", NOT_BOOKABLE)
def test_the_list_page_books_only_patients_the_planner_would(trust, lists, sched_client, change, why):  # noqa: F811
    p = _ready(trust, **change)
    r = sched_client.post(f"/theatres/sessions/{lists[0].pk}/book/", {"pathway": p.pk}, follow=True)
    body = html.unescape(r.content.decode())
    assert r.status_code == 200 and "Not booked: " in body and why in body
    assert not Booking.objects.exists()


@pytest.mark.parametrize("change,why", [NOT_BOOKABLE[0], NOT_BOOKABLE[3], NOT_BOOKABLE[5]])
def test_booking_from_the_ptl_applies_the_same_rule(trust, lists, sched_client, change, why):  # noqa: F811
    p = _ready(trust, **change)
    r = sched_client.post(f"/theatres/book/{p.pk}/", {"session": lists[1].pk}, follow=True)
    body = html.unescape(r.content.decode())
    assert "Not booked: " in body and why in body
    assert not Booking.objects.exists()


def test_another_providers_patient_is_not_booked_on_our_list(trust, other_trust, lists, scheduler):  # noqa: F811
    p = pathway_at(other_trust, patient_at(other_trust), tfc="110", poa_status="fit", clinical_priority="P3")
    with pytest.raises(services.BookingRefused, match="another provider"):
        _book(lists[0], p, scheduler)


def test_a_ready_patient_is_booked_and_the_rule_matches_the_planner(trust, lists, scheduler):  # noqa: F811
    p = _ready(trust)
    data = services.inputs(trust, _next_monday(), 2)
    assert p.pk in data.pathways and next(c for c in data.cases if c.entry_id == p.pk).ready
    assert services.booking_problem(lists[0], p) is None
    assert _book(lists[0], p, scheduler).status == "provisional"


def test_booking_on_a_list_that_is_not_planned_says_why(trust, lists, sched_client):  # noqa: F811
    TheatreSession.objects.filter(pk=lists[0].pk).update(status="released")
    r = sched_client.post(f"/theatres/sessions/{lists[0].pk}/book/", {"pathway": _ready(trust).pk}, follow=True)
    assert r.status_code == 200 and "the list is released, and only planned lists take bookings" in r.content.decode()


# ---------------------------------------------------------------- 2. leaving the waiting list

def _remove(p, trust):
    from carecoord.waitinglist import services as wl

    clinician = user_with_roles(trust, Role.CLINICIAN)
    with transaction.atomic():
        wl.remove_from_list(p, reason="no_longer_required", decided_by=clinician, rationale="symptoms resolved",
                            auditor=Auditor(clinician))
    return clinician


def test_removing_a_patient_cancels_their_booking_and_no_letter_goes(trust, lists, scheduler, sched_client):  # noqa: F811
    p = _ready(trust)
    b = _book(lists[0], p, scheduler)
    clinician = _remove(p, trust)
    b.refresh_from_db()
    c = Cancellation.objects.get(booking=b)
    assert b.status == "cancelled" and c.reason_code == "removed_from_list" and c.cancelled_by == clinician
    assert c.clinical and c.rebook_by is None  # a clinical decision: no new date owed, not counted on the day
    assert AuditLog.objects.filter(object_type="theatres.booking", object_id=str(b.pk),
                                   summary="cancelled: removed_from_list").exists()
    r = sched_client.post(f"/theatres/bookings/{b.pk}/letter.pdf", follow=True)
    assert r["Content-Type"].startswith("text/html") and "No letter" in r.content.decode()
    page = sched_client.get(f"/theatres/sessions/{lists[0].pk}/").content.decode()
    assert "Removed from the waiting list" in page
    # A scheduler confirming from a page opened before the removal is told the booking is cancelled.
    r = sched_client.post(f"/theatres/bookings/{b.pk}/confirm/", follow=True).content.decode()
    assert "the booking is cancelled, not provisional" in r and "cancel the booking" not in r


def test_a_booking_of_a_pathway_off_the_list_gets_no_letter_or_confirmation(
        trust, lists, scheduler, sched_client):  # noqa: F811
    p = _ready(trust)
    b = _book(lists[0], p, scheduler)
    type(p).objects.filter(pk=p.pk).update(status="closed")  # the PAS stopped sending it (no removal)
    r = sched_client.post(f"/theatres/bookings/{b.pk}/letter.pdf", follow=True)
    assert "No letter: the patient is no longer on the waiting list" in r.content.decode()
    r = sched_client.post(f"/theatres/bookings/{b.pk}/confirm/", follow=True)
    assert "Not confirmed: the patient is no longer on the waiting list" in r.content.decode()
    b.refresh_from_db()
    assert b.status == "provisional"
    with pytest.raises(services.BookingError):
        services.tci_letter_pdf([b])


# ---------------------------------------------------------------- 3 and 4. rebooked within 28 days

def _past_list(setup, days_ago):  # noqa: F811
    day = timezone.localdate() - timedelta(days=days_ago)
    return TheatreSession.objects.create(theatre=setup, date=day, slot="pm", specialty="110",
                                         consultant_code="C0001100",
                                         starts_at=datetime.combine(day, time(13), LONDON),
                                         ends_at=datetime.combine(day, time(17), LONDON))


def _cancelled_on_the_day(session, p, user):
    b = _book(session, p, user)
    c = services.cancel(b, reason_code="no_ward_bed", auditor=Auditor(user), today=session.date)
    Cancellation.objects.filter(pk=c.pk).update(cancelled_at=session.starts_at)
    TheatreSession.objects.filter(pk=session.pk).update(status="completed")
    return c


def test_rebooking_is_not_a_breach_while_the_28_days_run(trust, setup, scheduler):  # noqa: F811
    today = timezone.localdate()
    _cancelled_on_the_day(_past_list(setup, 5), _ready(trust), scheduler)
    for end in (today + timedelta(days=60), today):  # a period ending in the future, and today
        out = services.metrics_for(trust, today - timedelta(days=10), end)
        assert out["rebooked_within_28_days"] == {"numerator": 0, "denominator": 0, "value": None}, end
    # 40 days on, unrebooked, it is a breach
    late = services.metrics_for(trust, today - timedelta(days=10), today + timedelta(days=60),
                                today=today + timedelta(days=40))
    assert late["rebooked_within_28_days"] == {"numerator": 0, "denominator": 1, "value": 0.0}


def test_rebooked_counts_only_while_the_new_date_stands(trust, setup, lists, scheduler):  # noqa: F811
    today = timezone.localdate()
    p = _ready(trust)
    c = _cancelled_on_the_day(_past_list(setup, 5), p, scheduler)
    new = _book(lists[0], p, scheduler)
    c.refresh_from_db()
    assert c.rebooked == new
    span = (today - timedelta(days=10), today)
    assert services.metrics_for(trust, *span)["rebooked_within_28_days"]["numerator"] == 1
    services.cancel(new, reason_code="patient_declined", auditor=Auditor(scheduler))
    c.refresh_from_db()
    assert c.rebooked is None  # owed a new date again
    assert AuditLog.objects.filter(object_type="theatres.cancellation", object_id=str(c.pk),
                                   summary__contains="a new date is owed again").exists()
    assert services.metrics_for(trust, *span)["rebooked_within_28_days"]["numerator"] == 0
    again = _book(lists[1], p, scheduler)
    c.refresh_from_db()
    assert c.rebooked == again
    # a link left to a cancelled booking (older data) does not count either
    Booking.objects.filter(pk=again.pk).update(status="cancelled")
    assert services.metrics_for(trust, *span)["rebooked_within_28_days"]["numerator"] == 0


def test_metrics_over_a_reversed_or_empty_period(trust, setup):  # noqa: F811
    today = timezone.localdate()
    for start, end in ((today, today - timedelta(days=30)), (today + timedelta(days=400), today + timedelta(days=401))):
        out = services.metrics_for(trust, start, end)
        assert out["lists"] == 0 and out["rebooked_within_28_days"] == {"numerator": 0, "denominator": 0,
                                                                         "value": None}


# ---------------------------------------------------------------- 6. cancelling twice at once

@pytest.mark.django_db(transaction=True)
def test_simultaneous_cancellations_cancel_once_and_say_already_cancelled(trust, setup, lists):  # noqa: F811
    user = user_with_roles(trust, Role.SCHEDULER)
    b = _book(lists[0], _ready(trust), user)

    def cancel(i):
        booking = Booking.objects.select_related("session", "pathway").get(pk=b.pk)
        services.cancel(booking, reason_code="no_ward_bed", user=user, auditor=Auditor(user))
        return "ok"

    results = [str(r) if isinstance(r, services.BookingError) else r if r == "ok" else repr(r)
               for r in race(cancel, 3)]
    assert sorted(results) == ["ok", "the booking is already cancelled", "the booking is already cancelled"]
    assert Cancellation.objects.filter(booking=b).count() == 1


# ---------------------------------------------------------------- 5. consultant leave CSV

def test_leave_rows_with_too_many_fields_are_named(trust, sched_client):  # noqa: F811
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = "consultant_code,starts_on,ends_on\nC1,2026-12-01,2026-12-02,annual\n"
    out = services.import_leave(trust, text, auditor=Auditor.system("t"))
    assert out.errors == ["row 2 has 4 fields, the header has 3"]
    r = sched_client.post("/theatres/leave/", {"action": "upload",
                                               "u-file": SimpleUploadedFile("l.csv", text.encode(), "text/csv")})
    assert r.status_code == 400 and "row 2 has 4 fields, the header has 3" in r.content.decode()


@pytest.mark.parametrize("starts,ends,why", [
    ("01/12/26", "02/12/26", "use a 4-digit year"),
    ("0026-12-01", "0026-12-02", "use a 4-digit year"),
    ("2026-12-01", "9999-12-31", "outside the dates leave can have"),
    ("2026-12-01", "2099-12-31", "outside the dates leave can have"),
])
def test_leave_with_short_years_or_placeholder_dates_is_refused(trust, starts, ends, why):
    from carecoord.theatres.models import ConsultantLeave

    out = services.import_leave(trust, f"consultant_code,starts_on,ends_on\nC1,{starts},{ends}\n",
                                auditor=Auditor.system("t"))
    assert out.errors and why in out.errors[0] and out.errors[0].startswith("row 2, ")
    assert not ConsultantLeave.objects.exists()


def test_leave_horizon_is_a_setting(trust, settings):
    settings.THEATRES_LEAVE_YEARS_AHEAD = 80
    out = services.import_leave(trust, "consultant_code,starts_on,ends_on\nC1,2026-12-01,2099-12-31\n",
                                auditor=Auditor.system("t"))
    assert out.errors == [] and out.created == 1


# ---------------------------------------------------------------- 7. bounded inputs

@pytest.mark.parametrize("data,field", [
    ({"start": "9999-12-31"}, "First day"), ({"start": "0001-01-01"}, "First day"),
    ({"seed": "99999999999999999999999"}, "Seed"), ({"seed": "-1"}, "Seed"), ({"weeks": "9"}, "Weeks"),
])
def test_plan_form_bounds_dates_seed_and_weeks(trust, setup, sched_client, data, field):  # noqa: F811
    r = sched_client.post("/theatres/plan/", {"start": _next_monday().isoformat(), "weeks": "2", "seconds": "2",
                                              **data})
    body = r.content.decode()
    assert r.status_code == 400 and "There is a problem" in body and field in body
    assert not Job.objects.exists()


def test_generate_form_bounds_the_first_day(trust, setup, sched_client):  # noqa: F811
    r = sched_client.post("/theatres/generate/", {"start": "9999-12-20", "weeks": "26"}, follow=True)
    assert r.status_code == 200 and "Not generated: From: Enter a first day between" in r.content.decode()
    assert not TheatreSession.objects.exists()
    r = sched_client.post("/theatres/generate/", {"start": _next_monday().isoformat(), "weeks": "1"}, follow=True)
    assert "2 new lists generated from the weekly templates (1 week from" in r.content.decode()


@pytest.mark.parametrize("args,flag", [
    (["plan", "--from", "9999-12-31"], "--from"), (["plan", "--from", "0001-01-01"], "--from"),
    (["plan", "--seed", "99999999999999999999999"], "--seed"), (["plan", "--weeks", "9"], "--weeks"),
    (["plan", "--seconds", "nan"], "--seconds"), (["plan", "--seconds", "121"], "--seconds"),
    (["plan", "--seconds", "1"], "--seconds"), (["sessions", "--weeks", "27"], "--weeks"),
    (["sessions", "--from", "9999-12-20", "--weeks", "26"], "--from"),
])
def test_cli_has_the_pages_bounds(trust, setup, args, flag):  # noqa: F811
    base = {"--from": _next_monday().isoformat()}
    argv = [args[0], "--provider", "RAA", *args[1:]]
    if "--from" not in args:
        argv += ["--from", base["--from"]]
    with pytest.raises(CommandError, match=flag):
        call_command("theatres", *argv)
    assert not TheatreSession.objects.exists()


def test_one_setting_caps_the_solver_time_on_the_page_and_the_cli(trust, setup, sched_client, settings):  # noqa: F811
    settings.THEATRES_PLAN_MAX_SECONDS = 30
    why = "Enter a time limit of at most 30 seconds (THEATRES_PLAN_MAX_SECONDS)"
    r = sched_client.post("/theatres/plan/", {"start": _next_monday().isoformat(), "weeks": "1", "seconds": "31"})
    assert r.status_code == 400 and why in html.unescape(r.content.decode())
    with pytest.raises(CommandError, match=rf"--seconds: {re.escape(why)}"):
        call_command("theatres", "plan", "--provider", "RAA", "--from", _next_monday().isoformat(), "--seconds", "31")
    assert not Job.objects.exists()
    call_command("theatres", "plan", "--provider", "RAA", "--from", _next_monday().isoformat(), "--seconds", "30",
                 "--format", "json", stdout=io.StringIO(), stderr=io.StringIO())


# ---------------------------------------------------------------- 8. smaller things

def test_move_takes_up_or_down_only(trust, lists, scheduler, sched_client):  # noqa: F811
    a, b = _book(lists[0], _ready(trust), scheduler), _book(lists[0], _ready(trust), scheduler)
    r = sched_client.post(f"/theatres/bookings/{a.pk}/move/", {"direction": "sideways"})
    assert r.status_code == 400 and "up or down" in r.content.decode()
    assert Booking.objects.get(pk=a.pk).order == 1 and Booking.objects.get(pk=b.pk).order == 2


def test_a_plan_with_no_lists_says_so(trust, setup, sched_client, django_capture_on_commit_callbacks):  # noqa: F811
    with django_capture_on_commit_callbacks(execute=True):
        sched_client.post("/theatres/plan/", {"start": _next_monday().isoformat(), "weeks": "1", "seconds": "2"})
    job = Job.objects.get(kind="theatre_plan")
    assert job.state == "succeeded" and job.result["note"].startswith("No planned lists in this period")
    assert job.title.endswith(f"1 week from {_next_monday():%d %B %Y}")
    page = sched_client.get(f"/theatres/plans/{job.pk}/").content.decode()
    assert "No planned lists in this period" in page


def test_metrics_csv_carries_numerators_and_denominators(trust, setup, client):  # noqa: F811
    client.force_login(user_with_roles(trust, Role.CLINICIAN))
    today = date.today()
    r = client.get("/theatres/metrics/", {"start": (today - timedelta(days=30)).isoformat(),
                                          "end": today.isoformat(), "format": "csv"})
    header = r.content.decode().splitlines()[0].split(",")
    for k in ("overrun_rate", "rebooked_within_28_days", "on_the_day_cancellation_rate"):
        assert f"{k}_numerator" in header and f"{k}_denominator" in header


def test_tci_letter_names_the_procedure(trust, lists, scheduler):  # noqa: F811
    assert services.procedure_text("W371") == "Primary total hip replacement, cemented (OPCS-4 code W37.1)"
    assert services.procedure_text("Z999") == "OPCS-4 procedure code Z99.9"
    assert services.procedure_text("") == "as discussed with your consultant"


def test_book_buttons_name_the_list_and_its_start_time(trust, lists, sched_client):  # noqa: F811
    """A morning and an afternoon list in the same theatre on the same day: each Book button has its own
    accessible name (WCAG 2.4.6), with the slot and the start time."""
    import re

    morning = lists[1]
    TheatreSession.objects.create(
        theatre=morning.theatre, template=None, date=morning.date, slot="pm", specialty=morning.specialty,
        consultant_code=morning.consultant_code, starts_at=morning.ends_at + timedelta(hours=1),
        ends_at=morning.ends_at + timedelta(hours=5))
    p = _ready(trust)
    body = html.unescape(sched_client.get(f"/theatres/book/{p.pk}/").content.decode())
    names = [re.sub(r"<[^>]+>", "", b).strip() for b in re.findall(r"<button[^>]*>(.*?)</button>", body)
             if b.startswith("Book")]
    day = f"{morning.date.day} {morning.date:%B %Y}"
    same_day = [n for n in names if day in n]
    assert len(same_day) == 2, names
    assert len(set(names)) == len(names), names
    assert any("morning list" in n for n in same_day) and any("afternoon list" in n for n in same_day)
    assert all(re.search(r" at \d\d:\d\d$", n) for n in names), names
