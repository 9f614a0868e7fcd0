"""RTT summary and PTL export: figures derived from the §10.1.7 definitions, and the CLI contracts."""

import csv
import io
import json
from datetime import date, timedelta

import polars as pl
import pytest
from django.core.management import call_command

from carecoord.testing.factories import pathway_at, patient_at
from carecoord.waitinglist import summary

CENSUS = date(2026, 11, 15)


def frame(days: list[int], tfc="110") -> pl.DataFrame:
    return pl.DataFrame({"rtt_start": [CENSUS - timedelta(days=d) for d in days], "tfc": [tfc] * len(days)})


def test_boundaries_126_within_127_not_365_over_52():
    out = summary.summarise(frame([0, 126, 127, 364, 365, 456, 547, 729]), CENSUS)
    assert out["total"] == 8
    assert out["within_18_weeks"] == 2 and out["pct_within_18_weeks"] == 25.0
    assert (out["over_52"], out["over_65"], out["over_78"], out["over_104"]) == (4, 3, 2, 1)


def test_median_is_interpolated_within_weekly_bands():
    # 10 pathways in band 1 (0-7 days) and 10 in band 3 (15-21 days): the median (10th of 20)
    # is reached at the top of band 1 -> 1.0 weeks; the 92nd percentile (18.4th) lies in band 3:
    # 2 + (18.4 - 10) / 10 = 2.84 weeks.
    out = summary.summarise(frame([3] * 10 + [20] * 10), CENSUS)
    assert out["median_weeks"] == 1.0 and out["p92_weeks"] == 2.84


def test_clocks_starting_after_the_census_are_not_counted_and_unknowns_are_separate():
    f = pl.concat([frame([10]), pl.DataFrame({"rtt_start": [CENSUS + timedelta(days=2)], "tfc": ["110"]})])
    out = summary.summarise(f, CENSUS, unknown=3)
    assert out["total"] == 1 and out["unknown_clock_start"] == 3


def test_unlisted_treatment_functions_are_grouped_as_other():
    out = summary.summarise(pl.concat([frame([5], "110"), frame([5], "999")]), CENSUS)
    assert set(out["by_treatment_function"]) == {"110", "other"}


@pytest.mark.django_db
def test_rtt_summary_command_json_contract(trust, other_trust, icb, capsys):
    for d in (10, 130, 400):
        pathway_at(trust, patient_at(trust), rtt_start=CENSUS - timedelta(days=d), tfc="110")
    pathway_at(other_trust, patient_at(other_trust), rtt_start=CENSUS - timedelta(days=50), tfc="130")
    call_command("rtt", "summary", "--provider", "RAA", "--census", CENSUS.isoformat(), "--format", "json")
    out = json.loads(capsys.readouterr().out)
    assert {"total", "within_18_weeks", "pct_within_18_weeks", "median_weeks", "p92_weeks", "over_52", "over_65",
            "over_78", "over_104", "by_treatment_function"} <= set(out)
    assert out["total"] == 3 and out["within_18_weeks"] == 1 and out["over_52"] == 1
    call_command("rtt", "summary", "--system", "QAA", "--census", CENSUS.isoformat(), "--format", "json")
    system = json.loads(capsys.readouterr().out)
    assert system["total"] == 4 and set(system["by_treatment_function"]) == {"110", "130"}


@pytest.mark.django_db
def test_ptl_export_command_lists_open_pathways_in_treat_in_turn_order(trust, capsys):
    late = pathway_at(trust, patient_at(trust), rtt_start=CENSUS - timedelta(days=200), tfc="110")
    early = pathway_at(trust, patient_at(trust), rtt_start=CENSUS - timedelta(days=8), tfc="110")
    call_command("ptl", "export", "--provider", "RAA", "--census", CENSUS.isoformat(), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["patient_pathway_identifier"] for r in rows] == [late.ppid, early.ppid]
    assert rows[1]["days_waited"] == "8" and rows[1]["weeks_waited"] == "2"
    assert {"issuer", "provider", "treatment_function", "list_type", "rtt_period_start", "priority",
            "queue_order_date", "tci_date"} <= set(rows[0])


@pytest.mark.django_db
def test_cli_errors_name_the_bad_argument():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--census"):
        call_command("rtt", "summary", "--provider", "RAA", "--census", "15/11/2026")
    with pytest.raises(CommandError, match="ODS code"):
        call_command("ptl", "export", "--provider", "NOPE", "--census", "2026-11-15")


@pytest.mark.django_db
def test_rtt_report_page_and_csv(wlm_client, trust):
    for d in (10, 130, 400):
        pathway_at(trust, patient_at(trust), rtt_start=CENSUS - timedelta(days=d), tfc="110")
    r = wlm_client.get("/waiting-list/reports/rtt/", {"census": CENSUS.isoformat()})
    body = r.content.decode()
    assert r.status_code == 200 and "33.33%" in body and "rtt-dist-spec" in body
    bad = wlm_client.get("/waiting-list/reports/rtt/", {"census": "15/11/2026"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.content.decode()
    rows = list(csv.reader(io.StringIO(wlm_client.get("/waiting-list/reports/rtt.csv",
                                                      {"census": CENSUS.isoformat()}).content.decode())))
    assert rows[1][:3] == ["all", "all", "3"] and ["RAA", "110"] == rows[3][:2]


@pytest.mark.django_db
def test_trend_reconstructs_incomplete_pathways_at_past_censuses(trust):
    census = date(2026, 11, 15)  # a Sunday
    open_long = pathway_at(trust, patient_at(trust), rtt_start=census - timedelta(days=120))
    stopped = pathway_at(trust, patient_at(trust), rtt_start=census - timedelta(days=60), clock_state="stopped",
                         status="closed", clock_stop=census - timedelta(days=10), clock_stop_status="30")
    recent = pathway_at(trust, patient_at(trust), rtt_start=census - timedelta(days=3))
    weeks = {w["census"]: w for w in summary.trend([trust.pk], census, weeks=3)}
    assert list(weeks) == ["2026-11-01", "2026-11-08", "2026-11-15"]
    assert weeks["2026-11-01"]["total"] == 2  # open_long and stopped (stopped on 5 Nov)
    assert weeks["2026-11-08"]["total"] == 1  # stopped has stopped
    assert weeks["2026-11-15"]["total"] == 2  # open_long and recent
    # 120 days at the census: within 18 weeks (<= 126); 106 days two weeks earlier
    assert weeks["2026-11-15"]["within_18_weeks"] == 2
    assert open_long and stopped and recent
