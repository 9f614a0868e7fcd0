"""RTT clock kernel: cases derived from the RTT guidance v5.0 (reference §1), every status code, the
awkward cases, and agreement between the scalar and the vectorised implementations."""

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carecoord.waitinglist import rtt

D = date(2025, 1, 6)


def d(n: int) -> date:
    return D + timedelta(days=n)


# ------------------------------------------------------------------ weeks waited (§10.1.7 vectors)

@pytest.mark.parametrize("days,band", [(0, 1), (7, 1), (8, 2), (14, 2), (120, 18), (126, 18), (127, 19),
                                       (358, 52), (364, 52), (365, 53), (728, 104), (729, 105), (2000, 105)])
def test_week_bands_follow_the_published_vectors(days, band):
    assert rtt.week_band(days) == band


@pytest.mark.parametrize("days,within", [(0, True), (126, True), (127, False)])
def test_within_18_weeks_is_at_most_126_days(days, within):
    assert rtt.within_18_weeks(days) is within


@pytest.mark.parametrize("weeks,first_over", [(52, 365), (65, 456), (78, 547), (104, 729)])
def test_over_n_weeks_thresholds(weeks, first_over):
    assert not rtt.over_weeks(first_over - 1, weeks)
    assert rtt.over_weeks(first_over, weeks)


def test_breach_day_itself_is_the_first_day_over():
    start = date(2025, 3, 1)
    assert rtt.breach_date(start, 18) == start + timedelta(days=127)
    on_breach = rtt.days_waited(start, rtt.breach_date(start, 18))
    assert not rtt.within_18_weeks(on_breach)
    assert rtt.within_18_weeks(on_breach - 1)


def test_leap_years_count_real_days():
    # 29 Feb 2024 is a real day: a clock started 1 Feb 2024 is 60 days old on 1 Apr 2024.
    assert rtt.days_waited(date(2024, 2, 1), date(2024, 4, 1)) == 60
    # 52 weeks from 1 Mar 2023 crosses 29 Feb 2024; the breach is 365 days later, on 29 Feb 2024.
    assert rtt.breach_date(date(2023, 3, 1), 52) == date(2024, 2, 29)


def test_a_clock_cannot_start_after_the_census():
    with pytest.raises(ValueError):
        rtt.week_band(-1)


# ------------------------------------------------------------------ clock starts

def test_referral_starts_the_clock_without_any_event():
    r = rtt.compute([], referral_received=D)
    assert r.is_open and r.current.start == D and r.queue_date == D


def test_first_activity_does_not_move_the_start_from_the_referral():
    r = rtt.compute([(d(20), "10"), (d(40), "20")], referral_received=D)
    assert r.current.start == D and r.is_open and len(r.periods) == 1


def test_no_referral_date_means_the_first_activity_starts_the_clock():
    r = rtt.compute([(d(3), "10")])
    assert r.current.start == d(3)


def test_no_referral_and_no_events_is_an_unknown_clock_start():
    r = rtt.compute([])
    assert r.current is None and not r.non_rtt


def test_transfer_keeps_the_original_clock_start():
    # Guidance §3.2.1 worked example: GP referral received 2 Jan, tertiary provider receives 28 Jan.
    r = rtt.compute([(date(2025, 1, 28), "20")], referral_received=date(2025, 1, 2), transferred_in=True)
    assert r.current.start == date(2025, 1, 2) and r.is_open


def test_status_21_keeps_the_clock_running_and_records_the_transfer_out():
    r = rtt.compute([(d(10), "10"), (d(30), "21")], referral_received=D)
    assert r.is_open and r.current.start == D and r.transferred_out == d(30)
    later = rtt.compute([(d(10), "10"), (d(30), "21"), (d(35), "20")], referral_received=D)
    assert later.transferred_out is None


# ------------------------------------------------------------------ clock stops

@pytest.mark.parametrize("code", ["30", "31", "32", "34", "35", "36"])
def test_each_stop_code_stops_the_clock_on_its_date(code):
    r = rtt.compute([(d(10), "10"), (d(50), code)], referral_received=D)
    assert not r.is_open
    assert r.current.stop == d(50) and r.current.stop_status == code and not r.current.nullified
    assert r.current.days(d(400)) == 50


def test_same_day_clock_waits_zero_days():
    r = rtt.compute([(D, "30")], referral_received=D)
    assert r.current.stop == D and r.current.days(d(100)) == 0 and r.current.weeks_band(d(100)) == 1


def test_first_appointment_dna_nullifies_the_clock():
    r = rtt.compute([(d(14), "33")], referral_received=D)
    assert r.current.nullified and r.current.stop == d(14) and not r.is_open


def test_rebooked_after_a_first_dna_starts_a_new_clock_at_zero():
    r = rtt.compute([(d(14), "33"), (d(20), "10")], referral_received=D)
    assert len(r.periods) == 2
    assert r.periods[0].nullified and r.current.start == d(20) and r.is_open
    # The new clock is not linked to the old start, and neither is the queue order.
    assert r.queue_date == d(20)


def test_dna_of_a_later_appointment_does_not_stop_the_clock():
    r = rtt.compute([(d(10), "10"), (d(30), "33")], referral_received=D)
    assert r.is_open and r.current.start == D and any("later appointment" in a for a in r.anomalies)


def test_transfer_then_dna_keeps_the_clock():
    # At the receiving provider the first appointment is not the first activity after the referral.
    r = rtt.compute([(d(40), "33")], referral_received=D, transferred_in=True)
    assert r.is_open and r.current.start == D


def test_active_monitoring_then_decision_to_treat_restarts_the_clock_but_keeps_the_queue_place():
    r = rtt.compute([(d(10), "10"), (d(30), "32"), (d(200), "11")], referral_received=D)
    assert len(r.periods) == 2
    assert r.periods[0].stop == d(30) and r.periods[0].stop_status == "32"
    assert r.current.start == d(200) and r.is_open
    assert r.queue_date == D  # §8.3: the patient keeps their place


def test_separate_condition_12_starts_a_new_period_and_a_new_queue_place():
    r = rtt.compute([(d(10), "10"), (d(40), "30"), (d(100), "12")], referral_received=D)
    assert r.current.start == d(100) and r.queue_date == d(100)


def test_activity_after_a_stop_does_not_restart_the_clock():
    r = rtt.compute([(d(10), "10"), (d(40), "30"), (d(60), "20")], referral_received=D)
    assert not r.is_open and len(r.periods) == 1 and r.anomalies


def test_a_stop_closes_only_an_open_clock():
    r = rtt.compute([(d(10), "10"), (d(40), "30"), (d(60), "34")], referral_received=D)
    assert r.current.stop == d(40) and r.current.stop_status == "30"


def test_several_periods_on_one_pathway():
    evs = [(d(5), "10"), (d(20), "31"), (d(90), "11"), (d(120), "30"), (d(300), "12"), (d(310), "20")]
    r = rtt.compute(evs, referral_received=D)
    assert [(p.start, p.stop, p.stop_status) for p in r.periods] == [
        (D, d(20), "31"), (d(90), d(120), "30"), (d(300), None, None)]


@pytest.mark.parametrize("code", ["90", "91", "92", "98"])
def test_non_rtt_statuses_never_start_a_clock(code):
    r = rtt.compute([(d(5), code)], referral_received=D)
    assert r.current is None and r.non_rtt


def test_non_rtt_status_after_treatment_marks_the_pathway_non_rtt():
    r = rtt.compute([(d(5), "10"), (d(40), "30"), (d(60), "90")], referral_received=D)
    assert r.non_rtt and r.current.stop_status == "30"


def test_99_not_yet_known_neither_starts_nor_stops():
    r = rtt.compute([(d(5), "99")], referral_received=D)
    assert r.is_open and r.current.start == D and r.latest_status == "99"
    r2 = rtt.compute([(d(5), "10"), (d(9), "99")], referral_received=D)
    assert r2.is_open


def test_92_diagnostics_before_referral_then_referral_activity():
    r = rtt.compute([(d(-30), "92"), (d(10), "10")], referral_received=D)
    assert r.current.start == D and r.is_open and not r.non_rtt


def test_unknown_codes_are_reported_not_guessed():
    r = rtt.compute([(d(5), "17"), (d(6), "10")], referral_received=D)
    assert r.is_open and r.anomalies and r.latest_status == "10"


def test_events_on_the_same_day_keep_their_order():
    r = rtt.compute([(d(10), "10"), (d(10), "30")], referral_received=D)
    assert r.current.stop == d(10)


def test_breach_dates_of_an_open_clock():
    r = rtt.compute([], referral_received=date(2024, 1, 1))
    assert r.breach_dates()[18] == date(2024, 5, 7)
    assert r.breach_dates()[52] == date(2024, 12, 31)  # 2024 is a leap year: 366 days to 1 Jan 2025
    assert rtt.compute([(D, "30")], referral_received=D).breach_dates() == {}


# ------------------------------------------------------------------ vectorised = scalar

CODES = sorted(rtt.ALL_STATUSES) + ["x7"]


def _frame_for(histories):
    rows, pws = [], []
    for pid, (ref, tin, evs) in enumerate(histories):
        pws.append({"pathway_id": pid, "referral_received": ref, "transferred_in": tin})
        for seq, (on, code) in enumerate(evs):
            rows.append({"pathway_id": pid, "event_date": on, "status": code, "seq": seq})
    ev = pl.DataFrame(rows, schema={"pathway_id": pl.Int64, "event_date": pl.Date, "status": pl.Utf8, "seq": pl.Int64})
    pw = pl.DataFrame(pws, schema={"pathway_id": pl.Int64, "referral_received": pl.Date, "transferred_in": pl.Boolean})
    return ev, pw


history = st.tuples(
    st.one_of(st.none(), st.integers(-10, 30).map(d)),
    st.booleans(),
    st.lists(st.tuples(st.integers(0, 60).map(d), st.sampled_from(CODES)), max_size=7),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(history, min_size=1, max_size=12))
def test_vectorised_kernel_agrees_with_the_scalar_one(histories):
    ev, pw = _frame_for(histories)
    out = {r["pathway_id"]: r for r in rtt.compute_frame(ev, pw).to_dicts()}
    for pid, (ref, tin, evs) in enumerate(histories):
        s = rtt.compute(evs, referral_received=ref, transferred_in=tin)
        v = out[pid]
        cur = s.current
        assert v["rtt_start"] == (cur.start if cur else None), (evs, ref, tin)
        assert v["clock_stop"] == (cur.stop if cur else None), (evs, ref, tin)
        assert (v["clock_stop_status"] or None) == (cur.stop_status if cur else None)
        assert v["clock_open"] == bool(cur and cur.open)
        assert v["nullified"] == bool(cur and cur.nullified)
        assert v["latest_status"] == s.latest_status
        assert v["non_rtt"] == s.non_rtt
        assert v["queue_date"] == s.queue_date, (evs, ref, tin)
        assert v["periods"] == len(s.periods)
        assert v["transferred_out"] == s.transferred_out


def test_waits_frame_matches_the_scalar_definitions():
    census = date(2025, 6, 30)
    starts = [census - timedelta(days=n) for n in (0, 7, 8, 126, 127, 364, 365, 729)]
    f = rtt.waits_frame(pl.DataFrame({"rtt_start": starts}), census)
    for row, start in zip(f.to_dicts(), starts, strict=True):
        days = rtt.days_waited(start, census)
        assert row["days_waited"] == days
        assert row["week_band"] == rtt.week_band(days)
        assert row["within_18"] == rtt.within_18_weeks(days)
        assert row["over_52"] == rtt.over_weeks(days, 52)
        assert row["breach_18"] == rtt.breach_date(start, 18)
