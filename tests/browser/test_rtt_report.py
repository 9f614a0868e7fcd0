"""The RTT report renders its chart and passes axe."""

import pytest

from carecoord.core.models import Role
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import OrganisationFactory, pathway_at, patient_at, user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rtt_report_draws_the_distribution(page, live_server):
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust")
    for _ in range(3):
        pathway_at(trust, patient_at(trust))
    login(page, live_server, user_with_roles(trust, Role.ANALYST))
    page.goto(f"{live_server.url}/waiting-list/reports/rtt/")
    assert page.locator("h1").inner_text() == "RTT waiting times"
    page.locator(".cc-chart[data-ready=\"1\"]").first.wait_for()
    page.locator('[data-vega-spec="rtt-trend-spec"][data-ready="1"]').wait_for()
    # The distribution's figures as a table (WCAG 1.1.1): the chart's description names it.
    page.locator("#rtt-dist-table summary").click()
    table = page.locator("#rtt-dist-table table")
    assert table.is_visible() and "Pathways" in table.inner_text()
    assert "Show the weeks waited as a table" in page.locator(
        '[data-vega-spec="rtt-dist-spec"] [role="graphics-document"]').get_attribute("aria-label")
    assert_accessible(page, "RTT report")
