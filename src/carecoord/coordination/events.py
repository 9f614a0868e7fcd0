"""Event-level feeds: a provider posts ambulance arrivals with handover times, ED attendances with
arrival and departure, and bed states; carecoord stores them (idempotent on the provider's own id, or
on the bed state's time) and derives the SCC's readings at each 15-minute reading time the batch
touches (`coordination.derive`), which then go through the same ingest, OPEL rescoring and alerts as
posted readings (source "derived")."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from carecoord.coordination import derive, services
from carecoord.coordination.models import AmbulanceHandover, BedState, EdAttendance
from carecoord.core.models import Organisation

MAX_ITEMS = 20_000
BACKFILL_DAYS = 7  # derived reading times are recomputed at most this far back


class EventError(ValueError):
    """`errors` lists (where, field, reason), e.g. ("ambulance[3]", "handed_over_at", "before arrival")."""

    def __init__(self, errors: list[tuple[str, str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{w}.{f}: {r}" for w, f, r in errors[:20]))


def _time(raw, where, name, errors, *, required=True) -> datetime | None:
    if raw in (None, ""):
        if required:
            errors.append((where, name, "is required (ISO 8601 with a UTC offset)"))
        return None
    try:
        t = datetime.fromisoformat(str(raw))
    except ValueError:
        errors.append((where, name, f"{str(raw)[:40]!r} is not an ISO 8601 date-time"))
        return None
    if t.tzinfo is None:
        errors.append((where, name, "needs a UTC offset (e.g. +00:00)"))
        return None
    if t > timezone.now() + timedelta(minutes=5):
        errors.append((where, name, "is in the future"))
        return None
    return t


def _ident(raw, where, errors) -> str | None:
    v = str(raw).strip() if raw not in (None, "") else ""
    if not v or len(v) > 64:
        errors.append((where, "id", "the provider's own id for the event (1 to 64 characters) is required"))
        return None
    return v


def clean(body: dict) -> tuple[list, list, list]:
    errors: list[tuple[str, str, str]] = []
    if not isinstance(body, dict) or not any(body.get(k) for k in ("ambulance", "ed", "beds")):
        raise EventError([("body", "ambulance|ed|beds", "send at least one non-empty list")])
    sections = {k: body.get(k) or [] for k in ("ambulance", "ed", "beds")}
    for k, items in sections.items():
        if not isinstance(items, list):
            errors.append((k, "", "must be a list"))
    if errors:
        raise EventError(errors)
    if sum(len(v) for v in sections.values()) > MAX_ITEMS:
        raise EventError([("body", "", f"at most {MAX_ITEMS:,} events per request")])
    handovers, attendances, beds = [], [], []
    for kind, start_name, end_name, out in (("ambulance", "arrived_at", "handed_over_at", handovers),
                                            ("ed", "arrived_at", "departed_at", attendances)):
        seen = set()
        for i, raw in enumerate(sections[kind]):
            where = f"{kind}[{i}]"
            if not isinstance(raw, dict):
                errors.append((where, "", "must be an object"))
                continue
            ident = _ident(raw.get("id"), where, errors)
            a = _time(raw.get(start_name), where, start_name, errors)
            b = _time(raw.get(end_name), where, end_name, errors, required=False)
            if a and b and b < a:
                errors.append((where, end_name, f"is before {start_name}"))
                continue
            if ident in seen:
                errors.append((where, "id", f"{ident!r} appears twice in this batch"))
                continue
            seen.add(ident)
            if ident and a:
                out.append((ident, a, b))
    seen_t = set()
    for i, raw in enumerate(sections["beds"]):
        where = f"beds[{i}]"
        if not isinstance(raw, dict):
            errors.append((where, "", "must be an object"))
            continue
        t = _time(raw.get("time"), where, "time", errors)
        counts = {}
        for name in ("ga_beds_open", "ga_beds_occupied", "escalation_beds_open"):
            v = raw.get(name, 0 if name == "escalation_beds_open" else None)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                errors.append((where, name, "must be a whole number, zero or more"))
            else:
                counts[name] = v
        if len(counts) == 3 and counts["ga_beds_occupied"] > counts["ga_beds_open"] + counts["escalation_beds_open"]:
            errors.append((where, "ga_beds_occupied", "is more than the beds open"))
            continue
        if t in seen_t:
            errors.append((where, "time", "appears twice in this batch"))
            continue
        seen_t.add(t)
        if t and len(counts) == 3:
            beds.append((t, counts))
    if errors:
        raise EventError(errors)
    return handovers, attendances, beds


def ingest_events(organisation: Organisation, body: dict, *, now: datetime | None = None,
                  recompute_from: datetime | None = None) -> dict:
    """Store the events (all or nothing) and derive the readings of every reading time they touch
    (or, with `recompute_from`, only of those from then on: a caller that sends each quarter's events as
    they complete knows the earlier reading times are settled)."""
    handovers, attendances, beds = clean(body)
    now = now or timezone.now()
    with transaction.atomic():  # one upsert per kind of event, however large the batch
        AmbulanceHandover.objects.bulk_create(
            [AmbulanceHandover(organisation=organisation, external_id=i, arrived_at=a, handed_over_at=b,
                               received_at=now) for i, a, b in handovers],
            update_conflicts=True, unique_fields=["organisation", "external_id"],
            update_fields=["arrived_at", "handed_over_at", "received_at"])
        EdAttendance.objects.bulk_create(
            [EdAttendance(organisation=organisation, external_id=i, arrived_at=a, departed_at=b, received_at=now)
             for i, a, b in attendances],
            update_conflicts=True, unique_fields=["organisation", "external_id"],
            update_fields=["arrived_at", "departed_at", "received_at"])
        BedState.objects.bulk_create(
            [BedState(organisation=organisation, at=t, received_at=now, **counts) for t, counts in beds],
            update_conflicts=True, unique_fields=["organisation", "at"],
            update_fields=["ga_beds_open", "ga_beds_occupied", "escalation_beds_open", "received_at"])
    times = [t for _, a, b in handovers + attendances for t in (a, b) if t] + [t for t, _ in beds]
    # From the first reading time the batch touches, and always the latest reading time already passed
    # (events arriving late still count in it), up to now.
    start = max(min(min(times), now - timedelta(minutes=derive.DeriveConfig().slot_minutes)),
                now - timedelta(days=BACKFILL_DAYS))
    if recompute_from is not None:
        start = max(start, recompute_from)
    readings = derived_readings(organisation, start, now)
    out = {"ambulance": len(handovers), "ed": len(attendances), "beds": len(beds), "reading_times": 0,
           "readings_derived": 0}
    if readings:
        result = services.ingest(organisation, readings, source="derived")
        out.update(reading_times=len({r["time"] for r in readings}), readings_derived=result["received"],
                   readings_changed=result["changed"])
    return out


def derived_readings(organisation: Organisation, start: datetime, end: datetime,
                     cfg: derive.DeriveConfig = derive.DeriveConfig()) -> list[dict]:
    """The derived readings at every reading time from the slot holding `start` up to `end`."""
    slots = derive.slots_between(start, end, cfg)
    if not slots:
        return []
    lo = derive.midnight(slots[0], cfg) - timedelta(days=2)  # still in the department or queue from before
    hand = [derive.Handover(x.external_id, x.arrived_at, x.handed_over_at) for x in AmbulanceHandover.objects.filter(
        organisation=organisation, arrived_at__gte=lo, arrived_at__lte=slots[-1])]
    att = [derive.Attendance(x.external_id, x.arrived_at, x.departed_at) for x in EdAttendance.objects.filter(
        organisation=organisation, arrived_at__gte=lo, arrived_at__lte=slots[-1])]
    bed_rows = [derive.Beds(x.at, x.ga_beds_open, x.ga_beds_occupied, x.escalation_beds_open)
                for x in BedState.objects.filter(organisation=organisation, at__lte=slots[-1],
                                                 at__gte=lo).order_by("at")]
    out = []
    for t in slots:
        for metric, value in derive.metrics_at(t, hand, att, bed_rows, cfg).items():
            out.append({"metric": metric, "time": t.isoformat(), "value": value})
    return out
