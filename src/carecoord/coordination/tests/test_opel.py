"""Tests for the OPEL kernel (pure Python: run with `-p no:django`)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carecoord.coordination import opel
from carecoord.coordination.opel import (
    EditionError,
    Reading,
    aggregate,
    load_edition,
    score_provider,
    score_system,
)

SHIPPED = "nhse-2024-26-bnssg-derived"
AT = "2026-01-10T09:00:00+00:00"  # GMT: local time equals UTC


def band(points, threshold=None, n=1):
    b = {"band": n, "points": points, "confirmed": True, "source": "test"}
    if threshold is not None:
        b["threshold"] = threshold
    return b


def param(key, direction, aggregation, thresholds, points, **extra):
    return {"key": key, "name": key, "definition": key, "unit": "%", "direction": direction, "pillar": "acute",
            "aggregation": aggregation, "confirmed": True, "source": "test",
            "bands": [band(points[0])] + [band(p, t, i + 2) for i, (t, p) in enumerate(zip(thresholds, points[1:], strict=True))],
            **extra}


def mini(**top) -> dict:
    """A small, fully 'confirmed' edition: cut-offs 3/6/9/12, maximum score 10."""
    d = {
        "format_version": 1, "edition": "test-mini", "version": "1", "title": "Test edition",
        "timezone": "Europe/London", "stale_after_minutes": 60,
        "sources": {"test": {"citation": "unit test"}},
        "levels": {"cutoffs": [{"level": i + 1, "max_score": m} for i, m in enumerate([3, 6, 9, 12])],
                   "confirmed": True, "source": "test"},
        "system": {"rule": "weighted_mean", "weight_basis": "beds", "confirmed": True, "source": "test"},
        "parameters": [
            param("occ", "higher_is_worse", "snapshot", [85, 92, 97], [0, 1, 2, 4]),
            param("perf", "lower_is_worse", "since_midnight", [95, 78, 60], [0, 1, 2, 4]),
            param("arrivals", "higher_is_worse", "last_hour", [20], [0, 1]),
            param("nctr", "higher_is_worse", "yesterday", [10], [0, 1]),
        ],
    }
    d.update(top)
    return d


def shipped_dict() -> dict:
    return copy.deepcopy(load_edition(SHIPPED).raw)


# ------------------------------------------------------------------------------------------ loading


def test_shipped_edition_structure_and_confirmation_flags():
    assert [e["name"] for e in opel.available_editions()] == [SHIPPED]
    ed = load_edition(SHIPPED)
    assert ed.ref == "nhse-2024-26-bnssg-derived@0.1.0"
    assert ed.cutoffs == (11, 22, 33, 44)
    assert [p.number for p in ed.parameters] == list(range(1, 10))
    assert ed.pillars == ("acute",)
    assert ed.max_score("acute") == 36
    assert {p.aggregation for p in ed.parameters} == {"snapshot", "since_midnight", "yesterday"}
    # The reference confirms none of the thresholds, points or cut-offs: all must say so.
    assert not ed.levels_confirmed and not ed.confirmed("acute")
    assert all(not b.confirmed and b.source in ed.raw["sources"] for p in ed.parameters for b in p.bands)
    assert ed.system["rule"] == "weighted_mean" and ed.system["confirmed"] is False


def test_load_from_file_and_dict_give_the_same_edition(tmp_path):
    path = tmp_path / "icb.json"
    path.write_text(json.dumps(mini()))
    a, b = load_edition(path), load_edition(mini())
    assert a.ref == b.ref == "test-mini@1" and a.parameters == b.parameters
    assert load_edition(str(path)).cutoffs == (3, 6, 9, 12)


def _set(path, value):
    def mutate(d):
        *head, last = path
        for k in head:
            d = d[k]
        if value is KeyError:
            del d[last]
        else:
            d[last] = value
    return mutate


BAD = [
    (_set(["edition"], KeyError), "edition: is required"),
    (_set(["edition"], "x" * 81), "edition: must be at most 80 characters"),
    (_set(["format_version"], 2), "format_version: must be 1"),
    (_set(["timezone"], "Mars/Olympus"), "timezone: unknown time zone 'Mars/Olympus'"),
    (_set(["stale_after_minutes"], 0), "stale_after_minutes: must be greater than 0"),
    (_set(["threshold_rule"], "inclusive"), "threshold_rule: must be one of strictly_worse, at_or_worse"),
    (_set(["parameters", 0, "direction"], "up"), "parameters[0].direction: must be one of higher_is_worse"),
    (_set(["parameters", 0, "pillar"], "primary_care"), "parameters[0].pillar: must be one of acute"),
    (_set(["parameters", 0, "aggregation"], "daily"), "parameters[0].aggregation: must be one of snapshot"),
    (_set(["parameters", 0, "flow"], "rolling"), "parameters[0].flow: only applies to aggregation last_hour"),
    (_set(["parameters", 0, "tresholds"], []), "parameters[0].tresholds: is not a known field"),
    (_set(["parameters", 1, "key"], "occ"), "parameters[1].key: duplicate key 'occ'"),
    (_set(["parameters", 0, "bands", 2, "threshold"], 80),
     "parameters[0].bands[2].threshold: must be greater than band 2's threshold 85 (higher is worse)"),
    (_set(["parameters", 1, "bands", 3, "threshold"], 90),
     "parameters[1].bands[3].threshold: must be less than band 3's threshold 78 (lower is worse)"),
    (_set(["parameters", 0, "bands", 1, "threshold"], "85"), "parameters[0].bands[1].threshold: must be a finite number"),
    (_set(["parameters", 0, "bands", 1, "threshold"], KeyError), "parameters[0].bands[1].threshold: is required"),
    (_set(["parameters", 0, "bands", 0, "threshold"], 1), "parameters[0].bands[0].threshold: band 1 is the baseline"),
    (_set(["parameters", 0, "bands", 2, "points"], 0), "parameters[0].bands[2].points: must not be fewer than band 2's 1 points"),
    (_set(["parameters", 0, "bands", 1, "band"], 3), "parameters[0].bands[1].band: must be 2"),
    (_set(["parameters", 0, "bands", 1, "confirmed"], KeyError), "parameters[0].bands[1].confirmed: is required"),
    (_set(["parameters", 0, "bands", 1, "source"], "nope"),
     "parameters[0].bands[1].source: 'nope' is not one of the edition's sources"),
    (_set(["parameters", 0, "bands"], [band(0)]), "parameters[0].bands: must list at least two bands"),
    (_set(["parameters"], []), "parameters: must list at least one parameter"),
    (_set(["levels", "cutoffs"], [{"level": i, "max_score": i * 3} for i in range(1, 6)]),
     "levels.cutoffs: must list levels 1, 2, 3 and 4 in order"),
    (_set(["levels", "cutoffs", 2, "max_score"], 5), "levels.cutoffs[2].max_score: must be greater than the previous cut-off 6"),
    (_set(["levels", "cutoffs", 3, "max_score"], 9.5),
     "levels.cutoffs[3].max_score: 9.5 is below the highest possible acute score 10"),
    (_set(["system", "rule"], "median"), "system.rule: must be one of weighted_mean"),
    (_set(["system", "weights"], {"RAA": -1}), "system.weights.RAA: must be a number greater than 0"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD, ids=[m for _, m in BAD])
def test_loader_rejects_a_bad_edition_naming_field_and_reason(mutate, message):
    d = mini()
    mutate(d)
    with pytest.raises(EditionError) as err:
        load_edition(d)
    assert message in str(err.value)
    assert "invalid OPEL edition" in str(err.value)


def test_loader_reports_every_error_at_once():
    d = mini()
    d["parameters"][0]["direction"] = "up"
    del d["title"]
    msg = str(pytest.raises(EditionError, load_edition, d).value)
    assert "title: is required" in msg and "parameters[0].direction" in msg


def test_loader_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "not valid JSON" in str(pytest.raises(EditionError, load_edition, bad).value)
    msg = str(pytest.raises(EditionError, load_edition, tmp_path / "nope.json").value)
    assert "no such edition file" in msg and SHIPPED in msg
    (tmp_path / "list.json").write_text("[]")
    assert "top level must be a JSON object" in str(pytest.raises(EditionError, load_edition, tmp_path / "list.json").value)


# ------------------------------------------------------------------------------------------ bands


def _band_of(edition, key, value, at=AT):
    res = score_provider(edition, {key: (value, at)}, at)
    (entry,) = [p for p in res["parameters"] if p["key"] == key]
    return entry["band"], entry["points"]


@pytest.mark.parametrize(("value", "expected"), [
    (0, (1, 0)), (85, (1, 0)), (85.01, (2, 1)), (92, (2, 1)), (92.01, (3, 2)), (97, (3, 2)), (97.01, (4, 4)), (150, (4, 4)),
])
def test_higher_is_worse_strictly_worse_boundaries(value, expected):
    assert _band_of(mini(), "occ", value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (100, (1, 0)), (95, (1, 0)), (94.99, (2, 1)), (78, (2, 1)), (77.99, (3, 2)), (60, (3, 2)), (59.99, (4, 4)), (0, (4, 4)),
])
def test_lower_is_worse_strictly_worse_boundaries(value, expected):
    assert _band_of(mini(), "perf", value) == expected


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("occ", 84.99, 1), ("occ", 85, 2), ("occ", 92, 3), ("occ", 97, 4),
    ("perf", 95.01, 1), ("perf", 95, 2), ("perf", 78, 3), ("perf", 60, 4),
])
def test_at_or_worse_rule_puts_a_value_on_the_threshold_in_the_worse_band(key, value, expected):
    assert _band_of(mini(threshold_rule="at_or_worse"), key, value)[0] == expected


def _shipped_boundaries():
    for p in load_edition(SHIPPED).parameters:
        for b in p.bands[1:]:
            yield pytest.param(p.key, b.threshold, b.band, id=f"{p.key}@{b.threshold:g}")


@pytest.mark.parametrize(("key", "threshold", "band_no"), list(_shipped_boundaries()))
def test_every_shipped_threshold_boundary(key, threshold, band_no):
    p = next(q for q in load_edition(SHIPPED).parameters if q.key == key)
    worse = 0.001 if p.direction == "higher_is_worse" else -0.001
    assert _band_of(SHIPPED, key, threshold)[0] == band_no - 1  # on the threshold: the better band
    assert _band_of(SHIPPED, key, threshold + worse) == (band_no, p.bands[band_no - 1].points)


def test_shipped_edition_explained_values():
    assert _band_of(SHIPPED, "ed_4h_performance_pct", 95) == (1, 0)
    assert _band_of(SHIPPED, "ed_4h_performance_pct", 77.9) == (3, 3)
    assert _band_of(SHIPPED, "ambulance_handover_mean_minutes", 45) == (3, 3)
    assert _band_of(SHIPPED, "ambulance_handover_mean_minutes", 46) == (4, 4)
    res = score_provider(SHIPPED, {"ga_bed_occupancy_pct": (93, AT)}, AT)
    entry = next(p for p in res["parameters"] if p["key"] == "ga_bed_occupancy_pct")
    assert entry["explanation"] == "93 %: above 92 (band 3), not above 97 (band 4) -> 3 points"
    assert entry["source"] == "placeholder" and entry["confirmed"] is False


@pytest.mark.parametrize(("score", "level"), [(0, 1), (11, 1), (11.001, 2), (22, 2), (22.5, 3), (33, 3), (33.001, 4), (44, 4)])
def test_score_to_level_cutoffs(score, level):
    assert load_edition(SHIPPED).level_for(score) == level


def test_score_above_the_scale_is_an_error():
    with pytest.raises(ValueError, match="above the top cut-off 44"):
        load_edition(SHIPPED).level_for(44.5)


@given(st.floats(0, 200), st.floats(0, 200))
def test_worse_value_never_gives_a_better_band(a, b):
    lo, hi = sorted((a, b))
    assert _band_of(mini(), "occ", lo)[0] <= _band_of(mini(), "occ", hi)[0]
    assert _band_of(mini(), "perf", lo)[0] >= _band_of(mini(), "perf", hi)[0]


# ------------------------------------------------------------------------------------------ aggregation


def test_snapshot_takes_the_latest_reading_at_or_before_at():
    rows = [(90, "2026-01-10T08:00"), (95, "2026-01-10T08:45"), (99, "2026-01-10T09:15")]
    assert aggregate("snapshot", rows, "2026-01-10T09:00") == Reading(95.0, datetime.fromisoformat("2026-01-10T08:45+00:00"))
    assert aggregate("snapshot", rows, "2026-01-10T08:45").value == 95
    assert aggregate("snapshot", rows, "2026-01-10T07:59") is None


def test_since_midnight_resets_at_local_midnight_in_summer_time():
    # 2026-07-01 is BST: local midnight is 2026-06-30T23:00Z.
    rows = [(40, datetime(2026, 6, 30, 22, 45, tzinfo=UTC)), (5, datetime(2026, 6, 30, 23, 0, tzinfo=UTC))]
    got = aggregate("since_midnight", rows, datetime(2026, 7, 1, 8, 0, tzinfo=UTC))
    assert got.value == 5 and got.time.isoformat() == "2026-07-01T00:00:00+01:00"  # 00:00 belongs to the new day
    assert aggregate("since_midnight", rows[:1], datetime(2026, 7, 1, 8, 0, tzinfo=UTC)) is None
    assert aggregate("since_midnight", rows[:1], datetime(2026, 6, 30, 22, 50, tzinfo=UTC)).value == 40


def test_last_hour_interval_sums_the_hour_and_rolling_takes_the_latest():
    rows = [(v, f"2026-01-10T{t}") for v, t in [(1, "08:00"), (2, "08:15"), (3, "08:30"), (4, "08:45"), (5, "09:00")]]
    assert aggregate("last_hour", rows, "2026-01-10T09:00").value == 14  # (08:00, 09:00]: 08:00 excluded
    assert aggregate("last_hour", rows, "2026-01-10T08:50").value == 10
    assert aggregate("last_hour", rows, "2026-01-10T10:00") is None  # (09:00, 10:00] is empty
    assert aggregate("last_hour", rows, "2026-01-10T09:00", flow="rolling").value == 5


def test_yesterday_figure_is_the_value_published_today():
    rows = [(12, "2026-01-09T09:00"), (14, "2026-01-10T09:00")]
    assert aggregate("yesterday", rows, "2026-01-10T08:59") is None  # today's figure not yet published
    assert aggregate("yesterday", rows, "2026-01-10T09:00").value == 14
    assert aggregate("yesterday", rows, "2026-01-10T23:59").value == 14
    assert aggregate("yesterday", rows, "2026-01-09T20:00").value == 12


def test_aggregate_rejects_unknown_kind_and_ignores_nan():
    with pytest.raises(ValueError, match="unknown aggregation kind 'mean'"):
        aggregate("mean", [], AT)
    assert aggregate("snapshot", [(1, "2026-01-10T08:00"), (float("nan"), "2026-01-10T08:30")], AT).value == 1


# ------------------------------------------------------------------------------------------ missing / stale


def _status(res, key):
    entry = next(p for p in res["parameters"] if p["key"] == key)
    return entry["status"], entry["reason"], entry["points"]


def test_missing_parameters_are_reported_not_scored_as_zero():
    res = score_provider(mini(), {"occ": (99, AT)}, AT)
    assert (res["score"], res["level"]) == (4, 2)
    assert res["parameters_missing"] == 3 and res["missing"] == ["perf", "arrivals", "nctr"]
    assert _status(res, "perf") == ("MISSING", "no reading", None)
    assert (res["score_if_missing_worst"], res["level_if_missing_worst"]) == (10, 4)
    assert res["provisional"] is True


def test_missing_parameters_that_cannot_change_the_level_leave_it_final():
    res = score_provider(mini(), {"occ": (99, AT), "perf": (96, AT)}, AT)
    assert (res["score"], res["level"], res["score_if_missing_worst"], res["level_if_missing_worst"]) == (4, 2, 6, 2)
    assert res["parameters_missing"] == 2 and res["provisional"] is False


def test_no_readings_at_all_gives_no_score_and_no_level():
    res = score_provider(mini(), {}, AT)
    assert (res["score"], res["level"], res["provisional"], res["parameters_missing"]) == (None, None, True, 4)


@pytest.mark.parametrize(("reading_time", "status"), [("2026-01-10T08:00", "OK"), ("2026-01-10T07:59", "MISSING")])
def test_staleness_window_is_inclusive_at_exactly_60_minutes(reading_time, status):
    res = score_provider(mini(), {"occ": (90, reading_time)}, AT)
    assert _status(res, "occ")[0] == status
    if status == "MISSING":
        assert _status(res, "occ")[1] == "stale: latest reading is 61 min old (limit 60 min)"


def test_parameter_staleness_overrides_the_edition_window():
    d = mini()
    d["parameters"][0]["stale_after_minutes"] = 15
    assert _status(score_provider(d, {"occ": (90, "2026-01-10T08:44")}, AT), "occ")[0] == "MISSING"
    assert _status(score_provider(d, {"occ": (90, "2026-01-10T08:45")}, AT), "occ")[:2] == ("OK", None)


def test_day_rules_future_and_invalid_readings_are_missing():
    res = score_provider(mini(), {
        "perf": (96, "2026-01-09T23:50"),  # before midnight: running total reset
        "nctr": (12, "2026-01-09T09:00"),  # yesterday's figure published the day before
        "occ": (90, "2026-01-10T00:20"),  # after `at`
        "arrivals": {"value": float("nan"), "time": "2026-01-10T00:05"},
    }, "2026-01-10T00:10")
    assert _status(res, "perf")[1] == "no reading since local midnight (the running total resets at midnight)"
    assert _status(res, "nctr")[1] == "yesterday's figure has not been published today"
    assert _status(res, "occ")[1] == "reading is later than the scoring time"
    assert _status(res, "arrivals")[1] == "no value"
    assert res["score"] is None


def test_yesterday_figure_is_not_subject_to_the_minute_window():
    res = score_provider(mini(), {"nctr": (12, "2026-01-10T06:00")}, "2026-01-10T23:00")
    assert _status(res, "nctr") == ("OK", None, 1)


def test_unknown_metrics_and_pillar_checks():
    res = score_provider(mini(), {"occ": (90, AT), "beds_free": (3, AT)}, AT)
    assert res["unknown_metrics"] == ["beds_free"]
    with pytest.raises(ValueError, match="no parameters for pillar 'nhs_111'"):
        score_provider(mini(), {}, AT, pillar="nhs_111")
    d = mini()
    d["parameters"][3]["pillar"] = "community"
    with pytest.raises(ValueError, match="pass pillar="):
        score_provider(d, {}, AT)
    assert score_provider(d, {"nctr": (30, AT)}, AT, pillar="community")["score"] == 1


# ------------------------------------------------------------------------------------------ editions


FULL = {
    "ambulance_handover_mean_minutes": 32, "ed_4h_performance_pct": 80, "ed_attendance_variation_pct": 5,
    "majors_resus_occupancy_pct": 101, "median_time_to_treatment_minutes": 45, "ed_over_12h_pct": 6,
    "ga_bed_occupancy_pct": 93, "escalation_beds_pct": 0, "nctr_beds_pct": 21,
}


def test_change_of_edition_changes_the_result_for_the_same_readings():
    readings = {k: (v, "2026-01-10T08:45") for k, v in FULL.items()}
    national = score_provider(SHIPPED, readings, AT)
    assert (national["score"], national["level"], national["provisional"]) == (20, 2, False)
    assert national["edition"] == "nhse-2024-26-bnssg-derived@0.1.0"

    icb = shipped_dict()  # an ICB's own edition: its own cut-offs, values on a threshold count as worse
    icb.update(edition="icb-local", version="2026.1", threshold_rule="at_or_worse")
    for row, cut in zip(icb["levels"]["cutoffs"], [8, 16, 24, 36], strict=True):
        row["max_score"] = cut
    local = score_provider(icb, readings, AT)
    assert (local["score"], local["level"]) == (22, 3)  # escalation beds 0% now scores band 2
    assert _status(local, "escalation_beds_pct") == ("OK", None, 2)
    assert local["edition"] == "icb-local@2026.1"


# ------------------------------------------------------------------------------------------ system

BNSSG = {"bristol_royal_infirmary": 0.516, "weston": 0.178, "north_bristol": 0.306}


def result(score, worst=None):
    ed = load_edition(SHIPPED)
    worst = score if worst is None else worst
    return {"pillar": "acute", "score": score, "level": ed.level_for(score), "provisional": worst != score,
            "score_if_missing_worst": worst}


def test_system_score_is_the_weighted_mean_of_provider_scores():
    res = score_system(SHIPPED, {"bristol_royal_infirmary": result(10), "weston": result(20),
                                 "north_bristol": result(30)}, BNSSG)
    assert (res["score"], res["level"], res["provisional"], res["weights_from"]) == (17.9, 2, False, "argument")
    rows = {r["provider"]: r for r in res["pillars"]["acute"]["providers"]}
    assert rows["weston"]["contribution"] == 3.56 and rows["north_bristol"]["share"] == 0.306


def test_system_score_on_a_cut_off_is_rounded_before_the_level():
    res = score_system(SHIPPED, {k: result(11) for k in BNSSG}, BNSSG)
    assert (res["score"], res["level"]) == (11.0, 1)


def test_system_with_an_unscored_provider_renormalises_and_is_provisional():
    res = score_system(SHIPPED, {"bristol_royal_infirmary": result(10), "weston": result(None, worst=36),
                                 "north_bristol": result(30)}, BNSSG)
    assert (res["score"], res["level"]) == (17.445, 2)
    assert (res["score_if_missing_worst"], res["level_if_missing_worst"]) == (20.748, 2)
    assert res["provisional"] is True and res["providers_unscored"] == ["weston"]


def test_system_weights_default_to_edition_then_equal_and_must_cover_providers():
    providers = {"a": result(10), "b": result(20), "c": result(30)}
    assert score_system(SHIPPED, providers)["score"] == 20 and score_system(SHIPPED, providers)["weights_from"] == "equal"
    icb = shipped_dict()
    icb["system"]["weights"] = {"a": 2, "b": 1, "c": 1}
    res = score_system(icb, providers)
    assert (res["score"], res["weights_from"]) == (17.5, "edition")
    with pytest.raises(ValueError, match="no weight for provider 'c'"):
        score_system(SHIPPED, providers, {"a": 1, "b": 1})
    with pytest.raises(ValueError, match="greater than 0"):
        score_system(SHIPPED, providers, {"a": 1, "b": 0, "c": 1})


def test_system_worst_pillar_sets_the_overall_level():
    d = mini()
    d["parameters"][3]["pillar"] = "community"
    acute = score_provider(d, {"occ": (99, AT), "perf": (50, AT), "arrivals": (30, AT)}, AT, pillar="acute")
    community = score_provider(d, {"nctr": (5, AT)}, AT, pillar="community")
    res = score_system(d, {"trust": acute, "chs": community})
    assert (acute["score"], acute["level"], community["score"], community["level"]) == (9, 3, 0, 1)
    assert (res["worst_pillar"], res["score"], res["level"]) == ("acute", 9, 3)


# ------------------------------------------------------------------------------------------ batch


def test_score_table_scores_every_reading_time_across_midnight(tmp_path):
    csv = tmp_path / "readings.csv"
    csv.write_text("provider,metric,time,value\n"
                   "A,occ,2026-01-09T23:45:00,90\nA,perf,2026-01-09T23:45:00,70\n"
                   "A,occ,2026-01-10T00:15:00,80\nA,perf,2026-01-10T00:15:00,96\n"
                   "B,occ,2026-01-09T23:45:00,99\nC,perf,2026-01-09T23:45:00,96\n"
                   "C,beds_free,2026-01-10T00:15:00,3\n")
    out = score_table_json(csv, systems={"A": "S1", "B": "S1", "C": "S2"}, weights={"A": 3, "B": 1, "C": 1})
    assert out["edition"] == {"edition": "test-mini", "version": "1", "title": "Test edition", "confirmed": True}
    assert out["unknown_metrics"] == ["beds_free"]
    first, second = out["results"]
    assert first["at"] == "2026-01-09T23:45:00+00:00" and second["at"] == "2026-01-10T00:15:00+00:00"
    a = first["providers"]["A"]
    assert (a["score"], a["level"], a["provisional"], a["points"]) == (
        3, 1, True, {"occ": 1, "perf": 2, "arrivals": None, "nctr": None})
    assert first["systems"]["S1"]["score"] == 3.25  # (3*3 + 4*1) / 4
    # after midnight: A's new readings; B's 23:45 snapshot is still fresh; C's running total has reset
    assert second["providers"]["A"]["points"] == {"occ": 0, "perf": 0, "arrivals": None, "nctr": None}
    assert second["providers"]["B"]["score"] == 4
    assert second["providers"]["C"]["score"] is None
    s1, s2 = second["systems"]["S1"], second["systems"]["S2"]
    assert (s1["score"], s1["level"], s1["providers_scored"]) == (1.0, 1, 2)
    assert (s2["score"], s2["level"], s2["providers_unscored"], s2["provisional"]) == (None, None, ["C"], True)


def score_table_json(table, **kw):
    out = opel.score_table(mini(), table, **kw)
    return json.loads(json.dumps(out))  # proves the output is plain JSON


def test_score_table_accepts_rows_explains_and_uses_last_hour_sums():
    rows = [{"provider": "A", "metric": "arrivals", "time": f"2026-01-10T{t}:00Z", "value": v}
            for t, v in [("08:00", 4), ("08:20", 8), ("08:40", 9), ("09:00", 5)]]
    out = score_table_json(rows, times=["2026-01-10T09:00:00Z", "2026-01-10T10:30:00Z"], explain=True)
    at9, at1030 = out["results"]
    entry = next(p for p in at9["providers"]["A"]["parameters"] if p["key"] == "arrivals")
    assert (entry["value"], entry["band"], entry["points"]) == (22, 2, 1)  # 8 + 9 + 5, 08:00 outside
    assert at9["systems"]["system"]["pillars"]["acute"]["providers"][0]["provider"] == "A"
    later = next(p for p in at1030["providers"]["A"]["parameters"] if p["key"] == "arrivals")
    assert (later["status"], later["reason"]) == ("MISSING", "no reading in the last hour")


def test_score_table_rejects_missing_columns_and_orphan_providers():
    with pytest.raises(ValueError, match="lacks column"):
        opel.score_table(mini(), [{"provider": "A", "metric": "occ", "value": 1}])
    with pytest.raises(ValueError, match="providers with no system: B"):
        opel.score_table(mini(), [{"provider": p, "metric": "occ", "time": AT, "value": 1} for p in "AB"],
                         systems={"A": "S1"})


def test_score_table_accepts_polars_datetime_columns_aware_and_naive_local():
    import polars as pl

    # BST: a naive 08:30 is local time, i.e. 07:30Z; both rows are the same instant.
    aware = pl.DataFrame({"provider": ["A"], "metric": ["occ"], "value": [93.0],
                          "time": [datetime(2026, 7, 1, 7, 30, tzinfo=UTC)]})
    naive = aware.with_columns(pl.lit(datetime(2026, 7, 1, 8, 30)).alias("time"))
    for table in (aware, naive):
        (res,) = opel.score_table(mini(), table)["results"]
        assert res["at"] == "2026-07-01T08:30:00+01:00"
        assert res["providers"]["A"]["points"]["occ"] == 2
