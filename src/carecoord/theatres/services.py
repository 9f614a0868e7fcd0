"""Theatre services: sessions from templates, and assisted list filling from the database.

`plan_for_provider` turns a provider's planned sessions, consultant leave and ready admitted
waiting-list entries into the planner kernel's inputs (durations predicted from the provider's case
history by `theatres.durations`), runs the CP-SAT planner and returns its suggestions. It books
nothing: accepting a suggestion is a separate, audited booking.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import psycopg
from django.db import models, transaction
from django.utils import timezone

from carecoord.core.models import Organisation
from carecoord.core.services.audit import snapshot
from carecoord.theatres import planner
from carecoord.theatres.durations import DurationModel
from carecoord.theatres.durations import HistoricalCase as KernelCase
from carecoord.theatres.models import (
    LIVE_BOOKING,
    Booking,
    BookingStatus,
    Cancellation,
    ConsultantLeave,
    HistoricalCase,
    SessionStatus,
    SessionTemplate,
    Theatre,
    TheatreSession,
)
from carecoord.waitinglist.models import Pathway

BOOKABLE_PRIORITIES = ("P1a", "P1b", "P2", "P3", "P4")
# Who can go on a theatre list: the planner's ready patients (`inputs`) and every booking (`book`, so the list
# page, booking from the PTL, accepting a plan and the API) use this one rule. Pre-operative readiness
# (a fit assessment valid on the day) is checked by `booking_problem` and by the planner as "not ready".
BOOKABLE = models.Q(status="on_list", list_type="admitted", clock_state="open",
                    clinical_priority__in=BOOKABLE_PRIORITIES)


def opcs(code: str) -> str:
    """OPCS-4 codes arrive as W371 or W37.1; the duration model keys on the dotted form."""
    code = (code or "").strip().upper()
    return f"{code[:3]}.{code[3:]}" if len(code) == 4 and "." not in code else code


def generate_sessions(organisation: Organisation, start: date, weeks: int) -> int:
    """Create the planned sessions of `organisation`'s templates for `weeks` weeks from `start`
    (existing sessions are kept). Returns how many were created."""
    tz = timezone.get_current_timezone()
    created = 0
    templates = SessionTemplate.objects.filter(theatre__site__organisation=organisation, theatre__active=True)
    for t in templates.select_related("theatre"):
        for d in (start + timedelta(days=i) for i in range(7 * weeks)):
            if d.weekday() != t.weekday or d < t.valid_from or (t.valid_to and d > t.valid_to):
                continue
            if ((d - t.valid_from).days // 7) % t.every_n_weeks:
                continue
            if TheatreSession.objects.filter(theatre=t.theatre, date=d, slot=t.slot).exists():
                continue
            TheatreSession(theatre=t.theatre, template=t, date=d, slot=t.slot, specialty=t.specialty,
                           consultant_code=t.consultant_code, anaesthetist=t.anaesthetist,
                           starts_at=datetime.combine(d, t.start_time, tz), ends_at=datetime.combine(d, t.end_time, tz)
                           ).save()
            created += 1
    return created


def duration_model(organisation: Organisation) -> DurationModel | None:
    """The provider's duration model, fitted once per state of its case history (pages and the planner
    ask for it several times a request; the fit reads every historical case)."""
    sig = HistoricalCase.objects.filter(organisation=organisation).aggregate(n=models.Count("id"),
                                                                            last=models.Max("id"))
    return _fitted(organisation.pk, sig["n"], sig["last"]) if sig["n"] else None


@functools.lru_cache(maxsize=16)
def _fitted(organisation_id: int, n: int, last: int) -> DurationModel:
    rows = HistoricalCase.objects.filter(organisation_id=organisation_id).values_list(
        "date", "specialty", "procedure", "consultant_code", "minutes", "turnaround_minutes")
    return DurationModel.fit([KernelCase(d, s, opcs(p), c, float(m), float(t)) for d, s, p, c, m, t in rows.iterator()])


@dataclass
class PlanInputs:
    sessions: list[planner.Session]
    cases: list[planner.Case]
    leave: list[planner.Leave]
    pathways: dict[int, Pathway]
    theatre_sessions: dict[int, TheatreSession]
    fixed: list[planner.Booking] = field(default_factory=list)  # bookings already on the lists


def _lists(organisation: Organisation, start: date, weeks: int):
    """The planned lists in the horizon (kernel and model form) and the consultants' leave."""
    end = start + timedelta(days=7 * weeks - 1)
    ts = list(TheatreSession.objects.filter(theatre__site__organisation=organisation, date__range=(start, end),
                                            status=SessionStatus.PLANNED).select_related("theatre"))
    sessions = [planner.Session(id=s.pk, date=s.date, minutes=s.minutes, theatre=s.theatre.name,
                                specialty=s.specialty, consultant=s.consultant_code,
                                equipment=frozenset(s.theatre.equipment), start=s.starts_at.time(),
                                allowed_overrun=s.allowed_overrun_minutes) for s in ts]
    leave = [planner.Leave(c, a, b) for c, a, b in ConsultantLeave.objects.filter(
        organisation=organisation, ends_on__gte=start, starts_on__lte=end).values_list(
        "consultant_code", "starts_on", "ends_on")]
    return sessions, leave, {s.pk: s for s in ts}


def inputs(organisation: Organisation, start: date, weeks: int) -> PlanInputs:
    sessions, leave, theatre_sessions = _lists(organisation, start, weeks)
    model = duration_model(organisation)
    specialties = {s.specialty for s in sessions}
    booked = set(Booking.objects.filter(status__in=LIVE_BOOKING, pathway__provider=organisation)
                 .values_list("pathway_id", flat=True))
    qs = (Pathway.objects.filter(BOOKABLE, provider=organisation, tfc__in=specialties, tci_date__isnull=True)
          .exclude(pk__in=booked).order_by("priority_rank", "queue_date", "id"))
    cases, pathways = [], {}
    for p in qs.iterator():
        mu, sigma, turn = _prediction(model, p)
        cases.append(planner.Case(entry_id=p.pk, specialty=p.tfc, procedure=opcs(p.intended_procedure),
                                  priority=p.clinical_priority, queue_date=p.queue_date or p.rtt_start or start,
                                  mu=mu, sigma=sigma, turnaround=turn, poa_valid_until=p.poa_valid_until,
                                  ready=p.poa_status == "fit"))
        pathways[p.pk] = p
    return PlanInputs(sessions, cases, leave, pathways, theatre_sessions,
                      fixed_bookings(theatre_sessions.values(), model))


def solve(data: PlanInputs, start: date, *, seconds: float = 20.0, seed: int = 0) -> planner.Plan:
    cfg = planner.PlannerConfig(time_limit_s=seconds, seed=seed, today=start - timedelta(days=1))
    return planner.plan(data.sessions, data.cases, data.leave, cfg, fixed=data.fixed)


def plan_for_provider(organisation: Organisation, start: date, weeks: int, *, seconds: float = 20.0,
                      seed: int = 0) -> tuple[planner.Plan, PlanInputs]:
    data = inputs(organisation, start, weeks)
    return solve(data, start, seconds=seconds, seed=seed), data


def fixed_bookings(sessions, model: DurationModel | None = None) -> list[planner.Booking]:
    """The live bookings already on `sessions`, as the planner's fixed load (so it fills around them)."""
    from carecoord.theatres.durations import lognormal_mean, lognormal_variance

    sessions = list(sessions)
    if not sessions:
        return []
    if model is None:
        model = duration_model(sessions[0].theatre.site.organisation)
    out = []
    for b in (Booking.objects.filter(session__in=sessions, status__in=LIVE_BOOKING).select_related("pathway")
              .order_by("session_id", "order")):
        mu, sigma, turn = _prediction(model, b.pathway)
        out.append(planner.Booking(b.session_id, b.pathway_id, b.order, b.predicted_minutes,
                                   b.predicted_p80_minutes or b.predicted_minutes,
                                   turn + lognormal_mean(mu, sigma), lognormal_variance(mu, sigma)))
    return out


NO_LISTS = ("No planned lists in this period, so there was nothing to fill: generate lists from the weekly "
            "templates (or plan other weeks)")


def plan_json(result: planner.Plan, data: PlanInputs) -> dict:
    """The suggestions as the CLI prints them (no patient identifiers beyond the pathway identifier)."""
    out = []
    for b in sorted(result.bookings, key=lambda b: (data.theatre_sessions[b.session_id].starts_at, b.order)):
        s = data.theatre_sessions[b.session_id]
        p = data.pathways[b.entry_id]
        out.append({"session": s.pk, "date": s.date.isoformat(), "theatre": s.theatre.name, "slot": s.slot,
                    "patient_pathway_identifier": p.ppid, "issuer": p.ppid_issuer, "pathway": p.pk,
                    "priority": p.clinical_priority, "procedure": p.intended_procedure, "order": b.order,
                    "predicted_minutes": b.predicted_minutes, "p80_minutes": b.p80_minutes,
                    "reasons": list(b.reasons)})
    lists = [{"session": s.session_id, "date": s.date.isoformat(), "minutes": s.minutes, "cases": s.n_cases,
              "predicted_utilisation": round(s.booked_utilisation, 3),
              "overrun_probability": round(s.overrun_probability, 3), "bookable": s.bookable}
             for s in result.sessions]
    unbooked = {}
    for u in result.unbooked:
        unbooked[u.reason] = unbooked.get(u.reason, 0) + 1
    return {"status": result.status, "method": result.method, "seconds": round(result.seconds, 2),
            "suggested_bookings": out, "lists": lists, "not_booked_by_reason": unbooked,
            "booked_utilisation": round(result.booked_utilisation, 3), "note": NO_LISTS if not lists else ""}


def theatres_of(organisation: Organisation):
    return Theatre.objects.filter(site__organisation=organisation)


def bookings_for(organisation: Organisation):
    """Bookings on the organisation's own lists (the scope every page reads bookings through)."""
    return Booking.objects.filter(session__theatre__site__organisation=organisation)


def cancellations_for(organisation: Organisation):
    return Cancellation.objects.filter(booking__session__theatre__site__organisation=organisation)


# ---------------------------------------------------------------- booking and a session's state

class BookingRefused(ValueError):
    """The booking was refused: the patient cannot go on this list (`booking_problem`), or the database's
    guards refused it (full list, leave, expired POA, double booking...)."""


def pathway_problem(pathway: Pathway, organisation: Organisation | None = None) -> str | None:
    """Why this patient cannot be booked on any theatre list now, or None: the planner's rule (`BOOKABLE`,
    and ready = a fit pre-operative assessment). `organisation` is the provider whose lists are meant."""
    from carecoord.waitinglist.models import ClockState, ListType, PathwayStatus, PoaStatus

    if organisation is not None and pathway.provider_id != organisation.pk:
        return "the patient is on another provider's waiting list"
    if pathway.status != PathwayStatus.ON_LIST:
        return f"the patient is not on the waiting list ({pathway.get_status_display().lower()})"
    if pathway.list_type != ListType.ADMITTED:
        return f"the patient is on the {pathway.get_list_type_display().lower()} list, not the admitted list"
    if pathway.clock_state != ClockState.OPEN:
        return f"the patient's RTT clock is not running ({pathway.get_clock_state_display().lower()})"
    if pathway.clinical_priority not in BOOKABLE_PRIORITIES:
        return (f"the patient's clinical priority {pathway.clinical_priority} defers surgery"
                if pathway.clinical_priority else "the patient has no clinical priority recorded")
    if pathway.poa_status != PoaStatus.FIT:
        return ("the patient has not been assessed as fit for surgery at a pre-operative assessment "
                f"(assessment: {pathway.get_poa_status_display().lower()})")
    return None


def booking_problem(session: TheatreSession, pathway: Pathway) -> str | None:
    """Why this patient cannot be booked on this list, or None (the database then checks time, leave and
    double booking)."""
    problem = pathway_problem(pathway, session.theatre.site.organisation)
    if problem:
        return problem
    if pathway.tfc != session.specialty:
        return f"the patient's treatment function {pathway.tfc} is not this list's specialty {session.specialty}"
    if pathway.poa_valid_until is not None and pathway.poa_valid_until < session.date:
        return "the patient's pre-operative assessment expires before the day"
    if session.status != SessionStatus.PLANNED:
        return f"the list is {session.get_status_display().lower()}, not taking bookings"
    return None


def _prediction(model: DurationModel | None, pathway: Pathway):
    if model is None:
        return 4.0, 0.35, 15.0
    pred = model.predict(opcs(pathway.intended_procedure), None, specialty=pathway.tfc)
    return pred.mu, pred.sigma, pred.turnaround


def book(session: TheatreSession, pathway: Pathway, *, by, auditor, reasons: tuple[str, ...] = (),
         suggested: bool = False) -> Booking:
    """Book a patient at the end of a list. The database's guards (capacity with the allowed overrun,
    consultant leave, POA validity, one live session per patient at a time) decide; their refusal comes
    back as BookingRefused with PostgreSQL's message, which names the reason. Before that, a patient
    who may not go on the list at all (`booking_problem`: not on the admitted list with a running clock,
    another specialty, no fit pre-operative assessment...) is refused by name."""
    from django.db import DatabaseError, transaction

    from carecoord.theatres.durations import lognormal_mean

    problem = booking_problem(session, pathway)
    if problem:
        raise BookingRefused(problem)
    mu, sigma, turn = _prediction(duration_model(session.theatre.site.organisation), pathway)
    case = planner.Case(entry_id=pathway.pk, specialty=pathway.tfc, procedure=opcs(pathway.intended_procedure),
                        priority=pathway.clinical_priority or "P4", queue_date=pathway.queue_date or session.date,
                        mu=mu, sigma=sigma, turnaround=turn)
    order = (session.bookings.filter(status__in=LIVE_BOOKING).order_by("-order").values_list("order", flat=True)
             .first() or 0) + 1
    for attempt in range(3):
        try:
            with transaction.atomic():
                # The pathway's row, locked: a removal from the list (which cancels live bookings) and this
                # booking take turns, so a patient leaving the list is never booked in the same moment.
                status = Pathway.objects.select_for_update(no_key=True).filter(pk=pathway.pk).values_list(
                    "status", flat=True).first()
                if status != "on_list":
                    raise BookingRefused("the patient is no longer on the waiting list")
                booking = Booking.objects.create(
                    session=session, pathway=pathway, patient_id_copy=pathway.patient_id, order=order,
                    procedure=pathway.intended_procedure,
                    predicted_minutes=max(1, round(turn + lognormal_mean(mu, sigma))),
                    predicted_p80_minutes=round(case.quantile(0.8)), booked_by=by, suggested_by_planner=suggested,
                    reasons=list(reasons), during=None)
            break
        except DatabaseError as exc:
            # Two bookings of one patient at the same moment can each wait on the other's exclusion check;
            # PostgreSQL then aborts one as a deadlock. Once the other has committed, trying again gets
            # the real answer (the double booking refused, by name) instead of "deadlock detected".
            if isinstance(exc.__cause__, psycopg.errors.DeadlockDetected) and attempt < 2:
                continue
            diag = getattr(exc.__cause__, "diag", None)
            message = getattr(diag, "message_primary", None) or "the booking breaks a scheduling rule"
            if "no_double_booking" in str(exc) or "conflicting key value violates exclusion" in str(exc):
                message = "the patient is already booked on another list at that time"
            raise BookingRefused(message) from exc
    auditor.create(booking, summary=f"booked on session {session.pk}")
    # A patient cancelled earlier and owed a new date within 28 days: this booking is that new date.
    for c in Cancellation.objects.filter(booking__pathway=pathway, rebook_by__isnull=False, rebooked__isnull=True):
        before = snapshot(c)
        c.rebooked = booking
        c.save(update_fields=["rebooked"])
        auditor.update(c, before, summary=f"rebooked on session {session.pk}")
    return booking


@dataclass
class SessionState:
    session: TheatreSession
    bookings: list
    predicted_minutes: float
    predicted_finish: datetime
    overrun_probability: float
    utilisation: float


def session_state(session: TheatreSession) -> SessionState:
    import math
    from statistics import NormalDist

    from carecoord.theatres.durations import lognormal_mean, lognormal_variance

    model = duration_model(session.theatre.site.organisation)
    live = list(session.bookings.filter(status__in=LIVE_BOOKING).select_related("pathway").order_by("order"))
    mean = var = 0.0
    for b in live:
        mu, sigma, turn = _prediction(model, b.pathway)
        mean += turn + lognormal_mean(mu, sigma)
        var += lognormal_variance(mu, sigma)
    limit = session.minutes + planner.PlannerConfig().late_minutes
    p_over = 0.0 if not live else (1 - NormalDist(mean, math.sqrt(var) or 1e-9).cdf(limit))
    return SessionState(session, live, mean, session.starts_at + timedelta(minutes=mean), round(p_over, 3),
                        mean / session.minutes if session.minutes else 0.0)


def suggestions_for(session: TheatreSession, n: int = 5) -> tuple[list[planner.Suggestion], dict[int, Pathway]]:
    """The best ready patients to add to this list ("fill this slot"), with reasons."""
    org = session.theatre.site.organisation
    data = inputs(org, session.date, 1)
    me = next((s for s in data.sessions if s.id == session.pk), None)
    if me is None:
        return [], {}
    remaining = fixed_bookings([session])
    found = planner.fill_freed_slot(me, remaining, data.cases, data.leave, n=n, max_cases=1)
    return found, data.pathways


# ---------------------------------------------------------------- a booking's life after it is made

class BookingError(ValueError):
    """An action the booking's state does not allow (named in the message)."""


CANCELLATION_REASONS = {
    # code: (label, by, clinical) -- hospital non-clinical reasons on the day count in the national
    # last-minute cancellations return and start the 28-day rebooking clock.
    "no_theatre_time": ("List overran or ran out of theatre time", Cancellation.By.HOSPITAL, False),
    "no_ward_bed": ("No ward bed", Cancellation.By.HOSPITAL, False),
    "no_critical_care_bed": ("No critical care bed", Cancellation.By.HOSPITAL, False),
    "staff_unavailable": ("Surgeon, anaesthetist or theatre staff unavailable", Cancellation.By.HOSPITAL, False),
    "equipment": ("Equipment failure or not available", Cancellation.By.HOSPITAL, False),
    "emergency_priority": ("Emergency or more urgent case took priority", Cancellation.By.HOSPITAL, False),
    "administrative": ("Administrative error", Cancellation.By.HOSPITAL, False),
    "unfit_on_day": ("Patient unfit for surgery (clinical decision)", Cancellation.By.HOSPITAL, True),
    "treatment_not_needed": ("Treatment no longer needed (clinical decision)", Cancellation.By.HOSPITAL, True),
    "patient_declined": ("Patient cancelled or declined the date", Cancellation.By.PATIENT, False),
    "patient_unwell": ("Patient unwell", Cancellation.By.PATIENT, True),
    "patient_did_not_attend": ("Patient did not attend", Cancellation.By.PATIENT, False),
}
REBOOK_DAYS = 28
# Reasons set by carecoord itself, never offered on the cancellation form.
REMOVED_FROM_LIST = "removed_from_list"
SYSTEM_CANCELLATION_REASONS = {
    REMOVED_FROM_LIST: ("Removed from the waiting list (clinical decision)", Cancellation.By.HOSPITAL, True),
}


def _renumber(session: TheatreSession) -> None:
    for i, b in enumerate(session.bookings.filter(status__in=LIVE_BOOKING).order_by("order", "id"), start=1):
        if b.order != i:
            Booking.objects.filter(pk=b.pk).update(order=i)


def _save_status(booking: Booking) -> None:
    """Save a status change; the database re-checks leave, POA and capacity, and says why it refuses."""
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic():
            booking.save(update_fields=["status"])
    except DatabaseError as exc:
        diag = getattr(getattr(exc, "__cause__", None), "diag", None)
        raise BookingError(getattr(diag, "message_primary", None) or "the change breaks a scheduling rule") from exc


def move(booking: Booking, delta: int, *, auditor) -> bool:
    """Move a booking up (delta -1) or down (+1) its list. Returns False at the top or bottom."""
    from django.db import transaction

    with transaction.atomic():
        TheatreSession.objects.select_for_update().filter(pk=booking.session_id).first()  # serialise reorders
        _renumber(booking.session)
        live = list(booking.session.bookings.filter(status__in=LIVE_BOOKING).order_by("order"))
        ids = [b.pk for b in live]
        if booking.pk not in ids:
            raise BookingError("only a live booking can be moved")
        i = ids.index(booking.pk)
        j = i + delta
        if not 0 <= j < len(live):
            return False
        a, b = live[i], live[j]
        Booking.objects.filter(pk=a.pk).update(order=b.order)
        Booking.objects.filter(pk=b.pk).update(order=a.order)
    auditor.event("update", "theatres.booking", object_id=booking.pk,
                  summary=f"moved {'up' if delta < 0 else 'down'} session {booking.session_id} to position {j + 1}")
    return True


def _require_on_list(booking: Booking) -> None:
    if booking.pathway.status != "on_list":
        raise BookingError(f"the patient is no longer on the waiting list "
                           f"({booking.pathway.get_status_display().lower()}): cancel the booking")


def confirm(booking: Booking, *, auditor) -> Booking:
    # The booking's own state first: one cancelled because the patient left the list says so, rather
    # than asking the scheduler to cancel it.
    if booking.status != BookingStatus.PROVISIONAL:
        raise BookingError(f"the booking is {booking.get_status_display().lower()}, not provisional")
    _require_on_list(booking)
    before = snapshot(booking)
    booking.status = BookingStatus.CONFIRMED
    _save_status(booking)
    auditor.update(booking, before, summary="confirmed")
    return booking


def tci_letter(booking: Booking, *, auditor) -> bytes:
    """The booking's TCI letter (PDF), with the TCI recorded: both or neither. The letter is built first,
    so one that cannot be built records nothing; a TCI the database refuses returns no letter."""
    pdf = tci_letter_pdf([booking])
    record_tci(booking, auditor=auditor)
    return pdf


@transaction.atomic
def record_tci(booking: Booking, *, auditor) -> Booking:
    """The TCI letter went out: the booking is 'TCI sent' and the pathway's TCI date is the list's date."""
    if booking.status not in LIVE_BOOKING:
        raise BookingError("a cancelled or completed booking gets no TCI letter")
    _require_on_list(booking)
    if booking.status != BookingStatus.TCI_SENT:
        before = snapshot(booking)
        booking.status = BookingStatus.TCI_SENT
        _save_status(booking)
        auditor.update(booking, before, summary="TCI letter sent")
    p = booking.pathway
    if p.tci_date != booking.session.date:
        before = snapshot(p)
        p.tci_date = booking.session.date
        p.save(update_fields=["tci_date"])
        auditor.update(p, before, summary=f"TCI date from theatre booking {booking.pk}")
    return booking


def cancel(booking: Booking, *, reason_code: str, reason: str = "", user=None, auditor,
           today: date | None = None) -> Cancellation:
    """Cancel a booking with a coded reason. On the day of surgery (or later) it is a last-minute
    cancellation; a hospital's non-clinical one owes the patient a new date within 28 days.

    The booking's row is locked first, so two schedulers (or a double-clicked button) cancelling at once
    take turns: the second is told the booking is already cancelled. If this booking was the new date
    owed to an earlier cancellation, that cancellation is owed a new date again (`rebooked` cleared)."""
    from django.db import transaction

    if reason_code not in CANCELLATION_REASONS and reason_code not in SYSTEM_CANCELLATION_REASONS:
        raise BookingError(f"unknown cancellation reason {reason_code!r}")
    _, by, clinical = CANCELLATION_REASONS.get(reason_code) or SYSTEM_CANCELLATION_REASONS[reason_code]
    today = today or timezone.localdate()
    with transaction.atomic():
        locked = Booking.objects.select_for_update().filter(pk=booking.pk).first()
        if locked is None or locked.status not in LIVE_BOOKING:
            status = locked.get_status_display().lower() if locked else "gone"
            raise BookingError(f"the booking is already {status}")
        booking.status = locked.status
        session = booking.session
        on_the_day = today >= session.date
        owed = on_the_day and by == Cancellation.By.HOSPITAL and not clinical
        before = snapshot(booking)
        booking.status = BookingStatus.CANCELLED
        booking.save(update_fields=["status"])
        c = Cancellation.objects.create(booking=booking, by=by, clinical=clinical, on_the_day=on_the_day,
                                        reason_code=reason_code, reason=reason[:300], cancelled_by=user,
                                        rebook_by=session.date + timedelta(days=REBOOK_DAYS) if owed else None)
        auditor.update(booking, before, summary=f"cancelled: {reason_code}")
        auditor.create(c, summary=f"cancellation of booking {booking.pk}")
        for earlier in Cancellation.objects.select_for_update().filter(rebooked=booking):
            e_before = snapshot(earlier)
            earlier.rebooked = None
            earlier.save(update_fields=["rebooked"])
            auditor.update(earlier, e_before, summary=f"new date cancelled too (booking {booking.pk}): a new "
                                                      "date is owed again")
        p = booking.pathway
        if p.tci_date == session.date:
            p_before = snapshot(p)
            p.tci_date = None
            p.save(update_fields=["tci_date"])
            auditor.update(p, p_before, summary=f"TCI date cleared: theatre booking {booking.pk} cancelled")
        _renumber(session)
    return c


def cancel_on_removal(pathway: Pathway, *, by=None, auditor, **_) -> list[Cancellation]:
    """The pathway left the waiting list (a clinician's recorded removal): cancel its live bookings so no
    list keeps a patient who is no longer waiting, and no TCI letter goes out. The cancellation is a
    clinical decision, so it is not an on-the-day hospital cancellation and owes no new date.
    Connected to `waitinglist.signals.pathway_removed` (so the waiting list does not import theatres);
    runs in the removal's transaction."""
    out = []
    for b in (Booking.objects.filter(pathway_id=pathway.pk, status__in=LIVE_BOOKING)
              .select_related("session", "pathway").order_by("id")):
        out.append(cancel(b, reason_code=REMOVED_FROM_LIST, reason="removed from the waiting list", user=by,
                          auditor=auditor))
    return out


def set_session_status(session: TheatreSession, status: str, *, auditor) -> TheatreSession:
    """Release a list to other teams or cancel it. A list with live bookings must be emptied first
    (each patient cancelled with a reason) so nobody is dropped silently."""
    if status not in (SessionStatus.RELEASED, SessionStatus.CANCELLED, SessionStatus.PLANNED):
        raise BookingError(f"a list cannot be set to {status!r} here")
    if session.status == SessionStatus.COMPLETED:
        raise BookingError("the list has already run")
    if status != SessionStatus.PLANNED and session.bookings.filter(status__in=LIVE_BOOKING).exists():
        raise BookingError("the list still has patients booked: cancel or move them first")
    before = snapshot(session)
    session.status = status
    session.save()
    auditor.update(session, before, summary=f"list {status}")
    return session


def release_advice(organisation: Organisation, start: date, weeks: int, today: date | None = None):
    """6-4-2 advice over the horizon from the lists as booked now: lists to fill or release."""
    today = today or timezone.localdate()
    sessions, leave, theatre_sessions = _lists(organisation, start, weeks)
    advice = planner.sessions_to_release(sessions, fixed_bookings(theatre_sessions.values()), today, leave)
    return [(a, theatre_sessions[a.session_id]) for a in advice]


def sessions_for_pathway(pathway: Pathway, *, today: date | None = None, weeks: int = 8) -> list[tuple]:
    """Planned lists a scheduler could book this patient on from the PTL: the provider's lists of the
    pathway's specialty in the next `weeks`, with the time left and whether the guards would allow it."""
    today = today or timezone.localdate()
    org = pathway.provider
    sessions = list(TheatreSession.objects.filter(theatre__site__organisation=org, specialty=pathway.tfc,
                                                  status=SessionStatus.PLANNED, date__gt=today,
                                                  date__lte=today + timedelta(weeks=weeks))
                    .select_related("theatre", "theatre__site").order_by("starts_at"))
    if not sessions:
        return []
    leave = list(ConsultantLeave.objects.filter(organisation=org, ends_on__gt=today).values_list(
        "consultant_code", "starts_on", "ends_on"))
    mu, sigma, turn = _prediction(duration_model(org), pathway)
    from carecoord.theatres.durations import lognormal_mean

    need = turn + lognormal_mean(mu, sigma)
    used = dict(Booking.objects.filter(session__in=sessions, status__in=LIVE_BOOKING).values_list("session_id")
                .annotate(m=models.Sum("predicted_minutes")).values_list("session_id", "m"))
    out = []
    for s in sessions:
        free = s.minutes - (used.get(s.pk) or 0)
        problems = []
        if any(c == s.consultant_code and a <= s.date <= b for c, a, b in leave):
            problems.append("consultant on leave")
        if pathway.poa_valid_until is not None and pathway.poa_valid_until < s.date:
            problems.append("pre-operative assessment expires before the day")
        if free + s.allowed_overrun_minutes < need:
            problems.append("not enough time left")
        out.append((s, round(free), problems))
    return out


# ---------------------------------------------------------------- metrics over lists that ran

METRIC_GROUPS = {"theatre": "Theatre", "specialty": "Specialty", "consultant": "Consultant", "week": "Week"}


def metrics_for(organisation: Organisation, start: date, end: date, by: str | None = None, *,
                today: date | None = None) -> dict:
    """Theatre metrics as the NHS defines them (`theatres.metrics`) over the provider's lists between
    two dates: completed lists with their case timings, cancelled lists as downtime. With `by`
    (theatre / specialty / consultant / week) the same figures also come per group under "groups"."""
    from carecoord.theatres.models import Cancellation, CaseTiming

    sessions = list(TheatreSession.objects.filter(theatre__site__organisation=organisation, date__range=(start, end),
                                                  status__in=[SessionStatus.COMPLETED, SessionStatus.CANCELLED])
                    .select_related("theatre").order_by("starts_at"))
    timings = defaultdict(list)
    for t in CaseTiming.objects.filter(booking__session__in=sessions).select_related("booking"):
        timings[t.booking.session_id].append(t)
    bookings = defaultdict(list)
    for b in Booking.objects.filter(session__in=sessions).select_related("pathway"):
        bookings[b.session_id].append(b)
    cancellations = defaultdict(list)
    for c in Cancellation.objects.filter(booking__session__in=sessions).select_related("booking", "rebooked__session"):
        cancellations[c.booking.session_id].append(c)
    # "Rebooked within 28 days" is judged as of today, not the period's end: a cancellation whose 28 days
    # have not yet run out (and not yet rebooked) is pending, not a breach, even when the period ends in
    # the future; one late in a past period whose 28 days ran out since, unrebooked, is a breach.
    as_of = today or timezone.localdate()
    out = {"provider": organisation.ods_code, "from": start.isoformat(), "to": end.isoformat(),
           **_metrics(sessions, timings, bookings, cancellations, as_of)}
    if by:
        if by not in METRIC_GROUPS:
            raise ValueError(f"group by one of {', '.join(METRIC_GROUPS)}")
        key = {"theatre": lambda s: s.theatre.name, "specialty": lambda s: s.specialty,
               "consultant": lambda s: s.consultant_code,
               "week": lambda s: (s.date - timedelta(days=s.date.weekday())).isoformat()}[by]
        groups = defaultdict(list)
        for s in sessions:
            groups[key(s)].append(s)
        out["by"] = by
        out["groups"] = [{"group": g, **_metrics(ss, timings, bookings, cancellations, as_of)}
                         for g, ss in sorted(groups.items())]
    return out


def _new_date(c: Cancellation) -> date | None:
    """The new surgery date given after a cancellation, if that booking still stands (live or done)."""
    b = c.rebooked
    return b.session.date if b is not None and b.status in (*LIVE_BOOKING, BookingStatus.COMPLETED) else None


def _metrics(sessions, timings, bookings, cancellations, as_of: date) -> dict:
    from carecoord.theatres import metrics as m

    lists = [m.ListRecord(s.pk, s.starts_at, s.ends_at,
                          tuple(m.CaseTimes(t.into_theatre, t.out_of_theatre) for t in timings.get(s.pk, ())),
                          actual_start=s.actual_start, actual_end=s.actual_end,
                          cancelled=s.status == SessionStatus.CANCELLED, specialty=s.specialty) for s in sessions]
    booked = [(s.minutes, [b.predicted_minutes for b in bookings.get(s.pk, ())
                           if b.status in (*LIVE_BOOKING, "completed")]) for s in sessions]
    cancelled = [
        m.CancellationRecord(entry_id=c.booking.pathway_id, surgery_date=s.date,
                             cancelled_on=timezone.localtime(c.cancelled_at).date(), clinical=c.clinical,
                             by_hospital=c.by == Cancellation.By.HOSPITAL,
                             rebooked_for=_new_date(c))
        for s in sessions for c in cancellations.get(s.pk, ())]

    def due(p):
        days = planner.TIME_FRAME_DAYS.get(p.clinical_priority)
        return p.queue_date + timedelta(days=days) if p.queue_date and days is not None else None

    priority = [m.PriorityRecord(b.pathway_id, s.specialty, b.pathway.clinical_priority,
                                 b.pathway.queue_date or s.date, due(b.pathway), s.date)
                for s in sessions for b in bookings.get(s.pk, ()) if b.status == "completed"]
    elective = sum(len(timings.get(s.pk, ())) for s in sessions)

    def rate(r):
        return {"numerator": r.numerator, "denominator": r.denominator,
                "value": round(r.value, 4) if r.value is not None else None}

    def num(v):
        return round(v, 4) if v is not None else None

    return {
        "lists": len(lists), "lists_cancelled": sum(1 for x in lists if x.cancelled), "cases": elective,
        "capped_utilisation": num(m.capped_utilisation(lists)),
        "uncapped_utilisation": num(m.uncapped_utilisation(lists)),
        "booked_utilisation": num(m.booked_utilisation(booked)),
        "overrun_rate": rate(m.overrun_rate(lists)), "mean_overrun_minutes": num(m.mean_overrun_minutes(lists)),
        "early_finish_rate": rate(m.early_finish_rate(lists)), "late_start_rate": rate(m.late_start_rate(lists)),
        "cases_per_list": num(m.cases_per_list(lists)),
        "on_the_day_cancellation_rate": rate(m.on_the_day_cancellation_rate(cancelled, elective)),
        "rebooked_within_28_days": rate(m.rebooked_within_28_days(cancelled, as_of)),
        "priority_compliance_p1_p2": rate(m.priority_compliance(priority)),
    }


# ---------------------------------------------------------------- TCI letters

def procedure_text(code: str) -> str:
    """A procedure as a patient reads it: its name from the case mix's table where known, with the
    OPCS-4 code labelled (the project holds no full OPCS-4 table)."""
    from carecoord.theatres.durations import PROCEDURES

    if not (code or "").strip():
        return "as discussed with your consultant"
    names = {x.code: x.name for x in PROCEDURES}
    name = names.get(opcs(code))
    return f"{name} (OPCS-4 code {opcs(code)})" if name else f"OPCS-4 procedure code {opcs(code)}"


def tci_letter_pdf(bookings) -> bytes:
    """TCI ("to come in") letters, one page per booking: date, arrival time, place, procedure and
    what to do before the day."""
    from carecoord.core import letters

    out = []
    for b in bookings:
        if b.status not in LIVE_BOOKING:
            raise BookingError("a cancelled or completed booking gets no TCI letter")
        _require_on_list(b)
        s, p = b.session, b.pathway
        site = s.theatre.site
        arrive = timezone.localtime(s.starts_at) - timedelta(minutes=60)
        out.append(letters.Letter(
            sender=[site.organisation.name, site.name], dated=timezone.localdate(), **letters.addressed_to(p.patient),
            heading="Your admission for surgery",
            details=[("Date", f"{s.date:%A %d %B %Y}"), ("Please arrive at", f"{arrive:%H:%M}"),
                     ("Where", f"{site.name}, {s.theatre.name} admissions"),
                     ("Procedure", procedure_text(b.procedure or p.intended_procedure)),
                     ("Consultant (national code)", s.consultant_code), ("Our reference", f"{p.ppid} / {b.pk}")],
            paragraphs=[
                "We have booked your operation for the date above. Please follow any instructions you were given "
                "at your pre-operative assessment, including when to stop eating and drinking.",
                "If you cannot come on this date, or you no longer need the operation, please tell us as soon as "
                "you can so that we can offer the date to another patient and arrange a new date for you.",
                "If you become unwell in the days before your operation, please call us before you travel.",
            ]))
    return letters.render(out, title="TCI letters")


# ---------------------------------------------------------------- consultant leave (rota, annual, study)

LEAVE_COLUMNS = ("consultant_code", "starts_on", "ends_on", "kind")


@dataclass
class LeaveImport:
    rows_read: int = 0
    created: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)  # "row N, field: reason"
    clashes: list = field(default_factory=list)  # live bookings on lists during the new leave

    def as_dict(self) -> dict:
        return {"rows_read": self.rows_read, "created": self.created, "duplicates": self.duplicates,
                "errors": self.errors, "bookings_during_leave": len(self.clashes)}


LEAVE_YEARS_BACK = 2  # and leave that ended this long ago is no use to scheduling (or a mistyped year)


def _leave_date(text: str) -> date:
    text = (text or "").strip()
    if "/" in text:
        d, m, y = text.split("/")
        if len(y.strip()) != 4:
            raise ValueError("use a 4-digit year")
        return date(int(y), int(m), int(d))
    return date.fromisoformat(text)


def _leave_window(today: date) -> tuple[date, date]:
    from django.conf import settings

    ahead = settings.THEATRES_LEAVE_YEARS_AHEAD

    def years(d: date, n: int) -> date:
        try:
            return d.replace(year=d.year + n)
        except ValueError:  # 29 February
            return d.replace(year=d.year + n, day=28)

    return years(today, -LEAVE_YEARS_BACK), years(today, ahead)


def import_leave(organisation: Organisation, text: str, *, auditor, source: str = "csv") -> LeaveImport:
    """Load consultant leave from CSV (consultant_code, starts_on, ends_on[, kind]); see `load_leave`.
    A row with more fields than the header is named, not guessed at."""
    import csv
    import io

    try:
        table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:
        return LeaveImport(errors=[f"file: not readable as CSV ({exc})"])
    header = [h.strip().lower() for h in (table[0] if table else [])]
    missing = [c for c in LEAVE_COLUMNS[:3] if c not in header]
    if missing:
        return LeaveImport(errors=[f"header: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                   f"(expected {', '.join(LEAVE_COLUMNS)})"])
    rows, errors = [], []
    for n, raw in enumerate(table[1:], start=2):
        if not any(v.strip() for v in raw):
            continue  # a blank line, as csv.DictReader skips it
        if len(raw) > len(header):
            errors.append(f"row {n} has {len(raw)} fields, the header has {len(header)}")
            continue
        rows.append({k: (raw[i] if i < len(raw) else "").strip() for i, k in enumerate(header)})
    if errors:
        return LeaveImport(rows_read=len(rows) + len(errors), errors=errors)
    return load_leave(organisation, rows, auditor=auditor, source=source, first_row=2)


def load_leave(organisation: Organisation, rows: list[dict], *, auditor, source: str = "manual",
               first_row: int = 1) -> LeaveImport:
    """Check and store leave rows (consultant_code, starts_on, ends_on, kind; dates YYYY-MM-DD or
    DD/MM/YYYY). All or nothing: any bad row and nothing is loaded, every bad row named. Leave already
    held is not duplicated. Bookings already made on lists during the new leave are returned so the
    scheduler can move them (the database refuses new ones)."""
    from django.db import transaction

    out = LeaveImport(rows_read=len(rows))
    kinds = set(ConsultantLeave.Kind.values)
    earliest, latest = _leave_window(timezone.localdate())
    good = []
    for n, row in enumerate(rows, start=first_row):
        code = str(row.get("consultant_code") or "").strip().upper()
        if not code or len(code) > 12:
            out.errors.append(f"row {n}, consultant_code: must be 1 to 12 characters")
        dates = {}
        for f in ("starts_on", "ends_on"):
            value = row.get(f)
            try:
                d = value if isinstance(value, date) else _leave_date(str(value or ""))
            except (ValueError, TypeError) as exc:
                hint = "use a 4-digit year" if "4-digit" in str(exc) else "YYYY-MM-DD or DD/MM/YYYY"
                out.errors.append(f"row {n}, {f}: {row.get(f, '')!r} is not a date ({hint})")
                continue
            if d.year < 1000:
                out.errors.append(f"row {n}, {f}: {d.isoformat()} has no 4-digit year: use a 4-digit year")
            elif not earliest <= d <= latest:
                out.errors.append(f"row {n}, {f}: {d:%d/%m/%Y} is outside the dates leave can have (a placeholder or "
                                  f"mistyped date?): use a date from {earliest:%d/%m/%Y} to {latest:%d/%m/%Y}")
            else:
                dates[f] = d
        if len(dates) == 2 and dates["ends_on"] < dates["starts_on"]:
            out.errors.append(f"row {n}, ends_on: before starts_on")
        kind = str(row.get("kind") or "annual").lower()
        if kind not in kinds:
            out.errors.append(f"row {n}, kind: {kind!r} is not one of {', '.join(sorted(kinds))}")
        if len(dates) == 2:
            good.append((code, dates["starts_on"], dates["ends_on"], kind))
    if out.errors:
        return out
    with transaction.atomic():
        for code, a, b, kind in good:
            leave, made = ConsultantLeave.objects.get_or_create(
                organisation=organisation, consultant_code=code, starts_on=a, ends_on=b,
                defaults={"kind": kind, "source": source})
            if made:
                out.created += 1
                auditor.create(leave, summary=f"consultant leave ({source})")
            else:
                out.duplicates += 1
            out.clashes += list(bookings_during_leave(organisation, code, a, b))
    return out


def bookings_during_leave(organisation: Organisation, consultant_code: str, start: date, end: date):
    return (bookings_for(organisation).filter(session__consultant_code=consultant_code,
                                              session__date__range=(start, end), status__in=LIVE_BOOKING)
            .select_related("session", "session__theatre", "pathway").order_by("session__starts_at", "order"))
