"""Wide data tables scroll inside their own keyboard-focusable region, so the page itself never scrolls
sideways at 320 CSS pixels (WCAG 1.4.10 reflow)."""

import pytest

from carecoord.core.models import Role
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import OrganisationFactory, pathway_at, patient_at, user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOLERANCE = 10  # px: sub-pixel rounding and the focus outline


@pytest.mark.parametrize("path, table", [("/waiting-list/", "#ptl-table"),
                                         ("/waiting-list/reports/rtt/", "table")])
def test_wide_tables_scroll_in_their_own_region_at_320_px(narrow_page, live_server, path, table):
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust")
    for _ in range(3):
        pathway_at(trust, patient_at(trust))
    login(narrow_page, live_server, user_with_roles(trust, Role.WAITING_LIST_MANAGER, Role.ANALYST))
    narrow_page.goto(f"{live_server.url}{path}")
    width = narrow_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320 + TOLERANCE, f"{path} is {width} px wide at a 320 px viewport"
    region = narrow_page.locator(f".cc-table-scroll:has({table})").first
    assert region.get_attribute("tabindex") == "0"
    assert region.get_attribute("role") == "region"
    assert region.get_attribute("aria-label")
    assert_accessible(narrow_page, f"{path} at 320 px")
