"""A patient answers a digital validation link on a phone; a clinician then decides. Axe passes on
every page."""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from carecoord.core.models import OutboxMessage, Role
from carecoord.core.services.audit import Auditor
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import OrganisationFactory, pathway_at, patient_at, user_with_roles
from carecoord.validation import digital

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_batch_sent_patient_answers_clinician_removes(phone_page, page, live_server):
    from django.core.cache import cache

    cache.clear()
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust")
    patient = patient_at(trust)
    patient.consent_sms, patient.phone, patient.birth_date = True, "07700900123", date(1960, 3, 15)
    patient.save()
    p = pathway_at(trust, patient, clinical_priority="P4", rtt_start=timezone.localdate() - timedelta(weeks=20))
    validator = user_with_roles(trust, Role.VALIDATOR)
    batch = digital.create_batch(trust, name="P4", cohort=digital.Cohort(), by=validator,
                                 auditor=Auditor(validator, organisation=trust))
    digital.send(batch, auditor=Auditor(validator, organisation=trust))
    link = OutboxMessage.objects.get(template="pidv-invite").personalisation["link"]
    token = re.search(r"/p/([^/]+)/", link).group(1)

    phone_page.goto(f"{live_server.url}/p/{token}/")
    assert_accessible(phone_page, "patient link: date of birth")
    phone_page.get_by_label("Day").fill("15")
    phone_page.get_by_label("Month").fill("3")
    phone_page.get_by_label("Year").fill("1960")
    phone_page.get_by_role("button", name="Continue").click()
    phone_page.get_by_role("heading", name="Do you still need care?").wait_for()
    assert_accessible(phone_page, "patient link: question")
    phone_page.get_by_label("I have had it elsewhere").check()
    phone_page.get_by_role("button", name="Send my answer").click()
    phone_page.get_by_text("Thank you").first.wait_for()
    assert_accessible(phone_page, "patient link: thanks")

    login(page, live_server, user_with_roles(trust, Role.CLINICIAN))
    page.goto(f"{live_server.url}/validation/tasks/")
    page.get_by_role("link", name=p.ppid).click()
    page.get_by_label("Remove from the list").check()
    page.get_by_label("Reason for removal (if removing)").select_option("treated_elsewhere")
    page.get_by_label("Clinical rationale").fill("Patient confirmed surgery elsewhere online")
    page.get_by_role("button", name="Record decision").click()
    page.get_by_text("Clinical decision recorded").wait_for()
    p.refresh_from_db()
    assert p.status == "removed"
    page.goto(f"{live_server.url}/validation/digital/{batch.pk}/")
    assert_accessible(page, "digital batch results")
