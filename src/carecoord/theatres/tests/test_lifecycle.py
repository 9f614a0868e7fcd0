"""A booking's life and the scheduler's pages: reorder, confirm, TCI letter, cancel with the 28-day
rebooking clock and refill, release a list, book from the PTL, assisted scheduling runs reviewed and
accepted, and the metrics page."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from carecoord.core.models import AuditLog, Job, Role
from carecoord.core.services.audit import Auditor
from carecoord.testing.factories import user_with_roles
from carecoord.theatres import services
from carecoord.theatres.models import Booking, Cancellation, TheatreSession
from carecoord.theatres.tests.test_services import _ready, setup  # noqa: F401 - the shared fixture

pytestmark = pytest.mark.django_db


def _next_monday():
    today = timezone.localdate()
    return today + timedelta(days=7 - today.weekday())


@pytest.fixture
def lists(trust, setup):  # noqa: F811
    """Four 4-hour morning lists over the next two weeks; the first is made a 6-hour list so that it
    takes three of the fixture's two-hour cases."""
    services.generate_sessions(trust, _next_monday(), 2)
    out = list(TheatreSession.objects.order_by("starts_at"))
    out[0].ends_at = out[0].starts_at + timedelta(hours=6)
    out[0].save()
    return out


@pytest.fixture
def scheduler(trust):
    return user_with_roles(trust, Role.SCHEDULER)


@pytest.fixture
def sched_client(client, scheduler):
    client.force_login(scheduler)
    return client


def _book(session, pathway, user):
    return services.book(session, pathway, by=user, auditor=Auditor(user))


def test_moving_a_booking_swaps_it_with_its_neighbour(trust, lists, scheduler, sched_client):
    a, b, c = (_book(lists[0], _ready(trust, intended_procedure="W371"), scheduler) for _ in range(3))
    assert [x.order for x in (a, b, c)] == [1, 2, 3]
    r = sched_client.post(f"/theatres/bookings/{c.pk}/move/", {"direction": "up"})
    assert r.status_code == 302
    order = list(Booking.objects.filter(session=lists[0]).order_by("order").values_list("pk", flat=True))
    assert order == [a.pk, c.pk, b.pk]
    assert not services.move(Booking.objects.get(pk=a.pk), -1, auditor=Auditor(scheduler))  # already first
    assert AuditLog.objects.filter(object_type="theatres.booking", object_id=str(c.pk), summary__contains="moved up")


def test_confirm_then_tci_letter_sets_the_tci_date(trust, lists, scheduler, sched_client):
    p = _ready(trust)
    b = _book(lists[0], p, scheduler)
    sched_client.post(f"/theatres/bookings/{b.pk}/confirm/")
    b.refresh_from_db()
    assert b.status == "confirmed"
    r = sched_client.post(f"/theatres/bookings/{b.pk}/letter.pdf")
    assert sched_client.get(f"/theatres/bookings/{b.pk}/letter.pdf").status_code == 405
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf" and r.content.startswith(b"%PDF")
    b.refresh_from_db()
    p.refresh_from_db()
    assert b.status == "tci_sent" and p.tci_date == lists[0].date
    assert AuditLog.objects.filter(action="export", object_type="core.patient", object_id=str(p.patient_id))
    # confirming again is refused with a message, not an error page
    r = sched_client.post(f"/theatres/bookings/{b.pk}/confirm/", follow=True)
    assert r.status_code == 200 and "not provisional" in r.content.decode()


def test_a_letter_that_cannot_be_built_records_no_tci(trust, lists, scheduler, sched_client, monkeypatch):
    from carecoord.core import letters

    p = _ready(trust)
    b = _book(lists[0], p, scheduler)
    audit = AuditLog.objects.count()

    def broken(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(letters, "render", broken)
    with pytest.raises(OSError):
        sched_client.post(f"/theatres/bookings/{b.pk}/letter.pdf")
    b.refresh_from_db()
    p.refresh_from_db()
    assert (b.status, p.tci_date, AuditLog.objects.count()) == ("provisional", None, audit)
    monkeypatch.undo()  # the letter builds again: printing it now records the TCI
    assert sched_client.post(f"/theatres/bookings/{b.pk}/letter.pdf").content.startswith(b"%PDF")
    b.refresh_from_db()
    p.refresh_from_db()
    assert (b.status, p.tci_date) == ("tci_sent", lists[0].date)


def test_on_the_day_hospital_cancellation_owes_a_new_date_within_28_days(trust, lists, scheduler):
    p = _ready(trust)
    b = _book(lists[0], p, scheduler)
    services.record_tci(b, auditor=Auditor(scheduler))
    c = services.cancel(b, reason_code="no_ward_bed", user=scheduler, auditor=Auditor(scheduler),
                        today=lists[0].date)
    p.refresh_from_db()
    assert c.on_the_day and c.by == "hospital" and not c.clinical
    assert c.rebook_by == lists[0].date + timedelta(days=28)
    assert p.tci_date is None and p.status == "on_list"  # the patient stays on the list
    # the new date links to the cancellation, so "rebooked within 28 days" can be counted
    later = lists[-1]
    nb = _book(later, p, scheduler)
    c.refresh_from_db()
    assert c.rebooked == nb


@pytest.mark.parametrize("code,owed", [("patient_declined", False), ("unfit_on_day", False),
                                       ("no_theatre_time", True)])
def test_only_hospital_non_clinical_on_the_day_cancellations_start_the_clock(trust, lists, scheduler, code, owed):
    b = _book(lists[0], _ready(trust), scheduler)
    c = services.cancel(b, reason_code=code, auditor=Auditor(scheduler), today=lists[0].date)
    assert (c.rebook_by is not None) is owed


def test_a_cancellation_days_before_is_not_on_the_day(trust, lists, scheduler):
    b = _book(lists[0], _ready(trust), scheduler)
    c = services.cancel(b, reason_code="no_ward_bed", auditor=Auditor(scheduler),
                        today=lists[0].date - timedelta(days=3))
    assert not c.on_the_day and c.rebook_by is None


def test_cancel_page_frees_the_slot_and_suggests_who_fills_it(trust, lists, scheduler, sched_client):
    first, second = _ready(trust), _ready(trust)
    b1, b2 = _book(lists[0], first, scheduler), _book(lists[0], second, scheduler)
    waiting = _ready(trust, clinical_priority="P2", priority_rank=3)
    bad = sched_client.post(f"/theatres/bookings/{b1.pk}/cancel/", {"reason_code": "because"})
    assert bad.status_code == 400 and "There is a problem" in bad.content.decode()
    assert Booking.objects.get(pk=b1.pk).status == "provisional"
    r = sched_client.post(f"/theatres/bookings/{b1.pk}/cancel/", {"reason_code": "emergency_priority",
                                                                   "reason": "trauma case"}, follow=True)
    page = r.content.decode()
    assert r.status_code == 200 and "Cancelled" in page and "Suggested patients for the freed time" in page
    assert f"Book {waiting.ppid}" in page and "Emergency or more urgent case took priority" in page
    assert Booking.objects.get(pk=b2.pk).order == 1  # the list closes up
    assert Cancellation.objects.get(booking=b1).reason == "trauma case"
    again = sched_client.post(f"/theatres/bookings/{b1.pk}/cancel/", {"reason_code": "no_ward_bed"})
    assert again.status_code == 400 and "already cancelled" in again.content.decode()


def test_a_list_with_patients_cannot_be_released_until_emptied(trust, lists, scheduler, sched_client):
    b = _book(lists[0], _ready(trust), scheduler)
    r = sched_client.post(f"/theatres/sessions/{lists[0].pk}/status/", {"status": "released"}, follow=True)
    assert "still has patients booked" in r.content.decode()
    assert TheatreSession.objects.get(pk=lists[0].pk).status == "planned"
    services.cancel(b, reason_code="staff_unavailable", auditor=Auditor(scheduler))
    sched_client.post(f"/theatres/sessions/{lists[0].pk}/status/", {"status": "released"})
    assert TheatreSession.objects.get(pk=lists[0].pk).status == "released"
    sched_client.post(f"/theatres/sessions/{lists[0].pk}/status/", {"status": "completed"})
    assert TheatreSession.objects.get(pk=lists[0].pk).status == "released"  # not a status a scheduler sets here


def test_book_from_the_ptl(trust, lists, scheduler, sched_client):
    p = _ready(trust)
    pathway_page = sched_client.get(f"/waiting-list/pathways/{p.pk}/").content.decode()
    assert f"/theatres/book/{p.pk}/" in pathway_page
    page = sched_client.get(f"/theatres/book/{p.pk}/").content.decode()
    assert "cannot be booked" not in page and lists[0].theatre.name in page
    r = sched_client.post(f"/theatres/book/{p.pk}/", {"session": lists[1].pk})
    assert r.status_code == 302 and Booking.objects.get(pathway=p).session == lists[1]
    # a patient never pre-assessed is shown why, and not booked (the planner's readiness rule)
    unassessed = _ready(trust, poa_status="not_started", poa_valid_until=None)
    page = sched_client.get(f"/theatres/book/{unassessed.pk}/").content.decode()
    assert "cannot be booked yet" in page and "no completed pre-operative assessment" in page
    r = sched_client.post(f"/theatres/book/{unassessed.pk}/", {"session": lists[1].pk}, follow=True)
    assert "Not booked: the patient has not been assessed as fit" in r.content.decode()
    assert not Booking.objects.filter(pathway=unassessed).exists()
    assert sched_client.post(f"/theatres/book/{p.pk}/", {"session": "x"}).status_code == 302  # an error message


def test_book_from_the_ptl_shows_why_a_list_is_not_offered(trust, lists, scheduler, sched_client):
    from carecoord.theatres.models import ConsultantLeave

    ConsultantLeave.objects.create(organisation=trust, consultant_code=lists[0].consultant_code,
                                   starts_on=lists[0].date, ends_on=lists[0].date)
    p = _ready(trust, poa_valid_until=lists[0].date + timedelta(days=3))
    options = {s.pk: problems for s, _, problems in services.sessions_for_pathway(p)}
    assert options[lists[0].pk] == ["consultant on leave"]
    assert "pre-operative assessment expires before the day" in options[lists[-1].pk]


def test_a_clinician_cannot_change_bookings(trust, lists, scheduler, client):
    b = _book(lists[0], _ready(trust), scheduler)
    client.force_login(user_with_roles(trust, Role.CLINICIAN))
    for url in (f"/theatres/bookings/{b.pk}/move/", f"/theatres/bookings/{b.pk}/confirm/",
                f"/theatres/bookings/{b.pk}/cancel/", f"/theatres/sessions/{lists[0].pk}/status/", "/theatres/plan/"):
        assert client.post(url, {"direction": "up", "reason_code": "no_ward_bed"}).status_code == 403, url
    assert client.post(f"/theatres/bookings/{b.pk}/letter.pdf").status_code == 403


def test_another_trusts_booking_is_not_found(trust, other_trust, lists, scheduler, client):
    b = _book(lists[0], _ready(trust), scheduler)
    client.force_login(user_with_roles(other_trust, Role.SCHEDULER))
    assert client.get(f"/theatres/bookings/{b.pk}/cancel/").status_code == 404
    assert client.post(f"/theatres/bookings/{b.pk}/letter.pdf").status_code == 404


def test_generate_lists_from_the_calendar(trust, setup, sched_client):  # noqa: F811
    monday = _next_monday()
    r = sched_client.post("/theatres/generate/", {"start": monday.isoformat(), "weeks": "3"}, follow=True)
    assert "6 new lists generated" in r.content.decode()
    r = sched_client.post("/theatres/generate/", {"start": "next week", "weeks": "3"}, follow=True)
    assert "Not generated" in r.content.decode() and TheatreSession.objects.count() == 6


def test_assisted_scheduling_run_reviewed_and_accepted(trust, lists, scheduler, sched_client,
                                                       django_capture_on_commit_callbacks):
    monday = _next_monday()
    already = _book(lists[0], _ready(trust), scheduler)
    patients = [_ready(trust, rtt_start=monday - timedelta(days=300 - i)) for i in range(8)]
    unready = _ready(trust, clinical_priority="P2", priority_rank=3, poa_status="not_started", poa_valid_until=None)
    with django_capture_on_commit_callbacks(execute=True):
        r = sched_client.post("/theatres/plan/", {"start": monday.isoformat(), "weeks": "2", "seconds": "3",
                                                  "seed": "1"})
    job = Job.objects.get(kind="theatre_plan")
    assert r.status_code == 302 and job.state == "succeeded", job.errors
    rows = job.result["suggested_bookings"]
    assert rows and all(x["pathway"] in {p.pk for p in patients} for x in rows)
    # the booking already on the first list is kept and planned around
    first = [x for x in rows if x["session"] == lists[0].pk]
    assert all(x["order"] > 1 for x in first)
    page = sched_client.get(f"/theatres/plans/{job.pk}/").content.decode()
    assert "Book the chosen patients" in page and unready.ppid in page and "Book a pre-operative assessment" in page
    # reject one, accept the rest
    sched_client.post(f"/theatres/plans/{job.pk}/decide/", {"action": "reject", "pick": [str(rows[0]["i"])]})
    r = sched_client.post(f"/theatres/plans/{job.pk}/decide/",
                          {"action": "accept", "pick": [str(x["i"]) for x in rows]}, follow=True)
    assert f"{len(rows) - 1} booked" in r.content.decode()
    job.refresh_from_db()
    states = [x["state"] for x in job.result["suggested_bookings"]]
    assert states[0] == "rejected" and states[1:] == ["accepted"] * (len(rows) - 1)
    assert Booking.objects.filter(suggested_by_planner=True).count() == len(rows) - 1
    assert Booking.objects.get(pk=already.pk).status == "provisional"
    # deciding again changes nothing
    sched_client.post(f"/theatres/plans/{job.pk}/decide/", {"action": "accept", "pick": [str(rows[0]["i"])]})
    assert Booking.objects.filter(suggested_by_planner=True).count() == len(rows) - 1


def test_an_accepted_suggestion_the_database_refuses_is_reported(trust, lists, scheduler, sched_client,
                                                                 django_capture_on_commit_callbacks):
    from carecoord.theatres.models import ConsultantLeave

    monday = _next_monday()
    _ready(trust)
    with django_capture_on_commit_callbacks(execute=True):
        sched_client.post("/theatres/plan/", {"start": monday.isoformat(), "weeks": "2", "seconds": "2"})
    job = Job.objects.get(kind="theatre_plan")
    row = job.result["suggested_bookings"][0]
    s = TheatreSession.objects.get(pk=row["session"])
    ConsultantLeave.objects.create(organisation=trust, consultant_code=s.consultant_code, starts_on=s.date,
                                   ends_on=s.date)  # leave approved after the plan ran
    r = sched_client.post(f"/theatres/plans/{job.pk}/decide/", {"action": "accept", "pick": [str(row["i"])]},
                          follow=True)
    assert "1 refused" in r.content.decode() and "on leave" in r.content.decode()
    assert not Booking.objects.exists()


def test_plan_form_errors_are_named(sched_client):
    r = sched_client.post("/theatres/plan/", {"start": "soon", "weeks": "40", "seconds": "1"})
    body = r.content.decode()
    assert r.status_code == 400 and "There is a problem" in body and "Enter a valid date" in body
    assert not Job.objects.exists()


def test_another_organisations_plan_is_not_found(trust, other_trust, lists, sched_client, client,
                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sched_client.post("/theatres/plan/", {"start": _next_monday().isoformat(), "weeks": "1", "seconds": "2"})
    job = Job.objects.get(kind="theatre_plan")
    client.force_login(user_with_roles(other_trust, Role.SCHEDULER))
    assert client.get(f"/theatres/plans/{job.pk}/").status_code == 404
    assert client.post(f"/theatres/plans/{job.pk}/decide/", {"action": "accept", "pick": ["0"]}).status_code == 404


def test_metrics_by_group_and_csv(trust, lists, scheduler, client):
    from carecoord.theatres.models import CaseTiming

    s = lists[0]
    b = _book(s, _ready(trust), scheduler)
    CaseTiming.objects.create(booking=b, into_theatre=s.starts_at, out_of_theatre=s.starts_at + timedelta(minutes=120))
    Booking.objects.filter(pk=b.pk).update(status="completed")
    TheatreSession.objects.filter(pk=s.pk).update(status="completed")
    s2 = lists[1]
    TheatreSession.objects.filter(pk=s2.pk).update(status="cancelled")
    out = services.metrics_for(trust, s.date, s2.date, by="theatre")
    assert out["lists"] == 2 and out["lists_cancelled"] == 1 and out["cases"] == 1
    assert out["capped_utilisation"] == round(120 / (s.minutes + s2.minutes), 4)  # the cancelled list is downtime
    assert [g["group"] for g in out["groups"]] == [s.theatre.name] and out["groups"][0]["lists"] == 2
    weekly = services.metrics_for(trust, s.date, s2.date, by="week")
    assert sum(g["lists"] for g in weekly["groups"]) == 2
    with pytest.raises(ValueError):
        services.metrics_for(trust, s.date, s2.date, by="colour")
    client.force_login(user_with_roles(trust, Role.CLINICIAN))
    page = client.get("/theatres/metrics/", {"start": s.date.isoformat(), "end": s2.date.isoformat(),
                                             "by": "specialty"})
    assert page.status_code == 200 and 'id="metrics-table"' in page.content.decode()
    csv_resp = client.get("/theatres/metrics/", {"start": s.date.isoformat(), "end": s2.date.isoformat(),
                                                 "by": "specialty", "format": "csv"})
    lines = csv_resp.content.decode().splitlines()
    assert lines[0].startswith("specialty,lists,") and lines[1].startswith("All,2,1,1,") and lines[2].startswith("110,")
    bad = client.get("/theatres/metrics/", {"start": "2026-12-01", "end": "2026-11-01"})
    assert bad.status_code == 400 and "must be on or after" in bad.content.decode()


def test_tci_letters_render_unicode_names(trust, lists, scheduler):
    p = _ready(trust)
    p.patient.given_name, p.patient.family_name = "Zoë", "Ó Briain – Łukasz"
    p.patient.save()
    b = _book(lists[0], p, scheduler)
    pdf = services.tci_letter_pdf([b])
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000


def test_plan_for_provider_plans_around_existing_bookings(trust, lists, scheduler):
    monday = _next_monday()
    for _ in range(2):
        _book(lists[0], _ready(trust), scheduler)
    more = [_ready(trust) for _ in range(6)]
    result, data = services.plan_for_provider(trust, monday, 2, seconds=2, seed=1)
    first = [b for b in result.bookings if b.session_id == lists[0].pk]
    summary = next(s for s in result.sessions if s.session_id == lists[0].pk)
    assert summary.n_cases == 2 + len(first)  # the two already there count towards the list's load
    assert all(b.entry_id in {p.pk for p in more} for b in result.bookings)
    assert date.today() < monday + timedelta(days=1)


def test_the_calendar_filters_by_site(trust, lists, sched_client):
    from carecoord.core.models import Site
    from carecoord.theatres.models import Theatre

    other_site = Site.objects.create(organisation=trust, ods_code="RAA02", name="Community Hospital")
    th = Theatre.objects.create(site=other_site, name="Day Surgery 1", specialties=["110"])
    s = lists[0]
    TheatreSession.objects.create(theatre=th, date=s.date, slot="pm", specialty="110", consultant_code="C9",
                                  starts_at=s.starts_at + timedelta(hours=5), ends_at=s.starts_at + timedelta(hours=9))
    week = s.date.isoformat()
    both = sched_client.get("/theatres/", {"week": week}).content.decode()
    assert "Day Surgery 1" in both and "Theatre 1" in both and "Community Hospital" in both
    one = sched_client.get("/theatres/", {"week": week, "site": str(other_site.pk)}).content.decode()
    assert "Day Surgery 1" in one and "Theatre 1 <" not in one
    assert "Theatre 1" in sched_client.get("/theatres/", {"week": week, "site": "nonsense"}).content.decode()
