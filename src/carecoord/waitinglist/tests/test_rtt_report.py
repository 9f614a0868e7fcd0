"""RTT report at a census date: what counts as an incomplete pathway at C (a clock running at C,
reference §1.7), RTT scope (planned and non-RTT lists are out, §1.3), and the report's outputs (page,
CSV, CLI) agreeing with each other."""

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command

from carecoord.testing.factories import pathway_at, patient_at
from carecoord.waitinglist import summary
from carecoord.waitinglist.models import RttPeriod

C = date(2026, 11, 15)  # a Sunday: a trend census as well as the headline's
PAST = C - timedelta(weeks=4)  # 2026-10-18, also a Sunday


def _days(n):
    return C - timedelta(days=n)


def _cli_json(*args):
    out = io.StringIO()
    call_command("rtt", "summary", *args, "--format", "json", stdout=out)
    return json.loads(out.getvalue())


def _history(trust):
    """Pathways whose clocks ran over different spans around PAST and C."""
    mk = lambda **kw: pathway_at(trust, patient_at(trust), **kw)  # noqa: E731
    mk(rtt_start=_days(200))  # open throughout
    mk(rtt_start=_days(10))  # started after PAST
    # treated between PAST and C: running at PAST, not at C
    mk(rtt_start=_days(100), clock_state="stopped", status="closed", clock_stop=_days(14), clock_stop_status="30")
    # treated before PAST: running at neither
    mk(rtt_start=_days(150), clock_state="stopped", status="closed", clock_stop=_days(60), clock_stop_status="30")
    # stopped with a non-RTT status after treatment (90 as the latest status): running at PAST
    mk(rtt_start=_days(90), clock_state="non_rtt", status="closed", clock_stop=_days(7), clock_stop_status="30",
       rtt_status="90")
    # active monitoring (32) before PAST's week ended and a new clock (11) after it: at PAST the earlier
    # period was running only if it stopped after PAST; here it stopped 5 days after PAST.
    am = mk(rtt_start=_days(3), queue_date=_days(120))
    RttPeriod.objects.create(pathway=am, start=_days(120), stop=PAST + timedelta(days=5), stop_status="32")
    RttPeriod.objects.create(pathway=am, start=_days(3))


@pytest.mark.django_db
def test_a_past_census_counts_the_clocks_running_then_not_the_pathways_open_today(trust):
    _history(trust)
    # At PAST: open throughout, treated between, non-RTT-after-treatment, and the monitored pathway's
    # first period. At C: open throughout, started after PAST, and the monitored pathway's new clock.
    past = _cli_json("--provider", "RAA", "--census", PAST.isoformat())
    assert past["total"] == 4
    now = _cli_json("--provider", "RAA", "--census", C.isoformat())
    assert now["total"] == 3
    # 200 days at C is over 18 weeks; 172 days at PAST too; the rest are within 18 weeks.
    assert (past["within_18_weeks"], now["within_18_weeks"]) == (3, 2)


@pytest.mark.django_db
def test_the_headline_and_the_trend_agree_at_every_census(trust):
    _history(trust)
    clocks = summary.load([trust.pk], C)
    for week in clocks.trend(C):
        census = date.fromisoformat(week["census"])
        head = _cli_json("--provider", "RAA", "--census", week["census"])
        keys = ("total", "within_18_weeks", "pct_within_18_weeks", "median_weeks", "p92_weeks", "over_52",
                "unknown_clock_start")
        assert {k: head[k] for k in keys} == {k: week[k] for k in keys}, census
    # 18 Oct: open, treated 1 Nov, non-RTT after its stop on 8 Nov, first monitored period (to 23 Oct);
    # 25 Oct: the first three; 1 Nov: treated has stopped; 8 Nov: non-RTT has stopped, the 5 Nov start
    # has begun; 15 Nov: the monitored pathway's new clock (12 Nov) too.
    assert [w["total"] for w in summary.trend([trust.pk], C, weeks=5)] == [4, 3, 2, 2, 3]


@pytest.mark.django_db
def test_the_page_shows_the_same_figures_in_its_headline_and_its_trend(wlm_client, trust):
    _history(trust)
    body = wlm_client.get("/waiting-list/reports/rtt/", {"census": PAST.isoformat()}).content.decode()
    headline = re.search(r"Incomplete pathways</p><p[^>]*>([\d,]+)<", body).group(1)
    row = re.search(rf"<td class=\"nhsuk-table__cell\">{PAST.isoformat()}</td>"
                    r"<td class=\"nhsuk-table__cell nhsuk-table__cell--numeric\">([\d,]+)<", body).group(1)
    assert headline == row == "4"


@pytest.mark.django_db
def test_unknown_clock_starts_are_counted_as_at_the_census(trust):
    pathway_at(trust, patient_at(trust), rtt_start=_days(40))
    # unknown clock start: on the list since its referral 30 days before C
    pathway_at(trust, patient_at(trust), rtt_start=None, clock_state="unknown", referral_received=_days(30))
    # unknown clock start that left the list (closed) on 1 November, before C
    pathway_at(trust, patient_at(trust), rtt_start=None, clock_state="unknown", referral_received=_days(300),
               status="closed", updated_at=datetime(2026, 11, 1, 12, tzinfo=UTC))
    early = _cli_json("--provider", "RAA", "--census", "2020-01-01")
    assert (early["total"], early["unknown_clock_start"]) == (0, 0)
    now = _cli_json("--provider", "RAA", "--census", C.isoformat())
    assert (now["total"], now["unknown_clock_start"]) == (1, 1)
    assert now["by_treatment_function"]["110"]["unknown_clock_start"] == 1
    before = _cli_json("--provider", "RAA", "--census", _days(20).isoformat())
    assert (before["total"], before["unknown_clock_start"]) == (1, 2)


@pytest.mark.django_db
def test_planned_and_non_rtt_lists_are_out_of_every_rtt_figure(wlm_client, trust):
    mk = lambda **kw: pathway_at(trust, patient_at(trust), **kw)  # noqa: E731
    mk(rtt_start=_days(20))
    mk(rtt_start=_days(200), list_type="planned", waiting_list_type="PTLO")
    mk(rtt_start=_days(200), list_type="admitted", waiting_list_type="PTLI")  # as an import maps PTLI
    mk(rtt_start=_days(200), list_type="non_admitted", waiting_list_type="ONON", clock_state="non_rtt")
    mk(rtt_start=None, clock_state="unknown", list_type="planned", waiting_list_type="PTLO",
       referral_received=_days(50))
    mk(rtt_start=None, clock_state="non_rtt", waiting_list_type="INON", referral_received=_days(50))
    for census in (C, C - timedelta(weeks=2)):
        out = _cli_json("--provider", "RAA", "--census", census.isoformat())
        assert (out["total"], out["within_18_weeks"], out["over_52"], out["unknown_clock_start"]) == (1, 1, 0, 0)
    assert {w["total"] for w in summary.trend([trust.pk], C, weeks=3)} == {1}
    rows = list(csv.DictReader(io.StringIO(
        wlm_client.get("/waiting-list/reports/rtt.csv", {"census": C.isoformat()}).content.decode())))
    assert rows[0]["total"] == "1" and rows[0]["unknown_clock_start"] == "0"


@pytest.mark.django_db
def test_the_weeks_waited_chart_has_a_table_of_its_figures(wlm_client, trust):
    for d in (0, 7, 8, 126, 127, 729, 800):
        pathway_at(trust, patient_at(trust), rtt_start=_days(d))
    body = wlm_client.get("/waiting-list/reports/rtt/", {"census": C.isoformat()}).content.decode()
    table = body[body.index('id="rtt-dist-table"'):]
    table = table[:table.index("</details>")]
    rows = re.findall(r'<th scope="row" class="nhsuk-table__header">([^<]+)</th>\s*'
                      r'<td[^>]*>([^<]+)</td>\s*<td[^>]*>([^<]+)</td>', table)
    # §1.7: 0-7 days is band 1; 8 is band 2; 126 is band 18; 127 band 19; 729 and more are >104 weeks
    assert rows == [("0 to 1", "0 to 7", "2"), ("More than 1 to 2", "8 to 14", "1"),
                    ("More than 17 to 18", "120 to 126", "1"), ("More than 18 to 19", "127 to 133", "1"),
                    ("More than 104", "729 or more", "2")]
    spec = json.loads(re.search(r'<script type="application/json" id="rtt-dist-spec">(.*?)</script>', body,
                                re.S).group(1))
    assert "Show the weeks waited as a table" in spec["description"]
    assert "Show the weeks waited as a table" in table


@pytest.mark.django_db
def test_csv_downloads_carry_the_unknown_clock_start_column(wlm_client, trust, capsys):
    pathway_at(trust, patient_at(trust), rtt_start=_days(20), tfc="110")
    pathway_at(trust, patient_at(trust), rtt_start=None, clock_state="unknown", referral_received=_days(30),
               tfc="110")
    web = list(csv.DictReader(io.StringIO(
        wlm_client.get("/waiting-list/reports/rtt.csv", {"census": C.isoformat()}).content.decode())))
    assert [(r["provider"], r["treatment_function"], r["total"], r["unknown_clock_start"]) for r in web] == [
        ("all", "all", "1", "1"), ("RAA", "all", "1", "1"), ("RAA", "110", "1", "1")]
    call_command("rtt", "summary", "--provider", "RAA", "--census", C.isoformat(), "--format", "csv")
    cli = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["treatment_function"], r["total"], r["unknown_clock_start"]) for r in cli] == [
        ("all", "1", "1"), ("110", "1", "1")]


@pytest.mark.django_db
def test_cli_text_with_no_incomplete_pathways_says_so(trust, capsys):
    call_command("rtt", "summary", "--provider", "RAA", "--census", C.isoformat())
    text = capsys.readouterr().out
    assert "None" not in text
    assert "no incomplete pathways at this census" in text


@pytest.mark.django_db
def test_json_contract_keys_are_kept(trust):
    pathway_at(trust, patient_at(trust), rtt_start=_days(20))
    out = _cli_json("--provider", "RAA", "--census", C.isoformat())
    assert {"total", "within_18_weeks", "pct_within_18_weeks", "median_weeks", "p92_weeks", "over_52", "over_65",
            "over_78", "over_104", "by_treatment_function"} <= set(out)
    assert {"total", "within_18_weeks", "pct_within_18_weeks", "median_weeks", "p92_weeks", "over_52", "over_65",
            "over_78", "over_104"} <= set(out["by_treatment_function"]["110"])


@pytest.mark.django_db
def test_a_future_or_pre_rtt_census_is_refused_not_projected(wlm_client, trust):
    """The report counts the list as held; a census after today would present a projection as figures
    (QA: 2027-06-01 showed "0.0% within 18 weeks"), and one before 2007 is a typo."""
    from django.core.management.base import CommandError
    from django.utils import timezone

    pathway_at(trust, patient_at(trust), rtt_start=_days(20))
    tomorrow = timezone.localdate() + timedelta(days=1)
    for bad in (tomorrow, date(2027 + 10, 6, 1), date(1999, 1, 1), date(1, 1, 1)):
        body = wlm_client.get("/waiting-list/reports/rtt/", {"census": bad.isoformat()}).content.decode()
        assert "There is a problem" in body and f"{bad:%d/%m/%Y}" in body
        r = wlm_client.get("/waiting-list/reports/rtt.csv", {"census": bad.isoformat()})
        assert r.status_code == 400 and r["Content-Type"] == "text/plain; charset=utf-8"
        with pytest.raises(CommandError, match="--census"):
            call_command("rtt", "summary", "--provider", "RAA", "--census", bad.isoformat())
    r = wlm_client.get("/waiting-list/reports/rtt.csv", {"census": "abc"})
    assert "“abc”" in r.content.decode("utf-8")
    assert wlm_client.get("/waiting-list/reports/rtt/", {"census": timezone.localdate().isoformat()}).status_code == 200
