"""Synthetic operational feed for the SCC: 15-minute readings for each acute provider of each ICB,
with a daily shape (pressure builds through the day), a weekly one (Mondays are busiest), a winter
surge (December–February) and one provider having a bad day, scored as they arrive.

`backfill(hours)` writes the recent past at once (the demo starts with a day of history);
`live(interval)` keeps writing the current quarter-hour so the board moves.

The second provider of each system sends events instead (ambulance arrivals with handovers, ED
attendances with departures, bed states) through `coordination.events`, so its handover, 4-hour and
occupancy readings are derived, as a real event feed's would be."""

from __future__ import annotations

import math
import time as _time
from datetime import datetime, timedelta

import numpy as np
from django.utils import timezone

from carecoord.coordination import scorer
from carecoord.coordination import services as scc
from carecoord.core.models import PROVIDER_KINDS, Organisation, OrganisationKind

BASE = {  # metric: (typical value, daily swing, noise sd, higher is worse?)
    "ambulance_handover_mean_minutes": (28, 14, 5, True),
    "ed_4h_performance_pct": (74, -8, 3, False),
    "majors_resus_occupancy_pct": (92, 18, 6, True),
    "ga_bed_occupancy_pct": (93, 4, 1.5, True),
}


def _providers():
    for icb in Organisation.objects.filter(kind=OrganisationKind.ICB).order_by("ods_code"):
        provs = list(Organisation.objects.filter(parent=icb, kind__in=PROVIDER_KINDS).exclude(
            kind=OrganisationKind.INDEPENDENT_SECTOR).order_by("ods_code"))
        if provs:
            yield icb, provs


def reading_values(at: datetime, index: int, bad: bool, rng: np.random.Generator) -> dict[str, float]:
    local = timezone.localtime(at)
    hour = local.hour + local.minute / 60
    daily = math.sin(math.pi * max(0.0, min(1.0, (hour - 8) / 14)))  # rises from 08:00, peaks mid-afternoon
    weekly = 1.15 if local.weekday() == 0 else 1.0
    winter = 1.12 if local.month in (12, 1, 2) else 1.0
    out = {}
    for metric, (typical, swing, sd, worse_up) in BASE.items():
        v = typical + swing * daily * weekly * winter + rng.normal(0, sd) + index * 2
        if bad:
            v += 25 if worse_up else -12
        out[metric] = round(max(0.0, min(v, 100.0) if metric.endswith("pct") else v), 1)
    return out


EVENT_FEED_INDEX = 1  # the second provider of each system posts events, not readings
EVENT_METRICS = ("ambulance_handover_mean_minutes", "ed_4h_performance_pct", "ga_bed_occupancy_pct")


def events_for(at: datetime, vals: dict[str, float], rng: np.random.Generator) -> dict:
    """The quarter-hour to `at` as events shaped by this quarter's synthetic values: arrivals whose
    handover finishes by `at` (mean near the handover value), departures in the quarter (the share
    within 4 hours near the 4-hour value), and the bed state at `at`."""
    stamp = f"{at:%Y%m%d%H%M}"
    ambulance = []
    for i in range(int(rng.poisson(2))):
        minutes = float(min(59.0, max(3.0, rng.lognormal(math.log(max(vals["ambulance_handover_mean_minutes"], 5)), 0.35))))
        handed = at - timedelta(minutes=float(rng.uniform(0, 15)))
        ambulance.append({"id": f"A{stamp}-{i}", "arrived_at": (handed - timedelta(minutes=minutes)).isoformat(),
                          "handed_over_at": handed.isoformat()})
    ed = []
    within = vals["ed_4h_performance_pct"] / 100
    for i in range(int(rng.poisson(6))):
        los = float(rng.uniform(40, 235) if rng.random() < within else rng.uniform(245, 900))
        left = at - timedelta(minutes=float(rng.uniform(0, 15)))
        ed.append({"id": f"E{stamp}-{i}", "arrived_at": (left - timedelta(minutes=los)).isoformat(),
                   "departed_at": left.isoformat()})
    beds_open = 520
    occupied = min(beds_open, round(beds_open * vals["ga_bed_occupancy_pct"] / 100))
    beds = [{"time": at.isoformat(), "ga_beds_open": beds_open, "ga_beds_occupied": occupied,
             "escalation_beds_open": int(rng.integers(5, 30))}]
    return {"ambulance": ambulance, "ed": ed, "beds": beds}


def write_at(at: datetime, rng: np.random.Generator) -> int:
    from carecoord.coordination import events

    n = 0
    for _, provs in _providers():
        for i, p in enumerate(provs):
            bad = i == 0 and timezone.localtime(at).weekday() == 0  # the first trust's Mondays are bad days
            vals = reading_values(at, i, bad, rng)
            if i == EVENT_FEED_INDEX:
                out = events.ingest_events(p, events_for(at, vals, rng), now=at,
                                           recompute_from=at - timedelta(minutes=1))  # this quarter only
                n += out["readings_derived"]
                vals = {k: v for k, v in vals.items() if k not in EVENT_METRICS}
            scc.ingest(p, [{"metric": k, "time": at.isoformat(), "value": v} for k, v in vals.items()], source="synth")
            n += len(vals)
    scorer.flush()  # score this reading time for every provider at once, before the script moves on
    return n


def quarter(at: datetime) -> datetime:
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def backfill(hours: int = 24, seed: int = 1, now: datetime | None = None) -> int:
    rng = np.random.default_rng(seed)
    end = quarter(now or timezone.now())
    steps = hours * 4
    return sum(write_at(end - timedelta(minutes=15 * k), rng) for k in range(steps, -1, -1))


def live(interval: float = 5.0, seed: int = 1, iterations: int | None = None) -> None:
    """Write the current quarter-hour's readings every `interval` seconds (values drift with noise)."""
    rng = np.random.default_rng(seed)
    k = 0
    while iterations is None or k < iterations:
        write_at(quarter(timezone.now()), rng)
        k += 1
        if iterations is None or k < iterations:
            _time.sleep(interval)
