"""Synthetic operational feed for the SCC: 15-minute readings for each acute provider of each ICB,
with a daily shape (pressure builds through the day), a weekly one (Mondays are busiest), a winter
surge (December–February) and one provider having a bad day, scored as they arrive.

`backfill(hours)` writes the recent past at once (the demo starts with a day of history);
`live(interval)` keeps writing the current quarter-hour so the board moves."""

from __future__ import annotations

import math
import time as _time
from datetime import datetime, timedelta

import numpy as np
from django.utils import timezone

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


def write_at(at: datetime, rng: np.random.Generator) -> int:
    n = 0
    for _, provs in _providers():
        for i, p in enumerate(provs):
            bad = i == 0 and timezone.localtime(at).weekday() == 0  # the first trust's Mondays are bad days
            vals = reading_values(at, i, bad, rng)
            scc.ingest(p, [{"metric": k, "time": at.isoformat(), "value": v} for k, v in vals.items()], source="synth")
            n += len(vals)
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
