import pytest

from carecoord.core.models import AuditLog, Role
from carecoord.core.services import api_tokens
from carecoord.testing.factories import pathway_at, user_with_roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(trust):
    admin = user_with_roles(trust, Role.ORG_ADMIN)
    _, key = api_tokens.issue(name="pas", organisation=trust, roles=[Role.WAITING_LIST_MANAGER], created_by=admin)
    return {"Authorization": f"Bearer {key}"}


def test_ptl_via_token_is_scoped_and_audited(client, trust, other_trust, token):
    mine = pathway_at(trust, clinical_priority="P3", priority_rank=4)
    pathway_at(other_trust)
    r = client.get("/api/v1/waiting-list/ptl", headers=token)
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 1 and body["results"][0]["ppid"] == mine.ppid
    assert body["results"][0]["days_waited"] == 100 and body["results"][0]["weeks_waited"] == 15  # band 15: over 14 to 15 weeks (§10.1.7)
    assert AuditLog.objects.filter(object_type="waitinglist.ptl", system_job__startswith="api-token:").exists()


def test_invalid_filter_is_422_with_reason(client, trust, token):
    r = client.get("/api/v1/waiting-list/ptl?band=forever", headers=token)
    assert r.status_code == 422 and "band" in r.json()["detail"]


def test_other_providers_pathway_is_404(client, other_trust, token):
    other = pathway_at(other_trust)
    assert client.get(f"/api/v1/waiting-list/pathways/{other.pk}", headers=token).status_code == 404


def test_token_without_clinician_cannot_remove(client, trust, token):
    p = pathway_at(trust)
    r = client.post(f"/api/v1/waiting-list/pathways/{p.pk}/remove", data={"reason": "duplicate", "rationale": "x"},
                    content_type="application/json", headers=token)
    assert r.status_code == 403


def test_tci_via_api(client, trust, token):
    from datetime import timedelta

    from django.utils import timezone

    p = pathway_at(trust)
    when = timezone.localdate() + timedelta(days=14)
    r = client.post(f"/api/v1/waiting-list/pathways/{p.pk}/tci", data={"tci_date": when.isoformat()},
                    content_type="application/json", headers=token)
    assert r.status_code == 200 and r.json()["tci_date"] == when.isoformat()
    r = client.post(f"/api/v1/waiting-list/pathways/{p.pk}/tci", data={"tci_date": "2001-01-01"},
                    content_type="application/json", headers=token)
    assert r.status_code == 422 and "in the past" in r.json()["detail"]


def test_clinician_session_sets_priority_via_api(client, trust):
    p = pathway_at(trust)
    client.force_login(user_with_roles(trust, Role.CLINICIAN))
    r = client.post(f"/api/v1/waiting-list/pathways/{p.pk}/priority", data={"priority": "P2", "reason": "urgent"},
                    content_type="application/json")
    assert r.status_code == 200 and r.json()["clinical_priority"] == "P2"
