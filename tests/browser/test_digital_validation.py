"""A patient answers a digital validation link on a phone; a clinician then decides. Axe passes on
every page."""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from carecoord.core.models import OutboxMessage, Role
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import OrganisationFactory, pathway_at, patient_at, user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_batch_sent_patient_answers_clinician_removes(phone_page, page, live_server):
    from django.core.cache import cache

    cache.clear()
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust")
    patient = patient_at(trust)
    patient.consent_sms, patient.phone, patient.birth_date = True, "07700900123", date(1960, 3, 15)
    patient.save()
    p = pathway_at(trust, patient, clinical_priority="P4", rtt_start=timezone.localdate() - timedelta(weeks=20))
    # the validator chooses the cohort, previews it and sends, in the browser
    login(page, live_server, user_with_roles(trust, Role.VALIDATOR))
    page.goto(f"{live_server.url}/validation/digital/")
    page.get_by_label("Batch name").fill("Routine P4 over 12 weeks")
    page.get_by_role("button", name="Create and preview").click()
    page.get_by_text("1 patients would receive a message now").wait_for()
    assert_accessible(page, "digital batch preview")
    page.get_by_role("button", name="Send the messages").click()
    page.get_by_text("Sent to 1 patients").wait_for()
    from carecoord.validation.models import DigitalBatch

    batch = DigitalBatch.objects.get()
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

    # the PTL and the reports change accordingly
    login(page, live_server, user_with_roles(trust, Role.WAITING_LIST_MANAGER))
    page.goto(f"{live_server.url}/waiting-list/")
    assert page.locator("#ptl-table", has_text=p.ppid).count() == 0
    page.goto(f"{live_server.url}/validation/dashboard/")
    effect = page.locator("#effect").inner_text()
    assert "Had the 1 removed pathways stayed" in effect
    assert "I have had it elsewhere" in page.locator("#digital-batches").inner_text()
    assert_accessible(page, "validation dashboard after the removal")
