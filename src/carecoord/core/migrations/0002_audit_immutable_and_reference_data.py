"""The audit log is append-only (PostgreSQL rejects UPDATE and DELETE), btree_gist is available
for exclusion constraints, and the reference data is loaded from core/reference/*.json."""

import json
from pathlib import Path

from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

REFERENCE = Path(__file__).resolve().parents[1] / "reference"

TRIGGER = """
CREATE OR REPLACE FUNCTION core_auditlog_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'core_auditlog is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER core_auditlog_no_update_delete
  BEFORE UPDATE OR DELETE ON core_auditlog
  FOR EACH ROW EXECUTE FUNCTION core_auditlog_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS core_auditlog_no_update_delete ON core_auditlog;
DROP FUNCTION IF EXISTS core_auditlog_append_only();
"""

FILES = {
    "rtt_status.json": "RttStatus",
    "clinical_priority.json": "ClinicalPriority",
    "waiting_list_type.json": "WaitingListType",
    "treatment_function.json": "TreatmentFunction",
    "main_specialty.json": "MainSpecialty",
}


def load(apps, schema_editor):
    for filename, model_name in FILES.items():
        Model = apps.get_model("core", model_name)
        data = json.loads((REFERENCE / filename).read_text())
        for row in data["rows"]:
            fields = {"version": data["version"], "source": data["source"], **row}
            code = fields.pop("code")
            Model.objects.update_or_create(code=code, defaults=fields)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [
        BtreeGistExtension(),
        migrations.RunSQL(TRIGGER, DROP),
        migrations.RunPython(load, migrations.RunPython.noop),
    ]
