"""Double clicks on separate database connections: one batch send, one open clinical task."""


import pytest
from django.db import transaction

from carecoord.core.models import OutboxMessage, Role
from carecoord.core.services.audit import Auditor
from carecoord.testing.concurrency import race
from carecoord.testing.factories import pathway_at, patient_at, user_with_roles
from carecoord.validation import digital, workflows
from carecoord.validation.models import DigitalBatch, DigitalMessage, ValidationTask
from carecoord.validation.tests.test_digital import OLD, _patient


@pytest.mark.django_db(transaction=True)
def test_two_sends_of_one_batch_at_once_message_each_patient_once(trust):
    for _ in range(3):
        pathway_at(trust, _patient(trust), clinical_priority="P4", rtt_start=OLD)
    user = user_with_roles(trust, Role.VALIDATOR)
    batch = digital.create_batch(trust, name="double click", cohort=digital.Cohort(), by=user,
                                 auditor=Auditor(user, organisation=trust))
    # each request loaded the batch (still a draft) before either sent it
    copies = [DigitalBatch.objects.get(pk=batch.pk) for _ in range(2)]
    results = race(lambda i: digital.send(copies[i], auditor=Auditor(user, organisation=trust)))
    sent = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, digital.DigitalError)]
    assert sent == [3] and len(refused) == 1 and "already been sent" in str(refused[0])
    assert DigitalMessage.objects.filter(batch=batch).count() == 3
    assert OutboxMessage.objects.filter(reference__startswith="pidv:").count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_requests_to_ask_a_clinician_at_once_open_one_task(trust):
    p = pathway_at(trust, patient_at(trust))
    user = user_with_roles(trust, Role.VALIDATOR)

    def ask(_i):
        with transaction.atomic():
            return workflows.request_review(p, reason="Escalated for clinical review",
                                            auditor=Auditor(user, organisation=trust)).pk

    results = race(ask, n=4)
    assert all(isinstance(r, int) for r in results), results
    assert ValidationTask.objects.filter(pathway=p, team="clinical", status="open").count() == 1
    assert len(set(results)) == 1
    # and the next escalation (a patient's answer, say) still works: no MultipleObjectsReturned
    workflows.escalate(p, reason="Patient answered online", auditor=Auditor(user, organisation=trust))
