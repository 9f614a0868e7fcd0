"""The trust PTL in a browser: sort by a column heading (aria-sort follows), page with first and last
links, save and delete a view, and see an error summary for a bad filter; each state passes axe."""

from datetime import timedelta

import pytest
from django.utils import timezone

from carecoord.core.models import Role
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import OrganisationFactory, pathway_at, user_with_roles
from carecoord.waitinglist import views

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sort_page_save_and_delete_a_view(page, live_server, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust")
    today = timezone.localdate()
    for d in (10, 127, 365, 40, 200):
        pathway_at(trust, rtt_start=today - timedelta(days=d), clinical_priority="P2", priority_rank=3)
    login(page, live_server, user_with_roles(trust, Role.WAITING_LIST_MANAGER))
    page.goto(f"{live_server.url}/waiting-list/")
    assert page.locator('#ptl-table th[aria-sort="ascending"]').inner_text().startswith("Priority")
    assert_accessible(page, "PTL")

    page.locator("#ptl-table th a", has_text="Weeks waited").click()
    page.wait_for_url("**sort=wait**")
    assert page.locator('#ptl-table th[aria-sort="descending"]').inner_text().startswith("Weeks waited")
    assert page.locator("#ptl-table [data-weeks]").all_inner_texts() == ["53", "29"]
    page.get_by_role("link", name="Page 3 (last page)").click()
    page.wait_for_url("**page=3**")
    assert page.locator("#ptl-table [data-weeks]").all_inner_texts() == ["2"]
    assert "sort=wait" in page.url
    assert_accessible(page, "PTL, last page sorted by weeks waited")

    page.get_by_text("Save these filters as a view").click()
    page.fill("#saved-view-name", "Longest first")
    page.get_by_role("button", name="Save view").click()
    page.locator("#saved-views").wait_for()
    assert page.locator("#saved-views a").get_attribute("href") == "?sort=wait"
    assert_accessible(page, "PTL with a saved view")
    page.get_by_role("button", name="Delete saved view Longest first").click()
    page.get_by_text("Deleted view 'Longest first'").wait_for()
    assert page.locator("#saved-views").count() == 0

    page.goto(f"{live_server.url}/waiting-list/?band=forever&page=abc")
    page.locator(".nhsuk-error-summary").wait_for()
    assert "Select a weeks-waited band" in page.locator(".nhsuk-error-summary").inner_text()
    assert page.locator("#ptl-table").count() == 0
    assert_accessible(page, "PTL with an invalid filter")
