"""Waiting-list actions. Every change goes through here, in one transaction, with its audit row.

Views and the API check the caller's permission (`waitinglist.*` rules); these functions enforce
the rules that hold whoever calls them (a removal needs a clinician's decision, priorities must be
known codes, TCI dates cannot be in the past, the clock follows the RTT rules)."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from carecoord.core.models import ClinicalPriority, Role, RttStatus
from carecoord.core.services.audit import Auditor, snapshot
from carecoord.waitinglist import clock
from carecoord.waitinglist.models import (
    REMOVAL_STATUS,
    ClockEvent,
    Pathway,
    PathwayNote,
    PathwayStatus,
    PriorityReview,
    Removal,
    RemovalReason,
)


class WaitingListError(ValueError):
    """A request the rules do not allow; the message says what and why."""


class ClinicalDecisionRequired(WaitingListError):
    pass


def _priority(code: str) -> ClinicalPriority:
    found = ClinicalPriority.objects.filter(code=code).first()
    if found is None:
        known = ", ".join(ClinicalPriority.objects.values_list("code", flat=True))
        raise WaitingListError(f"priority {code!r} is not a known clinical priority ({known})")
    return found


@transaction.atomic
def set_priority(pathway: Pathway, code: str, *, reason: str, by, auditor: Auditor) -> PriorityReview:
    """Set or review a pathway's clinical priority (a clinician's decision), keeping its history."""
    if not reason.strip():
        raise WaitingListError("give the reason for the priority decision")
    priority = _priority(code)
    pathway = Pathway.objects.select_for_update().get(pk=pathway.pk)
    before = snapshot(pathway)
    review = PriorityReview.objects.create(pathway=pathway, from_code=pathway.clinical_priority, to_code=code,
                                           reason=reason.strip(), reviewed_by=by)
    pathway.clinical_priority = code
    pathway.priority_rank = priority.rank
    pathway.priority_reviewed_on = timezone.localdate()
    pathway.updated_at = timezone.now()
    pathway.save(update_fields=["clinical_priority", "priority_rank", "priority_reviewed_on", "updated_at"])
    auditor.update(pathway, before, summary=f"priority {review.from_code or 'none'} -> {code}")
    return review


@transaction.atomic
def record_tci(pathway: Pathway, tci_date: date, *, auditor: Auditor, today: date | None = None) -> Pathway:
    today = today or timezone.localdate()
    if tci_date < today:
        raise WaitingListError(f"the TCI date {tci_date:%d/%m/%Y} is in the past")
    if pathway.status != PathwayStatus.ON_LIST:
        raise WaitingListError("this pathway is not on the waiting list")
    pathway = Pathway.objects.select_for_update().get(pk=pathway.pk)
    before = snapshot(pathway)
    pathway.tci_date = tci_date
    pathway.tci_provided_on = today
    pathway.updated_at = timezone.now()
    pathway.save(update_fields=["tci_date", "tci_provided_on", "updated_at"])
    auditor.update(pathway, before, summary="TCI date recorded")
    return pathway


@transaction.atomic
def add_note(pathway: Pathway, text: str, *, by, auditor: Auditor) -> PathwayNote:
    text = text.strip()
    if not text:
        raise WaitingListError("the note is empty")
    if len(text) > 5000:
        raise WaitingListError("a note can be at most 5,000 characters")
    note = PathwayNote.objects.create(pathway=pathway, author=by, text=text)
    auditor.create(note, summary=f"note on pathway {pathway.pk}")
    return note


@transaction.atomic
def record_clock_event(pathway: Pathway, status: str, event_date: date, *, auditor: Auditor, by=None,
                       source: str = ClockEvent.Source.MANUAL) -> ClockEvent:
    if not RttStatus.objects.filter(code=status).exists():
        raise WaitingListError(f"{status!r} is not an RTT status code")
    if event_date > timezone.localdate():
        raise WaitingListError("a clock event cannot be in the future")
    event, created = ClockEvent.objects.get_or_create(pathway=pathway, event_date=event_date, status=status,
                                                      defaults={"source": source, "recorded_by": by})
    if created:
        auditor.create(event, summary=f"clock event {status}")
        clock.recompute(pathway, auditor=auditor)
    return event


@transaction.atomic
def remove_from_list(pathway: Pathway, *, reason: str, decided_by, rationale: str, auditor: Auditor,
                     decided_on: date | None = None) -> Removal:
    """Remove a pathway from the list. Needs a clinician's recorded decision; stops the RTT clock
    with the status the reason implies (RTT guidance Annex D)."""
    if reason not in RemovalReason.values:
        raise WaitingListError(f"{reason!r} is not a removal reason")
    if not rationale.strip():
        raise WaitingListError("record why the patient is being removed")
    if Role.CLINICIAN not in decided_by.roles_at(pathway.provider):
        raise ClinicalDecisionRequired("removal from the waiting list needs a clinician's decision")
    pathway = Pathway.objects.select_for_update().get(pk=pathway.pk)
    if pathway.status != PathwayStatus.ON_LIST:
        raise WaitingListError("this pathway is not on the waiting list")
    decided_on = decided_on or timezone.localdate()
    stop_status = REMOVAL_STATUS[RemovalReason(reason)]
    removal = Removal.objects.create(pathway=pathway, reason=reason, decided_by=decided_by, decided_on=decided_on,
                                     rationale=rationale.strip(), stop_status=stop_status)
    auditor.create(removal, summary=f"removed: {reason}")
    if stop_status:
        ClockEvent.objects.get_or_create(pathway=pathway, event_date=decided_on, status=stop_status,
                                         defaults={"source": ClockEvent.Source.VALIDATION, "recorded_by": decided_by})
    before = snapshot(pathway)
    pathway.status = PathwayStatus.REMOVED
    pathway.updated_at = timezone.now()
    pathway.save(update_fields=["status", "updated_at"])
    auditor.update(pathway, before, summary="removed from the waiting list")
    clock.recompute(pathway, auditor=auditor)
    return removal
