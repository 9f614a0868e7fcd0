"""The escalation log in the browser: an operator works an action card; axe passes."""

from datetime import UTC, datetime

import pytest

from carecoord.coordination.models import OpelScore
from carecoord.core.models import OrganisationKind, Role
from carecoord.escalation import services
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import OrganisationFactory, user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_acknowledges_and_completes_an_action(page, live_server):
    icb = OrganisationFactory(ods_code="QAA", name="Test ICB", kind=OrganisationKind.ICB)
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust", parent=icb)
    score = OpelScore.objects.create(organisation=trust, at=datetime.now(UTC), edition="e", score=30, level=3)
    action = services.start_actions(icb, [score])[0]
    login(page, live_server, user_with_roles(icb, Role.SCC_OPERATOR))
    page.goto(f"{live_server.url}/coordination/escalation/")
    assert_accessible(page, "escalation log")
    page.get_by_role("button", name=f"Acknowledge: {action.card.title}").click()
    page.get_by_text("acknowledged").first.wait_for()
    page.get_by_label("What was done").first.fill("Called the site lead; discharge plan agreed")
    page.get_by_role("button", name=f"Mark done: {action.card.title}").click()
    page.get_by_text("Called the site lead").wait_for()
    action.refresh_from_db()
    assert action.status == "done"
    assert_accessible(page, "escalation log after completing an action")
    page.get_by_role("link", name="Situation report").click()
    assert_accessible(page, "situation report")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as PDF").click()
    assert download.value.suggested_filename.startswith("sitrep-QAA-")


def test_scc_agrees_a_mutual_aid_offer(page, live_server):
    from carecoord.core.services.audit import Auditor
    from carecoord.escalation import mutual_aid

    icb = OrganisationFactory(ods_code="QAA", name="Test ICB", kind=OrganisationKind.ICB)
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust", parent=icb)
    other = OrganisationFactory(ods_code="RBB", name="Beta Hospitals NHS Trust", parent=icb)
    a = Auditor.system("test", organisation=icb)
    req = mutual_aid.request_aid(requester=trust, kind="beds", detail="4 beds tonight", quantity=4,
                                 by=user_with_roles(trust, Role.SCC_OPERATOR), auditor=a)
    mutual_aid.offer(req, provider=other, detail="2 beds on ward 7", by=user_with_roles(other, Role.ORG_ADMIN), auditor=a)
    login(page, live_server, user_with_roles(icb, Role.SCC_OPERATOR))
    page.goto(f"{live_server.url}/coordination/escalation/mutual-aid/")
    assert_accessible(page, "mutual aid")
    page.get_by_role("button", name="Agree the offer from Beta Hospitals NHS Trust").click()
    page.get_by_text("Decision recorded").wait_for()
    req.refresh_from_db()
    assert req.status == "agreed"
    assert_accessible(page, "mutual aid after agreeing")
