"""RTT clock kernel: compute clocks for 1 million pathways with the vectorised kernel.

Event histories are generated with numpy to exercise every path of the state machine: referral
only, first activity, stops with each code, first-appointment DNAs and rebooking, active monitoring
then 11, transfers, non-RTT codes. Baseline in the same run: a Polars group-by that only takes each
pathway's first and last event (the least work any clock computation must do), and the scalar
kernel on a 20,000-pathway sample (extrapolated), to show the gain from vectorising.

    python -m bench.rtt_kernel [--pathways N]
"""

from __future__ import annotations

import argparse
from datetime import date

import numpy as np
import polars as pl

from bench._harness import peak_rss_mb, timer, write_result
from carecoord.waitinglist import rtt

SHAPES = [  # (weight, list of (day offset, status)) — offsets from the referral date
    (30, [(10, "10"), (40, "20")]),
    (15, []),
    (12, [(12, "10"), (60, "20"), (90, "30"), (95, "90")]),
    (6, [(14, "33"), (20, "10"), (50, "20")]),
    (5, [(10, "10"), (30, "32"), (140, "91"), (200, "11"), (230, "20")]),
    (5, [(10, "10"), (30, "21")]),
    (4, [(9, "10"), (35, "31")]),
    (4, [(20, "10"), (80, "34")]),
    (3, [(15, "10"), (50, "35")]),
    (2, [(15, "10"), (70, "36")]),
    (4, [(3, "92"), (10, "10"), (20, "99")]),
    (4, [(10, "98")]),
    (3, [(10, "10"), (40, "30"), (300, "12"), (320, "20")]),
    (3, [(10, "10"), (30, "33"), (60, "20")]),
]


def build(n: int, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    weights = np.array([w for w, _ in SHAPES], float)
    shape = rng.choice(len(SHAPES), size=n, p=weights / weights.sum())
    referral = np.datetime64("2023-01-01") + rng.integers(0, 900, n).astype("timedelta64[D]")
    pids, dates, codes = [], [], []
    ids = np.arange(n, dtype=np.int64)
    for k, (_, evs) in enumerate(SHAPES):
        sel = ids[shape == k]
        for off, code in evs:
            pids.append(sel)
            dates.append(referral[sel] + np.timedelta64(off, "D"))
            codes.append(np.full(len(sel), code))
    ev = pl.DataFrame({"pathway_id": np.concatenate(pids), "event_date": np.concatenate(dates),
                       "status": np.concatenate(codes)})
    ev = ev.with_columns(pl.col("event_date").cast(pl.Date))
    pw = pl.DataFrame({"pathway_id": ids, "referral_received": referral}).with_columns(
        pl.col("referral_received").cast(pl.Date))
    return ev, pw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pathways", type=int, default=1_000_000)
    args = ap.parse_args()
    n = args.pathways
    with timer() as tb:
        ev, pw = build(n)
    with timer() as base:
        ev.sort("pathway_id", "event_date").group_by("pathway_id").agg(
            first=pl.col("status").first(), last=pl.col("status").last())
    with timer() as t:
        out = rtt.compute_frame(ev, pw)
    census = date(2025, 9, 28)
    with timer() as tw:
        waits = rtt.waits_frame(out.filter(pl.col("clock_open")), census)
    sample = min(20_000, n)
    sev = ev.filter(pl.col("pathway_id") < sample).sort("pathway_id", "event_date")
    groups = {k[0]: list(zip(g["event_date"], g["status"], strict=True)) for k, g in sev.group_by(["pathway_id"])}
    refs = dict(zip(pw["pathway_id"][:sample], pw["referral_received"][:sample], strict=True))
    with timer() as ts:
        for pid in range(sample):
            rtt.compute(groups.get(pid, []), referral_received=refs[pid])
    scalar_per_million = ts.seconds / sample * 1_000_000
    figures = {
        "pathways": n,
        "events": ev.height,
        "seconds": round(t.seconds, 3),
        "pathways_per_second": round(n / t.seconds),
        "waits_seconds": round(tw.seconds, 3),
        "baseline_first_last_groupby_seconds": round(base.seconds, 3),
        "ratio_vs_groupby_baseline": round(t.seconds / base.seconds, 2),
        "scalar_kernel_seconds_per_million_extrapolated": round(scalar_per_million, 1),
        "speedup_vs_scalar": round(scalar_per_million / t.seconds * n / 1_000_000, 1),
        "open_clocks": int(out["clock_open"].sum()),
        "over_52_weeks": int(waits["over_52"].sum()),
        "build_seconds": round(tb.seconds, 2),
        "peak_rss_mb": peak_rss_mb(),
    }
    write_result("rtt_kernel", figures, targets={"seconds_for_1m_pathways": 5.0},
                 notes="Vectorised Polars state machine (forward fills over sorted events); "
                       "baseline is a first/last group-by over the same events in the same run.")


if __name__ == "__main__":
    main()
