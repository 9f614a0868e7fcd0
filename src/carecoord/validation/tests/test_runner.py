"""Validation runs: findings are opened once, kept while seen, closed when gone; the CLI contract."""

import csv
import html
import io
import json
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from carecoord.testing.factories import pathway_at, patient_at
from carecoord.validation import runner
from carecoord.validation.models import Finding

pytestmark = pytest.mark.django_db


def test_a_finding_is_opened_kept_and_closed(trust):
    p = pathway_at(trust, patient_at(trust), rtt_status="21")
    first = runner.run(organisation=trust)
    assert first.findings_by_rule["T8"] == 1 and first.opened >= 1
    f = Finding.objects.get(pathway=p, rule="T8")
    second = runner.run(organisation=trust)
    assert Finding.objects.filter(pathway=p, rule="T8").count() == 1  # not duplicated
    f.refresh_from_db()
    assert f.last_run_id == second.pk and f.first_run_id == first.pk and f.closed_at is None
    p.rtt_status = "20"
    p.save()
    third = runner.run(organisation=trust)
    f.refresh_from_db()
    assert f.closed_at is not None and f.closed_reason == "no longer seen" and third.closed >= 1


def test_a_run_for_one_provider_leaves_another_providers_findings_alone(trust, other_trust):
    mine = pathway_at(trust, patient_at(trust), rtt_status="21")
    theirs = pathway_at(other_trust, patient_at(other_trust), rtt_status="21")
    runner.run()
    assert Finding.objects.open().filter(rule="T8").count() == 2
    mine.rtt_status = "20"
    mine.save()
    theirs.rtt_status = "20"
    theirs.save()
    runner.run(organisation=trust)
    assert set(Finding.objects.open().filter(rule="T8").values_list("pathway_id", flat=True)) == {theirs.pk}


def test_validate_cli_contract(trust, capsys):
    old = timezone.localdate() - timedelta(days=200)
    pathway_at(trust, patient_at(trust), tci_date=timezone.localdate() - timedelta(days=3), rtt_start=old)
    call_command("validate", "run", "--provider", "RAA", "--format", "json")
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"run_id", "pathways_checked", "findings_by_rule", "seconds"}
    assert out["pathways_checked"] == 1 and out["findings_by_rule"]["T9"] == 1
    assert list(out["findings_by_rule"])[:3] == ["T1", "T2", "T3"]
    call_command("validate", "findings", "--rule", "T9", "--provider", "RAA", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 and rows[0]["provider"] == "RAA" and rows[0]["rule"] == "T9" and rows[0]["severity"] == "error"


def test_validate_cli_errors():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="T1 to T21"):
        call_command("validate", "findings", "--rule", "T99")
    with pytest.raises(CommandError, match="ODS code"):
        call_command("validate", "run", "--provider", "ZZZ")


def test_worklist_shows_own_findings_filters_and_exports(wlm_client, trust, other_trust):
    mine = pathway_at(trust, patient_at(trust), rtt_status="21")
    theirs = pathway_at(other_trust, patient_at(other_trust), rtt_status="21")
    runner.run()
    body = wlm_client.get("/validation/", {"rule": "T8"}).content.decode()
    assert mine.ppid in body and theirs.ppid not in body
    assert wlm_client.get("/validation/", {"rule": "T99"}).status_code == 400
    rows = list(csv.reader(io.StringIO(wlm_client.get("/validation/findings.csv", {"rule": "T8"}).content.decode())))
    assert [r[0] for r in rows[1:]] == [mine.ppid]


def test_run_button_starts_a_job_that_records_a_run(wlm_client, trust, django_capture_on_commit_callbacks):
    from carecoord.core.models import Job
    from carecoord.validation.models import ValidationRun

    pathway_at(trust, patient_at(trust), rtt_status="21")
    with django_capture_on_commit_callbacks(execute=True):
        r = wlm_client.post("/validation/run/")
    job = Job.objects.get(kind="validation_run")
    assert r.status_code == 302 and r["Location"].endswith(f"/jobs/{job.pk}/")
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.errors
    run = ValidationRun.objects.get(pk=job.result["run_id"])
    assert run.organisation == trust and run.findings_by_rule["T8"] == 1


def test_t21_in_per_provider_runs_sees_the_other_provider_and_never_closes_its_findings(trust, other_trust):
    patient = patient_at(trust)
    mine = pathway_at(trust, patient, tfc="110")
    theirs = pathway_at(other_trust, patient, tfc="110")
    elsewhere = pathway_at(other_trust, patient_at(other_trust), tfc="110")
    run = runner.run(organisation=trust)  # a run for one provider finds it...
    assert run.findings_by_rule["T21"] == 1
    assert set(Finding.objects.open().filter(rule="T21").values_list("pathway_id", flat=True)) == {mine.pk}
    runner.run()  # ...as a run for everyone does (both sides)
    both = set(Finding.objects.open().filter(rule="T21").values_list("pathway_id", flat=True))
    assert both == {mine.pk, theirs.pk}
    runner.run(organisation=trust)  # and a later per-provider run keeps (not closes) them all
    runner.run(organisation=other_trust)
    assert set(Finding.objects.open().filter(rule="T21").values_list("pathway_id", flat=True)) == both
    assert Finding.objects.filter(rule="T21", closed_at__isnull=False).count() == 0
    assert not Finding.objects.filter(pathway=elsewhere, rule="T21").exists()
    # once the other provider's pathway leaves the list, the next run for this provider closes its own
    theirs.status = "removed"
    theirs.save()
    runner.run(organisation=trust)
    assert not Finding.objects.open().filter(rule="T21", pathway=mine).exists()
    assert Finding.objects.open().filter(rule="T21", pathway=theirs).exists()  # the other's: its own run


@pytest.mark.parametrize("system_wide", [False, True])
def test_t21_never_names_the_other_provider(wlm_client, trust, other_trust, system_wide):
    # The trust holds no grant from the other: its worklist, the pathway's validation page and the CSV
    # say the patient is on another provider's list, never which (the finding is stored once for every
    # viewer, and outlives any grant; the PTL's possible-duplicates filter names granted providers).
    patient = patient_at(trust)
    mine = pathway_at(trust, patient, tfc="110")
    pathway_at(other_trust, patient, tfc="110")
    runner.run(organisation=None if system_wide else trust)
    pages = [wlm_client.get("/validation/", {"rule": "T21"}), wlm_client.get(f"/validation/pathways/{mine.pk}/"),
             wlm_client.get("/validation/findings.csv", {"rule": "T21"})]
    for page in pages:
        body = html.unescape(page.content.decode())
        assert page.status_code == 200 and mine.ppid in body
        assert "T21" in body and "also on another provider's list for treatment function 110" in body
        assert other_trust.name not in body and not re.search(rf"[\s>,(]{other_trust.ods_code}[\s<,.)]", body)
