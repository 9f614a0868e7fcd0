"""SCC readings: the ingest API (token per provider, idempotent, all-or-nothing with named errors),
OPEL rescoring after ingest, and the board."""

from datetime import UTC, datetime, timedelta

import pytest

from carecoord.coordination import services
from carecoord.coordination.models import OpelScore, Reading
from carecoord.core.models import Role
from carecoord.core.services.api_tokens import issue
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


def _post(client, token, body):
    return client.post("/api/v1/coordination/readings", data=body, content_type="application/json",
                       headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def token(trust):
    return issue(name="feed", organisation=trust, roles=[Role.ORG_ADMIN],
                 created_by=user_with_roles(trust, Role.ORG_ADMIN))[1]


def batch(at=AT, handover=45.0):
    return {"readings": [{"metric": "ambulance_handover_mean_minutes", "time": at.isoformat(), "value": handover},
                         {"metric": "ed_4h_performance_pct", "time": at.isoformat(), "value": 62}]}


def test_posting_readings_stores_them_once_and_scores_provider_and_system(client, token, trust, icb):
    r = _post(client, token, batch())
    assert r.status_code == 200, r.content
    assert r.json()["received"] == 2 and r.json()["changed"] == 2
    again = _post(client, token, batch())
    assert again.json()["changed"] == 0 and Reading.objects.count() == 2  # idempotent
    changed = _post(client, token, batch(handover=70))
    assert changed.json()["changed"] == 1
    assert Reading.objects.get(metric="ambulance_handover_mean_minutes").value == 70
    provider = OpelScore.objects.get(organisation=trust, at=AT)
    system = OpelScore.objects.get(organisation=icb, at=AT)
    assert system.is_system and provider.level in (1, 2, 3, 4)
    points = {p["key"]: p["points"] for p in provider.explanation["parameters"]}
    assert points["ambulance_handover_mean_minutes"] is not None
    # parameters with no reading are missing, not zero
    assert any(p["points"] is None and p["status"] != "ok" for p in provider.explanation["parameters"])


def test_each_batch_is_audited_by_the_statement_that_stores_it(client, token, trust, monkeypatch):
    """The audit row is written by the ingest statement itself: a batch the database refuses leaves
    neither readings nor an audit row, and a stored batch always has its row."""
    import psycopg
    from django.db import transaction

    from carecoord.core.models import AuditLog

    r = _post(client, token, batch())
    assert r.status_code == 200
    _post(client, token, batch(handover=70))
    rows = list(AuditLog.objects.filter(object_type="coordination.readings").order_by("id"))
    assert [(a.action, a.object_id, a.organisation_id, a.summary) for a in rows] == [
        ("import", str(trust.pk), trust.pk, "2 readings (2 new or changed)"),
        ("import", str(trust.pk), trust.pk, "2 readings (1 new or changed)")]
    assert rows[0].system_job.startswith("api-token:") and rows[0].actor_id is None and rows[0].request_id
    monkeypatch.setattr("carecoord.core.services.audit.Auditor.insert_sql",
                        lambda self, *a, **kw: ("INSERT INTO core_auditlog (at) VALUES (NULL)", {}))  # it fails
    with pytest.raises(psycopg.errors.NotNullViolation), transaction.atomic():
        services.ingest(trust, batch(handover=99)["readings"], auditor=services.Auditor.system("test"))
    assert Reading.objects.get(metric="ambulance_handover_mean_minutes").value == 70  # nothing stored
    assert AuditLog.objects.filter(object_type="coordination.readings").count() == 2


def test_bad_items_refuse_the_batch_naming_index_and_field(client, token):
    body = {"readings": [{"metric": "ed_4h_performance_pct", "time": AT.isoformat(), "value": 80},
                         {"metric": "ed_4h_performance_pct", "time": "yesterday", "value": 80},
                         {"metric": "x", "time": "2026-01-12T09:00:00", "value": 1},
                         {"metric": "x", "time": AT.isoformat(), "value": "high"}]}
    r = _post(client, token, body)
    assert r.status_code == 400 and r["Content-Type"] == "application/problem+json"
    detail = r.json()["detail"]
    assert "readings[1].time" in detail and "readings[2].time" in detail and "readings[3].value" in detail
    assert Reading.objects.count() == 0


def test_a_token_posts_only_for_its_own_organisation(client, token):
    body = {**batch(), "provider": "RBB"}
    assert _post(client, token, body).status_code == 403
    assert _post(client, "cc_bad_token", batch()).status_code == 401


def test_board_shows_levels_to_scc_operators_only(client, trust, icb, other_trust):
    services.ingest(trust, batch()["readings"])
    op = user_with_roles(icb, Role.SCC_OPERATOR)
    client.force_login(op)
    body = client.get("/coordination/").content.decode()
    assert trust.name in body and "OPEL" in body and other_trust.name in body
    assert client.get(f"/coordination/providers/{trust.ods_code}/").status_code == 200
    client.force_login(user_with_roles(trust, Role.WAITING_LIST_MANAGER))
    assert client.get("/coordination/").status_code == 403


def test_level_change_in_the_last_hour_is_shown(trust, icb):
    services.ingest(trust, batch(at=AT - timedelta(hours=2), handover=5)["readings"])
    services.ingest(trust, batch(at=AT, handover=90)["readings"])
    state = services.board_state(icb, at=AT)
    levels = [s.level for s in OpelScore.objects.filter(organisation=trust).order_by("at")]
    assert (levels[0] != levels[-1]) == bool(state["changes"])


def test_system_score_catches_up_after_a_debounced_burst(trust, other_trust, icb):
    services.ingest(trust, batch()["readings"])
    services.ingest(other_trust, batch(handover=90)["readings"])  # within the debounce window
    state = services.board_state(icb, at=AT)
    system = state["system_score"]
    assert system.explanation["providers_scored"] == 2


def test_threshold_alert_is_raised_once_shown_acknowledged_and_notified(client, trust, icb):
    from carecoord.coordination.models import Alert, AlertRule
    from carecoord.core.models import AuditLog, OutboxMessage

    AlertRule.objects.create(system=icb, metric="ambulance_handover_mean_minutes", direction="above", threshold=60,
                             notify="scc-duty@example.nhs.uk")
    services.ingest(trust, batch(handover=45)["readings"])
    assert not Alert.objects.exists()
    services.ingest(trust, batch(at=AT + timedelta(minutes=15), handover=75)["readings"])
    services.ingest(trust, batch(at=AT + timedelta(minutes=30), handover=80)["readings"])  # still breached
    alert = Alert.objects.get()
    assert alert.value == 75 and OutboxMessage.objects.filter(reference=f"scc-alert:{alert.pk}").count() == 1
    op = user_with_roles(icb, Role.SCC_OPERATOR)
    client.force_login(op)
    assert "Acknowledge" in client.get("/coordination/").content.decode()
    r = client.post(f"/coordination/alerts/{alert.pk}/acknowledge/")
    assert r.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == op and alert.acknowledged_at is not None
    assert AuditLog.objects.filter(object_type="coordination.alert", action="update").exists()
    # after acknowledgement a new breach raises a new alert
    services.ingest(trust, batch(at=AT + timedelta(minutes=45), handover=90)["readings"])
    assert Alert.objects.count() == 2


def test_opel_level_alert_and_rule_page(client, trust, icb):
    from carecoord.coordination.models import Alert

    op = user_with_roles(icb, Role.SCC_OPERATOR)
    client.force_login(op)
    bad = client.post("/coordination/alert-rules/", {"provider": "NOPE", "metric": "opel_level", "direction": "above",
                                                      "threshold": "3"})
    assert bad.status_code == 400 and "is not one of" in bad.content.decode()
    ok = client.post("/coordination/alert-rules/", {"provider": "RAA", "metric": "opel_level", "direction": "above",
                                                     "threshold": "1"})
    assert ok.status_code == 302
    services.ingest(trust, batch(handover=90)["readings"])
    assert Alert.objects.get().rule.metric == "opel_level"


def test_analysts_see_alerts_but_cannot_acknowledge(client, trust, icb):
    from carecoord.coordination.models import Alert, AlertRule

    AlertRule.objects.create(system=icb, metric="ed_4h_performance_pct", direction="below", threshold=70)
    services.ingest(trust, batch()["readings"])
    alert = Alert.objects.get()
    client.force_login(user_with_roles(icb, Role.ANALYST))
    body = client.get("/coordination/").content.decode()
    assert "ed_4h_performance_pct" in body and "Acknowledge" not in body
    assert client.post(f"/coordination/alerts/{alert.pk}/acknowledge/").status_code == 403


def test_the_board_stream_sends_a_change_when_a_reading_arrives(client, token, trust, icb, settings):
    settings.SCC_STREAM_SECONDS, settings.SCC_STREAM_INTERVAL = 5, 0.02
    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    r = client.get("/coordination/stream/")
    assert r.status_code == 200 and r["Content-Type"] == "text/event-stream" and r["Cache-Control"] == "no-cache"
    events = iter(r.streaming_content)
    hello = next(events).decode()
    assert hello.startswith("retry: 2000\nid: ") and "event: hello" in hello
    seen = hello.split("id: ")[1].split("\n")[0]
    services.ingest(trust, batch()["readings"])
    assert "event: change" in next(events).decode()
    # a browser reconnecting with an older event id is told at once that something changed
    again = iter(client.get("/coordination/stream/", headers={"Last-Event-ID": seen}).streaming_content)
    next(again)
    assert "event: change" in next(again).decode()
    board = client.get("/coordination/", headers={"HX-Request": "true"}).content.decode()
    assert 'data-sse' not in board  # the fragment swaps inside the element that holds the stream
    page = client.get("/coordination/").content.decode()
    assert 'data-sse="/coordination/stream/"' in page and 'hx-trigger="every 30s, scc-change"' in page


def test_the_stream_is_for_scc_roles_only(client, trust, icb):
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    assert client.get("/coordination/stream/").status_code == 403


def test_sparkline_of_the_level_history(trust, icb):
    for k, handover in enumerate((20, 45, 70, 95)):
        services.ingest(trust, batch(at=AT + timedelta(minutes=15 * k), handover=handover)["readings"])
    state = services.board_state(icb, at=AT + timedelta(hours=1))
    sp = next(p for p in state["providers"] if p.organisation == trust).sparkline()
    assert sp is not None and len(sp["points"].split()) == 4 and "OPEL level over the last 1 hours" in sp["label"]
    ys = [float(pt.split(",")[1]) for pt in sp["points"].split()]
    assert ys[0] >= ys[-1]  # handovers got worse: the level rose (higher up the sparkline)


def test_sitrep_csv_upload_is_all_or_nothing_and_scoped(client, trust, other_trust, icb):
    from django.core.files.uploadedfile import SimpleUploadedFile

    op = user_with_roles(icb, Role.SCC_OPERATOR)
    client.force_login(op)
    good = ("provider,metric,time,value\n"
            f"RAA,ambulance_handover_mean_minutes,{AT.isoformat()},40\n"
            f"rbb,ed_4h_performance_pct,{AT.isoformat()},71.5\n")
    r = client.post("/coordination/upload/", {"file": SimpleUploadedFile("s.csv", good.encode())}, follow=True)
    assert "2 readings loaded for 2 providers" in r.content.decode()
    assert Reading.objects.filter(source="csv").count() == 2 and OpelScore.objects.filter(organisation=trust)
    bad = ("provider,metric,time,value\n"
           f"RAA,ambulance_handover_mean_minutes,{(AT + timedelta(minutes=15)).isoformat()},50\n"
           "RAA,ed_4h_performance_pct,2026-01-12 09:00,70\n"
           f"RZZ,ed_4h_performance_pct,{AT.isoformat()},70\n"
           f"RAA,ed_4h_performance_pct,{AT.isoformat()},high\n")
    r = client.post("/coordination/upload/", {"file": SimpleUploadedFile("s.csv", bad.encode())})
    body = r.content.decode()
    assert r.status_code == 400 and "nothing was loaded" in body
    assert "Row 4, provider: RZZ" in body and "Row 5, value" in body
    assert Reading.objects.count() == 2  # nothing from the bad file
    r = client.post("/coordination/upload/", {"file": SimpleUploadedFile("s.csv", b"a,b\n1,2\n")})
    assert "Missing columns: metric, provider, time, value" in r.content.decode()
    # a provider's own admin may load only their own readings
    client.force_login(user_with_roles(trust, Role.ORG_ADMIN))
    r = client.post("/coordination/upload/", {"file": SimpleUploadedFile("s.csv", good.encode())})
    assert r.status_code == 400 and "RBB is not a provider you may load for" in r.content.decode()


@pytest.mark.parametrize("when", ["9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00+14:00", "1999-12-31T23:00:00+00:00",
                                  "FUTURE"])
def test_extreme_or_future_reading_times_are_refused_naming_the_item(client, token, when):
    from django.utils import timezone

    if when == "FUTURE":
        when = (timezone.now() + timedelta(minutes=20)).isoformat()
    body = {"readings": [{"metric": "ga_bed_occupancy_pct", "time": AT.isoformat(), "value": 50},
                         {"metric": "ga_bed_occupancy_pct", "time": when, "value": 50}]}
    r = _post(client, token, body)
    assert r.status_code == 400 and "readings[1].time" in r.json()["detail"]
    assert Reading.objects.count() == 0


def test_a_reading_a_minute_ahead_is_accepted(client, token):
    from django.utils import timezone

    body = {"readings": [{"metric": "ga_bed_occupancy_pct", "time": (timezone.now() + timedelta(minutes=1)).isoformat(),
                          "value": 50}]}
    assert _post(client, token, body).status_code == 200


def test_a_huge_integer_value_is_a_400_naming_the_item(client, token):
    body = {"readings": [{"metric": "ga_bed_occupancy_pct", "time": AT.isoformat(), "value": 10**400}]}
    r = _post(client, token, body)
    assert r.status_code == 400 and "readings[0].value" in r.json()["detail"]


def test_csv_upload_refuses_a_future_time(client, trust, icb):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    text = f"provider,metric,time,value\nRAA,ga_bed_occupancy_pct,{AT.isoformat()},50\nRAA,ga_bed_occupancy_pct,9999-12-31T23:00:00-14:00,50\n"
    r = client.post("/coordination/upload/", {"file": SimpleUploadedFile("s.csv", text.encode())})
    assert r.status_code == 400 and "Row 3, time" in r.content.decode() and Reading.objects.count() == 0


def test_provider_page_shows_the_current_score_not_a_future_one(client, trust, icb):
    from django.utils import timezone

    now = timezone.now()
    for at, level in ((now - timedelta(minutes=10), 1), (now + timedelta(days=1), 4)):  # a future one left from before
        OpelScore.objects.create(organisation=trust, at=at, edition="e", score=level * 10, level=level,
                                 explanation={"parameters": []})
    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    body = client.get(f"/coordination/providers/{trust.ods_code}/").content.decode()
    assert "OPEL 1" in body and "OPEL 4" not in body


def test_a_repeat_within_one_batch_keeps_the_last_value(client, token, trust, icb):
    rows = [{"metric": "ga_bed_occupancy_pct", "time": AT.isoformat(), "value": v} for v in (10, 20, 99)]
    assert _post(client, token, {"readings": rows}).status_code == 200
    assert Reading.objects.get().value == 99
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    t = (AT + timedelta(minutes=15)).isoformat()
    text = f"provider,metric,time,value\nRAA,ga_bed_occupancy_pct,{t},70\nRAA,ga_bed_occupancy_pct,{t},71\n"
    r = client.post("/coordination/upload/", {"file": SimpleUploadedFile("s.csv", text.encode())})
    assert r.status_code == 302 and Reading.objects.get(at=AT + timedelta(minutes=15)).value == 71


def test_csv_upload_over_the_size_limit_is_refused_not_truncated(client, trust, icb, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from carecoord.coordination import views

    monkeypatch.setattr(views, "UPLOAD_LIMIT", 200, raising=False)
    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    text = "provider,metric,time,value\n" + "".join(
        f"RAA,ga_bed_occupancy_pct,{(AT + timedelta(minutes=15 * k)).isoformat()},{50 + k}\n" for k in range(6))
    assert len(text.encode()) > 200
    r = client.post("/coordination/upload/", {"file": SimpleUploadedFile("s.csv", text.encode())})
    assert r.status_code == 400 and "the limit is" in r.content.decode() and Reading.objects.count() == 0


def test_an_old_or_out_of_order_reading_raises_no_alert(trust, icb):
    from carecoord.coordination.models import Alert, AlertRule

    AlertRule.objects.create(system=icb, metric="ga_bed_occupancy_pct", direction="above", threshold=95)
    services.ingest(trust, [{"metric": "ga_bed_occupancy_pct", "time": (AT - timedelta(days=9)).isoformat(),
                             "value": 99}])
    services.ingest(trust, [{"metric": "ga_bed_occupancy_pct", "time": AT.isoformat(), "value": 80}])
    services.ingest(trust, [{"metric": "ga_bed_occupancy_pct", "time": (AT - timedelta(minutes=15)).isoformat(),
                             "value": 99}])
    assert not Alert.objects.exists()
    services.ingest(trust, [{"metric": "ga_bed_occupancy_pct", "time": (AT + timedelta(minutes=15)).isoformat(),
                             "value": 99}])
    assert Alert.objects.get().value == 99


def test_a_stale_provider_score_counts_as_unscored_in_the_system_and_shows_stale(client, trust, other_trust, icb):
    services.ingest(trust, batch(at=AT - timedelta(hours=13), handover=200)["readings"])  # 13 hours old
    services.ingest(other_trust, batch(at=AT, handover=5)["readings"])
    system = OpelScore.objects.get(organisation=icb, at=AT)
    assert system.explanation["providers_scored"] == 1
    assert trust.ods_code in str(system.explanation["pillars"]) and system.explanation["provisional"]
    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    body = client.get("/coordination/").content.decode()
    assert "Stale" in body


def test_a_stale_system_score_shows_stale_on_board_and_sitrep_not_its_old_level(client, trust, icb):
    """Every provider stopped posting 13 hours ago: the system's last score is no current level."""
    services.ingest(trust, batch(at=AT - timedelta(hours=13), handover=200)["readings"])
    old = OpelScore.objects.get(organisation=icb, at=AT - timedelta(hours=13))
    assert old.level
    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    board = client.get("/coordination/").content.decode()
    system_line = board[board.index("System:"):board.index("</h2>", board.index("System:"))]
    assert "Stale" in system_line and "last scored" in system_line and "nhsuk-tag--grey" in system_line
    sitrep = client.get("/coordination/escalation/sitrep/").content.decode()
    assert "System <strong class=\"nhsuk-tag nhsuk-tag--grey\">stale</strong> (last scored" in sitrep
    pdf = client.get("/coordination/escalation/sitrep.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_a_level_with_too_much_missing_is_shown_provisional_on_board_and_sitrep(client, trust, icb):
    # only occupancy at a low value: level 1 now, but the missing parameters could make it higher
    services.ingest(trust, [{"metric": "ga_bed_occupancy_pct", "time": AT.isoformat(), "value": 50}])
    score = OpelScore.objects.get(organisation=trust, at=AT)
    assert score.explanation["provisional"] and score.explanation["level_if_missing_worst"] != score.level
    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    board = client.get("/coordination/").content.decode()
    assert f"provisional (up to OPEL {score.explanation['level_if_missing_worst']}" in board
    assert "parameters missing" in board
    sitrep = client.get("/coordination/escalation/sitrep/").content.decode()
    assert f"OPEL {score.level} provisional" in sitrep
    assert client.get("/coordination/escalation/sitrep.pdf").status_code == 200


def test_a_trust_operator_acts_only_on_their_own_trusts_items(client, trust, other_trust, icb):
    from carecoord.coordination.models import Alert, AlertRule
    from carecoord.escalation import services as esc
    from carecoord.escalation.models import EscalationAction

    rule = AlertRule.objects.create(system=icb, metric="ga_bed_occupancy_pct", direction="above", threshold=90)
    theirs = Alert.objects.create(rule=rule, organisation=other_trust, at=AT, value=99)
    ours = Alert.objects.create(rule=rule, organisation=trust, at=AT, value=99)
    scores = [OpelScore.objects.create(organisation=o, at=AT, edition="e", score=40, level=4) for o in (trust, other_trust)]
    esc.start_actions(icb, scores)
    client.force_login(user_with_roles(trust, Role.SCC_OPERATOR))
    board = client.get("/coordination/").content.decode()
    assert f"alerts/{ours.pk}/acknowledge" in board and f"alerts/{theirs.pk}/acknowledge" not in board
    assert client.post(f"/coordination/alerts/{theirs.pk}/acknowledge/").status_code == 404
    assert client.post(f"/coordination/alerts/{ours.pk}/acknowledge/").status_code == 302
    theirs.refresh_from_db()
    assert theirs.acknowledged_at is None
    for provider in (other_trust.ods_code, ""):  # another trust, or every provider
        r = client.post("/coordination/alert-rules/", {"provider": provider, "metric": "opel_level",
                                                       "direction": "above", "threshold": "3"})
        assert r.status_code == 400 and "may set rules for RAA only" in r.content.decode()
    assert client.post("/coordination/alert-rules/", {"provider": trust.ods_code, "metric": "opel_level",
                                                      "direction": "above", "threshold": "3"}).status_code == 302
    their_action = EscalationAction.objects.filter(organisation=other_trust).first()
    our_action = EscalationAction.objects.filter(organisation=trust).first()
    url = "/coordination/escalation/actions/{}/"
    assert client.post(url.format(their_action.pk), {"do": "acknowledge"}).status_code == 404
    client.post(url.format(our_action.pk), {"do": "acknowledge"})
    our_action.refresh_from_db()
    assert our_action.status == "acknowledged"
    # the ICB's operator acts on every provider's
    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    assert client.post(f"/coordination/alerts/{theirs.pk}/acknowledge/").status_code == 302
    client.post(url.format(their_action.pk), {"do": "acknowledge"})
    their_action.refresh_from_db()
    assert their_action.status == "acknowledged"
