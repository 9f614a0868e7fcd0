"""The SCC operator's day, with the synthetic feed running: the board moves, an alert is raised and
acknowledged, an escalation action card started by the OPEL level is worked, a mutual-aid offer is
agreed and the day's sitrep downloaded. Axe passes on each page."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from carecoord.core.models import OrganisationKind, Role
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import OrganisationFactory, user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _feed(iterations):
    from carecoord.synth import feed

    try:
        feed.live(interval=1.0, seed=3, iterations=iterations)
    finally:
        connection.close()


def test_operator_day_with_the_live_feed(page, live_server):
    from carecoord.coordination import services
    from carecoord.coordination.models import AlertRule
    from carecoord.core.services.audit import Auditor
    from carecoord.escalation import mutual_aid
    from carecoord.escalation.models import EscalationAction, MutualAidRequest

    icb = OrganisationFactory(ods_code="QAA", name="Test ICB", kind=OrganisationKind.ICB)
    alpha = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust", parent=icb)
    beta = OrganisationFactory(ods_code="RBB", name="Beta Hospitals NHS Trust", parent=icb)
    AlertRule.objects.create(system=icb, metric="ambulance_handover_mean_minutes", direction="above", threshold=60)
    login(page, live_server, user_with_roles(icb, Role.SCC_OPERATOR))
    page.goto(f"{live_server.url}/coordination/")
    page.wait_for_function("document.getElementById('board').dataset.live === '1'")

    # the feed writes both trusts' readings; the board fills in without a reload
    feeder = threading.Thread(target=_feed, args=(2,))
    feeder.start()
    feeder.join(timeout=30)
    page.locator("#board tbody tr", has_text="Alpha Hospitals NHS Trust").locator("strong.nhsuk-tag").wait_for(
        timeout=8000)  # its OPEL level tag (Alpha posts readings; Beta's come from events, a few per quarter)
    assert page.locator("#board tbody tr", has_text="Beta Hospitals NHS Trust").count() == 1
    assert_accessible(page, "SCC board with the feed running")

    # Alpha has a bad quarter-hour: the alert and the level's action card follow
    now = timezone.now()
    at = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    services.ingest(alpha, [{"metric": m, "time": at.isoformat(), "value": v} for m, v in (
        ("ambulance_handover_mean_minutes", 95), ("ed_4h_performance_pct", 40),
        ("majors_resus_occupancy_pct", 130), ("ga_bed_occupancy_pct", 99))])
    ack = page.get_by_role("button", name="Acknowledge the ambulance_handover_mean_minutes alert for RAA")
    ack.wait_for(timeout=8000)
    assert_accessible(page, "SCC board with an alert")
    ack.click()
    page.get_by_text("Alert acknowledged").wait_for()

    action = EscalationAction.objects.filter(organisation=alpha).first()
    assert action is not None, "the OPEL level should have started an action card"
    page.goto(f"{live_server.url}/coordination/escalation/")
    page.get_by_role("button", name=f"Acknowledge: {action.card.title}").first.click()
    page.get_by_label("What was done").first.fill("Site lead called; two discharges brought forward")
    page.get_by_role("button", name=f"Mark done: {action.card.title}").first.click()
    page.get_by_text("two discharges brought forward").wait_for()

    # mutual aid: Alpha asks, Beta offers, the SCC agrees
    a = Auditor.system("test", organisation=icb)
    req = mutual_aid.request_aid(requester=alpha, kind="beds", detail="4 G&A beds tonight", quantity=4,
                                 by=user_with_roles(alpha, Role.SCC_OPERATOR), auditor=a)
    mutual_aid.offer(req, provider=beta, detail="2 beds on ward 7", by=user_with_roles(beta, Role.ORG_ADMIN), auditor=a)
    page.goto(f"{live_server.url}/coordination/escalation/mutual-aid/")
    page.get_by_role("button", name="Agree the offer from Beta Hospitals NHS Trust").click()
    page.get_by_text("Decision recorded").wait_for()
    assert MutualAidRequest.objects.get().status == "agreed"

    # the day's sitrep, with the action and the aid in it
    page.goto(f"{live_server.url}/coordination/escalation/sitrep/")
    assert "two discharges brought forward" in page.content() or action.card.title in page.content()
    assert_accessible(page, "situation report")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as PDF").click()
    assert download.value.suggested_filename.startswith("sitrep-QAA-")
