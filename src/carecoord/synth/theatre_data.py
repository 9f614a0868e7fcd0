"""Synthetic theatres: for each NHS trust, theatres at its main site with weekly AM/PM templates for
its surgical specialties, sessions for the next six weeks, some consultant leave, and two years of
completed-case history (durations from `theatres.durations`' synthetic case mix), so the demo has
lists to plan and history to predict from."""

from __future__ import annotations

from datetime import time, timedelta

import polars as pl

from carecoord.core.models import OrganisationKind, Site
from carecoord.synth.registry import SynthContext, step
from carecoord.theatres.durations import synthetic_history
from carecoord.theatres.models import ConsultantLeave, SessionSlot, SessionTemplate, Theatre
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
