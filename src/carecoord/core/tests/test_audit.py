import pytest
from django.db import IntegrityError, InternalError, ProgrammingError, connection, transaction

from carecoord.core.models import AuditLog
from carecoord.core.services.audit import AnonymousAuditError, Auditor


def test_auditor_refuses_without_actor_or_job():
    with pytest.raises(AnonymousAuditError):
        Auditor(None)


@pytest.mark.django_db
def test_audit_log_rejects_update_and_delete(trust):
    row = Auditor.system("test-job").create(trust)
    for sql in ("UPDATE core_auditlog SET summary = 'tampered' WHERE id = %s",
                "DELETE FROM core_auditlog WHERE id = %s"):
        with pytest.raises((InternalError, ProgrammingError, IntegrityError)) as exc:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(sql, [row.pk])
        assert "append-only" in str(exc.value)
    # ORM paths are refused too, and the row is unchanged.
    with pytest.raises((InternalError, ProgrammingError)):
        with transaction.atomic():
            AuditLog.objects.filter(pk=row.pk).delete()
    assert AuditLog.objects.get(pk=row.pk).summary == ""


@pytest.mark.django_db
def test_update_records_only_changed_fields(trust, wlm):
    from carecoord.core.services.audit import snapshot

    before = snapshot(trust)
    trust.name = "Renamed Trust"
    trust.save()
    row = Auditor(wlm).update(trust, before)
    assert row.before == {"name": "Alpha Hospitals NHS Trust"} | {k: v for k, v in row.before.items() if k == "updated_at"}
    assert row.after["name"] == "Renamed Trust"
    assert row.actor == wlm


@pytest.mark.django_db
def test_viewing_a_patient_writes_a_view_row(wlm_client, patient):
    response = wlm_client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 200
    row = AuditLog.objects.get(action="view", object_type="core.patient", object_id=str(patient.pk))
    assert row.actor.username == response.wsgi_request.user.username
    assert row.request_id == response["X-Request-Id"]


@pytest.mark.django_db
def test_no_pii_in_audit_summary_or_str(patient):
    assert patient.nhs_number not in str(patient)
    assert patient.family_name not in str(patient)
