"""Mutual aid between providers of a system: request → offers → the SCC agrees one (or declines);
every step timestamped and audited. The state machine is enforced here with clear errors."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from carecoord.core.models import Role
from carecoord.core.services.audit import Auditor, snapshot
from carecoord.escalation.models import MutualAidOffer, MutualAidRequest

REQUESTER_ROLES = {Role.SCC_OPERATOR, Role.ORG_ADMIN, Role.DISCHARGE_COORDINATOR}
Status = MutualAidRequest.Status


class MutualAidError(ValueError):
    """`field`: the request form field the problem is about, if any (the view attaches the error there)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _system_of(org):
    return org.parent or org


def can_request(user, org) -> bool:
    return bool(REQUESTER_ROLES & set(user.roles_at(org)))


def request_aid(*, requester, kind: str, detail: str, quantity: int, by, auditor: Auditor, nhs_number: str = "",
                home_provider=None) -> MutualAidRequest:
    if kind not in MutualAidRequest.Kind.values:
        raise MutualAidError(f"{kind!r} is not a kind of mutual aid", field="kind")
    patient = None
    if kind == MutualAidRequest.Kind.REPATRIATION:
        from carecoord.core import nhs_number as nhs

        number = (nhs_number or "").replace(" ", "")
        if not nhs.is_valid(number):
            raise MutualAidError("a repatriation needs the patient's NHS number (10 digits, valid check digit)",
                                 field="nhs_number")
        patient = requester.patients.filter(nhs_number=number).first()
        if patient is None:
            raise MutualAidError("no patient with that NHS number is known to your organisation", field="nhs_number")
        if home_provider is None or _system_of(home_provider).pk != _system_of(requester).pk \
                or home_provider.pk == requester.pk:
            raise MutualAidError("choose the patient's home trust (another provider in this system)",
                                 field="home_provider")
    if not detail.strip():
        raise MutualAidError("describe what is needed", field="detail")
    if quantity < 1:
        raise MutualAidError("the quantity must be at least 1", field="quantity")
    req = MutualAidRequest.objects.create(system=_system_of(requester), requester=requester, kind=kind,
                                          detail=detail.strip(), quantity=quantity, requested_by=by, patient=patient,
                                          home_provider=home_provider if patient else None)
    auditor.create(req, summary=f"mutual aid requested: {kind}")
    return req


@transaction.atomic
def offer(req: MutualAidRequest, *, provider, detail: str, by, auditor: Auditor) -> MutualAidOffer:
    req = MutualAidRequest.objects.select_for_update().get(pk=req.pk)
    if req.status != Status.REQUESTED:
        raise MutualAidError(f"this request is {req.get_status_display().lower()}: it takes no more offers")
    if provider.pk == req.requester_id:
        raise MutualAidError("a provider cannot offer aid to itself")
    if _system_of(provider).pk != req.system_id:
        raise MutualAidError("only providers of the same system can offer")
    if not detail.strip():
        raise MutualAidError("describe what you can offer")
    if req.offers.filter(provider=provider).exists():
        raise MutualAidError("this provider has already offered")
    o = MutualAidOffer.objects.create(request=req, provider=provider, detail=detail.strip(), offered_by=by)
    auditor.create(o, summary=f"mutual aid offered to request {req.pk}")
    return o


@transaction.atomic
def decide(req: MutualAidRequest, *, agree_offer: MutualAidOffer | None, note: str, by, auditor: Auditor):
    """The SCC agrees one offer, or declines the request (agree_offer=None)."""
    req = MutualAidRequest.objects.select_for_update().get(pk=req.pk)
    if req.status != Status.REQUESTED:
        raise MutualAidError(f"this request is already {req.get_status_display().lower()}")
    if Role.SCC_OPERATOR not in by.roles_at(req.system):
        raise MutualAidError("only the system coordination centre decides mutual aid")
    if agree_offer is not None and agree_offer.request_id != req.pk:
        raise MutualAidError("that offer is for another request")
    if agree_offer is None and not note.strip():
        raise MutualAidError("say why the request is declined")
    before = snapshot(req)
    req.status = Status.AGREED if agree_offer else Status.DECLINED
    req.agreed_offer, req.decided_by, req.decided_at, req.decision_note = agree_offer, by, timezone.now(), note.strip()
    req.save()
    auditor.update(req, before, summary=f"mutual aid {req.status}")
    return req
