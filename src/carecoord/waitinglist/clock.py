"""Bridge between stored clock events and the pure RTT kernel (`waitinglist.rtt`): recompute a
pathway's periods and clock fields after its events change."""

from __future__ import annotations

from django.utils import timezone

from carecoord.core.services.audit import Auditor, snapshot
from carecoord.waitinglist.models import ClockState, Pathway, RttPeriod


def recompute(pathway: Pathway, *, auditor: Auditor) -> Pathway:
    from carecoord.waitinglist import rtt

    events = list(pathway.clock_events.values_list("event_date", "status"))
    state = rtt.compute(events, referral_received=pathway.referral_received)
    before = snapshot(pathway)
    apply_state(pathway, state)
    pathway.updated_at = timezone.now()
    pathway.save()
    RttPeriod.objects.filter(pathway=pathway).delete()
    RttPeriod.objects.bulk_create([
        RttPeriod(pathway=pathway, start=p.start, stop=p.stop, stop_status=p.stop_status or "", nullified=p.nullified)
        for p in state.periods
    ])
    auditor.update(pathway, before, summary="clock recomputed")
    return pathway


def apply_state(pathway: Pathway, state) -> None:
    current = state.current
    pathway.rtt_status = state.latest_status or pathway.rtt_status
    if current is None:
        pathway.clock_state = ClockState.UNKNOWN if not state.non_rtt else ClockState.NON_RTT
        return
    pathway.rtt_start = current.start
    if current.open:
        pathway.clock_state = ClockState.OPEN
        pathway.clock_stop = None
        pathway.clock_stop_status = ""
    else:
        pathway.clock_state = ClockState.NULLIFIED if current.nullified else ClockState.STOPPED
        pathway.clock_stop = current.stop
        pathway.clock_stop_status = current.stop_status or ""
    if state.non_rtt:
        pathway.clock_state = ClockState.NON_RTT
    if pathway.queue_date is None:
        pathway.queue_date = state.queue_date or current.start
