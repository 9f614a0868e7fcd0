"""The SCC board on a desktop and a phone: levels shown, refreshed in place, accessible."""

from datetime import UTC, datetime, timedelta

import pytest

from carecoord.coordination import services
from carecoord.core.models import OrganisationKind, Role
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import OrganisationFactory, user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



@pytest.mark.parametrize("viewport", ["page", "phone_page"])
def test_board_moves_when_readings_arrive(request, live_server, viewport):
    page = request.getfixturevalue(viewport)
    icb = OrganisationFactory(ods_code="QAA", name="Test ICB", kind=OrganisationKind.ICB)
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust", parent=icb)
    now = datetime.now(UTC).replace(microsecond=0)
    services.ingest(trust, [{"metric": "ambulance_handover_mean_minutes", "time": (now - timedelta(minutes=30)).isoformat(),
                             "value": 5}])
    from carecoord.coordination.models import AlertRule

    AlertRule.objects.create(system=icb, metric="ambulance_handover_mean_minutes", direction="above", threshold=60)
    login(page, live_server, user_with_roles(icb, Role.SCC_OPERATOR))
    page.goto(f"{live_server.url}/coordination/")
    assert page.locator("h1").inner_text() == "Coordination centre"
    assert "Alpha Hospitals NHS Trust" in page.locator("#board").inner_text()
    assert_accessible(page, f"SCC board ({viewport})")
    page.wait_for_function("document.getElementById('board').dataset.live === '1'")
    services.ingest(trust, [{"metric": "ambulance_handover_mean_minutes", "time": now.isoformat(), "value": 97.5}])
    # no reload and no polling wait: the server-sent event brings the change within seconds
    page.locator("#board", has_text="97.5").wait_for(timeout=8000)
    assert_accessible(page, f"SCC board after update, with an alert ({viewport})")
    page.get_by_role("button", name="Acknowledge the ambulance_handover_mean_minutes alert for RAA").click()
    page.get_by_text("Alert acknowledged").wait_for()
    assert "Acknowledge" not in page.locator("#board").inner_text()


def test_a_live_update_keeps_keyboard_focus_and_announces_only_a_status_line(page, live_server):
    icb = OrganisationFactory(ods_code="QAA", name="Test ICB", kind=OrganisationKind.ICB)
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust", parent=icb)
    now = datetime.now(UTC).replace(microsecond=0)
    def values(at, handover, four_hour, majors):
        return [{"metric": m, "time": at.isoformat(), "value": v} for m, v in (
            ("ambulance_handover_mean_minutes", handover), ("ed_4h_performance_pct", four_hour),
            ("majors_resus_occupancy_pct", majors))]

    services.ingest(trust, values(now - timedelta(minutes=30), 5, 99, 50))
    login(page, live_server, user_with_roles(icb, Role.SCC_OPERATOR))
    page.goto(f"{live_server.url}/coordination/")
    page.wait_for_function("document.getElementById('board').dataset.live === '1'")
    assert page.locator("#board [aria-live]").count() == 0  # the table is not a live region
    page.locator("#prov-RAA").focus()
    services.ingest(trust, values(now, 200, 20, 150))
    page.locator("#board", has_text="200").wait_for(timeout=8000)
    page.wait_for_function("document.getElementById('board-status').textContent.startsWith('Updated')")
    assert page.evaluate("document.activeElement.id") == "prov-RAA"
    status = page.locator("#board-status")
    level = page.locator("[data-provider=RAA]").get_attribute("data-level")
    assert status.get_attribute("aria-live") == "polite" and f"RAA now OPEL {level}" in status.inner_text(), level
