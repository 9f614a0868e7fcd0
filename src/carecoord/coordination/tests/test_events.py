"""POST /api/v1/coordination/events: events stored once per provider id, every bad event named, and the
derived readings scored like posted ones."""

from datetime import timedelta

import pytest
from django.utils import timezone

from carecoord.coordination.models import AmbulanceHandover, OpelScore, Reading
from carecoord.core.models import Role
from carecoord.core.services.api_tokens import issue
from carecoord.testing.factories import user_with_roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(trust):
    return issue(name="feed", organisation=trust, roles=[Role.ORG_ADMIN],
                 created_by=user_with_roles(trust, Role.ORG_ADMIN))[1]


def _post(client, token, body):
    return client.post("/api/v1/coordination/events", data=body, content_type="application/json",
                       headers={"Authorization": f"Bearer {token}"})


def _at(minutes_before):
    """A time `minutes_before` the latest quarter-hour already passed (the reading time checked)."""
    now = timezone.now()
    quarter = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    return (quarter - timedelta(minutes=minutes_before)).isoformat()


def test_events_are_stored_once_and_derive_scored_readings(client, token, trust, icb):
    body = {"ambulance": [{"id": "A1", "arrived_at": _at(50), "handed_over_at": _at(1)},
                          {"id": "A2", "arrived_at": _at(40), "handed_over_at": None}],
            "ed": [{"id": "E1", "arrived_at": _at(300), "departed_at": _at(20)}],
            "beds": [{"time": _at(30), "ga_beds_open": 400, "ga_beds_occupied": 396, "escalation_beds_open": 12}]}
    r = _post(client, token, body)
    assert r.status_code == 200, r.content
    out = r.json()
    assert out["ambulance"] == 2 and out["readings_derived"] > 0
    latest = {m: v for m, v in Reading.objects.filter(organisation=trust, source="derived").order_by("at")
              .values_list("metric", "value")}
    assert latest["ga_bed_occupancy_pct"] == 99.0 and latest["escalation_beds_pct"] == 3.0
    assert latest["ambulance_queue"] == 1 and latest["ed_4h_performance_pct"] == 0.0
    assert OpelScore.objects.filter(organisation=trust).exists()
    # the same ids again (now handed over) update, never duplicate
    body["ambulance"][1]["handed_over_at"] = _at(0)
    assert _post(client, token, body).status_code == 200
    assert AmbulanceHandover.objects.filter(organisation=trust).count() == 2
    assert AmbulanceHandover.objects.get(external_id="A2").handed_over_at is not None


def test_bad_events_refuse_the_batch_naming_each(client, token, trust):
    body = {"ambulance": [{"id": "A1", "arrived_at": _at(10), "handed_over_at": _at(20)},
                          {"id": "", "arrived_at": "yesterday"}],
            "ed": [{"id": "E1", "arrived_at": "2026-01-12T09:00:00"}],
            "beds": [{"time": _at(5), "ga_beds_open": 10, "ga_beds_occupied": 50}]}
    r = _post(client, token, body)
    detail = r.json()["detail"]
    assert r.status_code == 400
    for expected in ("ambulance[0].handed_over_at: is before arrived_at", "ambulance[1].id",
                     "ambulance[1].arrived_at", "ed[0].arrived_at: needs a UTC offset",
                     "beds[0].ga_beds_occupied: is more than the beds open"):
        assert expected in detail
    assert not AmbulanceHandover.objects.exists() and not Reading.objects.exists()
    assert _post(client, token, {}).status_code == 400


def test_only_for_the_tokens_own_organisation(client, token):
    r = _post(client, token, {"provider": "RBB", "beds": [{"time": _at(5), "ga_beds_open": 1, "ga_beds_occupied": 1}]})
    assert r.status_code == 403
