"""SCC API: providers' systems post their operational readings (idempotent on provider+metric+time)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from ninja import Field, Router, Schema
from ninja.errors import HttpError

from carecoord.coordination import services
from carecoord.core.models import AuditLog
from carecoord.core.services.audit import Auditor

router = Router(tags=["coordination"])


def _poster(request, provider: str | None):
    """The organisation a feed posts for: the token's own, and only with the right to submit."""
    org = getattr(request, "organisation", None)
    if org is None or not request.auth.has_perm("coordination.submit_readings", org):
        raise PermissionDenied("coordination.submit_readings")
    if provider and provider.strip().upper() != org.ods_code:
        raise HttpError(403, f"this token may post only for {org.ods_code}")
    return org


def _auditor(request, org) -> Auditor:
    user = request.auth if getattr(request.auth, "pk", None) else None
    return Auditor(user, organisation=org) if user else Auditor.system(
        f"api-token:{request.api_token.prefix}", organisation=org)


class ReadingsIn(Schema):
    provider: str | None = None
    readings: list[dict]


class ReadingsOut(Schema):
    received: int
    changed: int
    unchanged: int
    queued: int = Field(description="reading times queued for OPEL rescoring (those with a new or changed value)")


@router.post("/readings", response={200: ReadingsOut},
             summary="Post a batch of operational readings for your organisation",
             description="Body: {\"provider\": ODS (optional; must be the token's organisation), \"readings\": "
                         "[{\"metric\", \"time\" (ISO 8601 with offset), \"value\"}]}. Idempotent: the same "
                         "provider, metric and time replaces the earlier value; each reading time with a new or changed "
                         "value is rescored (OPEL, alerts) within a second, off the request. All-or-nothing: one bad item "
                         "refuses the batch with a 400 naming every bad item by index and field.")
def post_readings(request, body: ReadingsIn):
    org = _poster(request, body.provider)
    try:
        return services.ingest(org, body.readings, auditor=_auditor(request, org))  # audited in the same statement
    except services.ReadingError as exc:
        raise HttpError(400, str(exc)) from exc


class EventsIn(Schema):
    provider: str | None = None
    ambulance: list[dict] = []
    ed: list[dict] = []
    beds: list[dict] = []


@router.post("/events", summary="Post event-level feeds: ambulance handovers, ED attendances, bed states",
             description="Body: {\"ambulance\": [{\"id\", \"arrived_at\", \"handed_over_at\"}], \"ed\": [{\"id\", "
                         "\"arrived_at\", \"departed_at\"}], \"beds\": [{\"time\", \"ga_beds_open\", "
                         "\"ga_beds_occupied\", \"escalation_beds_open\"}]} (times ISO 8601 with offset; ids are "
                         "the provider's own, never patient identifiers). Idempotent on id (beds: on time). "
                         "carecoord derives the handover, 4-hour, 12-hour, queue and occupancy readings at each "
                         "15-minute reading time touched, then rescores OPEL. All-or-nothing: a bad event refuses "
                         "the batch with a 400 naming each one.")
def post_events(request, body: EventsIn):
    from carecoord.coordination import events

    org = _poster(request, body.provider)
    try:
        out = events.ingest_events(org, {"ambulance": body.ambulance, "ed": body.ed, "beds": body.beds})
    except events.EventError as exc:
        raise HttpError(400, str(exc)) from exc
    _auditor(request, org).event(AuditLog.Action.IMPORT, "coordination.events", object_id=org.pk,
                  summary=f"{out['ambulance']} handovers, {out['ed']} attendances, {out['beds']} bed states; "
                          f"{out['readings_derived']} readings derived")
    return out
