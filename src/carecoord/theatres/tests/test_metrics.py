"""Theatre metrics on small cases worked out by hand."""

import math
from datetime import date, datetime, timedelta
from statistics import NormalDist

import numpy as np
import pytest

from carecoord.theatres.metrics import (
    CancellationRecord,
    CaseTimes,
    ListRecord,
    PriorityRecord,
    Rate,
    booked_utilisation,
    capped_utilisation,
    cases_per_list,
    cases_per_list_by,
    early_finish_rate,
    late_start_rate,
    mean_overrun_minutes,
    on_the_day_cancellation_rate,
    overrun_rate,
    priority_compliance,
    rebooked_within_28_days,
    simulate_overrun,
    touch_minutes,
    treated_in_turn,
    uncapped_utilisation,
)

DAY = date(2025, 3, 3)


def t(hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(DAY.year, DAY.month, DAY.day, h, m)


def case(a: str, b: str) -> CaseTimes:
    return CaseTimes(t(a), t(b))


# L1 08:00-12:00: starts 08:30 (30 late), runs 20 past the end. Touch 90 + 125 = 215, capped 90 + 105 = 195.
L1 = ListRecord("L1", t("08:00"), t("12:00"), [case("08:30", "10:00"), case("10:15", "12:20")], specialty="110")
# L2 13:00-17:00 cancelled: 240 minutes of downtime.
L2 = ListRecord("L2", t("13:00"), t("17:00"), cancelled=True, specialty="110")
# L3 08:00-12:00: starts early at 07:45 (15 min before start not counted when capped), finishes 11:30 (30 early).
L3 = ListRecord("L3", t("08:00"), t("12:00"), [case("07:45", "09:00"), case("09:10", "10:00"), case("10:10", "11:30")],
                specialty="130")
# L4 08:00-17:00 all day: on time, ends 17:05 (5 late, not an overrun at 10 minutes).
L4 = ListRecord("L4", t("08:00"), t("17:00"), [case("08:05", "12:30"), case("13:30", "17:05")], specialty="110")


def test_touch_time_capped_and_uncapped():
    assert touch_minutes(L1, capped=False) == 215 and touch_minutes(L1, capped=True) == 195
    assert touch_minutes(L3, capped=False) == 75 + 50 + 80 and touch_minutes(L3, capped=True) == 60 + 50 + 80
    assert touch_minutes(L2, capped=True) == 0


def test_capped_and_uncapped_utilisation():
    # Capped: (195 + 190 + 265 + 210) / (240 + 240 + 240 + 540); L4 touch 265 + 215 = 480, capped 265 + 210.
    assert touch_minutes(L4, capped=True) == 265 + 210
    assert capped_utilisation([L1, L2, L3, L4]) == pytest.approx((195 + 190 + 475) / 1260)
    assert uncapped_utilisation([L1, L2, L3, L4]) == pytest.approx((215 + 205 + 480) / 1260)
    assert capped_utilisation([L1]) == pytest.approx(195 / 240)
    assert uncapped_utilisation([L1]) == pytest.approx(215 / 240)
    assert capped_utilisation([L2]) == 0  # a cancelled list is downtime
    assert capped_utilisation([]) is None


def test_booked_utilisation():
    assert booked_utilisation([(240, [100, 80]), (480, [400])]) == pytest.approx(580 / 720)
    assert booked_utilisation([(240, [])]) == 0 and booked_utilisation([]) is None


def test_start_and_finish_rates_exclude_cancelled_lists():
    lists = [L1, L2, L3, L4]
    assert overrun_rate(lists) == Rate(1, 3)  # L1 (+20); L4 +5 is within 10 minutes
    assert overrun_rate(lists, threshold=30) == Rate(0, 3)
    assert overrun_rate(lists, threshold=4) == Rate(2, 3)
    assert mean_overrun_minutes(lists) == pytest.approx((20 + 0 + 5) / 3)
    assert early_finish_rate(lists) == Rate(1, 3)  # L3 finished exactly 30 early
    assert late_start_rate(lists) == Rate(1, 3)  # L1 started exactly 30 late; L3 early start is not late
    explicit = ListRecord("L5", t("08:00"), t("12:00"), [case("09:00", "10:00")], actual_start=t("08:20"),
                          actual_end=t("10:30"))
    assert late_start_rate([explicit]) == Rate(0, 1) and early_finish_rate([explicit]) == Rate(1, 1)
    assert Rate(0, 0).value is None and Rate(1, 4).value == 0.25


def test_cases_per_list():
    assert cases_per_list([L1, L2, L3, L4]) == pytest.approx(7 / 3)
    assert cases_per_list_by([L1, L2, L3, L4]) == {("110", 240): 2.0, ("110", 540): 2.0, ("130", 240): 3.0}


def test_on_the_day_cancellations_and_28_day_rebooking():
    surgery = date(2025, 1, 10)
    records = [
        CancellationRecord("a", surgery, surgery, clinical=False, rebooked_for=surgery + timedelta(days=20)),
        CancellationRecord("b", surgery, surgery, clinical=False, rebooked_for=surgery + timedelta(days=35)),
        CancellationRecord("c", surgery, surgery - timedelta(days=1), clinical=False, after_admission=True),
        CancellationRecord("d", surgery, surgery, clinical=True),  # clinical: not counted
        CancellationRecord("e", surgery, surgery - timedelta(days=3), clinical=False),  # not last-minute
        CancellationRecord("f", surgery, surgery, clinical=False, by_hospital=False),  # patient cancelled
        CancellationRecord("g", date(2025, 2, 20), date(2025, 2, 20), clinical=False),  # still inside 28 days
    ]
    assert on_the_day_cancellation_rate(records, elective_activity=400) == Rate(4, 400)
    # a within 28 days; b (35 days) and c (never rebooked, window over) breach; g is pending.
    assert rebooked_within_28_days(records, as_of=date(2025, 3, 1)) == Rate(1, 3)
    assert rebooked_within_28_days(records, as_of=date(2025, 3, 31)) == Rate(1, 4)


def test_priority_compliance():
    d = date(2025, 3, 1)
    records = [
        PriorityRecord("on-time", "110", "P2", d, d, d),
        PriorityRecord("late", "110", "P2", d, d, d + timedelta(days=1)),
        PriorityRecord("untreated-due", "110", "P1b", d, d + timedelta(days=3), None),
        PriorityRecord("untreated-later", "110", "P2", d, d + timedelta(days=60), None),
        PriorityRecord("p3", "110", "P3", d, d + timedelta(days=91), None),
    ]
    assert priority_compliance(records, horizon_end=d + timedelta(days=28)) == Rate(1, 3)
    assert priority_compliance(records) == Rate(1, 4)
    assert priority_compliance(records, priorities=("P3",)) == Rate(0, 1)


def test_treated_in_turn():
    q1, q2, q3 = date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)
    records = [
        PriorityRecord("p2-first", "110", "P2", q1, None, date(2025, 2, 10)),
        PriorityRecord("p2-second", "110", "P2", q2, None, date(2025, 2, 10)),  # ahead treated same day: in turn
        PriorityRecord("p3-jumps", "110", "P3", q1, None, date(2025, 2, 5)),  # before both P2s: out of turn
        PriorityRecord("p3-tie", "110", "P3", q1, None, date(2025, 2, 12)),  # tie with p3-jumps: in turn
        PriorityRecord("p3-waiting", "110", "P3", q3, None, None),
        PriorityRecord("p4-jumps", "110", "P4", q1, None, date(2025, 2, 20)),  # p3-waiting untreated: out
        PriorityRecord("eye", "130", "P4", q1, None, date(2025, 1, 1)),  # alone in its specialty
    ]
    assert treated_in_turn(records) == Rate(4, 6)


def test_simulated_overrun_matches_hand_values():
    tiny = 1e-9  # (almost) deterministic durations: 100 touch + 10 turnaround per case
    sim = simulate_overrun([[(math.log(100), tiny, 10)] * 2, [(math.log(100), tiny, 10)], []], [200, 240, 240],
                           late_minutes=10, n=1000, seed=1)
    assert sim.probability.tolist() == [1.0, 0.0, 0.0]  # 220 > 210; 110 < 250
    assert sim.mean_overtime == pytest.approx([20, 0, 0])
    assert sim.p90_finish == pytest.approx([220, 110, 0])
    assert sim.overrun_rate == pytest.approx(1 / 3)


def test_simulated_overrun_agrees_with_the_lognormal_and_repeats():
    mu, sigma = math.log(200), 0.25
    exact = 1 - NormalDist().cdf((math.log(240 + 10 - 15) - mu) / sigma)
    sim = simulate_overrun([[(mu, sigma, 15)]], [240], n=200_000, seed=5)
    assert sim.probability[0] == pytest.approx(exact, abs=0.005)
    again = simulate_overrun([[(mu, sigma, 15)]], [240], n=200_000, seed=5)
    assert np.array_equal(sim.probability, again.probability)
