"""The site shell in a real browser: persona login, organisation switch, every page a persona
can reach, each passing axe (WCAG 2.2 AA)."""

import pytest

from carecoord.core.models import Organisation, RoleAssignment, User
from carecoord.testing.browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_system(transactional_db):
    from datetime import date

    from carecoord.synth import services

    services.generate(seed=7, scale="demo", as_of=date(2026, 11, 22), only=["organisations", "personas"])


def _login_as(page, live_server, username: str):
    page.goto(f"{live_server.url}/")
    assert "/auth/login/" in page.url
    assert_accessible(page, "login page")
    page.get_by_role("link", name="Log in as a demo persona").click()
    assert_accessible(page, "persona page")
    page.locator(f"button[data-persona='{username}']").first.click()
    page.wait_for_url(f"{live_server.url}/")


def test_persona_login_switch_and_every_page_is_accessible(page, live_server, demo_system):
    _login_as(page, live_server, "multi")
    user = User.objects.get(username="multi")
    orgs = [a.organisation for a in RoleAssignment.objects.filter(user=user).select_related("organisation")]
    first = page.locator("h1").inner_text()
    assert first in {o.name for o in orgs}
    assert_accessible(page, "home")

    # Switch to the other organisation.
    page.get_by_role("link", name="Switch organisation").click()
    assert_accessible(page, "switch organisation")
    other = next(o for o in orgs if o.name != first)
    page.get_by_label(other.name).check()
    page.get_by_role("button", name="Continue").click()
    assert page.locator("h1").inner_text() == other.name

    # Every page in the navigation opens and passes axe.
    hrefs = page.locator("nav.nhsuk-header__navigation a.nhsuk-header__navigation-link").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))")
    for href in [*hrefs, "/jobs/"]:
        response = page.goto(f"{live_server.url}{href}")
        assert response.status < 400, href
        assert_accessible(page, href)


def test_every_persona_lands_on_an_accessible_home(page, live_server, demo_system):
    for username in ["wlm", "scc", "hub", "clin"]:
        page.context.clear_cookies()
        _login_as(page, live_server, username)
        org = Organisation.objects.get(role_assignments__user__username=username)
        assert page.locator("h1").inner_text() == org.name


def test_shell_works_on_a_phone(phone_page, live_server, demo_system):
    _login_as(phone_page, live_server, "wlm")
    assert_accessible(phone_page, "home on a phone")
