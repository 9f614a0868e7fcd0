"""Case-duration prediction: a hierarchical lognormal model fitted by empirical Bayes.

Touch time T (into theatre -> out of theatre, minutes) of a case is lognormal; the reference
(theatre-scheduling.md §4.4) cites May, Strum & Vargas (2000) and Strum et al. (2003) for the
lognormal and Dexter et al. for sparse data ("79-88 % of cases have few historical cases of the same
combination"). On log minutes y = log T, for consultant c doing procedure p of specialty s:

    y = m_p + speed_c + pair_cp + noise,   noise ~ N(0, w_p)   (w_p: within consultant×procedure variance)
    speed_c ~ N(0, tau2_speed), pair_cp ~ N(0, tau2_pair)      (a consultant's general speed, and the rest)
    m_p ~ N(m_s, tau2_procedure),  m_s ~ N(m0, tau2_specialty)

Partial pooling: every estimate is a precision-weighted average of its own data and its parent,
(n * ybar + k * parent) / (n + k), with prior weight k = per-case variance / tau2 in pseudo-cases. So a
consultant×procedure mean with thin history is shrunk towards the procedure mean (adjusted for the
consultant's speed on their other work), a rare procedure towards its specialty, a specialty towards
the global mean. With ``prior_weight=None`` (the default) the consultant variances are estimated by EM
(coordinate ascent on the posterior means, the procedure and specialty means' degrees of freedom
removed, and a weak prior TAU_PRIOR = 0.01 with TAU_PRIOR_DOF = 4 pseudo-groups, i.e. consultants
differ by ~10 % unless the data say otherwise) and the procedure/specialty ones by the method of
moments; with a number, every tau2 is the pooled per-case variance divided by it (so each k is that
number, give or take the procedure's own within variance). ``DurationModel.prior_weights(p)`` reports
the k in use. Within variances are pooled over consultant×procedure groups and shrunk towards the
all-procedure pooled variance with ``sigma_prior_dof`` pseudo-degrees of freedom. The predictive sigma
adds the posterior variance of the effects (and the between-consultant variance when the consultant is
not known), so thin history gives wider intervals.

Turnaround (changeover after the case) is added as a constant: the mean recorded turnaround of the
procedure, else of the specialty, else ``default_turnaround``. Quantiles and the mean are of the
booked slot, touch time + turnaround, unless ``with_turnaround=False``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import NormalDist

import numpy as np

_Z = NormalDist()
TAU_PRIOR, TAU_PRIOR_DOF = 0.01, 4.0  # weak prior on consultant effect variances: ~10 % sd, 4 pseudo-groups


def lognormal_mean(mu: float, sigma: float) -> float:
    return math.exp(mu + sigma * sigma / 2)


def lognormal_variance(mu: float, sigma: float) -> float:
    return math.expm1(sigma * sigma) * math.exp(2 * mu + sigma * sigma)


def lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with this mean and coefficient of variation."""
    sigma2 = math.log1p(cv * cv)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


@dataclass(frozen=True)
class HistoricalCase:
    date: date
    specialty: str  # treatment function code, e.g. "110"
    procedure: str  # OPCS-4 code, e.g. "W37.1"
    consultant: str
    minutes: float  # touch time: into theatre -> out of theatre
    turnaround_minutes: float = 0.0


@dataclass(frozen=True)
class DurationPrediction:
    """Lognormal touch time exp(Normal(mu, sigma^2)) plus a constant turnaround, in minutes."""

    mu: float
    sigma: float
    turnaround: float = 0.0
    level: str = "global"  # most specific history used: consultant×procedure, procedure+consultant speed,
    #                        procedure, specialty, global
    n: int = 0  # cases of history at that level

    def quantile(self, q: float, *, with_turnaround: bool = True) -> float:
        return (self.turnaround if with_turnaround else 0.0) + math.exp(self.mu + self.sigma * _Z.inv_cdf(q))

    def interval(self, level: float = 0.8, *, with_turnaround: bool = True) -> tuple[float, float]:
        tail = (1 - level) / 2
        return (self.quantile(tail, with_turnaround=with_turnaround),
                self.quantile(1 - tail, with_turnaround=with_turnaround))

    @property
    def mean(self) -> float:
        return self.turnaround + lognormal_mean(self.mu, self.sigma)

    @property
    def median(self) -> float:
        return self.turnaround + math.exp(self.mu)

    @property
    def variance(self) -> float:
        return lognormal_variance(self.mu, self.sigma)

    p10 = property(lambda self: self.quantile(0.10))
    p50 = property(lambda self: self.quantile(0.50))
    p80 = property(lambda self: self.quantile(0.80))
    p90 = property(lambda self: self.quantile(0.90))


class _Stats:
    """Running n, sum and sum of squares of log minutes."""

    __slots__ = ("n", "s", "ss")

    def __init__(self) -> None:
        self.n, self.s, self.ss = 0, 0.0, 0.0

    def add(self, y: float) -> None:
        self.n += 1
        self.s += y
        self.ss += y * y

    @property
    def mean(self) -> float:
        return self.s / self.n

    @property
    def sse(self) -> float:  # sum of squared deviations from the group mean
        return max(0.0, self.ss - self.s * self.s / self.n)


def _tau2(groups: list[tuple[float, float]], floor: float = 1e-4) -> float | None:
    """Method-of-moments between-group variance from (deviation from parent, sampling variance) pairs."""
    if len(groups) < 3:
        return None
    return max(floor, float(np.mean([d * d - v for d, v in groups])))


def _shrink(n: float, mean: float, k: float, parent: float) -> float:
    return (n * mean + k * parent) / (n + k) if n else parent


@dataclass(frozen=True)
class DurationModel:
    """Fitted hierarchy; build it with ``DurationModel.fit(history)``."""

    m0: float
    specialty_mu: dict[str, float]
    procedure_mu: dict[str, float]  # speed-adjusted procedure mean, shrunk towards the specialty
    speed: dict[str, tuple[float, float]]  # consultant -> (posterior mean, posterior variance) of speed
    pair: dict[tuple[str, str], tuple[float, float]]  # (consultant, procedure) -> same, of the pair effect
    procedure_specialty: dict[str, str]
    procedure_s2: dict[str, float]  # within consultant×procedure variance of log minutes, shrunk
    s2: float  # pooled within variance over all procedures
    tau2: dict[str, float]  # between-group variances: "speed", "pair", "procedure", "specialty"
    n_procedure: dict[str, int]
    n_pair: dict[tuple[str, str], int]
    n_specialty: dict[str, int]
    turnaround_by_procedure: dict[str, float]
    turnaround_by_specialty: dict[str, float]
    default_turnaround: float
    prior_weight: float | None

    @classmethod
    def fit(cls, history: Iterable[HistoricalCase], *, prior_weight: float | None = None,
            sigma_prior_dof: float = 10.0, default_turnaround: float = 15.0, iterations: int = 200) -> DurationModel:
        pair, proc, spec, every = defaultdict(_Stats), defaultdict(_Stats), defaultdict(_Stats), _Stats()
        proc_spec: dict[str, str] = {}
        turn_p, turn_s = defaultdict(list), defaultdict(list)
        for c in history:
            if c.minutes <= 0:
                continue
            y = math.log(c.minutes)
            for st in (pair[c.consultant, c.procedure], proc[c.procedure], spec[c.specialty], every):
                st.add(y)
            proc_spec.setdefault(c.procedure, c.specialty)
            if c.turnaround_minutes > 0:
                turn_p[c.procedure].append(c.turnaround_minutes)
                turn_s[c.specialty].append(c.turnaround_minutes)
        if not every.n:
            raise ValueError("no history to fit")

        # Within consultant×procedure variance, pooled per procedure and overall.
        sse_p, dof_p = defaultdict(float), defaultdict(int)
        for (_, p), st in pair.items():
            sse_p[p] += st.sse
            dof_p[p] += st.n - 1
        dof_all = sum(dof_p.values())
        s2 = sum(sse_p.values()) / dof_all if dof_all else 0.09  # cv 0.3 when nothing is known
        w = {p: (sse_p[p] + sigma_prior_dof * s2) / (dof_p[p] + sigma_prior_dof) for p in proc}

        # y = procedure + consultant speed + consultant×procedure + noise, speed and pair effects random.
        # Posterior means by coordinate ascent; their variances by EM, unless a prior weight is fixed.
        t_speed = t_pair = s2 / (prior_weight or 10.0)
        m = {p: st.mean for p, st in proc.items()}
        n_c = defaultdict(int)
        for (c, _), st in pair.items():
            n_c[c] += st.n
        speed = {c: (0.0, 0.0) for c in n_c}
        eff = {k: (0.0, 0.0) for k in pair}
        for _ in range(iterations):
            resid = defaultdict(float)
            for p in m:
                m[p] = proc[p].mean
            for (c, p), st in pair.items():
                m[p] -= st.n * (speed[c][0] + eff[c, p][0]) / proc[p].n
            for (c, p), st in pair.items():
                resid[c] += st.s - st.n * (m[p] + eff[c, p][0])
            speed = {c: (resid[c] / (n + s2 / t_speed), s2 / (n + s2 / t_speed)) for c, n in n_c.items()}
            eff = {(c, p): ((st.s - st.n * (m[p] + speed[c][0])) / (st.n + w[p] / t_pair), w[p] / (st.n + w[p] / t_pair))
                   for (c, p), st in pair.items()}
            if prior_weight is None:  # EM, with the specialty / procedure means' degrees of freedom removed
                # and a weak prior (TAU_PRIOR, TAU_PRIOR_DOF pseudo-groups) so few consultants cannot collapse it
                t_speed = (sum(a * a + v for a, v in speed.values()) + TAU_PRIOR_DOF * TAU_PRIOR) / (
                    max(1, len(speed) - len(spec)) + TAU_PRIOR_DOF)
                t_pair = (sum(a * a + v for a, v in eff.values()) + TAU_PRIOR_DOF * TAU_PRIOR) / (
                    max(1, len(eff) - len(proc) - len(speed) + len(spec)) + TAU_PRIOR_DOF)
        t_cons = t_speed + t_pair

        # Procedures around specialties, specialties around the global mean: method of moments.
        def tau(groups, per_case_var: float) -> float:
            est = _tau2(groups)
            if prior_weight is not None or est is None:
                return per_case_var / (prior_weight or 10.0)
            return est

        t_proc = tau([(m[p] - spec[proc_spec[p]].mean, (w[p] + t_cons) / st.n) for p, st in proc.items()],
                     s2 + t_cons)
        t_spec = tau([(st.mean - every.mean, (s2 + t_cons + t_proc) / st.n) for st in spec.values()],
                     s2 + t_cons + t_proc)
        spec_mu = {s: _shrink(st.n, st.mean, (s2 + t_cons + t_proc) / t_spec, every.mean) for s, st in spec.items()}
        proc_mu = {p: _shrink(st.n, m[p], (w[p] + t_cons) / t_proc, spec_mu[proc_spec[p]]) for p, st in proc.items()}
        return cls(
            m0=every.mean, specialty_mu=spec_mu, procedure_mu=proc_mu, speed=speed, pair=eff,
            procedure_specialty=proc_spec, procedure_s2=w, s2=s2,
            tau2={"speed": t_speed, "pair": t_pair, "procedure": t_proc, "specialty": t_spec},
            n_procedure={p: st.n for p, st in proc.items()}, n_pair={k: st.n for k, st in pair.items()},
            n_specialty={s: st.n for s, st in spec.items()},
            turnaround_by_procedure={p: float(np.mean(v)) for p, v in turn_p.items()},
            turnaround_by_specialty={s: float(np.mean(v)) for s, v in turn_s.items()},
            default_turnaround=default_turnaround, prior_weight=prior_weight,
        )

    def prior_weights(self, procedure: str) -> dict[str, float]:
        """Pseudo-case weights k = per-case variance / between-group variance of each shrinkage step."""
        w, t = self.procedure_s2.get(procedure, self.s2), self.tau2
        cons = t["speed"] + t["pair"]
        return {"consultant×procedure": w / t["pair"], "consultant speed": self.s2 / t["speed"],
                "procedure": (w + cons) / t["procedure"], "specialty": (self.s2 + cons + t["procedure"]) / t["specialty"]}

    def turnaround(self, procedure: str | None, specialty: str | None) -> float:
        if procedure in self.turnaround_by_procedure:
            return self.turnaround_by_procedure[procedure]
        specialty = specialty or self.procedure_specialty.get(procedure or "")
        return self.turnaround_by_specialty.get(specialty, self.default_turnaround)

    def predict(self, procedure: str | None, consultant: str | None = None,
                specialty: str | None = None) -> DurationPrediction:
        """Predictive distribution of a new case; ``consultant=None`` means any consultant of the specialty."""
        t = self.tau2
        cons = t["speed"] + t["pair"]
        turn = self.turnaround(procedure, specialty)
        if procedure in self.procedure_mu:
            w, mu = self.procedure_s2[procedure], self.procedure_mu[procedure]
            if consultant in self.speed:
                speed, speed_var = self.speed[consultant]
                n = self.n_pair.get((consultant, procedure), 0)
                effect, effect_var = self.pair.get((consultant, procedure), (0.0, t["pair"]))
                level = "consultant×procedure" if n else "procedure+consultant speed"
                return DurationPrediction(mu + speed + effect, math.sqrt(w + speed_var + effect_var), turn, level,
                                          n or self.n_procedure[procedure])
            n_p = self.n_procedure[procedure]
            var = w + cons + (w + cons) / (n_p + (w + cons) / t["procedure"])
            return DurationPrediction(mu, math.sqrt(var), turn, "procedure", n_p)
        base = self.s2 + cons + t["procedure"]
        if specialty in self.specialty_mu:
            n_s = self.n_specialty[specialty]
            var = base + base / (n_s + base / t["specialty"])
            return DurationPrediction(self.specialty_mu[specialty], math.sqrt(var), turn, "specialty", n_s)
        return DurationPrediction(self.m0, math.sqrt(base + t["specialty"]), turn, "global",
                                  sum(self.n_specialty.values()))


# --- calibration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationReport:
    """Touch-time prediction quality on held-out cases (turnaround excluded on both sides)."""

    n: int
    mae: float  # mean |predicted mean - actual| minutes
    bias: float  # mean (predicted mean - actual): positive = over-predicts
    coverage: float  # share of actual durations inside the predicted central ``level`` interval
    level: float
    below_p50: float  # share below the predicted median (nominal 0.5)
    below_p80: float  # share below the predicted p80 (nominal 0.8)


def calibration_report(model: DurationModel, held_out: Sequence[HistoricalCase],
                       level: float = 0.8) -> CalibrationReport:
    err, inside, b50, b80 = [], 0, 0, 0
    for c in held_out:
        p = model.predict(c.procedure, c.consultant, c.specialty)
        lo, hi = p.interval(level, with_turnaround=False)
        err.append(p.mean - p.turnaround - c.minutes)
        inside += lo <= c.minutes <= hi
        b50 += c.minutes < p.quantile(0.5, with_turnaround=False)
        b80 += c.minutes < p.quantile(0.8, with_turnaround=False)
    n = len(held_out)
    if not n:
        raise ValueError("no held-out cases")
    e = np.asarray(err)
    return CalibrationReport(n, float(np.abs(e).mean()), float(e.mean()), inside / n, level, b50 / n, b80 / n)


def split_by_date(history: Sequence[HistoricalCase], cutoff: date) -> tuple[list, list]:
    """(cases before cutoff, cases on or after it): fit on the past, check on the future."""
    return [c for c in history if c.date < cutoff], [c for c in history if c.date >= cutoff]


# --- synthetic case mix and history --------------------------------------------------------------

SPECIALTIES = {"100": "General surgery", "101": "Urology", "110": "Trauma and orthopaedics", "120": "ENT",
               "130": "Ophthalmology", "502": "Gynaecology"}


@dataclass(frozen=True)
class Procedure:
    code: str  # OPCS-4
    name: str
    specialty: str
    mean_minutes: float  # touch time
    cv: float
    turnaround: float
    equipment: frozenset[str] = frozenset()
    frequency: float = 1.0  # relative share of the specialty's cases


PROCEDURES: tuple[Procedure, ...] = (
    Procedure("W37.1", "Primary total hip replacement, cemented", "110", 100, 0.25, 20, frozenset({"laminar_flow"})),
    Procedure("W40.1", "Primary total knee replacement, cemented", "110", 105, 0.25, 20, frozenset({"laminar_flow"})),
    Procedure("W82.3", "Arthroscopic resection of meniscus (knee arthroscopy)", "110", 40, 0.35, 15),
    Procedure("A65.1", "Carpal tunnel release", "110", 20, 0.35, 10, frequency=1.5),
    Procedure("C71.2", "Phacoemulsification of lens (cataract)", "130", 20, 0.30, 10, frozenset({"microscope"}), 4),
    Procedure("C60.1", "Trabeculectomy", "130", 50, 0.30, 15, frozenset({"microscope"})),
    Procedure("J18.3", "Laparoscopic cholecystectomy", "100", 75, 0.35, 15, frozenset({"laparoscopic_stack"})),
    Procedure("T20.1", "Primary repair of inguinal hernia with mesh", "100", 55, 0.30, 15, frequency=1.5),
    Procedure("F34.1", "Tonsillectomy", "120", 35, 0.30, 15, frequency=1.5),
    Procedure("E03.6", "Septoplasty", "120", 50, 0.30, 15),
    Procedure("M65.3", "Transurethral resection of prostate", "101", 60, 0.35, 15),
    Procedure("M45.9", "Rigid cystoscopy", "101", 20, 0.35, 10, frequency=1.5),
    Procedure("Q07.4", "Total abdominal hysterectomy", "502", 90, 0.30, 20),
    Procedure("Q18.1", "Hysteroscopy with biopsy", "502", 20, 0.35, 10, frequency=1.5),
)


@dataclass(frozen=True)
class CaseMix:
    """A synthetic hospital: procedures, consultants and each consultant's true speed per procedure."""

    procedures: tuple[Procedure, ...]
    consultants: dict[str, tuple[str, ...]]  # specialty -> consultant codes
    effect: dict[tuple[str, str], float]  # (consultant, procedure) -> log-scale speed effect
    share: dict[tuple[str, str], float]  # (consultant, procedure) -> relative volume

    def procedure(self, code: str) -> Procedure:
        return next(p for p in self.procedures if p.code == code)

    def true_params(self, consultant: str, procedure: str) -> tuple[float, float]:
        """(mu, sigma) of the true touch-time lognormal."""
        p = self.procedure(procedure)
        mu, sigma = lognormal_params(p.mean_minutes, p.cv)
        return mu + self.effect[consultant, procedure], sigma

    def history(self, n: int, seed: int = 0, *, start: date = date(2023, 1, 2),
                days: int = 730) -> list[HistoricalCase]:
        rng = np.random.default_rng(seed)
        keys = sorted(self.share)
        weights = np.array([self.share[k] for k in keys])
        picks = rng.choice(len(keys), size=n, p=weights / weights.sum())
        out = []
        for i, day in zip(picks, rng.integers(0, days, size=n), strict=True):
            consultant, code = keys[i]
            p = self.procedure(code)
            mu, sigma = self.true_params(consultant, code)
            minutes = max(1.0, round(float(rng.lognormal(mu, sigma))))
            turn = max(5.0, round(float(rng.normal(p.turnaround, 3))))
            out.append(HistoricalCase(start + timedelta(days=int(day)), p.specialty, code, consultant, minutes, turn))
        return sorted(out, key=lambda c: (c.date, c.consultant, c.procedure))


def synthetic_case_mix(seed: int = 0, *, consultants_per_specialty: int = 3, consultant_sd: float = 0.12,
                       pair_sd: float = 0.06, procedures: Sequence[Procedure] = PROCEDURES) -> CaseMix:
    """Consultants differ in speed (log-sd ``consultant_sd``, plus ``pair_sd`` per procedure) and in how
    often they do each procedure (Dirichlet(0.7) shares, so some consultant×procedure histories are thin)."""
    rng = np.random.default_rng(seed)
    specialties = sorted({p.specialty for p in procedures})
    consultants = {s: tuple(f"C{s}{i:02d}" for i in range(1, consultants_per_specialty + 1)) for s in specialties}
    effect, share = {}, {}
    for s in specialties:
        speed = dict(zip(consultants[s], rng.normal(0, consultant_sd, len(consultants[s])), strict=True))
        for p in (p for p in procedures if p.specialty == s):
            shares = rng.dirichlet([0.7] * len(consultants[s]))
            for c, w in zip(consultants[s], shares, strict=True):
                effect[c, p.code] = float(speed[c] + rng.normal(0, pair_sd))
                share[c, p.code] = float(w * p.frequency)
    return CaseMix(tuple(procedures), consultants, effect, share)


def synthetic_history(n: int = 3000, seed: int = 0, *, case_mix: CaseMix | None = None,
                      start: date = date(2023, 1, 2), days: int = 730) -> list[HistoricalCase]:
    """Seeded synthetic completed-case history (touch minutes and turnarounds) for tests and benchmarks."""
    return (case_mix or synthetic_case_mix(seed)).history(n, seed, start=start, days=days)
