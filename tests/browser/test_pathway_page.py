"""The pathway page in a browser: long unbroken free text reflows at 320 CSS pixels (WCAG 1.4.10), the
removal reason's label focuses its own radio (not the priority reason box), refused actions are named
in an error summary, and the page passes axe."""

import pytest
from django.utils import timezone

from carecoord.core.models import Role
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import pathway_at, user_with_roles
from carecoord.waitinglist.models import PathwayNote, PriorityReview

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOLERANCE = 2  # px: sub-pixel rounding


@pytest.fixture
def long_text_pathway(trust):
    user = user_with_roles(trust, Role.CLINICIAN, Role.WAITING_LIST_MANAGER)
    p = pathway_at(trust)
    PathwayNote.objects.create(pathway=p, author=user, text="x" * 5000)
    PathwayNote.objects.create(pathway=p, author=user, text="https://example.org/" + "a" * 300)
    PriorityReview.objects.create(pathway=p, from_code="", to_code="P3", reason="y" * 2000, reviewed_by=user,
                                  reviewed_at=timezone.now())
    return p, user


def test_long_notes_reflow_at_320_px(browser, live_server, long_text_pathway):
    p, user = long_text_pathway
    context = browser.new_context(viewport={"width": 320, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        login(page, live_server, user)
        page.goto(f"{live_server.url}/waiting-list/pathways/{p.pk}/")
        assert page.locator("#notes li").count() == 2
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320 + TOLERANCE, f"the page is {width} px wide at a 320 px viewport"
        # A removed pathway shows the clinician's rationale, free text too.
        from carecoord.core.services.audit import Auditor
        from carecoord.waitinglist import services

        services.remove_from_list(p, reason="duplicate", decided_by=user, rationale="z" * 3000, auditor=Auditor(user))
        page.goto(f"{live_server.url}/waiting-list/pathways/{p.pk}/")
        assert "Removed from the waiting list" in page.content()
        # The callout's heading follows the h1 as an h2 (heading order).
        assert page.locator("h2", has_text="Removed from the waiting list").count() == 1
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320 + TOLERANCE, f"the removed pathway's page is {width} px wide at a 320 px viewport"
    finally:
        context.close()


def test_pathway_page_labels_and_accessibility(page, live_server, long_text_pathway):
    p, user = long_text_pathway
    login(page, live_server, user)
    page.goto(f"{live_server.url}/waiting-list/pathways/{p.pk}/")
    assert_accessible(page, "pathway page")
    page.locator("label[for='remove-reason']").click()
    assert page.evaluate("document.activeElement.id") == "remove-reason"
    assert page.evaluate("document.activeElement.type") == "radio"
    page.locator("label[for='priority-reason']").click()
    assert page.evaluate("document.activeElement.id") == "priority-reason"


def test_removal_of_an_already_removed_pathway_is_named_at_the_top(page, live_server, trust):
    """A stale page (or a double click): the pathway was removed after the page was drawn."""
    from carecoord.core.services.audit import Auditor
    from carecoord.waitinglist import services

    user = user_with_roles(trust, Role.CLINICIAN)
    p = pathway_at(trust)
    login(page, live_server, user)
    page.goto(f"{live_server.url}/waiting-list/pathways/{p.pk}/")
    page.locator("#remove-reason").check()
    page.locator("#remove-rationale").fill("Referred twice for the same procedure")
    page.locator("#remove-confirm").check()
    services.remove_from_list(p, reason="duplicate", decided_by=user, rationale="first click", auditor=Auditor(user))
    with page.expect_navigation():
        page.get_by_role("button", name="Remove from the list").click()
    summary = page.locator(".nhsuk-error-summary")
    assert "This pathway is no longer on the waiting list (removed on" in summary.inner_text()
    assert page.locator("#remove-reason").count() == 0
    assert_accessible(page, "pathway page after a repeated removal")
