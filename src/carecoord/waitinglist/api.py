"""Waiting-list API: the PTL and pathways, scoped and audited like the pages."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from carecoord.core.models import AuditLog
from carecoord.core.services.audit import Auditor
from carecoord.waitinglist import services, system
from carecoord.waitinglist.models import scoped_pathways
from carecoord.waitinglist.presenters import weeks_waited
from carecoord.waitinglist.ptl import SORTS, EstimatingPaginator, PtlFilterForm, PtlQuery, possible_duplicates

router = Router(tags=["waiting list"])


def _require(request, perm: str) -> None:
    if not request.auth.has_perm(perm, getattr(request, "organisation", None)):
        raise PermissionDenied(perm)


def _auditor(request) -> Auditor:
    user = request.auth if getattr(request.auth, "pk", None) else None
    if user is not None:
        return Auditor(user, organisation=request.organisation, request_id=getattr(request, "request_id", None))
    return Auditor.system(f"api-token:{request.api_token.prefix}", organisation=request.organisation)


class PathwayOut(Schema):
    id: int
    ppid: str
    ppid_issuer: str
    provider: str
    tfc: str
    list_type: str
    waiting_list_type: str
    clock_state: str
    rtt_start: date | None
    days_waited: int | None = Field(None, description="Census date minus RTT period start; null without a running clock")
    weeks_waited: int | None = Field(None, description="RTT guidance v5.0 §10.1.7 band max(1, ceil(days/7)): k means "
                                                       "over k-1 to k weeks (0-7 days is 1, 365 is 53); 105 means over 104")
    clinical_priority: str
    queue_date: date | None
    tci_date: date | None
    consultant_code: str
    intended_procedure: str
    status: str
    possible_duplicate: bool = False


class PtlPage(Schema):
    count: int
    count_is_estimate: bool
    page: int
    pages: int
    census: date
    results: list[PathwayOut]


class PtlFilters(Schema):
    """Codes (provider, site, consultant, priority, list type) match whatever their case."""

    provider: str = ""
    site: str = ""
    tfc: str = ""
    consultant: str = ""
    list_type: str = ""
    priority: str = Field("", description="P1a, P1b, P2, P3, P4, P5, P6, or none (not set)")
    band: str = ""
    breach_before: date | None = None
    tci: str = ""
    validation: str = ""
    duplicates: str = ""
    sort: str = Field("priority", description="One of: " + ", ".join(SORTS) + " (a leading - reverses)")
    page: int = Field(1, ge=1, le=1_000_000, description="Pages of 100. A page past the last is a 404, not an empty page")


def _out(p, census: date) -> dict:
    days = (census - p.rtt_start).days if p.rtt_start and p.clock_state == "open" else None
    return {
        "id": p.pk, "ppid": p.ppid, "ppid_issuer": p.ppid_issuer, "provider": p.provider.ods_code, "tfc": p.tfc,
        "list_type": p.list_type, "waiting_list_type": p.waiting_list_type, "clock_state": p.clock_state,
        "rtt_start": p.rtt_start, "days_waited": days, "weeks_waited": weeks_waited(days),
        "clinical_priority": p.clinical_priority, "queue_date": p.queue_date, "tci_date": p.tci_date,
        "consultant_code": p.consultant_code, "intended_procedure": p.intended_procedure, "status": p.status,
    }


PAGE = 100


@router.get("/ptl", response=PtlPage, summary="The patient tracking list (treat-in-turn order by default)",
            description="The PTL page's filters and sorts, 100 rows a page. A page after the last is 404 "
                        "(problem+json naming the number of pages); an empty list is only ever page 1.")
def ptl(request, filters: Query[PtlFilters]):
    _require(request, "waitinglist.view_ptl")
    data = {k: v for k, v in filters.dict().items() if v not in (None, "") and k != "page"}
    scope = request.organisation.patient_scope_ids() if request.organisation else []
    # The same form as the page, with the providers in view (it refuses duplicates=only on one trust's list).
    form = PtlFilterForm(data, providers=system.visible_providers(request.organisation, scope))
    if not form.is_valid():
        raise HttpError(422, "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items()))
    query = PtlQuery.from_form(form, page=filters.page)
    qs = query.apply(scoped_pathways(request.organisation).ptl().select_related("provider"), scope)
    paginator = EstimatingPaginator(qs, PAGE, exact=query.duplicates == "only")
    count = paginator.count
    page = query.page
    pages = max(1, -(-count // PAGE))
    rows = list(qs[(page - 1) * PAGE: page * PAGE])
    if not rows and page > 1:
        raise Http404(f"There is no page {page}: this list has {'about ' if paginator.count_is_estimate else ''}"
                      f"{pages} page{'s' if pages != 1 else ''} of {PAGE}")
    dupes = {p.pk for p in rows} if query.duplicates == "only" else possible_duplicates(rows, scope)
    _auditor(request).event(AuditLog.Action.VIEW, "waitinglist.ptl", object_id=request.organisation.pk,
                            summary=f"API PTL page {page}: {len(rows)} pathways")
    return {"count": count, "count_is_estimate": paginator.count_is_estimate, "page": page, "pages": pages,
            "census": query.census,
            "results": [{**_out(p, query.census), "possible_duplicate": p.pk in dupes} for p in rows]}


def _pathway(request, pk: int):
    p = scoped_pathways(request.organisation).select_related("provider").filter(pk=pk).first()
    if p is None:
        raise Http404("no such pathway")
    return p


class ClockEventOut(Schema):
    event_date: date
    status: str
    source: str


class PriorityReviewOut(Schema):
    from_code: str
    to_code: str
    reason: str
    reviewed_at: str


class NoteOut(Schema):
    id: int
    author: str
    created_at: str
    text: str


class PathwayDetail(PathwayOut):
    events: list[ClockEventOut]
    priority_reviews: list[PriorityReviewOut]
    notes: list[NoteOut]


@router.get("/pathways/{pk}", response=PathwayDetail,
            summary="One pathway with its clock events, priority history and notes (newest first)",
            description="Audited as a patient-level read, like the pathway page.")
def pathway(request, pk: int):
    _require(request, "waitinglist.view_pathway")
    p = _pathway(request, pk)
    # The notes come through the scoped pathway, so they are exactly those the page would show.
    notes = list(p.notes.select_related("author"))
    _auditor(request).view(p, summary=f"API pathway with {len(notes)} notes")
    out = _out(p, PtlQuery().census)
    out["events"] = [{"event_date": e.event_date, "status": e.status, "source": e.source} for e in p.clock_events.all()]
    out["priority_reviews"] = [{"from_code": r.from_code, "to_code": r.to_code, "reason": r.reason,
                                "reviewed_at": r.reviewed_at.isoformat()} for r in p.priority_reviews.all()]
    out["notes"] = [{"id": n.pk, "author": n.author.display_name or n.author.username,
                     "created_at": n.created_at.isoformat(), "text": n.text} for n in notes]
    return out


class PriorityIn(Schema):
    priority: str
    reason: str


class TciIn(Schema):
    tci_date: date


class NoteIn(Schema):
    text: str


class RemovalIn(Schema):
    reason: str
    rationale: str


def _act(fn):
    try:
        return fn()
    except services.RoleRequired as exc:  # includes ClinicalDecisionRequired
        raise HttpError(403, str(exc)) from exc
    except services.WaitingListError as exc:
        raise HttpError(422, str(exc)) from exc


@router.post("/pathways/{pk}/priority", response=PathwayOut, summary="Set or review clinical priority (clinician)")
def set_priority(request, pk: int, body: PriorityIn):
    _require(request, "waitinglist.set_priority")
    p = _pathway(request, pk)
    if not getattr(request.auth, "pk", None):
        raise HttpError(403, "a clinical priority decision needs a named clinician, not a system token")
    _act(lambda: services.set_priority(p, body.priority, reason=body.reason, by=request.auth, auditor=_auditor(request)))
    return _out(_pathway(request, pk), PtlQuery().census)


@router.post("/pathways/{pk}/tci", response=PathwayOut, summary="Record a to-come-in date")
def record_tci(request, pk: int, body: TciIn):
    _require(request, "waitinglist.record_tci")
    p = _pathway(request, pk)
    _act(lambda: services.record_tci(p, body.tci_date, by=request.auth, auditor=_auditor(request)))
    return _out(_pathway(request, pk), PtlQuery().census)


@router.post("/pathways/{pk}/notes", response={201: dict}, summary="Add a note to a pathway")
def add_note(request, pk: int, body: NoteIn):
    _require(request, "waitinglist.add_note")
    p = _pathway(request, pk)
    if not getattr(request.auth, "pk", None):
        raise HttpError(403, "notes need a named author")
    note = _act(lambda: services.add_note(p, body.text, by=request.auth, auditor=_auditor(request)))
    return 201, {"id": note.pk}


@router.post("/pathways/{pk}/remove", response=PathwayOut, summary="Remove from the list (a clinician's decision)")
def remove(request, pk: int, body: RemovalIn):
    _require(request, "waitinglist.remove")
    p = _pathway(request, pk)
    if not getattr(request.auth, "pk", None):
        raise HttpError(403, "removal needs a named clinician's decision")
    _act(lambda: services.remove_from_list(p, reason=body.reason, decided_by=request.auth, rationale=body.rationale,
                                           auditor=_auditor(request)))
    return _out(_pathway(request, pk), PtlQuery().census)


@router.get("/patients/{patient_id}/fhir", summary="A patient's waiting-list entries as a FHIR R4 Bundle",
            description="Patient, ServiceRequest (referral), EpisodeOfCare (entry) and Appointment (TCI) for the "
                        "pathways your organisation may see. Audited as a patient-level read.")
def patient_fhir(request, patient_id: int):
    from carecoord.integration import fhir

    _require(request, "waitinglist.view_pathway")
    patient = request.organisation.patients.filter(pk=patient_id).first() if request.organisation else None
    if patient is None:
        raise Http404("no such patient")
    pathways = list(scoped_pathways(request.organisation).filter(patient=patient).select_related("provider"))
    if not pathways:
        raise Http404("no waiting-list entries for this patient")
    _auditor(request).view(patient)
    return fhir.export_bundle(patient, pathways)
