"""The validation worklist in a real browser, passing axe."""

import pytest

from carecoord.core.models import Role
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import OrganisationFactory, pathway_at, patient_at, user_with_roles
from carecoord.validation import runner

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_validator_filters_the_worklist_and_opens_a_pathway(page, live_server):
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust")
    p = pathway_at(trust, patient_at(trust), rtt_status="21")
    runner.run(organisation=trust)
    login(page, live_server, user_with_roles(trust, Role.VALIDATOR))
    page.goto(f"{live_server.url}/validation/")
    assert page.locator("h1").inner_text() == "Validation worklist"
    assert_accessible(page, "validation worklist")
    page.get_by_label("Rule").select_option("T8")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name=p.ppid).click()
    page.wait_for_url(f"**/validation/pathways/{p.pk}/")
    assert_accessible(page, "pathway validation")
    page.get_by_label("Phone").check()
    page.get_by_label("No longer required").check()
    page.get_by_role("button", name="Record contact").click()
    page.wait_for_url(f"**/validation/pathways/{p.pk}/")
    assert "No longer required" in page.locator("main").inner_text()
    page.goto(f"{live_server.url}/validation/tasks/")
    assert p.ppid in page.locator("main").inner_text()
    assert_accessible(page, "clinical task worklist")


def test_dashboard_chart_is_accessible(page, live_server):
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust")
    pathway_at(trust, patient_at(trust), rtt_status="21")
    runner.run(organisation=trust)
    login(page, live_server, user_with_roles(trust, Role.VALIDATOR))
    page.goto(f"{live_server.url}/validation/dashboard/")
    page.locator('.cc-chart[data-ready="1"]').wait_for()
    assert_accessible(page, "validation dashboard")
