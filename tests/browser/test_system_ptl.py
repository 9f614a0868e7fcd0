"""The system-wide PTL in a browser: an ICB user filters to possible duplicates or transfers, sees the
summary and the badges, and the page passes axe."""

import pytest

from carecoord.core.models import DataSharingGrant, OrganisationKind, Role
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import OrganisationFactory, pathway_at, patient_at, user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_icb_finds_possible_duplicates_across_providers(page, live_server):
    icb = OrganisationFactory(ods_code="QAA", name="Test ICB", kind=OrganisationKind.ICB)
    alpha = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust", parent=icb)
    beta = OrganisationFactory(ods_code="RBB", name="Beta Hospitals NHS Trust", parent=icb)
    for trust in (alpha, beta):
        DataSharingGrant.objects.create(grantor=trust, grantee=icb, scope="patient", purpose="system PTL")
    shared = patient_at(alpha)
    a = pathway_at(alpha, shared, tfc="110")
    b = pathway_at(beta, shared, tfc="110")
    lone = pathway_at(beta, patient_at(beta), tfc="110")
    login(page, live_server, user_with_roles(icb, Role.HUB_COORDINATOR))
    page.goto(f"{live_server.url}/waiting-list/")
    assert page.locator("#ptl-table tbody tr").count() == 3
    assert page.locator("#ptl-table .nhsuk-tag--purple").count() == 2
    assert_accessible(page, "System-wide PTL")
    page.select_option("#id_duplicates", "only")
    page.get_by_role("button", name="Apply filters").click()
    page.locator("#duplicate-summary").wait_for()
    table = page.locator("#ptl-table").inner_text()
    assert a.ppid in table and b.ppid in table and lone.ppid not in table
    assert "RAA, RBB" in page.locator("#duplicate-summary").inner_text()
    assert_accessible(page, "System-wide PTL, duplicates only")
    page.select_option("#id_provider", "RBB")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**provider=RBB**")
    assert page.locator("#ptl-table tbody tr").count() == 1 and b.ppid in page.locator("#ptl-table").inner_text()
