"""Administrative and clinical validation: nothing leaves the list without a clinician's recorded
decision; patients' answers route to clinicians; every act updates the last-validated date."""

import pytest
from django.utils import timezone

from carecoord.core.models import Role
from carecoord.core.services.audit import Auditor
from carecoord.testing.factories import pathway_at, patient_at, user_with_roles
from carecoord.validation import workflows
from carecoord.validation.models import ClinicalDecision, ValidationTask
from carecoord.waitinglist.models import ClockEvent, Pathway
from carecoord.waitinglist.services import ClinicalDecisionRequired

pytestmark = pytest.mark.django_db


@pytest.fixture
def p(trust):
    return pathway_at(trust, patient_at(trust))


def test_patient_no_longer_needing_care_creates_a_clinical_task_not_a_removal(trust, p):
    validator = user_with_roles(trust, Role.VALIDATOR)
    workflows.record_contact(p, by=validator, method="phone", outcome="no_longer_required", notes="",
                             auditor=Auditor(validator, organisation=trust))
    p.refresh_from_db()
    assert p.status == "on_list" and p.last_validated_on == timezone.localdate()
    assert ValidationTask.objects.get(pathway=p).team == "clinical"


def test_a_non_clinician_cannot_decide_or_remove(trust, p):
    wlm = user_with_roles(trust, Role.WAITING_LIST_MANAGER)
    with pytest.raises(ClinicalDecisionRequired):
        workflows.record_decision(p, clinician=wlm, decision="remove", removal_reason="no_longer_required",
                                  rationale="patient said so", auditor=Auditor(wlm, organisation=trust))
    p.refresh_from_db()
    assert p.status == "on_list" and not ClinicalDecision.objects.exists()


def test_clinician_removal_records_the_decision_stops_the_clock_and_closes_the_task(trust, p):
    clin = user_with_roles(trust, Role.CLINICIAN)
    workflows.escalate(p, reason="review", auditor=Auditor(clin, organisation=trust))
    workflows.record_decision(p, clinician=clin, decision="remove", removal_reason="treated_elsewhere",
                              rationale="had surgery privately in March", auditor=Auditor(clin, organisation=trust))
    p = Pathway.objects.get(pk=p.pk)
    assert p.status == "removed" and p.removal.decided_by == clin
    assert ClockEvent.objects.filter(pathway=p, source="validation").exists()
    assert ValidationTask.objects.get(pathway=p).status == "done"


def test_keep_with_a_new_priority(trust, p):
    clin = user_with_roles(trust, Role.CLINICIAN)
    workflows.record_decision(p, clinician=clin, decision="keep", priority="P2", rationale="worse symptoms",
                              auditor=Auditor(clin, organisation=trust))
    p.refresh_from_db()
    assert p.status == "on_list" and p.clinical_priority == "P2"


def test_pages_enforce_the_clinical_decision(client, trust, p):
    wlm = user_with_roles(trust, Role.WAITING_LIST_MANAGER)
    client.force_login(wlm)
    page = client.get(f"/validation/pathways/{p.pk}/").content.decode()
    assert "Record a contact" in page and "Clinical decision" not in page
    r = client.post(f"/validation/pathways/{p.pk}/", {"action": "decision", "d-decision": "remove",
                                                        "d-removal_reason": "duplicate", "d-rationale": "dup"})
    assert r.status_code == 403
    p.refresh_from_db()
    assert p.status == "on_list"
    clin = user_with_roles(trust, Role.CLINICIAN)
    client.force_login(clin)
    bad = client.post(f"/validation/pathways/{p.pk}/", {"action": "decision", "d-decision": "remove",
                                                          "d-rationale": "dup"})
    assert bad.status_code == 400 and "Choose why the patient is being removed" in bad.content.decode()
    ok = client.post(f"/validation/pathways/{p.pk}/", {"action": "decision", "d-decision": "remove",
                                                         "d-removal_reason": "duplicate", "d-rationale": "dup of 123"})
    assert ok.status_code == 302
    p.refresh_from_db()
    assert p.status == "removed"


def test_another_organisations_pathway_is_404(client, trust, other_trust):
    theirs = pathway_at(other_trust, patient_at(other_trust))
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    assert client.get(f"/validation/pathways/{theirs.pk}/").status_code == 404


def test_dashboard_counts(client, trust, p):
    from carecoord.validation import runner

    p.rtt_status = "21"
    p.save()
    runner.run(organisation=trust)
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    r = client.get("/validation/dashboard/")
    body = r.content.decode()
    assert r.status_code == 200 and "T8" in body and "runs-spec" in body
    import re

    cards = dict(re.findall(r'card__description">([^<]+)</p><p class="nhsuk-heading-l[^"]*">([^<]+)</p>', body))
    assert cards["Pathways on the list"] == "1"
    assert cards["Due for revalidation"] == "1"  # waited 100 days, never validated
    assert cards["Validated in the last 12 weeks"] == "0.0%"
