"""Assisted list filling on OR-Tools CP-SAT, with a greedy "treat in turn" baseline.

Plain dataclasses in, plain dataclasses out; no Django. Section numbers refer to
/work/shared/reference/theatre-scheduling.md.

Model (§4.2): a 0/1 variable x[c, s] exists only for eligible (case, session) pairs -- the case is ready,
the session is a planned list of the case's specialty (and of its named consultant, if any), the
consultant is not on leave that day, the theatre has the equipment, the POA is valid on the date
(``poa_valid_until`` None = no expiry recorded, as in the database trigger), the patient is available,
and the case alone passes the list's overrun test. Constraints:

* each case at most once;
* per list, the sum of booked predicted minutes (rounded up) <= minutes + allowed overrun (the same
  check the database trigger makes, migration 0002);
* overrun risk (§4.3, chance constraint): list time is approximated by a normal with the sum of the
  cases' lognormal means M and variances V, and we require P(time > minutes + late_minutes) <=
  max_overrun_probability, i.e. M + z*sqrt(V) <= minutes + late_minutes. sqrt is concave, so its
  tangent at any V0 > 0 lies above it: sqrt(V) <= sqrt(V0)/2 + V/(2 sqrt(V0)). Using the tangent gives a
  *conservative linear* constraint (every plan it admits meets the normal-approximation limit). V0 is
  the variance of a full list of the session's typical eligible case; the bound is exact at V0 and
  over-states the sd by 1.5 % at V0*2 or V0/2 and 6 % at V0*4 or V0/4. Tests check the limit by Monte
  Carlo on the lognormals themselves;
* treat in turn (hard, §2.3/§2.4): within a specialty and priority, if a later-queued patient b is
  booked then every earlier patient a who could have taken b's place is booked too. "Could have taken
  b's place" = a is eligible for every list b is eligible for and a's predicted mean and variance are no
  larger than b's, so swapping is always feasible and the constraint never removes feasibility -- it
  only forbids skipping someone who fits. (Across priorities, order comes from the objective weights.)

Objective: maximise sum of value(c, s) x[c, s], value = priority weight * (1 + weeks waited / W) +
minute_weight * predicted minutes + (priority weight if the list is on or before the patient's due
date, for priorities with a time frame). Solved time-limited with a chance-aware greedy plan as hint;
the best plan found is returned with its status. ``deterministic=True`` (default) uses CP-SAT's
interleaved search and a deterministic-time limit, so a seed gives the same plan on any load.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from datetime import time as dtime
from itertools import combinations
from statistics import NormalDist

import numpy as np
from ortools.sat.python import cp_model

from carecoord.theatres.durations import (
    CaseMix,
    DurationModel,
    lognormal_mean,
    lognormal_variance,
    synthetic_case_mix,
)

PRIORITIES = ("P1a", "P1b", "P2", "P3", "P4")
RANK = {p: i for i, p in enumerate(PRIORITIES)}
TIME_FRAME_DAYS: dict[str, int | None] = {"P1a": 1, "P1b": 3, "P2": 28, "P3": 91, "P4": None}
TIME_FRAME_TEXT = {"P1a": "24 hours", "P1b": "72 hours", "P2": "4 weeks", "P3": "3 months", "P4": "over 3 months"}
DEFAULT_WEIGHTS = {"P1a": 1000, "P1b": 500, "P2": 200, "P3": 50, "P4": 20}
FILLABLE = "planned"
_SCALE = 10  # capacity arithmetic in tenths of a minute

# Reasons an entry was not booked, in the order they are tested.
NOT_BOOKED = {
    "not_ready": "not ready for surgery (or deferred by patient choice)",
    "no_session_of_specialty": "no planned list of the specialty (or of the named consultant) in the horizon",
    "consultant_on_leave": "every possible list is on a day the consultant is on leave",
    "no_equipment": "no possible list is in a theatre with the equipment needed",
    "poa_expires": "pre-operative assessment expires before every possible list",
    "not_available": "patient unavailable until after every possible list",
    "too_long": "predicted duration breaks the overrun limit even on an empty list",
    "no_fit_within_capacity": "eligible, but the lists are taken by higher-priority or earlier-queued patients",
}


# --- inputs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    id: Hashable
    date: date
    minutes: int  # planned minutes (end - start)
    theatre: str
    specialty: str
    consultant: str
    equipment: frozenset[str] = frozenset()
    status: str = FILLABLE  # planned / released / cancelled / completed: only planned lists are filled
    start: dtime | None = None
    allowed_overrun: int | None = None  # hard cap beyond ``minutes``; None = config.allowed_overrun_minutes


@dataclass(frozen=True)
class Case:
    """A waiting-list entry with its predicted duration: touch time lognormal(mu, sigma) + turnaround."""

    entry_id: Hashable
    specialty: str
    procedure: str
    priority: str  # P1a P1b P2 P3 P4 (P5/P6 deferrals are never booked)
    queue_date: date  # treat-in-turn order within a priority
    mu: float
    sigma: float
    turnaround: float = 15.0
    consultant: str | None = None  # None = any consultant of the specialty
    equipment: frozenset[str] = frozenset()
    poa_valid_until: date | None = None  # None = no expiry recorded
    ready: bool = True
    due_date: date | None = None  # default: queue_date + the priority's time frame
    earliest_date: date | None = None  # patient available from

    @property
    def mean(self) -> float:
        return self.turnaround + lognormal_mean(self.mu, self.sigma)

    @property
    def variance(self) -> float:
        return lognormal_variance(self.mu, self.sigma)

    @property
    def due(self) -> date | None:
        if self.due_date is not None:
            return self.due_date
        days = TIME_FRAME_DAYS.get(self.priority)
        return None if days is None else self.queue_date + timedelta(days=days)

    def quantile(self, q: float) -> float:
        return self.turnaround + math.exp(self.mu + self.sigma * NormalDist().inv_cdf(q))


@dataclass(frozen=True)
class Leave:
    consultant: str
    start: date
    end: date  # inclusive


@dataclass(frozen=True)
class PlannerConfig:
    late_minutes: int = 10  # a list "overruns" if it finishes more than this after its planned end
    max_overrun_probability: float = 0.15
    allowed_overrun_minutes: int = 30  # hard cap on booked predicted minutes beyond the list (DB trigger)
    priority_weight: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    wait_weeks: float = 26.0  # value grows by one priority weight per this many weeks waited
    minute_weight: float = 0.5  # value per booked predicted minute
    in_time_frame_bonus: float = 1.0  # x priority weight when booked on or before the due date
    treat_in_turn: bool = True
    time_limit_s: float = 20.0
    seed: int = 0
    num_workers: int = 2
    deterministic: bool = True
    today: date | None = None  # planning date; default the day before the first list

    @property
    def z(self) -> float:
        return NormalDist().inv_cdf(1 - self.max_overrun_probability)


# --- outputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Booking:
    session_id: Hashable
    entry_id: Hashable
    order: int  # 1-based position on the list
    predicted_minutes: int  # mean slot (touch + turnaround), rounded up
    p80_minutes: int
    mean: float
    variance: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unbooked:
    entry_id: Hashable
    reason: str  # a key of NOT_BOOKED
    detail: str


@dataclass(frozen=True)
class SessionSummary:
    session_id: Hashable
    date: date
    minutes: int
    n_cases: int
    booked_minutes: float  # sum of predicted means (with turnarounds)
    booked_utilisation: float
    overrun_probability: float  # normal approximation of P(finish > late_minutes after planned end)
    bookable: bool  # planned and consultant not on leave


@dataclass
class Plan:
    bookings: list[Booking]
    unbooked: list[Unbooked]
    sessions: list[SessionSummary]
    status: str  # optimal / feasible / greedy / fallback_greedy
    method: str  # cp-sat / greedy
    objective: float = 0.0
    bound: float | None = None
    seconds: float = 0.0

    def by_session(self) -> dict[Hashable, list[Booking]]:
        out: dict[Hashable, list[Booking]] = defaultdict(list)
        for b in self.bookings:
            out[b.session_id].append(b)
        return dict(out)

    @property
    def booked_utilisation(self) -> float:
        live = [s for s in self.sessions if s.bookable]
        return sum(s.booked_minutes for s in live) / max(1, sum(s.minutes for s in live))


# --- eligibility -----------------------------------------------------------------------------------


def _on_leave(leave: Iterable[Leave]):
    by_consultant = defaultdict(list)
    for lv in leave:
        by_consultant[lv.consultant].append((lv.start, lv.end))
    return lambda consultant, day: any(a <= day <= b for a, b in by_consultant.get(consultant, ()))


class _Lists:
    """Per-list capacity arithmetic shared by the planner, the hint and the freed-slot helper."""

    def __init__(self, sessions: Sequence[Session], cases: Sequence[Case], fixed: Sequence[Booking],
                 cfg: PlannerConfig):
        self.cfg, self.z = cfg, cfg.z
        self.fixed_mean, self.fixed_var, self.fixed_minutes = defaultdict(float), defaultdict(float), defaultdict(int)
        for b in fixed:
            self.fixed_mean[b.session_id] += b.mean
            self.fixed_var[b.session_id] += b.variance
            self.fixed_minutes[b.session_id] += b.predicted_minutes
        # Tangent point: variance of a full list of the specialty's typical case (variance per minute).
        ratio = defaultdict(lambda: [0.0, 0.0])
        for c in cases:
            ratio[c.specialty][0] += c.variance
            ratio[c.specialty][1] += c.mean
        self.v0 = {}
        for s in sessions:
            v, m = ratio.get(s.specialty, (0.0, 0.0))
            self.v0[s.id] = max(1.0, self.fixed_var[s.id], (v / m if m else 1.0) * s.minutes)

    def hard_cap(self, s: Session) -> int:
        allowed = self.cfg.allowed_overrun_minutes if s.allowed_overrun is None else s.allowed_overrun
        return s.minutes + allowed - self.fixed_minutes[s.id]

    def coef(self, s: Session, mean: float, var: float) -> int:
        """Scaled left-hand coefficient of the tangent chance constraint, rounded up (conservative)."""
        return math.ceil(_SCALE * (mean + self.z * var / (2 * math.sqrt(self.v0[s.id]))))

    def rhs(self, s: Session) -> int:
        r = math.sqrt(self.v0[s.id])
        fixed = self.fixed_mean[s.id] + self.z * self.fixed_var[s.id] / (2 * r)
        return math.floor(_SCALE * (s.minutes + self.cfg.late_minutes - self.z * r / 2 - fixed))

    def exact_ok(self, s: Session, mean: float, var: float) -> bool:
        """The normal-approximation limit itself (no tangent), for lists with the fixed load added."""
        m, v = mean + self.fixed_mean[s.id], var + self.fixed_var[s.id]
        return m + self.z * math.sqrt(v) <= s.minutes + self.cfg.late_minutes


def _eligibility(cases: Sequence[Case], sessions: Sequence[Session], leave: Sequence[Leave], today: date):
    """(eligible sessions per entry ignoring capacity, reason per entry with none, on-leave test)."""
    on_leave = _on_leave(leave)
    by_specialty = defaultdict(list)
    for s in sorted(sessions, key=lambda s: (s.date, str(s.id))):
        if s.status == FILLABLE and s.date > today:
            by_specialty[s.specialty].append(s)
    eligible, reason = {}, {}
    for c in cases:
        if not c.ready or c.priority not in RANK:
            reason[c.entry_id] = "not_ready"
            continue
        steps = (
            ("no_session_of_specialty", lambda s, c=c: c.consultant in (None, s.consultant)),
            ("consultant_on_leave", lambda s: not on_leave(s.consultant, s.date)),
            ("no_equipment", lambda s, c=c: c.equipment <= s.equipment),
            ("poa_expires", lambda s, c=c: c.poa_valid_until is None or s.date <= c.poa_valid_until),
            ("not_available", lambda s, c=c: c.earliest_date is None or s.date >= c.earliest_date),
        )
        pool = by_specialty.get(c.specialty, [])
        for code, keep in steps:
            pool = [s for s in pool if keep(s)]
            if not pool:
                reason[c.entry_id] = code
                break
        else:
            eligible[c.entry_id] = pool
    return eligible, reason, on_leave


def _default_today(sessions: Sequence[Session]) -> date:
    return min((s.date for s in sessions), default=date.today()) - timedelta(days=1)


def _value(c: Case, s: Session, cfg: PlannerConfig, today: date) -> float:
    w = cfg.priority_weight.get(c.priority, 0)
    weeks = max(0, (today - c.queue_date).days) / 7
    v = w * (1 + weeks / cfg.wait_weeks) + cfg.minute_weight * c.mean
    if c.due is not None and TIME_FRAME_DAYS.get(c.priority) is not None and s.date <= c.due:
        v += cfg.in_time_frame_bonus * w
    return v


def _queue_key(c: Case):
    return (RANK.get(c.priority, 99), c.queue_date, str(c.entry_id))


# --- explanations ----------------------------------------------------------------------------------


def _normal_tail(mean: float, var: float, limit: float) -> float:
    if var <= 0:
        return float(mean > limit)
    return 1 - NormalDist(mean, math.sqrt(var)).cdf(limit)


def _summaries(sessions, bookings, fixed, on_leave, cfg) -> list[SessionSummary]:
    load = defaultdict(lambda: [0, 0.0, 0.0])
    for b in [*fixed, *bookings]:
        t = load[b.session_id]
        t[0] += 1
        t[1] += b.mean
        t[2] += b.variance
    out = []
    for s in sorted(sessions, key=lambda s: (s.date, str(s.id))):
        n, m, v = load.get(s.id, (0, 0.0, 0.0))
        out.append(SessionSummary(s.id, s.date, s.minutes, n, m, m / s.minutes if s.minutes else 0.0,
                                  _normal_tail(m, v, s.minutes + cfg.late_minutes),
                                  s.status == FILLABLE and not on_leave(s.consultant, s.date)))
    return out


def _bookings(chosen: Mapping[Hashable, list[Case]], sessions: Mapping[Hashable, Session], fixed, cfg, today,
              turn_rank: Mapping[Hashable, int]) -> list[Booking]:
    fixed_n = defaultdict(int)
    for b in fixed:
        fixed_n[b.session_id] = max(fixed_n[b.session_id], b.order)
    out = []
    for sid, cases in chosen.items():
        s = sessions[sid]
        m = sum(c.mean for c in cases)
        v = sum(c.variance for c in cases)
        p_over = _normal_tail(m, v, s.minutes + cfg.late_minutes)
        # Urgent first, then longer cases first so short ones at the end can flex.
        for i, c in enumerate(sorted(cases, key=lambda c: (RANK[c.priority], -c.mean, str(c.entry_id))), 1):
            weeks = max(0, (today - c.queue_date).days) // 7
            due = c.due
            frame = f"{c.priority} (treat within {TIME_FRAME_TEXT[c.priority]})"
            if due is not None and TIME_FRAME_DAYS[c.priority] is not None:
                frame += (f": due {due}, booked {s.date}, within the time frame" if s.date <= due else
                          f": due {due}, booked {s.date}, after it -- no earlier fitting list had room")
            reasons = [
                frame,
                f"waited {weeks} weeks (listed {c.queue_date}); {turn_rank[c.entry_id]} in turn for "
                f"{c.specialty} {c.priority}",
                (f"consultant {s.consultant}'s list" if c.consultant else
                 f"any consultant of {c.specialty}: {s.consultant}'s list on {s.date}"),
                f"list predicted {m:.0f} of {s.minutes} min ({m / s.minutes:.0%}); "
                f"P(finish > {cfg.late_minutes} min late) = {p_over:.2f} <= {cfg.max_overrun_probability:.2f}",
            ]
            if c.equipment:
                reasons.append(f"needs {', '.join(sorted(c.equipment))}: available in {s.theatre}")
            if c.poa_valid_until:
                reasons.append(f"POA valid until {c.poa_valid_until}")
            out.append(Booking(sid, c.entry_id, fixed_n[sid] + i, math.ceil(c.mean), math.ceil(c.quantile(0.8)),
                               c.mean, c.variance, tuple(reasons)))
    return sorted(out, key=lambda b: (sessions[b.session_id].date, str(b.session_id), b.order))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _turn_ranks(cases: Sequence[Case]) -> dict[Hashable, str]:
    groups = defaultdict(list)
    for c in cases:
        groups[c.specialty, c.priority].append(c)
    return {c.entry_id: _ordinal(i) for g in groups.values() for i, c in enumerate(sorted(g, key=_queue_key), 1)}


def _finish(chosen, cases, sessions, leave_reason, eligible, fixed, on_leave, cfg, today, status, method,
            objective=0.0, bound=None, started=0.0) -> Plan:
    by_id = {s.id: s for s in sessions}
    bookings = _bookings(chosen, by_id, fixed, cfg, today, _turn_ranks(cases))
    booked = {b.entry_id for b in bookings}
    unbooked = []
    for c in sorted(cases, key=_queue_key):
        if c.entry_id in booked:
            continue
        code = leave_reason.get(c.entry_id) or (
            "no_fit_within_capacity" if eligible.get(c.entry_id) else "too_long")
        unbooked.append(Unbooked(c.entry_id, code, NOT_BOOKED[code]))
    return Plan(bookings, unbooked, _summaries(sessions, bookings, fixed, on_leave, cfg), status, method,
                objective, bound, time.perf_counter() - started)


# --- greedy ----------------------------------------------------------------------------------------


def _greedy_fill(cases, eligible, fits) -> dict[Hashable, list[Case]]:
    chosen = defaultdict(list)
    for c in sorted(cases, key=_queue_key):
        for s in eligible.get(c.entry_id, ()):
            if fits(s, c):
                chosen[s.id].append(c)
                break
    return chosen


def greedy_plan(sessions: Sequence[Session], cases: Sequence[Case], leave: Sequence[Leave] = (),
                config: PlannerConfig | None = None, fixed: Sequence[Booking] = ()) -> Plan:
    """Baseline "treat in turn": priority then queue date, each into the first list (by date) that is
    eligible and where the predicted mean still fits inside the planned minutes (book to the mean)."""
    cfg, started = config or PlannerConfig(), time.perf_counter()
    today = cfg.today or _default_today(sessions)
    eligible, reason, on_leave = _eligibility(cases, sessions, leave, today)
    by_case = {c.entry_id: c for c in cases}
    load = defaultdict(float)
    for b in fixed:
        load[b.session_id] += b.mean

    def fits(s: Session, c: Case) -> bool:
        if load[s.id] + c.mean <= s.minutes:
            load[s.id] += c.mean
            return True
        return False

    chosen = _greedy_fill(cases, eligible, fits)
    for eid, pool in eligible.items():
        if all(by_case[eid].mean > s.minutes for s in pool):
            reason[eid] = "too_long"
    return _finish(chosen, cases, sessions, reason, eligible, fixed, on_leave, cfg, today, "greedy", "greedy",
                   started=started)


# --- CP-SAT ----------------------------------------------------------------------------------------


def _dominates(a: Case, b: Case, elig: Mapping[Hashable, frozenset]) -> bool:
    """a could take b's place on any list b could go to."""
    return (a.mean <= b.mean + 1e-9 and a.variance <= b.variance + 1e-9
            and elig[b.entry_id] <= elig[a.entry_id])


def _turn_pairs(cases: Sequence[Case], elig: Mapping[Hashable, frozenset]) -> list[tuple[Hashable, Hashable]]:
    """(later b, earlier a) pairs with booked(b) => booked(a); a transitive reduction of dominance."""
    groups = defaultdict(list)
    for c in cases:
        if c.entry_id in elig:
            groups[c.specialty, c.priority].append(c)
    pairs = []
    for group in groups.values():
        group.sort(key=_queue_key)
        for j, b in enumerate(group):
            implied: list[Case] = []
            for a in reversed(group[:j]):
                if a.queue_date == b.queue_date or not _dominates(a, b, elig):
                    continue
                if any(_dominates(a, d, elig) for d in implied):
                    continue  # booked(b) => booked(d) => booked(a) already
                implied.append(a)
                pairs.append((b.entry_id, a.entry_id))
    return pairs


def plan(sessions: Sequence[Session], cases: Sequence[Case], leave: Sequence[Leave] = (),
         config: PlannerConfig | None = None, fixed: Sequence[Booking] = ()) -> Plan:
    """Suggest bookings for ``cases`` into ``sessions``; ``fixed`` are bookings already on the lists."""
    cfg, started = config or PlannerConfig(), time.perf_counter()
    today = cfg.today or _default_today(sessions)
    fixed_ids = {b.entry_id for b in fixed}
    cases = [c for c in cases if c.entry_id not in fixed_ids]
    eligible, reason, on_leave = _eligibility(cases, sessions, leave, today)
    lists = _Lists(sessions, cases, fixed, cfg)
    by_case = {c.entry_id: c for c in cases}

    # Drop pairs that break a list's limits on their own.
    pairs = {}
    for eid, pool in eligible.items():
        c = by_case[eid]
        ok = [s for s in pool if math.ceil(c.mean) <= lists.hard_cap(s) and lists.coef(s, c.mean, c.variance)
              <= lists.rhs(s)]
        if ok:
            pairs[eid] = ok
        elif not any(c.mean + lists.z * math.sqrt(c.variance) <= s.minutes + cfg.late_minutes for s in pool):
            reason[eid] = "too_long"

    # Chance-aware greedy (feasible for the model, and it respects treat in turn): the hint and fallback.
    used_coef, used_min = defaultdict(int), defaultdict(int)

    def fits(s: Session, c: Case) -> bool:
        k, m = lists.coef(s, c.mean, c.variance), math.ceil(c.mean)
        if used_coef[s.id] + k <= lists.rhs(s) and used_min[s.id] + m <= lists.hard_cap(s):
            used_coef[s.id] += k
            used_min[s.id] += m
            return True
        return False

    hint = _greedy_fill([by_case[e] for e in pairs], pairs, fits)
    if not pairs:
        return _finish({}, cases, sessions, reason, eligible, fixed, on_leave, cfg, today, "optimal", "cp-sat",
                       started=started)

    # Specialties share no list and no patient, so each is an independent model; the time budget is
    # shared out in proportion to model size, and what a block leaves unused passes to the next.
    blocks = defaultdict(dict)
    for eid, pool in pairs.items():
        blocks[by_case[eid].specialty][eid] = pool
    session_by_id = {s.id: s for s in sessions}
    chosen, statuses, objective, bound = defaultdict(list), [], 0.0, 0.0
    budget, remaining = cfg.time_limit_s, sum(len(p) for p in pairs.values())
    for spec in sorted(blocks):
        block = blocks[spec]
        size = sum(len(p) for p in block.values())
        share = budget * size / remaining
        solved, status, obj, bnd, used = _solve_block(block, by_case, session_by_id, lists, hint, cfg, today, share)
        budget, remaining = max(0.0, budget - used), remaining - size
        for sid, cs in solved.items():
            chosen[sid].extend(cs)
        statuses.append(status)
        objective += obj
        bound += bnd
    status = next(s for s in ("fallback_greedy", "feasible", "optimal") if s in statuses)
    return _finish(chosen, cases, sessions, reason, eligible, fixed, on_leave, cfg, today, status, "cp-sat",
                   objective, bound, started)


def _solve_block(pairs: Mapping[Hashable, list[Session]], by_case, session_by_id, lists: _Lists, hint,
                 cfg: PlannerConfig, today: date, time_limit: float):
    """Solve one specialty: (chosen cases per list, status, objective, bound, time used)."""
    model = cp_model.CpModel()
    x = {(eid, s.id): model.new_bool_var(f"x_{i}_{j}") for i, (eid, pool) in enumerate(pairs.items())
         for j, s in enumerate(pool)}
    by_session = defaultdict(list)
    for (eid, sid), var in x.items():
        by_session[sid].append((by_case[eid], var))
    booked = {}
    for i, (eid, pool) in enumerate(pairs.items()):
        booked[eid] = model.new_bool_var(f"y_{i}")
        model.add(sum(x[eid, s.id] for s in pool) == booked[eid])
    for sid, items in by_session.items():
        s = session_by_id[sid]
        model.add(sum(lists.coef(s, c.mean, c.variance) * v for c, v in items) <= lists.rhs(s))
        model.add(sum(math.ceil(c.mean) * v for c, v in items) <= lists.hard_cap(s))
    if cfg.treat_in_turn:
        elig_sets = {eid: frozenset(s.id for s in pool) for eid, pool in pairs.items()}
        for later, earlier in _turn_pairs([by_case[e] for e in pairs], elig_sets):
            model.add_implication(booked[later], booked[earlier])
    value = {k: round(10 * _value(by_case[k[0]], session_by_id[k[1]], cfg, today)) for k in x}
    model.maximize(sum(value[k] * v for k, v in x.items()))
    hinted = {(c.entry_id, sid) for sid, cs in hint.items() for c in cs if c.entry_id in pairs}
    for key, v in x.items():
        model.add_hint(v, key in hinted)

    solver = cp_model.CpSolver()
    p = solver.parameters
    p.num_workers, p.random_seed = cfg.num_workers, cfg.seed
    if cfg.deterministic:  # stop on deterministic time, so a seed gives one answer whatever the load
        p.interleave_search = True
        p.max_deterministic_time = max(0.1, time_limit)
        # Wall-clock safety net only: generous, so a loaded machine still stops on deterministic time.
        p.max_time_in_seconds = 20 * max(0.1, time_limit)
    else:
        p.max_time_in_seconds = max(0.1, time_limit)
    status = solver.solve(model)
    used = solver.deterministic_time if cfg.deterministic else solver.wall_time
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen = defaultdict(list)
        for (eid, sid), v in x.items():
            if solver.boolean_value(v):
                chosen[sid].append(by_case[eid])
        return (chosen, "optimal" if status == cp_model.OPTIMAL else "feasible",
                solver.objective_value / 10, solver.best_objective_bound / 10, used)
    fallback = {sid: [c for c in cs if c.entry_id in pairs] for sid, cs in hint.items()}
    obj = sum(value[c.entry_id, sid] for sid, cs in fallback.items() for c in cs) / 10
    return fallback, "fallback_greedy", obj, obj, used


# --- freed slots and 6-4-2 release -----------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    entry_ids: tuple[Hashable, ...]
    added_minutes: int
    booked_utilisation: float  # of the list after adding
    overrun_probability: float  # normal approximation, after adding
    value: float
    reasons: tuple[str, ...]


def fill_freed_slot(session: Session, remaining: Sequence[Booking], candidates: Sequence[Case],
                    leave: Sequence[Leave] = (), config: PlannerConfig | None = None, *, n: int = 3,
                    max_cases: int = 2, shortlist: int = 15) -> list[Suggestion]:
    """Best ``n`` ways (one case or ``max_cases`` together) to use the minutes a cancellation freed on
    ``session``, given the bookings still on it. Candidates must pass the same eligibility as the planner
    and keep the list within the overrun limit (exact normal approximation, no tangent needed here).
    Candidates may include patients booked on later lists (bring forward); exclude the cancelled one."""
    cfg = config or PlannerConfig()
    today = cfg.today or session.date - timedelta(days=1)
    taken = {b.entry_id for b in remaining}
    pool = [c for c in candidates if c.entry_id not in taken]
    eligible, _, _ = _eligibility(pool, [session], leave, session.date - timedelta(days=1))
    lists = _Lists([session], pool, remaining, cfg)
    ranked = sorted((c for c in pool if c.entry_id in eligible),
                    key=lambda c: (-_value(c, session, cfg, today), _queue_key(c)))[:shortlist]
    options = []
    for k in range(1, max_cases + 1):
        for combo in combinations(ranked, k):
            m, v = sum(c.mean for c in combo), sum(c.variance for c in combo)
            if sum(math.ceil(c.mean) for c in combo) > lists.hard_cap(session) or not lists.exact_ok(session, m, v):
                continue
            total_m, total_v = m + lists.fixed_mean[session.id], v + lists.fixed_var[session.id]
            p_over = _normal_tail(total_m, total_v, session.minutes + cfg.late_minutes)
            # name each case only when the suggestion holds more than one
            reasons = tuple((f"{c.entry_id}: " if k > 1 else "")
                            + f"{c.priority}, listed {c.queue_date}, predicted {c.mean:.0f} min"
                            + (f", due {c.due}" if c.due else "") for c in combo)
            options.append(Suggestion(tuple(c.entry_id for c in combo), sum(math.ceil(c.mean) for c in combo),
                                      total_m / session.minutes, p_over,
                                      sum(_value(c, session, cfg, today) for c in combo),
                                      (*reasons, f"list then predicted {total_m:.0f} of {session.minutes} min, "
                                                 f"P(finish > {cfg.late_minutes} min late) = {p_over:.2f}")))
    options.sort(key=lambda o: (-o.value, o.overrun_probability, [str(e) for e in o.entry_ids]))
    return options[:n]


@dataclass(frozen=True)
class ReleaseAdvice:
    session_id: Hashable
    date: date
    days_ahead: int
    checkpoint: str  # "6-week" (leave), "4-week", "2-week"
    booked_utilisation: float
    free_minutes: float
    action: str
    reason: str


def sessions_to_release(sessions: Sequence[Session], bookings: Sequence[Booking], today: date,
                        leave: Sequence[Leave] = (), *, min_booked_utilisation: float = 0.5) -> list[ReleaseAdvice]:
    """6-4-2 (§2.3): leave is approved by 6 weeks out, lists are scheduled by 4 weeks and finalised at 2.
    Lists whose consultant is on leave are flagged from 6 weeks; planned lists booked below
    ``min_booked_utilisation`` are flagged at 4 weeks ("fill or release") and at 2 weeks ("release")."""
    on_leave = _on_leave(leave)
    load = defaultdict(float)
    for b in bookings:
        load[b.session_id] += b.mean
    out = []
    for s in sorted(sessions, key=lambda s: (s.date, str(s.id))):
        days = (s.date - today).days
        if s.status != FILLABLE or days <= 0:
            continue
        util = load[s.id] / s.minutes if s.minutes else 0.0
        free = max(0.0, s.minutes - load[s.id])
        if on_leave(s.consultant, s.date) and days <= 42:
            out.append(ReleaseAdvice(s.id, s.date, days, "6-week", util, free, "release",
                                     f"consultant {s.consultant} on leave on {s.date}"))
        elif util < min_booked_utilisation and days <= 14:
            out.append(ReleaseAdvice(s.id, s.date, days, "2-week", util, free, "release",
                                     f"booked {util:.0%} at the 2-week freeze: offer the list to another team"))
        elif util < min_booked_utilisation and days <= 28:
            out.append(ReleaseAdvice(s.id, s.date, days, "4-week", util, free, "fill or release",
                                     f"booked {util:.0%} at the 4-week point: fill from the waiting list or "
                                     f"release"))
    return out


# --- synthetic NHS-style instances (tests, benchmark, demo data) -----------------------------------

THEATRES = {"T1": {"laminar_flow"}, "T2": {"laminar_flow"}, "T3": {"microscope"}, "T4": {"laparoscopic_stack"},
            "T5": {"microscope", "laparoscopic_stack"}, "T6": set(), "T7": set(), "T8": set()}
HOME_THEATRES = {"110": ("T1", "T2"), "130": ("T3", "T5"), "100": ("T4", "T5"), "120": ("T6", "T7"),
                 "101": ("T7", "T8"), "502": ("T4", "T8")}
NEEDS = {"130": {"microscope"}}  # a list of the specialty is only ever put in a theatre with these
LIST_SHARE = {"110": 0.25, "130": 0.2, "100": 0.2, "120": 0.12, "101": 0.1, "502": 0.13}
ALL_DAY_SHARE = {"110": 0.6, "100": 0.5, "502": 0.5, "130": 0.2, "120": 0.2, "101": 0.3}
PRIORITY_MIX = {"P1a": 0.01, "P1b": 0.02, "P2": 0.17, "P3": 0.35, "P4": 0.45}
WAIT_DAYS = {"P1a": (0, 0), "P1b": (0, 1), "P2": (0, 35), "P3": (14, 180), "P4": (30, 550)}


@dataclass
class Instance:
    sessions: list[Session]
    cases: list[Case]
    leave: list[Leave]
    today: date
    case_mix: CaseMix
    model: DurationModel

    def truth(self, case: Case, session: Session) -> tuple[float, float, float]:
        """True (mu, sigma, turnaround) of the case done on this list, for Monte Carlo."""
        mu, sigma = self.case_mix.true_params(session.consultant, case.procedure)
        return mu, sigma, self.case_mix.procedure(case.procedure).turnaround


def _largest_remainder(total: int, shares: Mapping[str, float]) -> dict[str, int]:
    raw = {k: total * v / sum(shares.values()) for k, v in shares.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: out[k] - raw[k])[: total - sum(out.values())]:
        out[k] += 1
    return out


def synthetic_instance(*, weeks: int = 4, lists: int = 60, ready_patients: int = 400, not_ready: int = 40,
                       seed: int = 0, today: date = date(2025, 1, 5), history_cases: int = 4000) -> Instance:
    """A seeded NHS-style instance: weekly lists (240-min half days, 480-min all days) over ``weeks`` from
    the Monday after ``today``, ~20 % of consultants on a week of leave (lists left planned), a PTL whose
    ready demand is spread over specialties in proportion to their list minutes, POA expiring 2-12 weeks
    out (3 % already expired), 5 % of patients unavailable for 1-3 weeks, 30 % "any consultant" entries (the
    rest spread over consultants in proportion to their list minutes), and durations predicted by a model fitted on two years of synthetic history."""
    rng = np.random.default_rng(seed)
    mix = synthetic_case_mix(seed)
    model = DurationModel.fit(mix.history(history_cases, seed, start=today - timedelta(days=730)))
    monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    sessions: list[Session] = []
    busy: set = set()
    for w in range(weeks):
        per_week = lists // weeks + (w < lists % weeks)
        for spec, count in _largest_remainder(per_week, LIST_SHARE).items():
            consultants = mix.consultants[spec]
            for i in range(count):
                consultant = consultants[(w * count + i) % len(consultants)]
                halves = ("am", "pm") if rng.random() < ALL_DAY_SHARE[spec] else (("am",), ("pm",))[i % 2]
                home = HOME_THEATRES[spec] if rng.random() < 0.85 else tuple(THEATRES)
                days = [monday + timedelta(days=7 * w + int(d)) for d in rng.permutation(5)]
                options = [(day, t) for day in days for t in (*home, *THEATRES) if THEATRES[t] >= NEEDS.get(spec, set())
                           and not any(k in busy for h in halves for k in ((day, t, h), (day, consultant, h)))]
                if not options:
                    continue
                day, t = options[0]
                busy.update({(day, t, h) for h in halves} | {(day, consultant, h) for h in halves})
                sessions.append(Session(f"L{len(sessions) + 1:03d}", day, 240 * len(halves), t, spec, consultant,
                                        frozenset(THEATRES[t]), start=dtime(8 if halves[0] == "am" else 13)))
    every = [c for cs in mix.consultants.values() for c in cs]
    leave = [Leave(str(c), monday + timedelta(days=7 * int(w)), monday + timedelta(days=7 * int(w) + 4))
             for c, w in zip(rng.choice(every, max(1, round(0.2 * len(every))), replace=False),
                             rng.integers(0, weeks, len(every)), strict=False)]
    on_leave = _on_leave(leave)

    # Demand per specialty in proportion to its usable list minutes / mean case slot.
    minutes, by_consultant = defaultdict(float), defaultdict(float)
    for s in sessions:
        if not on_leave(s.consultant, s.date):
            minutes[s.specialty] += s.minutes
            by_consultant[s.consultant] += s.minutes
    procs = {s: [p for p in mix.procedures if p.specialty == s] for s in minutes}
    slot = {s: sum(p.frequency * (p.mean_minutes + p.turnaround) for p in ps) / sum(p.frequency for p in ps)
            for s, ps in procs.items()}
    cases: list[Case] = []
    for ready, total in ((True, ready_patients), (False, not_ready)):
        for spec, n in _largest_remainder(total, {s: minutes[s] / slot[s] for s in minutes}).items():
            ps = procs[spec]
            freq = np.array([p.frequency for p in ps])
            for _ in range(n):
                p = ps[rng.choice(len(ps), p=freq / freq.sum())]
                prio = str(rng.choice(list(PRIORITY_MIX), p=list(PRIORITY_MIX.values())))
                urgent = prio in ("P1a", "P1b")
                consultant = None
                if not urgent and rng.random() < 0.7:
                    share = np.array([by_consultant[c] + 1e-9 for c in mix.consultants[spec]])
                    consultant = str(rng.choice(mix.consultants[spec], p=share / share.sum()))
                lo, hi = WAIT_DAYS[prio]
                queued = today - timedelta(days=int(rng.integers(lo, hi + 1)))
                poa = today if rng.random() < 0.03 else today + timedelta(days=int(rng.integers(14, 85)))
                earliest = today + timedelta(days=int(rng.integers(7, 22))) if rng.random() < 0.05 else None
                pred = model.predict(p.code, consultant, spec)
                cases.append(Case(f"E{len(cases) + 1:05d}", spec, p.code, prio, queued, pred.mu, pred.sigma,
                                  pred.turnaround, consultant, p.equipment, poa, ready, earliest_date=earliest))
    return Instance(sessions, cases, leave, today, mix, model)
