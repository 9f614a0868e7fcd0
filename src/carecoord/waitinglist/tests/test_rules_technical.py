"""Technical validation rules T1–T21: each fires on the case it exists for and stays quiet on its
near miss; a clean list produces no findings."""

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carecoord.core.nhs_number import generate_test_numbers
from carecoord.waitinglist.rules import technical as t

CENSUS = date(2026, 11, 15)
NHS = list(generate_test_numbers(50, start=500))


def row(i: int = 0, **kw) -> dict:
    start = CENSUS - timedelta(days=30)
    base = {
        "pathway_id": i + 1, "provider_id": 1, "nhs_number": NHS[i], "birth_date": date(1960, 1, 1),
        "ppid": f"PP{i:08d}", "ppid_issuer": "RAA", "ubrn": "", "referral_received": start, "rtt_start": start,
        "clock_state": "open", "rtt_status": "20", "waiting_list_type": "IRTT", "list_type": "admitted",
        "tfc": "110", "priority_type": "1", "clinical_priority": "P3", "source_of_referral": "03",
        "dta_date": start + timedelta(days=10), "tci_date": None, "due_date": None, "intended_procedure": "W401",
        "last_validated_on": None, "status": "on_list",
    }
    base.update(kw)
    return base


def frame(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=t.PATHWAY_SCHEMA)


def events(*evs: tuple[int, date, str]) -> pl.DataFrame:
    return pl.DataFrame([{"pathway_id": p, "event_date": d, "status": s} for p, d, s in evs], schema=t.EVENT_SCHEMA)


def fired(rule: str, *rows: dict, evs=None, **cfg) -> set[int]:
    out = t.run(frame(*rows), CENSUS, events=evs, rules=[rule], config=t.RuleConfig(**cfg) if cfg else None)
    return set(out["pathway_id"].to_list())


def test_every_rule_t1_to_t21_is_registered_with_its_metadata():
    assert sorted(t.RULES, key=lambda c: int(c[1:])) == [f"T{i}" for i in range(1, 22)]
    for r in t.RULES.values():
        assert r.title and r.fix and r.source and r.severity in t.SEVERITIES


def test_a_clean_list_has_no_findings():
    assert t.run(frame(row(0), row(1, tfc="130")), CENSUS).height == 0


@pytest.mark.parametrize("nhs,hit", [("", True), ("123", True), (NHS[0][:9] + str((int(NHS[0][9]) + 1) % 10), True),
                                     (NHS[0], False)])
def test_t1_nhs_number(nhs, hit):
    assert (fired("T1", row(0, nhs_number=nhs)) == {1}) is hit


def test_t1_can_refuse_the_test_range():
    assert fired("T1", row(0), allow_test_range=False) == {1}


@pytest.mark.parametrize("nhs", ["0000000000", "0000000019", "5555555555", "3113000009", "8600000009"])
def test_t1_a_valid_check_digit_outside_an_allocated_range_fires(nhs):
    # each passes Modulus 11 but lies in an unreserved or never-issued range (reference §5.2)
    out = t.run(frame(row(0, nhs_number=nhs)), CENSUS, rules=["T1"])
    assert out["pathway_id"].to_list() == [1] and out["detail"][0] == "NHS number is not in an allocated range"


@pytest.mark.parametrize("nhs", ["4010232137", "9434765919", "6000000006", "3200000007"])
def test_t1_allocated_ranges_and_the_synthetic_9xx_range_pass(nhs):
    assert fired("T1", row(0, nhs_number=nhs)) == set()


def test_t2_ppid():
    assert fired("T2", row(0, ppid=""), row(1, ppid="X" * 21), row(2, ppid_issuer=""), row(3, ppid="X" * 20)) == {1, 2, 3}


def test_t3_unknown_clock_start_only_on_rtt_lists():
    assert fired("T3", row(0, rtt_start=None), row(1, rtt_start=None, list_type="planned"), row(2)) == {1}


def test_t4_future_start_but_census_day_is_fine():
    assert fired("T4", row(0, rtt_start=CENSUS + timedelta(days=1)), row(1, rtt_start=CENSUS, referral_received=CENSUS)) == {1}


def test_t5_exact_key_and_close_referrals():
    a = row(0)
    b = row(1, nhs_number=NHS[0], ppid=a["ppid"])  # same NHS number, PPID, issuer, start
    c = row(2, nhs_number=NHS[5], tfc="130", referral_received=CENSUS - timedelta(days=50))
    d = row(3, nhs_number=NHS[5], tfc="130", referral_received=CENSUS - timedelta(days=36))  # 14 days apart
    e = row(4, nhs_number=NHS[5], tfc="130", referral_received=CENSUS - timedelta(days=100))  # 50 days from c
    f = row(5, nhs_number=NHS[5], tfc="120", referral_received=CENSUS - timedelta(days=50))  # other TFC
    assert fired("T5", a, b, c, d, e, f) == {1, 2, 3, 4}


def test_t6_stop_after_the_clock_start_on_an_open_pathway():
    start = CENSUS - timedelta(days=30)
    evs = events((1, start + timedelta(days=5), "30"), (2, start - timedelta(days=5), "30"), (3, start, "20"))
    assert fired("T6", row(0), row(1), row(2), evs=evs) == {1}


def test_t7_non_rtt_status_on_the_ptl():
    assert fired("T7", row(0, rtt_status="98"), row(1, rtt_status="20"), row(2, rtt_status="90", list_type="planned")) == {1}


def test_t8_transferred_out():
    assert fired("T8", row(0, rtt_status="21"), row(1)) == {1}


def test_t9_past_tci_but_not_today():
    assert fired("T9", row(0, tci_date=CENSUS - timedelta(days=1)), row(1, tci_date=CENSUS)) == {1}


def test_t10_dta_on_a_non_admitted_pathway():
    assert fired("T10", row(0, list_type="non_admitted"), row(1, list_type="non_admitted", dta_date=None), row(2)) == {1}


def test_t11_admitted_without_open_clock():
    assert fired("T11", row(0, clock_state="stopped"), row(1)) == {1}


def test_t12_missing_procedure_or_due_date():
    assert fired("T12", row(0, intended_procedure=""), row(1, list_type="planned", due_date=None),
                 row(2, list_type="planned", due_date=CENSUS), row(3)) == {1, 2}


def test_t13_dates():
    assert fired("T13", row(0, tci_date=CENSUS - timedelta(days=60)), row(1, due_date=date(9999, 12, 31)),
                 row(2, birth_date=CENSUS), row(3, tci_date=CENSUS + timedelta(days=3))) == {1, 2, 3}


def test_t14_list_types():
    assert fired("T14", row(0, waiting_list_type="PLTO"), row(1, waiting_list_type=""), row(2)) == {1, 2}
    out = t.run(frame(row(0, waiting_list_type="PLTO"), row(1, waiting_list_type="")), CENSUS, rules=["T14"])
    assert dict(zip(out["pathway_id"], out["detail"], strict=True)) == {
        1: "Waiting_List_Type 'PLTO' is not a known value", 2: "Waiting_List_Type is missing"}


def test_t15_codes():
    assert fired("T15", row(0, tfc="11"), row(1, priority_type="4"), row(2, rtt_status="17"), row(3)) == {1, 2, 3}


def test_t16_emergency_origin_is_configurable():
    assert fired("T16", row(0, source_of_referral="10"), row(1)) == {1}
    assert fired("T16", row(0, source_of_referral="10"), emergency_referral_sources=frozenset({"04"})) == set()


def test_t17_open_after_first_dna():
    assert fired("T17", row(0, rtt_status="33"), row(1, rtt_status="33", clock_state="nullified")) == {1}


def test_t18_active_monitoring_review_due_after_12_weeks():
    evs = events((1, CENSUS - timedelta(days=85), "32"), (2, CENSUS - timedelta(days=84), "32"))
    assert fired("T18", row(0, rtt_status="32", clock_state="stopped"), row(1, rtt_status="32", clock_state="stopped"),
                 evs=evs) == {1}


def test_t19_revalidation_cadence():
    old = CENSUS - timedelta(days=100)
    assert fired("T19", row(0, rtt_start=old), row(1, rtt_start=old, last_validated_on=CENSUS - timedelta(days=84)),
                 row(2, rtt_start=old, last_validated_on=CENSUS - timedelta(days=85)),
                 row(3, rtt_start=CENSUS - timedelta(days=84))) == {1, 3}


def test_t20_planned_past_due():
    assert fired("T20", row(0, list_type="planned", due_date=CENSUS - timedelta(days=1)),
                 row(1, list_type="planned", due_date=CENSUS)) == {1}


def test_t21_same_patient_two_providers_same_tfc():
    assert fired("T21", row(0), row(1, nhs_number=NHS[0], provider_id=2), row(2, nhs_number=NHS[0], provider_id=3,
                                                                               tfc="130")) == {1, 2}


def test_t21_in_a_run_for_one_provider_looks_at_the_patients_other_providers_but_reports_only_its_own():
    others = pl.DataFrame([{"pathway_id": 50, "provider_id": 2, "nhs_number": NHS[0], "tfc": "110",
                            "status": "on_list"},
                           {"pathway_id": 51, "provider_id": 2, "nhs_number": NHS[1], "tfc": "130",
                            "status": "on_list"}], schema=t.OTHERS_SCHEMA)
    mine = frame(row(0), row(1))  # NHS[1] is elsewhere for another treatment function: no finding
    out = t.run(mine, CENSUS, rules=["T21"], others=others)
    assert out["pathway_id"].to_list() == [1]
    assert t.run(mine, CENSUS, rules=["T21"]).height == 0  # without the context it cannot see it


def test_findings_name_rule_severity_team_and_never_the_nhs_number():
    out = t.run(frame(row(0, rtt_status="21", tci_date=CENSUS - timedelta(days=2))), CENSUS)
    assert set(out["rule"]) == {"T8", "T9"}
    assert all(NHS[0] not in d for d in out["detail"])
    assert set(out.columns) == {"pathway_id", "rule", "severity", "team", "detail"}


def test_a_frame_missing_columns_is_refused_by_name():
    with pytest.raises(ValueError, match="tfc"):
        t.run(frame(row(0)).drop("tfc"), CENSUS)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 120), st.sampled_from(["110", "130", "502"]),
                          st.sampled_from(["admitted", "non_admitted"])), min_size=1, max_size=20))
def test_generated_clean_pathways_raise_nothing(specs):
    rows = [row(i, rtt_start=CENSUS - timedelta(days=d), referral_received=CENSUS - timedelta(days=d), tfc=tfc,
                list_type=lt, waiting_list_type="IRTT" if lt == "admitted" else "ORTT",
                dta_date=(CENSUS - timedelta(days=d)) if lt == "admitted" else None,
                last_validated_on=CENSUS - timedelta(days=7))
            for i, (d, tfc, lt) in enumerate(specs)]
    assert t.run(frame(*rows), CENSUS).height == 0


def test_duplicate_rules_ignore_invalid_nhs_numbers():
    bad = "1234567890"
    assert fired("T5", row(0, nhs_number=bad), row(1, nhs_number=bad)) == set()
    assert fired("T21", row(0, nhs_number=bad), row(1, nhs_number=bad, provider_id=2)) == set()
