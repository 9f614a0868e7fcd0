"""RTT summary of incomplete pathways, as NHS England's monthly statistics count them.

Pure kernel (`summarise`, `running_at`, `trend_of`) over Polars frames of clock periods, and a loader
(`load`) that reads them from the database.

Definitions (RTT guidance v5.0 §10.1.7, reference §1.7): days = census − RTT period start; within 18
weeks ⇔ days ≤ 126; over N weeks ⇔ days > 7N; weekly bands k = max(1, ceil(days/7)), band k meaning
">k−1 to k weeks" (105 is ">104"). Median and 92nd-percentile waits are computed the way NHS England
derives them from the published band distribution: find the band in which the cumulative count
reaches the percentile and interpolate linearly inside it (a band spans one week). Pathways with an
unknown clock start are reported separately (`unknown_clock_start`) and are not in the denominator;
the reference marks that choice unconfirmed. The 18 individually reported treatment functions are
kept; the rest are grouped as "other".

An incomplete pathway at census C is one whose RTT clock was running at C: the period started on or
before C and had not stopped on or before C (`running_at`). The headline figures and every point of
the trend go through that one predicate over the same frame, so they agree by construction. Scope
(reference §1.3): planned lists (Waiting_List_Type PTLO/PTLI, or list type "planned") and non-RTT
lists (ONON/INON) are not RTT pathways and are left out of every figure.

What "at C" can and cannot know (the model keeps clock history, not the history of other fields):
- Clock periods are exact where the model holds them: the pathway row's current period (start, and
  stop when stopped) and the earlier periods in `RttPeriod` (written by the RTT kernel for
  synthetic data and whenever carecoord recomputes a pathway's clock). Imports record clock start
  and stop events but no `RttPeriod` rows, so an imported pathway contributes only its current period.
- A pathway a provider's snapshot stopped carrying (closed with its clock still open) counts until the
  census date of the import that closed it (or the day it was closed, if earlier). An entry removed as
  a duplicate is never counted (it duplicates a pathway that is).
- Unknown clock starts count from the referral received date (or, if that is missing, the day
  carecoord first held the pathway) until the day it left the list.
- Treatment function, clinical priority, provider and list type (hence RTT scope) are as they are
  now: the pathway row keeps no dated history of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from carecoord.waitinglist import rtt

REPORTED_TFCS = ("100", "101", "110", "120", "130", "140", "150", "160", "170", "300", "301", "320", "330", "340",
                 "400", "410", "430", "502")
OUT_OF_SCOPE_LIST_TYPES = ("PTLO", "PTLI", "ONON", "INON")  # planned and non-RTT lists (reference §1.3)
TREND_WEEKS = 12
EARLIEST_CENSUS = date(2007, 1, 1)  # the 18-week RTT standard's start; nothing earlier is an RTT census


def census_problem(census: date, today: date) -> str | None:
    """Why `census` cannot be reported (None if it can): the figures are counted from the list as held,
    so a future date would present a projection as a census, and a date before RTT reporting is a typo."""
    if census > today:
        return (f"The census date {census:%d/%m/%Y} is after today ({today:%d/%m/%Y}): the report counts the "
                f"list as it was, it does not project it")
    if census < EARLIEST_CENSUS:
        return f"The census date {census:%d/%m/%Y} is before RTT reporting began (2007)"
    return None
UNKNOWN_COLUMNS = {"start": "arrived", "stop": "left"}


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


def running_at(frame: pl.DataFrame, census: date, *, start: str = "rtt_start", stop: str = "clock_stop"):
    """The rows whose clock was running at `census`: started on or before it and not stopped on or
    before it (a frame without a stop column holds only running clocks)."""
    cond = pl.col(start) <= census
    if stop in frame.columns:
        cond = cond & (pl.col(stop).is_null() | (pl.col(stop) > census))
    return frame.filter(cond)


def _figures(frame: pl.DataFrame, unknown: int = 0) -> dict:
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
        "unknown_clock_start": unknown,
    }


def _tfc_group(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        group=pl.when(pl.col("tfc").is_in(REPORTED_TFCS)).then(pl.col("tfc")).otherwise(pl.lit("other")))


def figures_at(clocks: pl.DataFrame, census: date, *, unknown: int | pl.DataFrame = 0):
    """The headline figures at `census`, with the running clocks (and their waits) and the unknown
    clock starts they were counted from. The headline and every trend point come from here."""
    frame = rtt.waits_frame(running_at(clocks, census), census)
    if isinstance(unknown, pl.DataFrame):
        unknown = running_at(unknown, census, **UNKNOWN_COLUMNS)
        count = unknown.height
    else:
        count, unknown = unknown, None
    out = _figures(frame, count)
    out["census"] = census.isoformat()
    return out, frame, unknown


def summarise(clocks: pl.DataFrame, census: date, *, unknown: int | pl.DataFrame = 0) -> dict:
    """Figures at `census`. `clocks`: clock periods with columns rtt_start (date), tfc (str), and
    optionally clock_stop (date; null while running), priority, provider_id. `unknown`: the count of
    pathways with an unknown clock start, or their frame (arrived, left, tfc), counted at the census."""
    out, frame, unknown_frame = figures_at(clocks, census, unknown=unknown)
    unknown_by_group: dict[str, int] = {}
    if unknown_frame is not None:
        unknown_by_group = dict(_tfc_group(unknown_frame).group_by("group").len().iter_rows())
    grouped = _tfc_group(frame)
    parts = grouped.partition_by("group", as_dict=True)
    groups = sorted({key for (key,) in parts} | set(unknown_by_group))
    empty = grouped.clear()
    out["by_treatment_function"] = {
        g: _figures(parts.get((g,), empty), unknown_by_group.get(g, 0)) for g in groups}
    dist = frame.group_by("week_band").len().sort("week_band")
    out["distribution"] = [{"week_band": k, "pathways": v} for k, v in dist.iter_rows()]
    if "priority" in frame.columns:
        mix = frame.group_by("priority").len().sort("priority")
        out["priority_mix"] = {(k or "not set"): v for k, v in mix.iter_rows()}
    return out


def trend_censuses(census: date, weeks: int = TREND_WEEKS) -> list[date]:
    """The last `weeks` Sunday census dates (WLMDS week-ending) up to and including `census`."""
    last = census - timedelta(days=(census.weekday() + 1) % 7)  # the Sunday on or before the census
    return [last - timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]


@dataclass
class Clocks:
    """Clock periods and unknown-clock-start entries of some providers, as loaded by `load`."""

    periods: pl.DataFrame  # rtt_start, clock_stop, tfc, priority, provider_id
    unknown: pl.DataFrame  # arrived, left, tfc, priority, provider_id

    def summarise(self, census: date) -> dict:
        return summarise(self.periods, census, unknown=self.unknown)

    def by_provider(self) -> dict[int, Clocks]:
        ids = sorted(set(self.periods["provider_id"]) | set(self.unknown["provider_id"]))
        return {pid: Clocks(self.periods.filter(pl.col("provider_id") == pid),
                            self.unknown.filter(pl.col("provider_id") == pid)) for pid in ids}

    def trend(self, census: date, weeks: int = TREND_WEEKS) -> list[dict]:
        """The headline figures at each weekly census (through `figures_at`, as the headline)."""
        return [figures_at(self.periods, c, unknown=self.unknown)[0] for c in trend_censuses(census, weeks)]


PERIODS_SQL = """
WITH p AS (
    SELECT p.id, p.provider_id, p.tfc, p.clinical_priority, p.rtt_start, p.clock_state, p.clock_stop,
           p.status, p.referral_received, (p.created_at AT TIME ZONE %(tz)s)::date AS created_on,
           -- The day it left the list: for a pathway a snapshot stopped carrying, the census date of
           -- the import that closed it (if earlier than the day it was closed).
           CASE WHEN p.status = 'on_list' THEN NULL
                ELSE least(b.census_date, (p.updated_at AT TIME ZONE %(tz)s)::date) END AS left_on
    FROM waitinglist_pathway p
    LEFT JOIN integration_importbatch b ON b.id = p.import_batch_id AND p.status = 'closed'
    WHERE p.provider_id = ANY(%(providers)s)
      AND upper(p.waiting_list_type) <> ALL(%(out_of_scope)s) AND p.list_type <> 'planned'
      AND NOT EXISTS (SELECT 1 FROM waitinglist_removal r WHERE r.pathway_id = p.id AND r.reason = 'duplicate')
), periods AS (
    -- The current period, from the pathway row.
    SELECT rtt_start, CASE WHEN clock_state = 'open' THEN left_on ELSE clock_stop END AS clock_stop,
           tfc, clinical_priority, provider_id
    FROM p
    WHERE rtt_start IS NOT NULL
      AND (clock_state = 'open'
           OR (clock_state IN ('stopped', 'nullified', 'non_rtt') AND clock_stop IS NOT NULL))
    UNION ALL
    -- Earlier periods, from the stored history (each ended by the time the current one started).
    SELECT r.start, least(coalesce(r.stop, p.rtt_start), p.rtt_start), p.tfc, p.clinical_priority, p.provider_id
    FROM waitinglist_rttperiod r JOIN p ON p.id = r.pathway_id
    WHERE p.rtt_start IS NOT NULL AND r.start < p.rtt_start
)
SELECT * FROM periods
WHERE rtt_start <= %(census)s AND (clock_stop IS NULL OR clock_stop > %(since)s)
"""

UNKNOWN_SQL = """
SELECT coalesce(referral_received, created_on) AS arrived, left_on, tfc, clinical_priority, provider_id FROM p
WHERE (clock_state = 'unknown' OR (rtt_start IS NULL AND clock_state <> 'non_rtt'))
  AND coalesce(referral_received, created_on) <= %(census)s AND (left_on IS NULL OR left_on > %(since)s)
"""


def load(provider_ids: list[int], census: date, *, since: date | None = None) -> Clocks:
    """The clock periods of these providers' RTT pathways running at any date from `since` (default:
    the first census of the trend) to `census`, and their unknown-clock-start entries."""
    from django.conf import settings
    from django.db import connection

    if since is None:
        since = min(trend_censuses(census)[0], census)
    params = {"providers": list(provider_ids), "census": census, "since": since, "tz": settings.TIME_ZONE,
              "out_of_scope": list(OUT_OF_SCOPE_LIST_TYPES)}
    cte = PERIODS_SQL[:PERIODS_SQL.index("), periods AS")] + ")"
    with connection.cursor() as cur:
        cur.execute(PERIODS_SQL, params)
        rows = cur.fetchall()
        cur.execute(cte + UNKNOWN_SQL, params)
        unknown_rows = cur.fetchall()
    periods = pl.DataFrame(rows, schema={"rtt_start": pl.Date, "clock_stop": pl.Date, "tfc": pl.Utf8,
                                         "priority": pl.Utf8, "provider_id": pl.Int64}, orient="row")
    unknown = pl.DataFrame(unknown_rows, schema={"arrived": pl.Date, "left": pl.Date, "tfc": pl.Utf8,
                                                 "priority": pl.Utf8, "provider_id": pl.Int64}, orient="row")
    return Clocks(periods, unknown)


def trend(provider_ids: list[int], census: date, weeks: int = TREND_WEEKS) -> list[dict]:
    """Incomplete pathways at each of the last `weeks` Sunday census dates up to `census`."""
    since = trend_censuses(census, weeks)[0]
    return load(provider_ids, census, since=since).trend(census, weeks)
