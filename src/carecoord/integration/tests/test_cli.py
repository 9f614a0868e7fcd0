"""`carecoord import wlmds ...`: the JSON contract, exit codes, profiles and clear errors."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from carecoord.integration.models import ImportBatch, MappingProfile
from carecoord.integration.tests import wlmds_files as wf
from carecoord.waitinglist.models import Pathway

pytestmark = pytest.mark.django_db


def carecoord(capsys, *args) -> tuple[int, str, str]:
    """Run the command in-process (the test database); returns (exit status, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("import_data", *map(str, args), stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue() + capsys.readouterr().err


def test_json_contract_and_exit_zero(trust, tmp_path, capsys):
    path = wf.open_file(tmp_path, 4)
    code, out, _err = carecoord(capsys, "wlmds", path, "--provider", "raa", "--format", "json")
    assert code == 0
    data = json.loads(out)
    batch = ImportBatch.objects.get()
    assert data == {"rows_read": 4, "rows_loaded": 4, "rows_rejected": 0, "pathways_created": 4,
                    "pathways_updated": 0, "pathways_unchanged": 0, "report": f"/imports/{batch.pk}/"}
    code, out, _ = carecoord(capsys, "wlmds", path, "--provider", "RAA", "--format", "json")
    assert code == 0 and json.loads(out)["pathways_unchanged"] == 4


def test_rejected_file_exits_one_and_still_prints_the_json(trust, tmp_path, capsys):
    rows = [wf.open_row(0), wf.open_row(1, NHS_NUMBER="1234567890")]
    code, out, err = carecoord(capsys, "wlmds", wf.write(tmp_path / "bad.csv", rows), "--provider", "RAA",
                               "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert (data["rows_read"], data["rows_loaded"], data["rows_rejected"]) == (2, 0, 1)
    assert "nothing was loaded" in err and not Pathway.objects.exists()
    assert wf.NUMBERS[0] not in err and "1234567890" not in err  # no NHS numbers in messages

    code, out, _ = carecoord(capsys, "wlmds", tmp_path / "bad.csv", "--provider", "RAA", "--mode", "good-rows",
                             "--format", "json")
    assert code == 0 and json.loads(out)["rows_loaded"] == 1


def test_text_output_profile_and_kind(trust, tmp_path, capsys):
    MappingProfile.objects.create(organisation=trust, name="pas", columns={
        "PATIENT_PATHWAY_IDENTIFIER": "Pathway", "NHS_NUMBER": "NHS No"}, delimiter="|", date_format="DD/MM/YYYY")
    rows = [wf.open_row(0, Week_Ending_Date="15/11/2026", REFERRAL_TO_TREATMENT_PERIOD_START_DATE="01/03/2026",
                        DECISION_TO_ADMIT_DATE="", Due_Date="", PERSON_BIRTH_DATE="")]
    rows[0]["Pathway"] = rows[0].pop("PATIENT_PATHWAY_IDENTIFIER")
    rows[0]["NHS No"] = rows[0].pop("NHS_NUMBER")
    path = wf.write(tmp_path / "pas.csv", rows, delimiter="|")
    code, out, err = carecoord(capsys, "wlmds", path, "--provider", "RAA", "--profile", "pas")
    assert code == 0, err
    assert "Loaded 1 of 1 rows" in out and "/imports/" in out
    assert Pathway.objects.get().ppid == "PPRAA000000"
    assert ImportBatch.objects.get().profile_name == "pas"


@pytest.mark.parametrize(("args", "message"), [
    (["--provider", "NOPE"], "no organisation with ODS code"),
    (["--provider", "RAA", "--profile", "missing"], "no mapping profile 'missing'"),
])
def test_bad_options_exit_one_with_a_clear_message(trust, tmp_path, capsys, args, message):
    code, _out, err = carecoord(capsys, "wlmds", wf.open_file(tmp_path, 1), *args)
    assert code == 1 and message in err


def test_unusable_files_exit_one(trust, tmp_path, capsys):
    (tmp_path / "cols.csv").write_text("A,B\n1,2\n")
    code, _out, err = carecoord(capsys, "wlmds", tmp_path / "cols.csv", "--provider", "RAA")
    assert code == 1 and "missing required columns" in err
    code, _out, err = carecoord(capsys, "wlmds", tmp_path / "nothing.csv", "--provider", "RAA")
    assert code == 1 and "no such file" in err


def test_older_census_is_refused_with_exit_one(trust, tmp_path, capsys):
    carecoord(capsys, "wlmds", wf.open_file(tmp_path, 1, census="2026-11-22"), "--provider", "RAA")
    code, _out, err = carecoord(capsys, "wlmds", wf.open_file(tmp_path, 1, name="o.csv"), "--provider", "RAA")
    assert code == 1 and "older than the latest loaded" in err


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_a_bad_chunk_size_is_a_usage_error_not_a_traceback(trust, tmp_path, capsys, value):
    with pytest.raises(CommandError, match="--chunk-rows"):
        call_command("import_data", "wlmds", str(wf.open_file(tmp_path, 1)), "--provider", "RAA",
                     "--chunk-rows", value)
    assert not ImportBatch.objects.exists()


def test_a_refused_older_census_prints_the_rows_read(trust, tmp_path, capsys):
    carecoord(capsys, "wlmds", wf.open_file(tmp_path, 1, census="2026-11-22"), "--provider", "RAA")
    code, out, _err = carecoord(capsys, "wlmds", wf.open_file(tmp_path, 2, name="o.csv"), "--provider", "RAA",
                                "--format", "json")
    assert code == 1 and json.loads(out)["rows_read"] == 2 and json.loads(out)["rows_loaded"] == 0


def test_a_wrong_census_week_can_be_corrected_so_later_weeks_load(trust, tmp_path, capsys):
    """A plausible but wrong Sunday loaded (2026-11-29 for 2026-11-15): older weeks are refused until
    an admin corrects the batch's census, then the right week re-imports as a corrected snapshot."""
    code, *_ = carecoord(capsys, "wlmds", wf.open_file(tmp_path, 2, census="2026-11-29", name="w.csv"),
                         "--provider", "RAA")
    batch = ImportBatch.objects.get()
    code, _out, err = carecoord(capsys, "wlmds", wf.open_file(tmp_path, 2, name="r.csv"), "--provider", "RAA")
    assert code == 1 and "older than the latest loaded" in err
    code, _out, err = carecoord(capsys, "correct-census", batch.pk, "--census", "2026-11-18")
    assert code == 1 and "Wednesday" in err
    code, _out, err = carecoord(capsys, "correct-census", batch.pk, "--census", "15/11/2026")
    assert code == 1 and "--census must be a date as YYYY-MM-DD, not '15/11/2026'" in err
    code, out, _err = carecoord(capsys, "correct-census", batch.pk, "--census", "2026-11-15")
    assert code == 0 and "2 pathways restamped" in out
    batch.refresh_from_db()
    assert batch.census_date.isoformat() == "2026-11-15"
    assert set(Pathway.objects.values_list("census_date", flat=True)) == {batch.census_date}
    code, out, err = carecoord(capsys, "wlmds", tmp_path / "r.csv", "--provider", "RAA", "--format", "json")
    assert code == 0 and json.loads(out)["pathways_unchanged"] == 2, err
    from carecoord.core.models import AuditLog

    assert AuditLog.objects.filter(object_type="integration.importbatch", summary__contains="census week corrected")
