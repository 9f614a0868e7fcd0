import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from carecoord.core import embedded_db
from carecoord.core.models import Organisation


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "carecoord.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.django_db
def test_orgs_add_is_idempotent_and_list_is_json():
    out = StringIO()
    call_command("orgs", "add", "--ods", "qzz", "--name", "Zed ICB", "--kind", "icb", "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["created"] is True
    out = StringIO()
    call_command("orgs", "add", "--ods", "RZZ", "--name", "Zed Trust", "--kind", "nhs_trust", "--parent", "QZZ",
                 "--format", "json", stdout=out)
    out = StringIO()
    call_command("orgs", "add", "--ods", "RZZ", "--name", "Zed Trust", "--kind", "nhs_trust", "--parent", "QZZ",
                 "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["created"] is False
    assert Organisation.objects.filter(ods_code="RZZ").count() == 1
    out = StringIO()
    call_command("orgs", "list", "--format", "json", stdout=out)
    rows = json.loads(out.getvalue())
    assert {"ods_code": "RZZ", "name": "Zed Trust", "kind": "nhs_trust", "parent": "QZZ"} in rows


@pytest.mark.django_db
def test_orgs_add_rejects_bad_input():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="parent organisation"):
        call_command("orgs", "add", "--ods", "RYY", "--name", "Y", "--kind", "nhs_trust", "--parent", "NOPE")
    with pytest.raises(CommandError, match="ODS code"):
        call_command("orgs", "add", "--ods", "r!", "--name", "Y", "--kind", "nhs_trust")


@pytest.mark.django_db
def test_check_json_reports_each_part():
    from django.core.management.base import CommandError

    out = StringIO()
    with pytest.raises(CommandError):  # no worker is running in tests
        call_command("carecoord_check", "--format", "json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["database"]["ok"] and report["migrations"]["ok"] and report["static_assets"]["ok"]
    assert report["worker"]["ok"] is False and report["ok"] is False


@pytest.mark.django_db
def test_check_sees_a_live_worker():
    from carecoord.core.models import WorkerHeartbeat

    WorkerHeartbeat.objects.create(worker_id="w1", hostname="h", pid=1)
    out = StringIO()
    call_command("carecoord_check", "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["ok"] is True


def test_db_status_json_for_an_uninitialised_data_dir(tmp_path):
    import os

    env = {**os.environ, "CARECOORD_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    r = run_cli("db", "status", "--format", "json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"data_dir": str(tmp_path / "pgdata"), "initialised": False, "running": False,
                                    "url": None, "version": None}


def test_db_url_prints_database_url_when_set(tmp_path):
    import os

    env = {**os.environ, "DATABASE_URL": "postgresql://u@db.example:5432/cc"}
    r = run_cli("db", "url", env=env)
    assert r.stdout.strip() == "postgresql://u@db.example:5432/cc"


@pytest.mark.django_db(transaction=True)
def test_backup_and_restore_round_trip(tmp_path):
    settings = connection.settings_dict
    url = f"postgresql://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    Organisation.objects.create(ods_code="RBK", name="Backed Up Trust", kind="nhs_trust")
    dump = tmp_path / "cc.dump"
    embedded_db.backup(url, dump)
    assert dump.stat().st_size > 0
    target = f"{settings['NAME']}_restore"
    with connection.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{target}"')
        cur.execute(f'CREATE DATABASE "{target}"')
    try:
        embedded_db.restore(url.rsplit("/", 1)[0] + f"/{target}", dump)
        import psycopg

        with psycopg.connect(url.rsplit("/", 1)[0] + f"/{target}") as conn:
            assert conn.execute("SELECT name FROM core_organisation WHERE ods_code='RBK'").fetchone() == ("Backed Up Trust",)
    finally:
        with connection.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
