"""The real `carecoord import` process against the test database: its exit status and JSON, and a
kill -9 in the middle of an import leaving the waiting list exactly as it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from urllib.parse import quote

import polars as pl
import pytest
from django.db import connection

from carecoord.core import nhs_number
from carecoord.core.services.audit import Auditor
from carecoord.integration import loader, services
from carecoord.integration.models import ImportBatch
from carecoord.integration.tests import wlmds_files as wf
from carecoord.waitinglist.models import Pathway

pytestmark = pytest.mark.django_db(transaction=True)


def _env() -> dict:
    s = connection.settings_dict
    auth = quote(s["USER"]) + (":" + quote(s["PASSWORD"]) if s["PASSWORD"] else "")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="carecoord.config.settings.test",
               DATABASE_URL=f"postgresql://{auth}@{s['HOST']}:{s['PORT']}/{quote(s['NAME'])}")
    return env


def _cli(*args, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "carecoord.cli", "import", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**_env(), **env})


def test_the_process_prints_json_and_exits_by_outcome(trust, tmp_path):
    proc = _cli("wlmds", wf.open_file(tmp_path, 2), "--provider", "RAA", "--format", "json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert set(json.loads(out)) == set(services.JSON_KEYS) and json.loads(out)["pathways_created"] == 2
    bad = wf.write(tmp_path / "bad.csv", [wf.open_row(0, Waiting_List_Type="PLTO")])
    proc = _cli("wlmds", bad, "--provider", "RAA", "--format", "json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and json.loads(out)["rows_rejected"] == 1 and "nothing was loaded" in err


def _big_file(path, n: int):
    numbers = nhs_number.generate_test_numbers(n, start=2_000_000)
    pl.DataFrame({
        "PATIENT_PATHWAY_IDENTIFIER": [f"BIG{i:08d}" for i in range(n)],
        "ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER": ["RAA"] * n,
        "NHS_NUMBER": numbers, "ORGANISATION_IDENTIFIER_CODE_OF_PROVIDER": ["RAA"] * n,
        "Week_Ending_Date": ["2026-11-22"] * n, "Waiting_List_Type": ["ORTT"] * n,
        "ACTIVITY_TREATMENT_FUNCTION_CODE": ["110"] * n, "REFERRAL_TO_TREATMENT_PERIOD_START_DATE": ["2026-06-01"] * n,
    }).write_csv(path)
    return path


def test_killing_an_import_midway_leaves_the_list_unchanged(trust, tmp_path):
    services.import_wlmds(wf.open_file(tmp_path, 3), provider=trust, auditor=Auditor.system("test"))
    before = sorted(Pathway.objects.values_list("ppid", "status", "census_date", "updated_at"))
    proc = _cli("wlmds", _big_file(tmp_path / "big.csv", 150_000), "--provider", "RAA", "--chunk-rows", "5000")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ImportBatch.objects.filter(filename="big.csv").exists():
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "the import finished before it could be killed; make the file bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert sorted(Pathway.objects.values_list("ppid", "status", "census_date", "updated_at")) == before
    assert ImportBatch.objects.get(filename="big.csv").status == "running"  # never finished, nothing merged
    _reap_orphaned_backends()


def _indexes() -> list:
    """The bulk tables' indexes and constraints (the bulk path drops and rebuilds both)."""
    with connection.cursor() as cur:
        cur.execute("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                    "WHERE indrelid = ANY(%s::regclass[]) ORDER BY 1", [list(loader.BULK_TABLES)])
        indexes = cur.fetchall()
        cur.execute("SELECT conname, pg_get_constraintdef(oid), conindid::regclass::text FROM pg_constraint "
                    "WHERE conrelid = ANY(%s::regclass[]) ORDER BY 1", [list(loader.BULK_TABLES)])
        return indexes + cur.fetchall()


def test_killing_an_initial_load_while_its_indexes_are_dropped_changes_nothing(trust, tmp_path):
    """The bulk path drops the list's secondary indexes inside the merge's transaction: kill -9 the
    importer while it holds the list and the list, its rows and its indexes are exactly as they were."""
    services.import_wlmds(wf.open_file(tmp_path, 3), provider=trust, auditor=Auditor.system("test"))
    with connection.cursor() as cur:
        cur.execute("ANALYZE waitinglist_pathway")  # 3 rows: a 150,000-row load takes the bulk path
    before = sorted(Pathway.objects.values_list("ppid", "status", "census_date", "updated_at"))
    indexes = _indexes()
    proc = _cli("wlmds", _big_file(tmp_path / "big.csv", 150_000), "--provider", "RAA",
                CARECOORD_IMPORT_BULK_ROWS="1000")
    deadline, holding = time.monotonic() + 90, False
    with connection.cursor() as cur:
        while not holding and time.monotonic() < deadline and proc.poll() is None:
            cur.execute("SELECT count(*) > 0 FROM pg_locks WHERE relation = 'waitinglist_pathway'::regclass "
                        "AND mode = 'AccessExclusiveLock' AND granted AND pid <> pg_backend_pid()")
            holding = cur.fetchone()[0]
            time.sleep(0.02)
    assert holding, "the import never took the bulk path's locks"
    time.sleep(0.3)  # into the merge: indexes dropped, rows going in
    assert proc.poll() is None, "the import finished before it could be killed; make the file bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _reap_orphaned_backends()
    assert sorted(Pathway.objects.values_list("ppid", "status", "census_date", "updated_at")) == before
    assert _indexes() == indexes
    assert ImportBatch.objects.get(filename="big.csv").status == "running"


def _reap_orphaned_backends() -> None:
    """A killed client's server process can run on (holding its advisory lock) until its current
    statement ends; end it now so later tests in this database are not refused as concurrent."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
            if cur.fetchone()[0] == 0:
                return
            time.sleep(0.05)
