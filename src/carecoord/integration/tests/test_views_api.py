"""The upload page (background job), reports, profiles, and POST /api/v1/imports/."""

from __future__ import annotations

import json
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from carecoord.core.models import AuditLog, Job, Role
from carecoord.core.services import api_tokens
from carecoord.core.services.audit import Auditor
from carecoord.integration import services
from carecoord.integration.models import ImportBatch, MappingProfile
from carecoord.integration.tests import wlmds_files as wf
from carecoord.testing.factories import user_with_roles
from carecoord.waitinglist.models import Pathway

pytestmark = pytest.mark.django_db


def upload(path, name=None):
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="text/csv")


def test_upload_runs_a_job_that_links_to_the_report(wlm_client, wlm, trust, tmp_path,
                                                    django_capture_on_commit_callbacks):
    page = wlm_client.get("/imports/")
    assert page.status_code == 200 and b"Import file" in page.content
    rows = [wf.open_row(0), wf.open_row(1, TCI_Date="9999-12-31")]
    with django_capture_on_commit_callbacks(execute=True):
        r = wlm_client.post("/imports/", {"file": upload(wf.write(tmp_path / "w.csv", rows)), "kind": "open",
                                          "mode": "good-rows", "profile": ""})
    job = Job.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/jobs/{job.pk}/"
    batch = ImportBatch.objects.get()
    assert job.state == "succeeded" and job.result["link"] == f"/imports/{batch.pk}/"
    assert job.result["rows_loaded"] == 1 and batch.started_by == wlm and batch.filename == "w.csv"
    assert Pathway.objects.count() == 1
    # the rules ran on the updated list straight after the import
    from carecoord.validation.models import ValidationRun

    run = ValidationRun.objects.get(pk=job.result["validation_run"])
    assert run.trigger == "import" and run.organisation == trust and run.pathways_checked == 1
    assert job.params["path"].startswith(str(services.upload_dir()))
    assert not os.path.exists(job.params["path"])  # the stored upload is removed after the job

    report = wlm_client.get(f"/imports/{batch.pk}/")
    assert report.status_code == 200
    assert b"TCI_Date" in report.content and b"placeholder date" in report.content
    csv_text = wlm_client.get(f"/imports/{batch.pk}/rejections.csv").content.decode()
    assert csv_text.splitlines()[0] == "row_number,ppid,ppid_issuer,field,value,reason"
    assert csv_text.splitlines()[1].startswith("2,PPRAA000001,RAA,TCI_Date,9999-12-31,")
    assert AuditLog.objects.filter(action="export", object_type="integration.importbatch").exists()
    assert AuditLog.objects.filter(action="view", object_type="integration.importbatch").exists()


def test_all_or_nothing_upload_fails_the_job_and_still_links_the_report(wlm_client, tmp_path,
                                                                         django_capture_on_commit_callbacks):
    rows = [wf.open_row(0, PRIORITY_TYPE_CODE="5")]
    with django_capture_on_commit_callbacks(execute=True):
        wlm_client.post("/imports/", {"file": upload(wf.write(tmp_path / "w.csv", rows)), "kind": "open",
                                      "mode": "all-or-nothing"})
    job = Job.objects.get()
    assert job.state == "failed" and "nothing was loaded" in job.errors[0]
    assert job.result["link"].startswith("/imports/")


@pytest.mark.parametrize(("content", "message"), [
    (b"", b"The file is empty"),
    (b"A,B,C\n1,2,3\n", b"missing required columns"),
    (b"PK\x03\x04\x00\x00binary spreadsheet", b"not a CSV text file"),
])
def test_bad_uploads_are_clear_400s(wlm_client, content, message, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r = wlm_client.post("/imports/", {"file": SimpleUploadedFile("x.csv", content), "kind": "open",
                                          "mode": "good-rows"})
    assert r.status_code == 400 and message in r.content and b"There is a problem" in r.content
    assert not Job.objects.exists() and not ImportBatch.objects.exists()


def test_upload_form_needs_a_file_and_known_choices(wlm_client):
    r = wlm_client.post("/imports/", {"kind": "weekly", "mode": "good-rows"})
    assert r.status_code == 400 and b"Choose the CSV file to import" in r.content


def test_reports_of_another_organisation_are_404(client, trust, other_trust, tmp_path):
    batch = services.import_wlmds(wf.open_file(tmp_path, 1, provider="RBB"), provider=other_trust,
                                  auditor=Auditor.system("test"))
    client.force_login(user_with_roles(trust, Role.WAITING_LIST_MANAGER))
    assert client.get(f"/imports/{batch.pk}/").status_code == 404
    assert client.get(f"/imports/{batch.pk}/rejections.csv").status_code == 404
    assert b"RBB" not in client.get("/imports/").content


def test_profiles_are_created_edited_and_used_by_the_upload(wlm_client, trust, other_trust):
    assert wlm_client.get("/imports/profiles/").status_code == 200
    data = {"name": "Lorenzo", "date_format": "DD/MM/YYYY", "delimiter": ",", "col_0": "Pathway Id", "col_2": "NHS No"}
    r = wlm_client.post("/imports/profiles/new/", data)
    assert r.status_code == 302
    p = MappingProfile.objects.get(organisation=trust)
    assert p.columns == {"PATIENT_PATHWAY_IDENTIFIER": "Pathway Id", "NHS_NUMBER": "NHS No"}
    r = wlm_client.post(f"/imports/profiles/{p.pk}/", {**data, "col_2": "NHS Number"})
    p.refresh_from_db()
    assert r.status_code == 302 and p.columns["NHS_NUMBER"] == "NHS Number"
    assert AuditLog.objects.filter(object_type="integration.mappingprofile", action="update").exists()
    assert b"Lorenzo" in wlm_client.get("/imports/").content  # offered on the upload form
    r = wlm_client.post("/imports/profiles/new/", {"name": "Lorenzo", "date_format": "auto", "delimiter": ","})
    assert r.status_code == 400 and b"map at least one WLMDS field" in r.content
    r = wlm_client.post("/imports/profiles/new/", {**data, "col_1": "X"})
    assert r.status_code == 400 and b"already a profile called" in r.content
    theirs = MappingProfile.objects.create(organisation=other_trust, name="theirs", columns={"NHS_NUMBER": "n"})
    assert wlm_client.get(f"/imports/profiles/{theirs.pk}/").status_code == 404


# ---------------------------------------------------------------- API


@pytest.fixture
def token(trust, wlm):
    _t, key = api_tokens.issue(name="PAS nightly", organisation=trust, roles=[Role.WAITING_LIST_MANAGER],
                               created_by=wlm)
    return {"Authorization": f"Bearer {key}"}


def api_post(client, headers, path=None, content=None, **fields):
    f = SimpleUploadedFile("w.csv", content if content is not None else path.read_bytes(), content_type="text/csv")
    return client.post("/api/v1/imports/", {"file": f, "provider": "RAA", **fields}, headers=headers)


def test_api_imports_and_returns_the_json_contract(client, token, trust, tmp_path):
    r = api_post(client, token, wf.open_file(tmp_path, 3))
    assert r.status_code == 200, r.content
    batch = ImportBatch.objects.get()
    assert r.json() == {"rows_read": 3, "rows_loaded": 3, "rows_rejected": 0, "pathways_created": 3,
                        "pathways_updated": 0, "pathways_unchanged": 0, "report": f"/imports/{batch.pk}/"}
    assert batch.system_job.startswith("api-token:")
    r = api_post(client, token, wf.open_file(tmp_path, 3))
    assert r.json()["pathways_unchanged"] == 3


def test_api_rejected_file_is_422_with_the_figures(client, token, tmp_path):
    r = api_post(client, token, wf.write(tmp_path / "b.csv", [wf.open_row(0, ACTIVITY_TREATMENT_FUNCTION_CODE="")]))
    assert r.status_code == 422 and r.json()["rows_rejected"] == 1 and r.json()["rows_loaded"] == 0


@pytest.mark.parametrize(("content", "status", "detail"), [
    (b"", 400, "empty"),
    (b"A,B\n1,2\n", 400, "missing required columns"),
    (b"%PDF-1.7 binary", 400, "not a CSV text file"),
    (b"PATIENT_PATHWAY_IDENTIFIER,NHS_NUMBER\n", 400, "no data rows"),
])
def test_api_bad_uploads_are_clear_400s(client, token, content, status, detail):
    r = api_post(client, token, content=content)
    assert r.status_code == status and detail in r.json()["detail"]
    assert r["Content-Type"] == "application/problem+json"
    assert not ImportBatch.objects.exists()


def test_api_refuses_another_provider_and_older_census(client, token, tmp_path):
    r = api_post(client, token, wf.open_file(tmp_path, 1), provider="RBB")
    assert r.status_code == 403 and "your own organisation (RAA)" in r.json()["detail"]
    assert api_post(client, token, wf.open_file(tmp_path, 1, census="2026-11-22")).status_code == 200
    r = api_post(client, token, wf.open_file(tmp_path, 1))
    assert r.status_code == 409 and "older than the latest loaded" in r.json()["detail"]
    assert api_post(client, token, wf.open_file(tmp_path, 1), mode="sometimes").status_code == 400
    assert api_post(client, token, wf.open_file(tmp_path, 1), profile="nope").status_code == 400


def test_api_needs_the_import_permission(client, trust, wlm, tmp_path):
    _t, key = api_tokens.issue(name="reader", organisation=trust, roles=[Role.ANALYST], created_by=wlm)
    r = api_post(client, {"Authorization": f"Bearer {key}"}, wf.open_file(tmp_path, 1))
    assert r.status_code == 403 and not ImportBatch.objects.exists()


def test_api_import_queues_a_validation_run_of_the_provider(client, token, trust, tmp_path,
                                                          django_capture_on_commit_callbacks):
    from carecoord.core.models import Job
    from carecoord.validation.models import ValidationRun

    with django_capture_on_commit_callbacks(execute=True):
        r = api_post(client, token, wf.open_file(tmp_path, 3))
    assert r.status_code == 200
    job = Job.objects.get(kind="validation_run")
    run = ValidationRun.objects.get()
    assert job.state == "succeeded" and run.trigger == "import" and run.organisation == trust
    assert run.pathways_checked == 3


def test_cli_import_validates_the_list_unless_told_not_to(trust, tmp_path, capsys):
    from django.core.management import call_command

    from carecoord.validation.models import ValidationRun

    call_command("import_data", "wlmds", str(wf.open_file(tmp_path, 3)), "--provider", "RAA", "--format", "json")
    out = capsys.readouterr()
    assert json.loads(out.out)["rows_loaded"] == 3  # stdout stays the JSON contract
    assert "Validation: 3 pathways checked" in out.err
    assert ValidationRun.objects.get().trigger == "import"
    call_command("import_data", "wlmds", str(wf.open_file(tmp_path, 4)), "--provider", "RAA", "--no-validate")
    assert ValidationRun.objects.count() == 1


def test_the_rejections_csv_neutralises_formulas(wlm_client, trust, tmp_path):
    rows = [wf.open_row(0, CONSULTANT_CODE="=HYPERLINK(\"http://x\")", ACTIVITY_TREATMENT_FUNCTION_CODE="=1+2"),
            wf.open_row(1, ACTIVITY_TREATMENT_FUNCTION_CODE="@SUM(A1)"),
            wf.open_row(2, PATIENT_PATHWAY_IDENTIFIER="-2+3", PRIORITY_TYPE_CODE="+9")]
    batch = services.import_wlmds(wf.write(tmp_path / "f.csv", rows), provider=trust, auditor=Auditor.system("t"),
                                  mode="good-rows")
    import csv as _csv

    got = list(_csv.reader(wlm_client.get(f"/imports/{batch.pk}/rejections.csv").content.decode().splitlines()))
    values = {(r[0], r[3]): r for r in got[1:]}
    assert values[("1", "ACTIVITY_TREATMENT_FUNCTION_CODE")][4] == "'=1+2"
    assert values[("2", "ACTIVITY_TREATMENT_FUNCTION_CODE")][4] == "'@SUM(A1)"
    assert values[("3", "PRIORITY_TYPE_CODE")][1:5] == ["'-2+3", "RAA", "PRIORITY_TYPE_CODE", "'+9"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in got for cell in row)
