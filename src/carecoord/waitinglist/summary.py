"""RTT summary of incomplete pathways, as NHS England's monthly statistics count them.

Pure kernel (`summarise`) over a Polars frame of open clocks, and a loader (`open_clocks`) that
reads them from the database with one query.

Definitions (RTT guidance v5.0 §10.1.7, reference §1.7): days = census − RTT period start; within 18
weeks ⇔ days ≤ 126; over N weeks ⇔ days > 7N; weekly bands k = max(1, ceil(days/7)), band k meaning
">k−1 to k weeks". Median and 92nd-percentile waits are computed the way NHS England derives them
from the published band distribution: find the band in which the cumulative count reaches the
percentile and interpolate linearly inside it (a band spans one week). Pathways with an unknown clock
start are reported separately (`unknown_clock_start`) and are not in the denominator; the reference
marks that choice unconfirmed, so `include_unknown` lets a caller count them as not within 18 weeks.
The 18 individually reported treatment functions are kept; the rest are grouped as "other".
"""

from __future__ import annotations

from datetime import date

import polars as pl

from carecoord.waitinglist import rtt

REPORTED_TFCS = ("100", "101", "110", "120", "130", "140", "150", "160", "170", "300", "301", "320", "330", "340",
                 "400", "410", "430", "502")


def band_percentile(bands: pl.Series, q: float) -> float | None:
    """The q-quantile wait in weeks, interpolated within weekly bands (band k spans k−1..k weeks)."""
    n = bands.len()
    if n == 0:
        return None
    counts = bands.value_counts().sort(bands.name)
    target = q * n
    cum = 0
    for k, c in counts.iter_rows():
        if cum + c >= target:
            return round((k - 1) + (target - cum) / c, 2)
        cum += c
    return float(counts[-1, 0])


def _figures(frame: pl.DataFrame) -> dict:
    total = frame.height
    within = int(frame["within_18"].sum()) if total else 0
    return {
        "total": total,
        "within_18_weeks": within,
        "pct_within_18_weeks": round(100 * within / total, 2) if total else None,
        "median_weeks": band_percentile(frame["week_band"], 0.5),
        "p92_weeks": band_percentile(frame["week_band"], 0.92),
        "over_52": int(frame["over_52"].sum()) if total else 0,
        "over_65": int(frame["over_65"].sum()) if total else 0,
        "over_78": int(frame["over_78"].sum()) if total else 0,
        "over_104": int(frame["over_104"].sum()) if total else 0,
    }


def summarise(open_clocks: pl.DataFrame, census: date, *, unknown: int = 0) -> dict:
    """`open_clocks`: columns rtt_start (date), tfc (str), and optionally priority, provider."""
    frame = open_clocks.filter(pl.col("rtt_start") <= census)
    frame = rtt.waits_frame(frame, census)
    out = _figures(frame)
    out["unknown_clock_start"] = unknown
    out["census"] = census.isoformat()
    grouped = frame.with_columns(
        group=pl.when(pl.col("tfc").is_in(REPORTED_TFCS)).then(pl.col("tfc")).otherwise(pl.lit("other")))
    out["by_treatment_function"] = {
        key: _figures(part) for (key,), part in sorted(grouped.partition_by("group", as_dict=True).items())}
    dist = frame.group_by("week_band").len().sort("week_band")
    out["distribution"] = [{"week_band": k, "pathways": v} for k, v in dist.iter_rows()]
    if "priority" in frame.columns:
        mix = frame.group_by("priority").len().sort("priority")
        out["priority_mix"] = {(k or "not set"): v for k, v in mix.iter_rows()}
    return out


def open_clocks(provider_ids: list[int], census: date) -> tuple[pl.DataFrame, int]:
    """Open pathways of these providers as a frame, and the count with an unknown clock start."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT rtt_start, tfc, clinical_priority, provider_id FROM waitinglist_pathway "
            "WHERE provider_id = ANY(%s) AND status = 'on_list' AND clock_state = 'open' AND rtt_start IS NOT NULL",
            [provider_ids])
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM waitinglist_pathway WHERE provider_id = ANY(%s) AND status = 'on_list' "
                    "AND (clock_state = 'unknown' OR rtt_start IS NULL)", [provider_ids])
        unknown = cur.fetchone()[0]
    frame = pl.DataFrame(rows, schema={"rtt_start": pl.Date, "tfc": pl.Utf8, "priority": pl.Utf8,
                                       "provider_id": pl.Int64}, orient="row")
    return frame, unknown


def trend(provider_ids: list[int], census: date, weeks: int = 12) -> list[dict]:
    """Incomplete pathways at each of the last `weeks` Sunday census dates up to `census`,
    reconstructed from the clock fields: a pathway was incomplete at C if its clock had started by C
    and had not stopped by C (stopped pathways keep their stop date; removals stop the clock)."""
    from datetime import timedelta

    from django.db import connection

    last = census - timedelta(days=(census.weekday() + 1) % 7)  # the Sunday on or before the census
    first = last - timedelta(weeks=weeks - 1)
    with connection.cursor() as cur:
        cur.execute("""
            SELECT c::date, count(p.id),
                   count(p.id) FILTER (WHERE c::date - p.rtt_start <= 126),
                   count(p.id) FILTER (WHERE c::date - p.rtt_start > 364)
            FROM generate_series(%s::date, %s::date, interval '7 days') c
            LEFT JOIN waitinglist_pathway p
              ON p.provider_id = ANY(%s) AND p.rtt_start <= c::date
             AND (p.clock_stop IS NULL OR p.clock_stop > c::date)
             AND (p.status = 'on_list' OR p.clock_stop IS NOT NULL)
            GROUP BY c ORDER BY c""", [first, last, provider_ids])
        rows = cur.fetchall()
    return [{"census": c.isoformat(), "total": t, "within_18_weeks": w,
             "pct_within_18_weeks": round(100 * w / t, 2) if t else None, "over_52": o} for c, t, w, o in rows]
