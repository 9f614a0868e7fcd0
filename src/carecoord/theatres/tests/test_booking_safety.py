"""Booking guarantees held by PostgreSQL itself, including under concurrent bookings."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.db import IntegrityError, InternalError, OperationalError, connection, transaction

from carecoord.core.models import Role
from carecoord.core.services.audit import Auditor
from carecoord.testing.concurrency import race
from carecoord.testing.factories import SiteFactory, pathway_at, user_with_roles
from carecoord.theatres import services
from carecoord.theatres.models import Booking, ConsultantLeave, Theatre, TheatreSession

LONDON = ZoneInfo("Europe/London")
DAY = date.today() + timedelta(days=21)
GUARD_ERRORS = (IntegrityError, InternalError)


def _refused(exc: Exception) -> bool:
    """A guard's refusal. Two inserts racing on the no-double-booking exclusion constraint can each wait
    for the other; PostgreSQL then refuses one of them as a deadlock, which is still a refusal."""
    return isinstance(exc, GUARD_ERRORS) or (
        isinstance(exc, OperationalError) and isinstance(exc.__cause__, psycopg.errors.DeadlockDetected))


def _session(theatre, day=DAY, start=8, end=12, consultant="C1111111", specialty="110", **kw):
    return TheatreSession.objects.create(
        theatre=theatre, date=day, starts_at=datetime.combine(day, time(start), LONDON),
        ends_at=datetime.combine(day, time(end), LONDON), slot="am", specialty=specialty, consultant_code=consultant,
        allowed_overrun_minutes=kw.pop("overrun", 15), **kw)


def _bookable(trust, **kw):
    """A patient the booking service accepts: admitted list, open clock, priority, fit POA."""
    return pathway_at(trust, clinical_priority="P3", priority_rank=4, poa_status="fit", **kw)


def _book(session, pathway, minutes=60, order=1, status="provisional"):
    return Booking.objects.create(session=session, pathway=pathway, order=order, predicted_minutes=minutes,
                                  status=status, patient_id_copy=0, during=None)


@pytest.fixture
def theatre(trust):
    return Theatre.objects.create(site=SiteFactory(organisation=trust), name="Theatre 1", specialties=["110"])


@pytest.mark.django_db
def test_capacity_plus_allowed_overrun(theatre, trust):
    s = _session(theatre)  # 240 minutes + 15
    _book(s, pathway_at(trust), 120)
    _book(s, pathway_at(trust), 120, order=2)
    _book(s, pathway_at(trust), 15, order=3)  # exactly 255
    with pytest.raises(GUARD_ERRORS, match="is full"), transaction.atomic():
        _book(s, pathway_at(trust), 1, order=4)


@pytest.mark.django_db
def test_cancelled_bookings_free_their_time(theatre, trust):
    s = _session(theatre)
    b = _book(s, pathway_at(trust), 250)
    b.status = "cancelled"
    b.save()
    _book(s, pathway_at(trust), 250, order=2)


@pytest.mark.django_db
def test_patient_not_in_two_overlapping_live_sessions(theatre, trust):
    other_theatre = Theatre.objects.create(site=theatre.site, name="Theatre 2", specialties=["110"])
    s1, s2 = _session(theatre), _session(other_theatre, start=10, end=14)
    p1 = pathway_at(trust)
    p2 = pathway_at(trust, patient=p1.patient, tfc="120")
    _book(s1, p1)
    with pytest.raises(IntegrityError, match="patient_not_in_two_live_sessions"), transaction.atomic():
        _book(s2, p2)
    # A session the next day is fine.
    _book(_session(other_theatre, day=DAY + timedelta(days=1)), p2)


@pytest.mark.django_db
def test_one_live_booking_per_pathway(theatre, trust):
    p = pathway_at(trust)
    _book(_session(theatre), p)
    with pytest.raises(IntegrityError, match="one_live_booking_per_pathway"), transaction.atomic():
        _book(_session(theatre, day=DAY + timedelta(days=7)), p)


@pytest.mark.django_db
def test_no_booking_when_consultant_on_leave(theatre, trust):
    ConsultantLeave.objects.create(organisation=trust, consultant_code="C1111111", starts_on=DAY - timedelta(days=2),
                                   ends_on=DAY)
    with pytest.raises(GUARD_ERRORS, match="on leave"), transaction.atomic():
        _book(_session(theatre), pathway_at(trust))
    _book(_session(theatre, consultant="C2222222"), pathway_at(trust))


@pytest.mark.django_db
def test_no_booking_if_poa_expires_before_the_session(theatre, trust):
    with pytest.raises(GUARD_ERRORS, match="pre-operative assessment expires"), transaction.atomic():
        _book(_session(theatre), pathway_at(trust, poa_valid_until=DAY - timedelta(days=1)))
    _book(_session(theatre), pathway_at(trust, poa_valid_until=DAY))


@pytest.mark.django_db
def test_sessions_in_one_theatre_cannot_overlap(theatre):
    _session(theatre)
    with pytest.raises(IntegrityError, match="no_overlapping_sessions"), transaction.atomic():
        _session(theatre, start=11, end=13)


@pytest.mark.django_db(transaction=True)
def test_concurrent_schedulers_cannot_overfill_a_session(trust):
    """Eight schedulers book 60-minute cases into one 240+15-minute session at the same moment,
    each on its own database connection: exactly four succeed."""
    theatre = Theatre.objects.create(site=SiteFactory(organisation=trust), name="T", specialties=["110"])
    session = _session(theatre)
    pathways = [pathway_at(trust) for _ in range(8)]

    def book(i):
        with transaction.atomic():
            _book(session, pathways[i], 60, order=i + 1)
        return "ok"

    results = ["refused" if isinstance(r, GUARD_ERRORS) else r for r in race(book, 8)]
    assert results.count("ok") == 4 and results.count("refused") == 4
    with connection.cursor() as cur:
        cur.execute("SELECT SUM(predicted_minutes) FROM theatres_booking WHERE session_id = %s", [session.pk])
        assert cur.fetchone()[0] == 240


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_booking_of_one_patient_is_refused(trust):
    theatre = Theatre.objects.create(site=SiteFactory(organisation=trust), name="T", specialties=["110"])
    other = Theatre.objects.create(site=theatre.site, name="T2", specialties=["110"])
    s1, s2 = _session(theatre), _session(other)
    p1 = pathway_at(trust)
    p2 = pathway_at(trust, patient=p1.patient, tfc="130")
    pairs = ((s1, p1), (s2, p2))

    def book(i):
        with transaction.atomic():
            _book(*pairs[i])
        return "ok"

    results = [r if r == "ok" else "refused" if _refused(r) else repr(r) for r in race(book)]
    assert sorted(results) == ["ok", "refused"]


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_booking_one_patient_at_once_get_one_booking_and_the_reason(trust):
    """Through the booking service, as the pages and API book: whichever way the race falls (including
    PostgreSQL aborting one insert as a deadlock), one booking stands and the other scheduler is told
    the patient is already booked, never "deadlock detected"."""
    user = user_with_roles(trust, Role.SCHEDULER)
    theatre = Theatre.objects.create(site=SiteFactory(organisation=trust), name="T", specialties=["110"])
    other = Theatre.objects.create(site=theatre.site, name="T2", specialties=["110"])
    for round_ in range(4):
        day = DAY + timedelta(days=round_)
        s1, s2 = _session(theatre, day=day), _session(other, day=day, specialty="130")
        p1 = _bookable(trust)
        p2 = _bookable(trust, patient=p1.patient, tfc="130")
        pairs = ((s1, p1), (s2, p2))

        def book(i, pairs=pairs):
            services.book(*pairs[i], by=user, auditor=Auditor(user))
            return "ok"

        results = [str(r) if isinstance(r, services.BookingRefused) else r for r in race(book)]
        assert sorted(results) == ["ok", "the patient is already booked on another list at that time"]
        assert Booking.objects.filter(pathway__patient=p1.patient).count() == 1


@pytest.mark.django_db
def test_a_booking_aborted_as_a_deadlock_is_tried_again_and_refused_by_name(trust, monkeypatch):
    """The race above, made certain: the first insert is aborted as PostgreSQL aborts a deadlock victim,
    by which time the other scheduler's booking of the patient has committed."""
    user = user_with_roles(trust, Role.SCHEDULER)
    theatre = Theatre.objects.create(site=SiteFactory(organisation=trust), name="T", specialties=["110"])
    other = Theatre.objects.create(site=theatre.site, name="T2", specialties=["110"])
    s1, s2 = _session(theatre), _session(other, specialty="130")
    p1 = _bookable(trust)
    p2 = _bookable(trust, patient=p1.patient, tfc="130")
    services.book(s1, p1, by=user, auditor=Auditor(user))
    create, calls = Booking.objects.create, []

    def deadlock_once(**kw):
        calls.append(kw)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected("deadlock detected")
        return create(**kw)

    monkeypatch.setattr(Booking.objects, "create", deadlock_once)
    with pytest.raises(services.BookingRefused, match="already booked on another list"):
        services.book(s2, p2, by=user, auditor=Auditor(user))
    assert len(calls) == 2 and Booking.objects.filter(pathway__patient=p1.patient).count() == 1
