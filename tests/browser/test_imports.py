"""The import upload page and its report in a real browser, each passing axe."""

import pytest

from carecoord.core.models import Role
from carecoord.integration.models import ImportBatch
from carecoord.integration.tests import wlmds_files as wf
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import OrganisationFactory, user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upload_a_file_follow_the_job_and_read_the_report(page, live_server, tmp_path):
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust")
    user = user_with_roles(trust, Role.WAITING_LIST_MANAGER)
    login(page, live_server, user)
    rows = [wf.open_row(0), wf.open_row(1, ACTIVITY_TREATMENT_FUNCTION_CODE="1"), wf.open_row(2)]
    path = wf.write(tmp_path / "weekly.csv", rows)

    page.goto(f"{live_server.url}/imports/")
    assert page.locator("h1").inner_text() == "Imports"
    assert_accessible(page, "imports page")
    # An empty submission explains itself.
    page.get_by_role("button", name="Import file").click()
    assert page.locator(".nhsuk-error-summary").is_visible()
    assert "Choose the CSV file to import" in page.locator(".nhsuk-error-summary").inner_text()
    assert_accessible(page, "imports page with errors")

    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_label("Open pathways (the weekly snapshot of the waiting list)").check()
    page.get_by_label("Load the good rows, report the bad ones").check()
    page.get_by_role("button", name="Import file").click()
    page.wait_for_url("**/jobs/*/")
    page.get_by_role("link", name="See the import report").click()
    page.wait_for_url("**/imports/*/")
    batch = ImportBatch.objects.get()
    assert page.url.endswith(f"/imports/{batch.pk}/")
    assert batch.rows_loaded == 2 and batch.rows_rejected == 1, list(batch.rejections.values_list("row_number", "field", "reason"))
    body = page.locator("main").inner_text()
    assert "ACTIVITY_TREATMENT_FUNCTION_CODE" in body and "not a treatment function code" in body
    assert_accessible(page, "import report")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the rejected rows as CSV").click()
    assert download.value.suggested_filename == f"import-{batch.pk}-rejections.csv"

    page.goto(f"{live_server.url}/imports/profiles/new/")
    assert_accessible(page, "new mapping profile")
