"""Escalation: a provider reaching a level starts that level's acute cards once; the system reaching
a level starts the system cards; operators acknowledge, assign and complete them (audited)."""

from datetime import UTC, datetime, timedelta

import pytest

from carecoord.coordination import services as scc
from carecoord.coordination.models import OpelScore
from carecoord.core.models import AuditLog, Role
from carecoord.escalation import services
from carecoord.escalation.models import EscalationAction
from carecoord.testing.factories import user_with_roles

pytestmark = pytest.mark.django_db
# A recent reading time (a quarter-hour, 45-60 minutes ago, so AT + 45 min is not in the future): only a
# provider's current score starts actions and raises alerts.
AT = datetime.now(UTC).replace(second=0, microsecond=0)
AT -= timedelta(minutes=AT.minute % 15 + 45)


@pytest.fixture(autouse=True)
def _at_stays_current(settings):
    """However long after collection a test runs, a score at AT..AT+45 min is still current."""
    settings.CARECOORD_OPEL_SCORE_STALE_MINUTES = 60 + int((datetime.now(UTC) - AT).total_seconds() // 60)


def _score(org, level, is_system=False, at=AT):
    return OpelScore.objects.create(organisation=org, at=at, edition="e", is_system=is_system, score=1, level=level)


def test_provider_level_starts_that_levels_acute_cards_once(trust, icb):
    started = services.start_actions(icb, [_score(trust, 3)])
    assert started and {a.card.level for a in started} == {3} and {a.card.pillar for a in started} == {"acute"}
    again = services.start_actions(icb, [_score(trust, 3, at=AT + timedelta(minutes=15))])
    assert again == []  # still live
    system = services.start_actions(icb, [_score(icb, 3, is_system=True)])
    assert system and {a.card.pillar for a in system} == {"system"}


def test_ingest_starts_actions_through_the_signal(trust, icb):
    scc.ingest(trust, [{"metric": "ambulance_handover_mean_minutes", "time": AT.isoformat(), "value": 200},
                       {"metric": "ed_4h_performance_pct", "time": AT.isoformat(), "value": 20},
                       {"metric": "majors_resus_occupancy_pct", "time": AT.isoformat(), "value": 150}])
    level = OpelScore.objects.get(organisation=trust).level
    actions = EscalationAction.objects.filter(organisation=trust)
    assert (level >= 2) == actions.exists()
    assert all(a.level == level for a in actions)


def test_operator_works_an_action_from_the_log(client, trust, icb):
    action = services.start_actions(icb, [_score(trust, 4)])[0]
    op = user_with_roles(icb, Role.SCC_OPERATOR)
    client.force_login(op)
    assert action.card.title in client.get("/coordination/escalation/").content.decode()
    client.post(f"/coordination/escalation/actions/{action.pk}/", {"do": "acknowledge"})
    action.refresh_from_db()
    assert action.status == "acknowledged" and action.acknowledged_by == op and action.assigned_to == op
    r = client.post(f"/coordination/escalation/actions/{action.pk}/", {"do": "done", "notes": ""}, follow=True)
    assert "record what was done" in r.content.decode()
    client.post(f"/coordination/escalation/actions/{action.pk}/", {"do": "done", "notes": "Divert agreed with YAS"})
    action.refresh_from_db()
    assert action.status == "done" and "Divert agreed" in action.notes and action.done_by == op
    assert AuditLog.objects.filter(object_type="escalation.escalationaction", action="update").count() == 2
    # done: a new level-4 score starts the card again
    assert services.start_actions(icb, [_score(trust, 4, at=AT + timedelta(hours=1))])


def test_analysts_read_but_do_not_act(client, trust, icb):
    action = services.start_actions(icb, [_score(trust, 3)])[0]
    client.force_login(user_with_roles(icb, Role.ANALYST))
    assert "Acknowledge" not in client.get("/coordination/escalation/").content.decode()
    assert client.post(f"/coordination/escalation/actions/{action.pk}/", {"do": "acknowledge"}).status_code == 403


def test_sitrep_page_and_pdf(client, trust, icb):
    scc.ingest(trust, [{"metric": "ambulance_handover_mean_minutes", "time": AT.isoformat(), "value": 95}])
    services.start_actions(icb, [_score(trust, 4, at=datetime.now(UTC))])
    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    page = client.get("/coordination/escalation/sitrep/").content.decode()
    assert trust.name in page and "OPEL 4" in page
    pdf = client.get("/coordination/escalation/sitrep.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert b"Situation report" in pdf.content or len(pdf.content) > 1000


def _band4(at):
    return [{"metric": "ambulance_handover_mean_minutes", "time": at.isoformat(), "value": 200},
            {"metric": "ed_4h_performance_pct", "time": at.isoformat(), "value": 20},
            {"metric": "majors_resus_occupancy_pct", "time": at.isoformat(), "value": 150}]


def test_a_backfill_is_rescored_but_starts_no_current_actions(trust, icb):
    old = AT - timedelta(days=9)
    scc.ingest(trust, _band4(old))
    assert OpelScore.objects.get(organisation=trust, at=old).level >= 2  # rescored
    assert not EscalationAction.objects.exists()


def test_a_correction_older_than_the_latest_score_starts_no_actions(trust, icb):
    scc.ingest(trust, [{"metric": "ambulance_handover_mean_minutes", "time": AT.isoformat(), "value": 5}])
    scc.ingest(trust, _band4(AT - timedelta(minutes=15)))  # out of order: an earlier time arrives later
    assert OpelScore.objects.get(organisation=trust, at=AT - timedelta(minutes=15)).level >= 2
    assert not EscalationAction.objects.filter(organisation=trust).exists()
    scc.ingest(trust, _band4(AT + timedelta(minutes=15)))  # the newest one does
    assert EscalationAction.objects.filter(organisation=trust).exists()
