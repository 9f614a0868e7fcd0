"""All content sits inside a landmark (axe's best-practice "region" rule): the demo tag on every page
and the back link on pages that have one."""

import pytest

from carecoord.core.models import Role
from carecoord.testing.browser import assert_accessible, assert_in_landmarks, login
from carecoord.testing.factories import pathway_at, user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_home_and_pathway_pages_keep_all_content_in_landmarks(page, live_server, trust):
    user = user_with_roles(trust, Role.CLINICIAN, Role.WAITING_LIST_MANAGER)
    p = pathway_at(trust)
    login(page, live_server, user)

    page.goto(f"{live_server.url}/")
    assert page.get_by_text("Demo: synthetic data only").count() == 1
    assert page.locator("main .nhsuk-tag", has_text="Demo: synthetic data only").count() == 1
    assert_in_landmarks(page, "home")

    page.goto(f"{live_server.url}/waiting-list/pathways/{p.pk}/")
    back = page.get_by_role("navigation", name="Back").get_by_role("link", name="Back to the PTL")
    assert back.count() == 1
    assert_in_landmarks(page, "pathway page")
    assert_accessible(page, "pathway page")
