"""The RTT clock kernel: national referral-to-treatment rules as pure functions (no Django).

Sources: NHS England, *Recording and reporting referral to treatment (RTT) waiting times for
consultant-led elective care*, v5.0 (Feb 2025) — the "RTT guidance" — as summarised with section
numbers in `shared/reference/waiting-list.md` §1. The rules this module implements:

* The clock never pauses (patient pauses were abolished on 1 Oct 2015). Patient-initiated delay is
  active monitoring (a stop, 31/32) or discharge.
* A referral starts the first clock on the date the provider received it (guidance fn. 28: a code
  10 event is not needed). Inter-provider transfers keep the original start (§3.2.1), so a
  transferred-in pathway's `referral_received` is the original clock start.
* Stops: first definitive treatment (30), active monitoring (31 patient-, 32 clinician-initiated),
  decision not to treat / transplant list (34), patient declined (35), died (36). A stop closes only
  an *open* period (administrative stops never reopen a closed one, Annex E).
* A DNA of the *first* care activity after the referral (33) stops and **nullifies** the clock
  (§4.4.1.3, rule 5e). A DNA of any later appointment does not stop the clock by itself; a
  transferred-in pathway has had its first activity elsewhere, so a DNA there is never a first DNA.
  After a nullifying DNA, the next activity (the provider offering another appointment) starts a new
  clock at zero that is not linked to the earlier one.
* A new period starts after a completed one only by code 11 (decision to treat after active
  monitoring) or 12 (referral to a consultant for a separate condition) — rule 3. Activity coded 20
  after a stop does not restart the clock (it is a data defect for validation to find).
* 21 (transferred to another provider) keeps the clock running: the receiving provider continues it.
  The sending provider's list must not carry it (validation rule T8); `transferred_out` says when.
* 90/91/92/98 are not RTT activity; 99 is "not yet known". They never start or stop a clock. A
  pathway whose latest status is 90–98 and that has no open period is a non-RTT pathway.
* The queue-order date is kept apart from the clock start: after active monitoring (11) the clock
  restarts at zero but the patient keeps their place (§8.3) — the queue date is the start of the
  first non-nullified period, reset only by a 12 (a separate condition).

Weeks waited (§10.1.7): `days = census − start` (a plain date difference: a same-day clock waits 0
days); the band is `max(1, ceil(days / 7))` (0–7 days is ">0–1 week"); within 18 weeks means
`days ≤ 126`; over N weeks means `days > 7N`. The first day a pathway is over N weeks is therefore
`start + 7N + 1` days (`breach_date`): on `start + 126` it is still within 18 weeks.

Two implementations with the same behaviour: `compute` (one pathway, readable, the reference) and
`compute_frame` (millions of pathways at once in Polars, no Python loop per event); a property test
checks they agree on random event histories.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

STATUS_MEANINGS: dict[str, str] = {
    "10": "First activity in an RTT period",
    "11": "Active monitoring end: start of a new RTT period",
    "12": "Consultant referral for a separate condition: start of a new RTT period",
    "20": "Subsequent activity during an RTT period",
    "21": "Transfer to another provider (clock continues there)",
    "30": "First definitive treatment",
    "31": "Active monitoring initiated by the patient",
    "32": "Active monitoring initiated by the care professional",
    "33": "Did not attend the first care activity",
    "34": "Decision not to treat / no further contact required",
    "35": "Patient declined offered treatment",
    "36": "Patient died before treatment",
    "90": "After treatment: first treatment occurred previously",
    "91": "Activity during active monitoring",
    "92": "Not yet referred (diagnostics before referral)",
    "98": "Not applicable to RTT",
    "99": "Not yet known",
}
ALL_STATUSES = frozenset(STATUS_MEANINGS)
ACTIVITY = frozenset({"10", "20", "21"})          # care activity; opens a clock at the start or after a nullified one
NEW_PERIOD = frozenset({"11", "12"})              # always opens a (new) period if none is open
STOPS = frozenset({"30", "31", "32", "34", "35", "36"})
DNA_FIRST = "33"
NON_RTT = frozenset({"90", "91", "92", "98"})
UNKNOWN = "99"
RTT_CODED = ACTIVITY | NEW_PERIOD | STOPS | {DNA_FIRST}

WITHIN_18_DAYS = 126
THRESHOLD_WEEKS = (18, 52, 65, 78, 104)


# ---------------------------------------------------------------- census arithmetic (§10.1.7)

def days_waited(start: date, census: date) -> int:
    return (census - start).days


def week_band(days: int) -> int:
    """The reporting band: k means ">k-1 to k weeks"; 105 means ">104 weeks"."""
    if days < 0:
        raise ValueError("a clock cannot start after the census date")
    return min(105, max(1, math.ceil(days / 7)))


def within_18_weeks(days: int) -> bool:
    return days <= WITHIN_18_DAYS


def over_weeks(days: int, weeks: int) -> bool:
    return days > 7 * weeks


def breach_date(start: date, weeks: int) -> date:
    """The first census date on which a clock started on `start` is over `weeks` weeks."""
    return start + timedelta(days=7 * weeks + 1)


# ---------------------------------------------------------------- one pathway

@dataclass
class Period:
    start: date
    stop: date | None = None
    stop_status: str | None = None
    nullified: bool = False
    opened_by: str = "referral"  # "referral", or the status code that opened it

    @property
    def open(self) -> bool:
        return self.stop is None

    def days(self, census: date) -> int:
        """Days waited at `census` (an open clock) or in total (a stopped one)."""
        return days_waited(self.start, self.stop if self.stop is not None else census)

    def weeks_band(self, census: date) -> int:
        return week_band(self.days(census))


@dataclass
class ClockResult:
    periods: list[Period] = field(default_factory=list)
    latest_status: str | None = None
    non_rtt: bool = False
    queue_date: date | None = None
    transferred_out: date | None = None
    anomalies: list[str] = field(default_factory=list)

    @property
    def current(self) -> Period | None:
        return self.periods[-1] if self.periods else None

    @property
    def is_open(self) -> bool:
        return self.current is not None and self.current.open and not self.non_rtt

    def breach_dates(self) -> dict[int, date]:
        cur = self.current
        if cur is None or not cur.open:
            return {}
        return {w: breach_date(cur.start, w) for w in THRESHOLD_WEEKS}


def compute(events: Iterable[tuple[date, str]], *, referral_received: date | None = None,
            transferred_in: bool = False) -> ClockResult:
    """Compute a pathway's RTT periods from its clock events `(date, status)`.

    Events on the same date keep their given order. Unknown status codes are reported as anomalies
    and otherwise ignored."""
    evs = sorted(enumerate(events), key=lambda ie: (ie[1][0], ie[0]))
    res = ClockResult()
    state: str | None = None  # None (nothing decisive yet), "open", "closed", "nullified"
    seen_rtt = False

    def first_start(on: date, opened_by: str) -> date:
        if not res.periods and opened_by != "11" and opened_by != "12" and referral_received is not None \
                and referral_received <= on:
            return referral_received
        return on

    for _, (on, status) in evs:
        status = str(status).strip().zfill(2) if status is not None else ""
        if status not in ALL_STATUSES:
            res.anomalies.append(f"{on}: unknown status {status!r}")
            continue
        res.latest_status = status
        first_rtt = status in RTT_CODED and not seen_rtt
        seen_rtt = seen_rtt or status in RTT_CODED
        if status in NEW_PERIOD:
            if state != "open":
                res.periods.append(Period(start=on, opened_by=status))
                state = "open"
            else:
                res.anomalies.append(f"{on}: {status} while a clock is already running")
            res.transferred_out = None
        elif status in ACTIVITY:
            if state in (None, "nullified"):
                res.periods.append(Period(start=first_start(on, status), opened_by=status if state else "referral"))
                state = "open"
            elif state == "closed":
                res.anomalies.append(f"{on}: activity {status} after the clock stopped (needs 11 or 12 to restart)")
            res.transferred_out = on if (status == "21" and state == "open") else None
        elif status in STOPS or (status == DNA_FIRST and first_rtt and not transferred_in):
            nullify = status == DNA_FIRST
            if state == "open":
                cur = res.periods[-1]
                cur.stop, cur.stop_status, cur.nullified = on, status, nullify
            elif state is None:
                res.periods.append(Period(start=first_start(on, status), stop=on, stop_status=status, nullified=nullify))
            else:
                # Administrative stops only close open periods (Annex E); the clock stays stopped.
                res.anomalies.append(f"{on}: stop {status} with no open clock")
                state = "closed"
                continue
            state = "nullified" if nullify else "closed"
            res.transferred_out = None
        elif status == DNA_FIRST:
            if state is None:  # transferred in: the clock started at the referring provider and runs on
                res.periods.append(Period(start=first_start(on, status)))
                state = "open"
            res.anomalies.append(f"{on}: DNA of a later appointment does not stop the clock")
        # NON_RTT and UNKNOWN never change the clock.

    if not seen_rtt and referral_received is not None and not any(s[1] in NON_RTT for s in (e for _, e in evs)):
        res.periods.append(Period(start=referral_received))
    cur = res.current
    res.non_rtt = (cur is None or not cur.open) and res.latest_status in NON_RTT
    res.queue_date = _queue_date(res.periods)
    return res


def _queue_date(periods: list[Period]) -> date | None:
    if not periods:
        return None
    first = 0
    for i, p in enumerate(periods):
        if p.opened_by == "12":
            first = i
    live = [p.start for p in periods[first:] if not p.nullified]
    return min(live) if live else periods[-1].start


# ---------------------------------------------------------------- many pathways (Polars)

def compute_frame(events, pathways, *, with_periods: bool = False):
    """Vectorised `compute` for many pathways.

    `events`: columns pathway_id (int), event_date (date), status (str) and optionally seq (order
    within a date). `pathways`: pathway_id, referral_received (date, nullable) and optionally
    transferred_in (bool). Returns one row per pathway: pathway_id, rtt_start, clock_open, clock_stop,
    clock_stop_status, nullified, latest_status, non_rtt, queue_date, periods (count), transferred_out.
    With `with_periods`, also returns every period (pathway_id, period, start, stop, stop_status,
    nullified) as a second frame. No Python loop per pathway or event: the state machine is forward fills over sorted events.
    """
    import polars as pl

    if "transferred_in" not in pathways.columns:
        pathways = pathways.with_columns(transferred_in=pl.lit(False))
    pw = pathways.select("pathway_id", pl.col("referral_received").cast(pl.Date),
                         pl.col("transferred_in").fill_null(False))
    ev = events
    if "seq" not in ev.columns:
        ev = ev.with_row_index("seq")
    ev = (ev.select("pathway_id", pl.col("event_date").cast(pl.Date),
                    pl.col("status").cast(pl.Utf8).str.strip_chars().str.zfill(2), pl.col("seq").cast(pl.Int64))
          .filter(pl.col("status").is_in(list(ALL_STATUSES)))
          .join(pw, on="pathway_id", how="inner")
          .sort("pathway_id", "event_date", "seq"))
    g = "pathway_id"
    st = pl.col("status")
    # Events are sorted by pathway, so "within a pathway" is done with boundary arithmetic over the
    # whole column (much faster than window expressions).
    ev = ev.with_row_index("i").with_columns(gstart=(pl.col(g) != pl.col(g).shift(1)).fill_null(True))
    ev = ev.with_columns(g0=pl.when(pl.col("gstart")).then(pl.col("i")).forward_fill())

    def shift_in(x):
        return pl.when(pl.col("gstart")).then(None).otherwise(x.shift(1))

    def ffill_in(x, name):
        last = pl.when(x.is_not_null()).then(pl.col("i")).forward_fill()
        return pl.when(last >= pl.col("g0")).then(x.forward_fill()).alias(name)

    def cumsum_in(x):
        cs = x.cum_sum()
        return cs - pl.when(pl.col("gstart")).then(cs - x).forward_fill()

    is_rtt = st.is_in(list(RTT_CODED))
    ev = ev.with_columns(first_rtt=is_rtt & (cumsum_in(is_rtt.cast(pl.Int32)) == 1))
    # Decisive kinds: S stop, L nullify, N new period, A activity, X nothing.
    kind = (pl.when(st.is_in(list(STOPS))).then(pl.lit("S"))
            .when((st == DNA_FIRST) & pl.col("first_rtt") & ~pl.col("transferred_in")).then(pl.lit("L"))
            .when(st.is_in(list(NEW_PERIOD))).then(pl.lit("N"))
            .when(st.is_in(list(ACTIVITY)) | ((st == DNA_FIRST) & pl.col("first_rtt"))).then(pl.lit("A"))
            .otherwise(pl.lit("X")))
    ev = ev.with_columns(kind=kind)
    ev = ev.with_columns(dec=pl.when(pl.col("kind").is_in(["S", "L", "N"])).then(pl.col("kind")))
    ev = ev.with_columns(prev_dec_raw=shift_in(pl.col("dec")))
    ev = ev.with_columns(ffill_in(pl.col("prev_dec_raw"), "prev_dec"))
    # State after each event: "o" open, "c" closed, "n" closed by nullification.
    effect = (pl.when(pl.col("kind") == "S").then(pl.lit("c"))
              .when(pl.col("kind") == "L").then(pl.lit("n"))
              .when(pl.col("kind") == "N").then(pl.lit("o"))
              .when((pl.col("kind") == "A") & (pl.col("prev_dec").is_null() | (pl.col("prev_dec") != "S")))
              .then(pl.lit("o")))
    ev = ev.with_columns(effect=effect)
    ev = ev.with_columns(ffill_in(pl.col("effect"), "after"))
    ev = ev.with_columns(before=shift_in(pl.col("after")))
    closing = pl.col("kind").is_in(["S", "L"])
    opens = (pl.col("effect") == "o") & (pl.col("before").is_null() | (pl.col("before") != "o"))
    opens_and_closes = closing & pl.col("before").is_null()
    closes = closing & (pl.col("before") == "o")
    ev = ev.with_columns(starts=(opens | opens_and_closes).fill_null(False),
                         stops=(closes | opens_and_closes).fill_null(False))
    ev = ev.with_columns(period=cumsum_in(pl.col("starts").cast(pl.Int32)))
    first_period = pl.col("period") == 1
    start_date = (pl.when(first_period & ~pl.col("status").is_in(list(NEW_PERIOD))
                          & pl.col("referral_received").is_not_null()
                          & (pl.col("referral_received") <= pl.col("event_date")))
                  .then(pl.col("referral_received")).otherwise(pl.col("event_date")))
    starts = (ev.filter(pl.col("starts"))
              .select(g, "period", start=start_date, opened12=pl.col("status") == "12"))
    stops = (ev.filter(pl.col("stops"))
             .select(g, "period", stop=pl.col("event_date"), stop_status=pl.col("status"),
                     nullified=pl.col("kind") == "L"))
    periods = starts.join(stops, on=[g, "period"], how="left").sort(g, "period")
    # Queue date: earliest start among non-nullified periods since the last one opened by a 12.
    periods = periods.with_columns(
        last12=pl.when(pl.col("opened12")).then(pl.col("period")).otherwise(0).max().over(g))
    live = periods.filter((pl.col("period") >= pl.col("last12")) & ~pl.col("nullified").fill_null(False))
    queue = live.group_by(g).agg(queue_date=pl.col("start").min())
    current = periods.group_by(g).agg(
        rtt_start=pl.col("start").last(), clock_stop=pl.col("stop").last(),
        clock_stop_status=pl.col("stop_status").last(), nullified=pl.col("nullified").last().fill_null(False),
        periods=pl.len().cast(pl.Int32))
    last = ev.group_by(g).agg(
        latest_status=pl.col("status").last(),
        any_rtt=pl.col("status").is_in(list(RTT_CODED)).any(),
        any_non_rtt=pl.col("status").is_in(list(NON_RTT)).any(),
        last_activity_status=pl.col("status").filter(pl.col("kind").is_in(["A", "N", "S", "L"])).last(),
        last_activity_date=pl.col("event_date").filter(pl.col("kind").is_in(["A", "N", "S", "L"])).last())
    out = (pw.join(last, on=g, how="left").join(current, on=g, how="left").join(queue, on=g, how="left"))
    # A referral with no RTT-coded activity yet (and not a non-RTT pathway) has an open clock from the referral.
    implicit = (pl.col("rtt_start").is_null() & ~pl.col("any_rtt").fill_null(False)
                & ~pl.col("any_non_rtt").fill_null(False) & pl.col("referral_received").is_not_null())
    out = out.with_columns(
        rtt_start=pl.when(implicit).then(pl.col("referral_received")).otherwise(pl.col("rtt_start")),
        queue_date=pl.when(implicit).then(pl.col("referral_received"))
        .otherwise(pl.coalesce(pl.col("queue_date"), pl.col("rtt_start"))),
        periods=pl.when(implicit).then(pl.lit(1, pl.Int32)).otherwise(pl.col("periods").fill_null(0)),
        nullified=pl.col("nullified").fill_null(False))
    clock_open = pl.col("rtt_start").is_not_null() & pl.col("clock_stop").is_null()
    out = out.with_columns(clock_open=clock_open)
    out = out.with_columns(
        non_rtt=~pl.col("clock_open") & pl.col("latest_status").is_in(list(NON_RTT)).fill_null(False),
        transferred_out=pl.when(pl.col("clock_open") & (pl.col("last_activity_status") == "21"))
        .then(pl.col("last_activity_date")))
    out = out.select(g, "rtt_start", "clock_open", "clock_stop", "clock_stop_status", "nullified",
                     "latest_status", "non_rtt", "queue_date", "periods", "transferred_out")
    if not with_periods:
        return out
    explicit = periods.select(g, "period", "start", "stop", "stop_status", pl.col("nullified").fill_null(False))
    implied = (out.filter((pl.col("periods") == 1) & pl.col("clock_open"))
               .join(explicit.select(g), on=g, how="anti")
               .select(g, period=pl.lit(1, pl.Int32), start=pl.col("rtt_start"), stop=pl.lit(None, pl.Date),
                       stop_status=pl.lit(None, pl.Utf8), nullified=pl.lit(False)))
    return out, pl.concat([explicit.with_columns(pl.col("period").cast(pl.Int32)), implied])


def waits_frame(frame, census: date, *, start_col: str = "rtt_start"):
    """Add days_waited, week_band, within_18 and over_52/65/78/104 and the breach dates to a frame of
    open clocks, by the §10.1.7 definitions."""
    import polars as pl

    days = (pl.lit(census) - pl.col(start_col)).dt.total_days().cast(pl.Int32)
    frame = frame.with_columns(days_waited=days)
    d = pl.col("days_waited")
    cols = {
        "week_band": pl.min_horizontal(pl.lit(105), pl.max_horizontal(pl.lit(1), ((d + 6) // 7))).cast(pl.Int16),
        "within_18": d <= WITHIN_18_DAYS,
    }
    for w in (52, 65, 78, 104):
        cols[f"over_{w}"] = d > 7 * w
    for w in THRESHOLD_WEEKS:
        cols[f"breach_{w}"] = pl.col(start_col) + pl.duration(days=7 * w + 1)
    return frame.with_columns(**cols)
