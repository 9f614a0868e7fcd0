"""Metrics derived from events, checked against the definitions (reference scc-flow.md §2): handover
clock arrival → handover; ED clock arrival → departure; 4 hours = 240 minutes (exactly 240 within by
default); over 12 hours from arrival; since-midnight is local (Europe/London) midnight; snapshots are the
state at the reading time; nothing to count is missing, not zero."""

from datetime import UTC, datetime, timedelta

import pytest

from carecoord.coordination.derive import (
    Attendance,
    Beds,
    DeriveConfig,
    Handover,
    metrics_at,
    midnight,
    slot_end,
    slots_between,
)

T = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)  # winter: London = UTC


def _h(i, arrive_min_before, minutes):
    a = T - timedelta(minutes=arrive_min_before)
    return Handover(str(i), a, a + timedelta(minutes=minutes) if minutes is not None else None)


def test_handover_mean_thresholds_and_hours_lost():
    hs = [_h(1, 120, 10), _h(2, 100, 15), _h(3, 90, 31), _h(4, 80, 75)]
    m = metrics_at(T, hs)
    assert m["ambulance_handover_mean_minutes"] == pytest.approx((10 + 15 + 31 + 75) / 4)
    assert m["ambulance_handovers_over_15_since_midnight"] == 2  # 15 exactly is not over
    assert m["ambulance_handovers_over_30_since_midnight"] == 2
    assert m["ambulance_handovers_over_45_since_midnight"] == 1
    assert m["ambulance_handovers_over_60_since_midnight"] == 1
    assert m["ambulance_hours_lost_over_15_since_midnight"] == pytest.approx((16 + 60) / 60, abs=0.01)


def test_queue_and_last_hour_are_at_the_reading_time():
    waiting = _h(1, 20, None)  # arrived 20 minutes ago, not handed over
    handed_later = _h(2, 10, 30)  # handover completes after T: still queued at T, not counted yet
    done = _h(3, 50, 20)  # handed over 30 minutes before T
    m = metrics_at(T, [waiting, handed_later, done])
    assert m["ambulance_queue"] == 2 and m["ambulance_handovers_last_hour"] == 1
    assert m["ambulance_handovers_since_midnight"] == 1


def test_since_midnight_is_local_midnight_in_summer():
    summer = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)  # 10:00 BST
    assert midnight(summer, DeriveConfig()).astimezone(UTC) == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    before = Handover("1", datetime(2026, 6, 30, 22, 30, tzinfo=UTC), datetime(2026, 6, 30, 22, 50, tzinfo=UTC))
    after = Handover("2", datetime(2026, 6, 30, 23, 5, tzinfo=UTC), datetime(2026, 6, 30, 23, 25, tzinfo=UTC))
    assert metrics_at(summer, [before, after])["ambulance_handovers_since_midnight"] == 1


def test_four_hour_boundary_and_twelve_hours():
    def att(i, los):
        d = T - timedelta(minutes=5)
        return Attendance(str(i), d - timedelta(minutes=los), d)

    left = [att(1, 239), att(2, 240), att(3, 241), att(4, 721)]
    m = metrics_at(T, attendances=left)
    assert m["ed_4h_performance_pct"] == 50.0  # 239 and exactly 240 are within
    assert m["ed_over_12h_pct"] == 25.0
    strict = metrics_at(T, attendances=left, cfg=DeriveConfig(four_hour_boundary_within=False))
    assert strict["ed_4h_performance_pct"] == 25.0


def test_patients_in_the_department_now():
    still = Attendance("1", T - timedelta(hours=13))  # arrived yesterday evening, still here
    recent = Attendance("2", T - timedelta(hours=1))
    gone = Attendance("3", T - timedelta(hours=3), T - timedelta(hours=1))
    m = metrics_at(T, attendances=[still, recent, gone])
    assert m["ed_patients_in_department"] == 2 and m["ed_patients_over_12h_now"] == 1
    assert m["ed_attendances_since_midnight"] == 2  # 'still' arrived before midnight


def test_beds_use_the_latest_state_at_or_before_the_time():
    beds = [Beds(T - timedelta(hours=2), 400, 380, 10), Beds(T - timedelta(minutes=15), 410, 400, 20),
            Beds(T + timedelta(minutes=15), 410, 405, 30)]
    m = metrics_at(T, beds=beds)
    assert m["ga_bed_occupancy_pct"] == pytest.approx(97.56, abs=0.01)
    assert m["escalation_beds_pct"] == pytest.approx(4.88, abs=0.01)


def test_nothing_to_count_is_missing_not_zero():
    assert metrics_at(T) == {}
    waiting_only = metrics_at(T, [_h(1, 10, None)])
    assert "ambulance_handover_mean_minutes" not in waiting_only and waiting_only["ambulance_queue"] == 1


def test_reading_times_are_the_quarter_hours():
    assert slot_end(datetime(2026, 1, 12, 10, 7, tzinfo=UTC)) == datetime(2026, 1, 12, 10, 15, tzinfo=UTC)
    assert slot_end(T) == T
    assert slots_between(T - timedelta(minutes=44), T) == [T - timedelta(minutes=30), T - timedelta(minutes=15), T]
