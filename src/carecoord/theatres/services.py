"""Theatre services: sessions from templates, and assisted list filling from the database.

`plan_for_provider` turns a provider's planned sessions, consultant leave and ready admitted
waiting-list entries into the planner kernel's inputs (durations predicted from the provider's case
history by `theatres.durations`), runs the CP-SAT planner and returns its suggestions. It books
nothing: accepting a suggestion is a separate, audited booking.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

from carecoord.core.models import Organisation
from carecoord.theatres import planner
from carecoord.theatres.durations import DurationModel
from carecoord.theatres.durations import HistoricalCase as KernelCase
from carecoord.theatres.models import (
    LIVE_BOOKING,
    Booking,
    ConsultantLeave,
    HistoricalCase,
    SessionStatus,
    SessionTemplate,
    Theatre,
    TheatreSession,
)
from carecoord.waitinglist.models import Pathway

BOOKABLE_PRIORITIES = ("P1a", "P1b", "P2", "P3", "P4")


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
    rows = HistoricalCase.objects.filter(organisation=organisation).values_list(
        "date", "specialty", "procedure", "consultant_code", "minutes", "turnaround_minutes")
    history = [KernelCase(d, s, opcs(p), c, float(m), float(t)) for d, s, p, c, m, t in rows.iterator()]
    return DurationModel.fit(history) if history else None


@dataclass
class PlanInputs:
    sessions: list[planner.Session]
    cases: list[planner.Case]
    leave: list[planner.Leave]
    pathways: dict[int, Pathway]
    theatre_sessions: dict[int, TheatreSession]


def inputs(organisation: Organisation, start: date, weeks: int) -> PlanInputs:
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
    model = duration_model(organisation)
    specialties = {s.specialty for s in sessions}
    booked = set(Booking.objects.filter(status__in=LIVE_BOOKING, pathway__provider=organisation)
                 .values_list("pathway_id", flat=True))
    qs = (Pathway.objects.filter(provider=organisation, status="on_list", list_type="admitted", clock_state="open",
                                 clinical_priority__in=BOOKABLE_PRIORITIES, tfc__in=specialties,
                                 tci_date__isnull=True)
          .exclude(pk__in=booked).order_by("priority_rank", "queue_date", "id"))
    cases, pathways = [], {}
    for p in qs.iterator():
        pred = model.predict(opcs(p.intended_procedure), None, specialty=p.tfc) if model else None
        mu, sigma, turn = (pred.mu, pred.sigma, pred.turnaround) if pred else (4.0, 0.35, 15.0)
        ready = p.poa_status == "fit"
        cases.append(planner.Case(entry_id=p.pk, specialty=p.tfc, procedure=opcs(p.intended_procedure),
                                  priority=p.clinical_priority, queue_date=p.queue_date or p.rtt_start or start,
                                  mu=mu, sigma=sigma, turnaround=turn, poa_valid_until=p.poa_valid_until,
                                  ready=ready))
        pathways[p.pk] = p
    return PlanInputs(sessions, cases, leave, pathways, {s.pk: s for s in ts})


def plan_for_provider(organisation: Organisation, start: date, weeks: int, *, seconds: float = 20.0,
                      seed: int = 0) -> tuple[planner.Plan, PlanInputs]:
    data = inputs(organisation, start, weeks)
    cfg = planner.PlannerConfig(time_limit_s=seconds, seed=seed, today=start - timedelta(days=1))
    result = planner.plan(data.sessions, data.cases, data.leave, cfg)
    return result, data


def plan_json(result: planner.Plan, data: PlanInputs) -> dict:
    """The suggestions as the CLI prints them (no patient identifiers beyond the pathway identifier)."""
    out = []
    for b in sorted(result.bookings, key=lambda b: (data.theatre_sessions[b.session_id].starts_at, b.order)):
        s = data.theatre_sessions[b.session_id]
        p = data.pathways[b.entry_id]
        out.append({"session": s.pk, "date": s.date.isoformat(), "theatre": s.theatre.name, "slot": s.slot,
                    "patient_pathway_identifier": p.ppid, "issuer": p.ppid_issuer, "order": b.order,
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
            "booked_utilisation": round(result.booked_utilisation, 3)}


def theatres_of(organisation: Organisation):
    return Theatre.objects.filter(site__organisation=organisation)


# ---------------------------------------------------------------- booking and a session's state

class BookingRefused(ValueError):
    """The database refused the booking (full list, leave, expired POA, double booking...)."""


def _prediction(model: DurationModel | None, pathway: Pathway):
    if model is None:
        return 4.0, 0.35, 15.0
    pred = model.predict(opcs(pathway.intended_procedure), None, specialty=pathway.tfc)
    return pred.mu, pred.sigma, pred.turnaround


def book(session: TheatreSession, pathway: Pathway, *, by, auditor, reasons: tuple[str, ...] = (),
         suggested: bool = False) -> Booking:
    """Book a patient at the end of a list. The database's guards (capacity with the allowed overrun,
    consultant leave, POA validity, one live session per patient at a time) decide; their refusal comes
    back as BookingRefused with PostgreSQL's message, which names the reason."""
    from django.db import DatabaseError, transaction

    from carecoord.theatres.durations import lognormal_mean

    mu, sigma, turn = _prediction(duration_model(session.theatre.site.organisation), pathway)
    case = planner.Case(entry_id=pathway.pk, specialty=pathway.tfc, procedure=opcs(pathway.intended_procedure),
                        priority=pathway.clinical_priority or "P4", queue_date=pathway.queue_date or session.date,
                        mu=mu, sigma=sigma, turnaround=turn)
    order = (session.bookings.filter(status__in=LIVE_BOOKING).order_by("-order").values_list("order", flat=True)
             .first() or 0) + 1
    try:
        with transaction.atomic():
            booking = Booking.objects.create(
                session=session, pathway=pathway, patient_id_copy=pathway.patient_id, order=order,
                procedure=pathway.intended_procedure, predicted_minutes=max(1, round(turn + lognormal_mean(mu, sigma))),
                predicted_p80_minutes=round(case.quantile(0.8)), booked_by=by, suggested_by_planner=suggested,
                reasons=list(reasons), during=None)
    except DatabaseError as exc:
        diag = getattr(getattr(exc, "__cause__", None), "diag", None)
        message = getattr(diag, "message_primary", None) or "the booking breaks a scheduling rule"
        if "no_double_booking" in str(exc) or "conflicting key value violates exclusion" in str(exc):
            message = "the patient is already booked on another list at that time"
        raise BookingRefused(message) from exc
    auditor.create(booking, summary=f"booked on session {session.pk}")
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
    model = duration_model(org)
    remaining = []
    for b in session.bookings.filter(status__in=LIVE_BOOKING).select_related("pathway"):
        mu, sigma, turn = _prediction(model, b.pathway)
        from carecoord.theatres.durations import lognormal_mean, lognormal_variance

        remaining.append(planner.Booking(session.pk, b.pathway_id, b.order, b.predicted_minutes,
                                         b.predicted_p80_minutes or b.predicted_minutes,
                                         turn + lognormal_mean(mu, sigma), lognormal_variance(mu, sigma)))
    found = planner.fill_freed_slot(me, remaining, data.cases, data.leave, n=n, max_cases=1)
    return found, data.pathways


# ---------------------------------------------------------------- metrics over lists that ran

def metrics_for(organisation: Organisation, start: date, end: date) -> dict:
    """Theatre metrics as the NHS defines them (`theatres.metrics`) over the provider's lists between
    two dates: completed lists with their case timings, cancelled lists as downtime."""
    from carecoord.theatres import metrics as m
    from carecoord.theatres.models import Cancellation, CaseTiming

    sessions = list(TheatreSession.objects.filter(theatre__site__organisation=organisation, date__range=(start, end),
                                                  status__in=[SessionStatus.COMPLETED, SessionStatus.CANCELLED])
                    .order_by("starts_at"))
    timings = {}
    for t in CaseTiming.objects.filter(booking__session__in=sessions).select_related("booking"):
        timings.setdefault(t.booking.session_id, []).append(m.CaseTimes(t.into_theatre, t.out_of_theatre))
    lists = [m.ListRecord(s.pk, s.starts_at, s.ends_at, tuple(timings.get(s.pk, ())),
                          actual_start=s.actual_start, actual_end=s.actual_end,
                          cancelled=s.status == SessionStatus.CANCELLED, specialty=s.specialty) for s in sessions]
    booked = []
    for s in sessions:
        minutes = [b.predicted_minutes for b in s.bookings.all() if b.status in (*LIVE_BOOKING, "completed")]
        booked.append((s.minutes, minutes))
    cancellations = [
        m.CancellationRecord(entry_id=c.booking.pathway_id, surgery_date=c.booking.session.date,
                             cancelled_on=timezone.localtime(c.cancelled_at).date(), clinical=c.clinical,
                             by_hospital=c.by == Cancellation.By.HOSPITAL,
                             rebooked_for=c.rebooked.session.date if c.rebooked else None)
        for c in Cancellation.objects.filter(booking__session__in=sessions).select_related(
            "booking__session", "rebooked__session")]
    completed = Booking.objects.filter(session__in=sessions, status="completed").select_related("pathway", "session")
    def due(p):
        days = planner.TIME_FRAME_DAYS.get(p.clinical_priority)
        return p.queue_date + timedelta(days=days) if p.queue_date and days is not None else None

    priority = [m.PriorityRecord(b.pathway_id, b.session.specialty, b.pathway.clinical_priority,
                                 b.pathway.queue_date or b.session.date, due(b.pathway), b.session.date)
                for b in completed]
    elective = sum(len(c) for c in timings.values())

    def rate(r):
        return {"numerator": r.numerator, "denominator": r.denominator,
                "value": round(r.value, 4) if r.value is not None else None}

    def num(v):
        return round(v, 4) if v is not None else None

    return {
        "provider": organisation.ods_code, "from": start.isoformat(), "to": end.isoformat(),
        "lists": len(lists), "lists_cancelled": sum(1 for x in lists if x.cancelled), "cases": elective,
        "capped_utilisation": num(m.capped_utilisation(lists)),
        "uncapped_utilisation": num(m.uncapped_utilisation(lists)),
        "booked_utilisation": num(m.booked_utilisation(booked)),
        "overrun_rate": rate(m.overrun_rate(lists)), "mean_overrun_minutes": num(m.mean_overrun_minutes(lists)),
        "early_finish_rate": rate(m.early_finish_rate(lists)), "late_start_rate": rate(m.late_start_rate(lists)),
        "cases_per_list": num(m.cases_per_list(lists)),
        "on_the_day_cancellation_rate": rate(m.on_the_day_cancellation_rate(cancellations, elective)),
        "rebooked_within_28_days": rate(m.rebooked_within_28_days(cancellations, end)),
        "priority_compliance_p1_p2": rate(m.priority_compliance(priority)),
    }
