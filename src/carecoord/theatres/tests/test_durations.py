"""Duration model: lognormal algebra, partial pooling, fallbacks, calibration on synthetic history."""

import math
from datetime import date, timedelta

import numpy as np
import pytest

from carecoord.theatres.durations import (
    DurationModel,
    DurationPrediction,
    HistoricalCase,
    calibration_report,
    lognormal_mean,
    lognormal_params,
    lognormal_variance,
    split_by_date,
    synthetic_case_mix,
    synthetic_history,
)

D0 = date(2024, 1, 1)


def _cases(consultant, procedure, minutes, specialty="110", turnaround=0.0):
    return [HistoricalCase(D0 + timedelta(days=i), specialty, procedure, consultant, m, turnaround)
            for i, m in enumerate(minutes)]


def test_lognormal_parameters_round_trip():
    mu, sigma = lognormal_params(100, 0.25)
    assert lognormal_mean(mu, sigma) == pytest.approx(100)
    assert math.sqrt(lognormal_variance(mu, sigma)) == pytest.approx(25)


def test_prediction_quantiles_include_turnaround():
    p = DurationPrediction(mu=math.log(60), sigma=0.3, turnaround=15)
    assert p.median == pytest.approx(75)
    assert p.p50 == pytest.approx(75)
    assert p.p10 < p.p50 < p.p80 < p.p90
    assert p.p90 == pytest.approx(15 + 60 * math.exp(0.3 * 1.2815516), rel=1e-6)
    assert p.mean == pytest.approx(15 + 60 * math.exp(0.045))
    lo, hi = p.interval(0.8, with_turnaround=False)
    assert (lo, hi) == pytest.approx((p.p10 - 15, p.p90 - 15))


def test_thin_consultant_history_is_shrunk_towards_the_procedure():
    rng = np.random.default_rng(0)
    common = _cases("A", "W37.1", np.round(rng.lognormal(math.log(100), 0.2, 200)))
    others = _cases("C", "W40.1", np.round(rng.lognormal(math.log(100), 0.2, 100)))
    thin = _cases("B", "W37.1", [200, 200])
    model = DurationModel.fit(common + others + thin, prior_weight=10)
    b = model.predict("W37.1", "B")
    assert b.level == "consultant×procedure" and b.n == 2
    assert b.turnaround == 15  # none recorded: the default
    assert 100 < math.exp(b.mu) < 140  # two 200-minute cases move it little
    assert math.exp(model.predict("W37.1", "A").mu) == pytest.approx(100, rel=0.05)
    assert b.sigma > model.predict("W37.1", "A").sigma  # thin history -> wider interval
    # A larger prior weight shrinks harder; plenty of history overrides the prior.
    loose = DurationModel.fit(common + others + thin, prior_weight=1).predict("W37.1", "B")
    assert math.exp(model.predict("W37.1", "A").mu) < math.exp(b.mu) < math.exp(loose.mu) < 200
    more = _cases("B", "W37.1", [200] * 60)
    assert math.exp(DurationModel.fit(common + others + more, prior_weight=10).predict("W37.1", "B").mu) > 185
    assert all(w == pytest.approx(10, rel=0.2) for w in model.prior_weights("W37.1").values())


def test_empirical_bayes_beats_raw_means():
    thin_raw, thin_eb, raw_all, eb_all = [], [], [], []
    for seed in range(20):  # ~80 thin pairs in all: one seed alone has too few to judge
        mix = synthetic_case_mix(seed)
        history = mix.history(2500, seed)
        model = DurationModel.fit(history)
        logs = {}
        for c in history:
            logs.setdefault((c.consultant, c.procedure), []).append(math.log(c.minutes))
        for (consultant, procedure), ys in logs.items():
            truth = mix.true_params(consultant, procedure)[0]
            raw, eb = abs(np.mean(ys) - truth), abs(model.predict(procedure, consultant).mu - truth)
            raw_all.append(raw)
            eb_all.append(eb)
            if len(ys) <= 5:
                thin_raw.append(raw)
                thin_eb.append(eb)
    assert len(thin_raw) >= 60
    assert np.mean(thin_eb) < 0.8 * np.mean(thin_raw)  # thin history: pooling helps most
    assert np.mean(eb_all) < np.mean(raw_all)
    assert all(w > 0 for w in model.prior_weights("C71.2").values())


def test_fallback_levels_and_turnaround():
    hist = (_cases("A", "C71.2", [20, 22, 18, 21], "130", turnaround=10)
            + _cases("B", "C60.1", [50, 55, 45], "130", turnaround=0)
            + _cases("Z", "J18.3", [70, 80, 75], "100", turnaround=20))
    model = DurationModel.fit(hist, default_turnaround=15)
    assert model.predict("C71.2", "A").level == "consultant×procedure"
    unknown_consultant = model.predict("C71.2", "NEW")
    assert unknown_consultant.level == "procedure"
    assert unknown_consultant.sigma > model.predict("C71.2", "A").sigma
    assert model.predict("C71.2").turnaround == pytest.approx(10)
    assert model.predict("C60.1").turnaround == pytest.approx(10)  # none recorded: the specialty's
    assert model.predict("X99.9", specialty="130").level == "specialty"
    assert model.predict("X99.9", specialty="999").level == "global"
    assert model.predict("X99.9", specialty="999").turnaround == 15
    with pytest.raises(ValueError):
        DurationModel.fit([])


def test_synthetic_history_is_seeded_and_realistic():
    a, b = synthetic_history(3000, seed=5), synthetic_history(3000, seed=5)
    assert a == b and a != synthetic_history(3000, seed=6)
    by_proc = {}
    for c in a:
        by_proc.setdefault(c.procedure, []).append(c.minutes)
    assert np.mean(by_proc["C71.2"]) == pytest.approx(20, rel=0.2)  # cataract
    assert np.mean(by_proc["W37.1"]) == pytest.approx(100, rel=0.2)  # hip replacement
    assert np.mean(by_proc["J18.3"]) == pytest.approx(75, rel=0.2)  # lap chole
    assert np.mean(by_proc["W82.3"]) == pytest.approx(40, rel=0.2)  # knee arthroscopy
    assert np.mean(by_proc["T20.1"]) == pytest.approx(55, rel=0.2)  # inguinal hernia


@pytest.mark.parametrize("seed", [0, 1])
def test_calibration_on_held_out_history_is_near_nominal(seed):
    history = synthetic_history(5000, seed=seed)
    train, test = split_by_date(history, date(2024, 7, 1))
    report = calibration_report(DurationModel.fit(train), test)
    assert report.n == len(test) > 1000
    assert 0.76 <= report.coverage <= 0.86  # nominal 0.80
    assert 0.44 <= report.below_p50 <= 0.56
    assert 0.75 <= report.below_p80 <= 0.85
    assert abs(report.bias) < 3 and report.mae < 15
