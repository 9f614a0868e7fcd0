"""Synthetic theatres: for each NHS trust, theatres at its main site with weekly AM/PM templates for
its surgical specialties, sessions for the next six weeks, some consultant leave, and two years of
completed-case history (durations from `theatres.durations`' synthetic case mix), so the demo has
lists to plan and history to predict from."""

from __future__ import annotations

import itertools
from datetime import time, timedelta

import numpy as np
import polars as pl

from carecoord.core.models import OrganisationKind, Site
from carecoord.synth.registry import SynthContext, step
from carecoord.theatres.durations import synthetic_history
from carecoord.theatres.models import (
    Booking,
    Cancellation,
    CaseTiming,
    ConsultantLeave,
    SessionSlot,
    SessionTemplate,
    Theatre,
    TheatreSession,
)
from carecoord.theatres.services import generate_sessions

SPECIALTY_THEATRES = [("110", {"laminar_flow"}), ("110", {"laminar_flow"}), ("130", {"microscope"}),
                      ("100", {"laparoscopic_stack"}), ("120", set()), ("101", set()), ("502", set())]


@step(50, "theatres", "Theatres, weekly session templates, six weeks of sessions, leave and case history")
def theatres(ctx: SynthContext) -> dict:
    rng = ctx.rng("theatres")
    trusts = [p for p in ctx.shared["providers"] if p.kind == OrganisationKind.NHS_TRUST]
    made = {"theatres": 0, "templates": 0, "sessions": 0, "leave": 0, "history": 0}
    monday = ctx.today - timedelta(days=ctx.today.weekday()) + timedelta(days=7)
    for t_idx, org in enumerate(trusts):
        site = Site.objects.filter(organisation=org).order_by("id").first()
        if site is None:
            continue
        for i, (tfc, kit) in enumerate(SPECIALTY_THEATRES):
            th = Theatre.objects.create(site=site, name=f"Theatre {i + 1}", specialties=[tfc], equipment=sorted(kit))
            made["theatres"] += 1
            for weekday in range(5):
                for slot, start, end in ((SessionSlot.AM, time(8, 30), time(12, 30)),
                                         (SessionSlot.PM, time(13, 30), time(17, 30))):
                    consultant = f"C{int(tfc) * 10 + int(rng.integers(0, 3)):07d}"
                    SessionTemplate.objects.create(theatre=th, weekday=weekday, slot=slot, start_time=start,
                                                   end_time=end, specialty=tfc, consultant_code=consultant,
                                                   valid_from=monday - timedelta(days=7 * 52))
                    made["templates"] += 1
        made["sessions"] += generate_sessions(org, monday, 6)
        made["completed_lists"] = made.get("completed_lists", 0) + _history_lists(org, monday, rng)
        # a fortnight's annual leave for one consultant in orthopaedics and one in ophthalmology
        for tfc, offset in (("110", 14), ("130", 21)):
            ConsultantLeave.objects.create(organisation=org, consultant_code=f"C{int(tfc) * 10:07d}",
                                           starts_on=monday + timedelta(days=offset),
                                           ends_on=monday + timedelta(days=offset + 11), source="synth")
            made["leave"] += 1
        n = 600 if ctx.scale.name == "demo" else 3000
        history = synthetic_history(n, seed=ctx.seed * 100 + t_idx, start=ctx.today - timedelta(days=730), days=720)
        frame = pl.DataFrame({
            "organisation_id": [org.pk] * len(history), "date": [h.date for h in history],
            "specialty": [h.specialty for h in history], "procedure": [h.procedure.replace(".", "") for h in history],
            "consultant_code": [h.consultant for h in history], "minutes": [max(1, round(h.minutes)) for h in history],
            "turnaround_minutes": [round(h.turnaround_minutes) for h in history]})
        made["history"] += ctx.copy_frame("theatres_historicalcase", frame)
    ctx.reset_sequence("theatres_historicalcase")
    return made


HISTORY_WEEKS = 4


def ctx_patients(org) -> list[int]:
    from carecoord.core.models import PatientIdentifier

    return list(PatientIdentifier.objects.filter(organisation=org).values_list("patient_id", flat=True)[:20000])


def _treated(org, session, patient_id: int, rng):
    from datetime import timedelta as td

    from django.utils import timezone

    from carecoord.waitinglist.models import Pathway

    waited = int(rng.integers(20, 300))
    start = session.date - td(days=waited)
    return Pathway(provider=org, patient_id=patient_id, ppid=f"H{session.pk:07d}{patient_id:09d}"[:20],
                   ppid_issuer=org.ods_code, tfc=session.specialty, main_specialty=session.specialty,
                   consultant_code=session.consultant_code, referral_received=start, rtt_start=start, queue_date=start,
                   rtt_status="30", clock_state="stopped", clock_stop=session.date, clock_stop_status="30",
                   list_type="admitted", waiting_list_type="IRTT",
                   clinical_priority=str(rng.choice(["P2", "P3", "P3", "P4", "P4"])), priority_rank=4,
                   status="closed", census_date=session.date, created_at=timezone.now(), updated_at=timezone.now())


def _history_lists(org, monday, rng) -> int:
    """The last few weeks' lists as they ran: treated patients (pathways whose clock stopped with a
    first definitive treatment), case timings with late starts and lognormal durations, a few
    on-the-day cancellations (rebooked or not) and a few lists cancelled outright."""
    from datetime import timedelta as td

    from carecoord.waitinglist.models import Pathway

    start = monday - td(weeks=HISTORY_WEEKS)
    generate_sessions(org, start, HISTORY_WEEKS)
    sessions = list(TheatreSession.objects.filter(theatre__site__organisation=org, date__gte=start, date__lt=monday)
                    .order_by("starts_at"))
    # The patients treated on these lists: their pathways, stopped by first definitive treatment (30) on
    # the day, created here so the open waiting list is not depleted.
    home = ctx_patients(org)
    picks = itertools.cycle(rng.permutation(home).tolist() or [0])
    bookings, timings, cancel, cancelled_lists, treated = [], [], [], [], []
    for s in sessions:
        if rng.random() < 0.03:
            cancelled_lists.append(s.pk)
            continue
        candidates = (_treated(org, s, int(next(picks)), rng) for _ in range(12))
        clock = s.starts_at + td(minutes=max(0.0, float(rng.normal(12, 12))))
        order, planned = 0, 0
        for p in candidates:
            minutes = float(np.clip(rng.lognormal(np.log(60), 0.35), 15, 200))
            if planned + minutes + 15 > s.minutes + 30:
                break
            treated.append(p)
            order += 1
            planned += minutes + 15
            status = "completed"
            if rng.random() < 0.05:
                status = "cancelled"
            b = Booking(session=s, pathway=p, patient_id_copy=p.patient_id, order=order,
                        procedure=p.intended_procedure, predicted_minutes=round(minutes + 15), status=status,
                        booked_at=s.starts_at - td(days=14), during=None)
            bookings.append(b)
            if status == "cancelled":
                cancel.append(b)
                continue
            actual = minutes * float(rng.lognormal(0, 0.15))
            timings.append((b, clock, clock + td(minutes=actual)))
            clock += td(minutes=actual + float(rng.normal(15, 4)))
    Pathway.objects.bulk_create(treated, batch_size=2000)
    for b in bookings:
        b.pathway_id = b.pathway.pk
    Booking.objects.bulk_create(bookings, batch_size=2000)
    CaseTiming.objects.bulk_create([CaseTiming(booking=b, into_theatre=a, out_of_theatre=z) for b, a, z in timings],
                                   batch_size=2000)
    Cancellation.objects.bulk_create([
        Cancellation(booking=b, by="hospital", clinical=False, on_the_day=True, reason_code="no_theatre_time",
                     reason="List overran", cancelled_at=b.session.starts_at, rebook_by=b.session.date + td(days=28))
        for b in cancel])
    TheatreSession.objects.filter(pk__in=[s.pk for s in sessions if s.pk not in set(cancelled_lists)]).update(
        status="completed")
    TheatreSession.objects.filter(pk__in=cancelled_lists).update(status="cancelled")
    return len(sessions)
