"""Theatre metrics as the NHS defines them: pure functions over plain data, no Django.

Section numbers refer to /work/shared/reference/theatre-scheduling.md. Touch time is into theatre ->
out of theatre ("In OR" to "Out OR", the SystemView definition quoted in §2.1; Model Health System uses
a sliding scale of fields for the start, which we do not have). Rates return a ``Rate`` so the
denominator is always visible (§5: "cancellation rate depends on the denominator").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

PRIORITY_RANK = {"P1a": 0, "P1b": 1, "P2": 2, "P3": 3, "P4": 4, "P5": 5, "P6": 6}


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class CaseTimes:
    into_theatre: datetime
    out_of_theatre: datetime

    @property
    def minutes(self) -> float:
        return (self.out_of_theatre - self.into_theatre).total_seconds() / 60


@dataclass(frozen=True)
class ListRecord:
    """One theatre list (session) as it ran."""

    session_id: Hashable
    planned_start: datetime
    planned_end: datetime
    cases: Sequence[CaseTimes] = ()
    actual_start: datetime | None = None  # default: first patient into theatre
    actual_end: datetime | None = None  # default: last patient out of theatre
    cancelled: bool = False  # whole list cancelled: downtime in utilisation, excluded from start/finish rates
    specialty: str = ""

    @property
    def planned_minutes(self) -> float:
        return (self.planned_end - self.planned_start).total_seconds() / 60

    @property
    def ran(self) -> bool:
        return not self.cancelled and bool(self.cases)

    @property
    def start(self) -> datetime:
        return self.actual_start or min(c.into_theatre for c in self.cases)

    @property
    def finish(self) -> datetime:
        return self.actual_end or max(c.out_of_theatre for c in self.cases)


def _minutes(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 60


def touch_minutes(lst: ListRecord, *, capped: bool) -> float:
    """Touch time of a list; capped = only the part inside [planned start, planned end] (§2.1, §2.4)."""
    if lst.cancelled:
        return 0.0
    if not capped:
        return sum(c.minutes for c in lst.cases)
    return sum(max(0.0, _minutes(max(c.into_theatre, lst.planned_start), min(c.out_of_theatre, lst.planned_end)))
               for c in lst.cases)


def capped_utilisation(lists: Iterable[ListRecord]) -> float | None:
    """Sum of touch time within planned start/finish / sum of planned minutes; cancelled lists count as
    downtime (§2.1 Model Health System: "Capped measures utilisation within the planned session start and
    finish time"; "cancellations are treated as downtime"; §2.4 first row; NHS target > 85 %)."""
    lists = list(lists)
    planned = sum(lst.planned_minutes for lst in lists)
    return sum(touch_minutes(lst, capped=True) for lst in lists) / planned if planned else None


def uncapped_utilisation(lists: Iterable[ListRecord]) -> float | None:
    """All touch time, overruns included / planned minutes (§2.1 "Uncapped Utilisation measures the total
    Touch Time (including any over runs/unplanned session extensions) ... in relation to the planned
    duration"; §2.4 second row). Can exceed 1."""
    lists = list(lists)
    planned = sum(lst.planned_minutes for lst in lists)
    return sum(touch_minutes(lst, capped=False) for lst in lists) / planned if planned else None


def booked_utilisation(lists: Iterable[tuple[float, Iterable[float]]]) -> float | None:
    """Plan-level KPI (§2.4 third row): sum of predicted durations (with turnarounds) booked / planned
    minutes. Each item is (planned minutes, predicted minutes of each booked case)."""
    planned = booked = 0.0
    for minutes, cases in lists:
        planned += minutes
        booked += sum(cases)
    return booked / planned if planned else None


def overrun_rate(lists: Iterable[ListRecord], threshold: float = 10) -> Rate:
    """Lists finishing more than ``threshold`` minutes after planned end / lists that ran (§2.4: "share of
    lists finishing > 10 min (or 30 min) after planned end"; Chesterfield ENT 78 % -> 14 %, §0)."""
    ran = [lst for lst in lists if lst.ran]
    return Rate(sum(_minutes(lst.planned_end, lst.finish) > threshold for lst in ran), len(ran))


def mean_overrun_minutes(lists: Iterable[ListRecord]) -> float | None:
    """Mean minutes past planned end over lists that ran (0 for lists finishing on time; §2.4)."""
    ran = [lst for lst in lists if lst.ran]
    return float(np.mean([max(0.0, _minutes(lst.planned_end, lst.finish)) for lst in ran])) if ran else None


def early_finish_rate(lists: Iterable[ListRecord], threshold: float = 30) -> Rate:
    """Lists finishing ``threshold`` minutes or more before planned end / lists that ran (§2.4; §2.2:
    "38 % finishing 30 minutes or more early")."""
    ran = [lst for lst in lists if lst.ran]
    return Rate(sum(_minutes(lst.finish, lst.planned_end) >= threshold for lst in ran), len(ran))


def late_start_rate(lists: Iterable[ListRecord], threshold: float = 30) -> Rate:
    """Lists starting ``threshold`` minutes or more after planned start / lists that ran (§2.4; §2.2:
    "A third of operating lists start 30 minutes or more late")."""
    ran = [lst for lst in lists if lst.ran]
    return Rate(sum(_minutes(lst.planned_start, lst.start) >= threshold for lst in ran), len(ran))


def cases_per_list(lists: Iterable[ListRecord]) -> float | None:
    """Completed cases / lists that were not cancelled (§2.4; FDP bookings per session 3.5 -> 3.8)."""
    held = [lst for lst in lists if not lst.cancelled]
    return sum(len(lst.cases) for lst in held) / len(held) if held else None


def cases_per_list_by(lists: Iterable[ListRecord]) -> dict[tuple[str, int], float]:
    """Cases per list by (specialty, planned minutes), as §2.4 asks ("by specialty & list length")."""
    groups = defaultdict(list)
    for lst in lists:
        groups[lst.specialty, round(lst.planned_minutes)].append(lst)
    return {k: cases_per_list(v) for k, v in sorted(groups.items()) if cases_per_list(v) is not None}


# --- cancellations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CancellationRecord:
    entry_id: Hashable
    surgery_date: date
    cancelled_on: date
    clinical: bool  # clinical reasons are not "last-minute non-clinical" cancellations
    by_hospital: bool = True
    after_admission: bool = False
    rebooked_for: date | None = None  # the new surgery date, once offered

    @property
    def last_minute(self) -> bool:
        """Told on the day of surgery or after admission (§2.2, Nuffield Trust definition)."""
        return self.cancelled_on >= self.surgery_date or self.after_admission

    @property
    def counted(self) -> bool:
        return self.last_minute and not self.clinical and self.by_hospital


def on_the_day_cancellation_rate(records: Iterable[CancellationRecord], elective_activity: int) -> Rate:
    """Last-minute non-clinical hospital cancellations / elective activity (§2.4; 0.8-1.0 % historically)."""
    return Rate(sum(r.counted for r in records), elective_activity)


def rebooked_within_28_days(records: Iterable[CancellationRecord], as_of: date) -> Rate:
    """Of last-minute non-clinical cancellations, the share given a new date within 28 days of the
    cancellation (§2.2: NHS Constitution pledge; 24.1 % not treated within 28 days in Q3 2023/24).
    Cancellations still inside their 28 days and not yet rebooked on ``as_of`` are left out (pending)."""
    num = den = 0
    for r in records:
        if not r.counted:
            continue
        limit = r.cancelled_on + timedelta(days=28)
        if r.rebooked_for is None and as_of <= limit:
            continue
        den += 1
        num += r.rebooked_for is not None and r.rebooked_for <= limit
    return Rate(num, den)


# --- priority --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriorityRecord:
    entry_id: Hashable
    specialty: str
    priority: str
    queue_date: date
    due_date: date | None  # end of the priority's time frame; None for P4
    treated_on: date | None  # booked or operated date; None if not (yet)


def priority_compliance(records: Iterable[PriorityRecord], priorities: Sequence[str] = ("P1a", "P1b", "P2"),
                        horizon_end: date | None = None) -> Rate:
    """Share of patients of ``priorities`` treated (or booked) on or before their due date (§2.4: "% of
    P1/P2 booked before due date"). Untreated patients are breaches, except those whose due date is after
    ``horizon_end`` (their outcome is not yet known)."""
    num = den = 0
    for r in records:
        if r.priority not in priorities or r.due_date is None:
            continue
        if r.treated_on is None and horizon_end is not None and r.due_date > horizon_end:
            continue
        den += 1
        num += r.treated_on is not None and r.treated_on <= r.due_date
    return Rate(num, den)


def treated_in_turn(records: Iterable[PriorityRecord]) -> Rate:
    """Share of treated patients for whom everyone ahead of them in the same specialty -- a more urgent
    priority, or the same priority and an earlier queue date -- was treated on or before the same day
    (§2.4: "% of patients treated in order of clinical priority then wait"). Strict: it does not excuse
    an earlier patient whose case would not have fitted the list."""
    groups = defaultdict(list)
    for r in records:
        groups[r.specialty].append(r)
    num = den = 0
    never = date.max
    for group in groups.values():
        group.sort(key=lambda r: (PRIORITY_RANK.get(r.priority, 99), r.queue_date))
        latest_ahead, i = date.min, 0
        while i < len(group):
            key = (PRIORITY_RANK.get(group[i].priority, 99), group[i].queue_date)
            j = i
            while j < len(group) and (PRIORITY_RANK.get(group[j].priority, 99), group[j].queue_date) == key:
                j += 1
            for r in group[i:j]:
                if r.treated_on is not None:
                    den += 1
                    num += latest_ahead <= r.treated_on
            latest_ahead = max([latest_ahead, *(r.treated_on or never for r in group[i:j])])
            i = j
    return Rate(num, den)


# --- Monte Carlo -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverrunSimulation:
    probability: np.ndarray  # per list: P(finish > planned end + late_minutes)
    mean_overtime: np.ndarray  # per list: E[max(0, finish - planned end)] minutes
    p90_finish: np.ndarray  # per list: 90th percentile of list time, minutes from planned start

    @property
    def overrun_rate(self) -> float:
        """Expected share of lists overrunning: the mean of the per-list probabilities."""
        return float(self.probability.mean()) if self.probability.size else 0.0


def simulate_overrun(lists: Sequence[Sequence[tuple[float, float, float]]], minutes: Sequence[float], *,
                     late_minutes: float = 10, n: int = 10_000, seed: int = 0) -> OverrunSimulation:
    """Monte Carlo of each list's time: the sum over its cases of lognormal(mu, sigma) touch time plus a
    fixed turnaround; each list is ``[(mu, sigma, turnaround), ...]`` and ``minutes`` its planned length.
    Seeded (numpy default_rng), so results repeat exactly. This checks the planner's normal approximation
    against the lognormals themselves (§4.2 "[our measurement]" used the same check)."""
    rng = np.random.default_rng(seed)
    prob, over, p90 = [], [], []
    for cases, m in zip(lists, minutes, strict=True):
        if cases:
            mu, sigma, turn = (np.asarray(v, dtype=float)[:, None] for v in zip(*cases, strict=True))
            total = (rng.lognormal(mu, sigma, (len(cases), n)) + turn).sum(axis=0)
        else:
            total = np.zeros(n)
        prob.append(float((total > m + late_minutes).mean()))
        over.append(float(np.maximum(total - m, 0).mean()))
        p90.append(float(np.quantile(total, 0.9)))
    return OverrunSimulation(np.array(prob), np.array(over), np.array(p90))
