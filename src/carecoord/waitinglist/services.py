"""Waiting-list actions. Every change goes through here, in one transaction, with its audit row.

Views and the API check the caller's permission at their current organisation (`waitinglist.*`
rules); these functions enforce the rules that hold whoever calls them: decisions about a pathway
need the role at the pathway's *provider* (a hub or ICB that sees another trust's list through a
data-sharing grant may read it, not change its priority, TCI or place on the list), only pathways
still on the list can be changed, priorities must be known codes, TCI dates must be real dates
(not the importer's placeholders) in the future, and the clock follows the RTT rules.
`refusal()` says, without changing anything, why an action is not open to a user, so pages offer
only the actions the services would allow."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from carecoord.core.formatting import date_uk
from carecoord.core.models import ClinicalPriority, Role, RttStatus
from carecoord.core.services.audit import Auditor, snapshot
from carecoord.integration.wlmds import FUTURE_LIMIT_YEARS, future_limit, is_placeholder_date
from carecoord.waitinglist import clock, signals
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
from carecoord.waitinglist.permissions import PRIORITY_ROLES, REMOVE_ROLES, TCI_ROLES


class WaitingListError(ValueError):
    """A request the rules do not allow; the message says what and why."""


class RoleRequired(WaitingListError):
    """The caller does not hold the role the action needs at the pathway's provider."""


class ClinicalDecisionRequired(RoleRequired):
    pass


# Who may do what, as roles held at the pathway's provider (not at the caller's own organisation).
ACTION_ROLES = {"priority": PRIORITY_ROLES, "tci": TCI_ROLES, "remove": REMOVE_ROLES}  # as the permissions say
ACTION_TEXT = {
    "priority": "Setting a pathway's clinical priority is a clinical decision at its provider",
    "tci": "Only the provider's waiting-list managers and schedulers record its TCI dates",
    "remove": "Removal from the waiting list is a clinical decision at the provider",
}
CHANGES_ON_LIST_ONLY = frozenset({"priority", "tci", "remove"})


def _role_names(roles) -> str:
    names = sorted(Role(r).label.lower() for r in roles)
    return " or ".join(names)


def not_on_list_message(pathway: Pathway) -> str:
    if pathway.status == PathwayStatus.REMOVED:
        removal = getattr(pathway, "removal", None)  # one-to-one: read once, then cached on the pathway
        when = f" (removed on {date_uk(removal.decided_on)})" if removal else " (removed)"
    else:
        when = (" (closed: it is no longer in the provider's waiting-list extracts, last changed on "
                f"{date_uk(timezone.localdate(pathway.updated_at))})")
    return f"This pathway is no longer on the waiting list{when}"


def role_refusal(pathway: Pathway, action: str, user) -> str | None:
    roles = ACTION_ROLES.get(action)
    if roles is None or (user is not None and roles & user.roles_at(pathway.provider)):
        return None
    return (f"You do not have a {_role_names(roles)} role at {pathway.provider.name}. "
            f"{ACTION_TEXT[action]}.")


def refusal(pathway: Pathway, action: str, user) -> str | None:
    """Why `user` may not take `action` ("priority", "tci", "note", "remove") on this pathway now, or None.

    Read-only: the services repeat these checks (on the locked row) when they act."""
    reason = role_refusal(pathway, action, user)
    if reason is None and action in CHANGES_ON_LIST_ONLY and pathway.status != PathwayStatus.ON_LIST:
        reason = not_on_list_message(pathway)
    return reason


def _require_role(pathway: Pathway, action: str, user) -> None:
    reason = role_refusal(pathway, action, user)
    if reason is not None:
        raise (ClinicalDecisionRequired if Role.CLINICIAN in ACTION_ROLES[action] else RoleRequired)(reason)


def _lock_on_list(pathway: Pathway) -> Pathway:
    """The pathway's row, locked for the change, provided it is still on the list."""
    locked = Pathway.objects.select_for_update().get(pk=pathway.pk)
    if locked.status != PathwayStatus.ON_LIST:
        raise WaitingListError(not_on_list_message(locked))
    locked.provider = pathway.provider
    return locked


def _priority(code: str) -> ClinicalPriority:
    found = ClinicalPriority.objects.filter(code=code).first()
    if found is None:
        known = ", ".join(ClinicalPriority.objects.values_list("code", flat=True))
        raise WaitingListError(f"Choose a known clinical priority ({known}): {code!r} is not one")
    return found


def tci_date_problem(pathway: Pathway, tci_date: date, today: date) -> str | None:
    """What is wrong with `tci_date` as this pathway's to-come-in date, or None.

    The importer's rules for dates (no placeholders such as 9999-12-31, nothing more than
    FUTURE_LIMIT_YEARS ahead), then: not in the past, not before the clock start or the decision to admit."""
    shown = date_uk(tci_date)
    if is_placeholder_date(tci_date):
        return f"Enter a real TCI date: {shown} is a placeholder, not a date"
    if tci_date > future_limit(today):
        return (f"Enter a TCI date within {FUTURE_LIMIT_YEARS} years of today: {shown} is more than "
                f"{FUTURE_LIMIT_YEARS} years away")
    if tci_date < today:
        return f"Enter a TCI date from today onwards: {shown} is in the past"
    if pathway.rtt_start and tci_date < pathway.rtt_start:
        return (f"Enter a TCI date on or after the RTT clock start ({date_uk(pathway.rtt_start)}): "
                f"{shown} is before it")
    if pathway.dta_date and tci_date < pathway.dta_date:
        return (f"Enter a TCI date on or after the decision to admit ({date_uk(pathway.dta_date)}): "
                f"{shown} is before it")
    return None


@transaction.atomic
def set_priority(pathway: Pathway, code: str, *, reason: str, by, auditor: Auditor) -> PriorityReview:
    """Set or review a pathway's clinical priority (a clinician's decision at its provider), keeping
    its history. Only while the pathway is on the list."""
    _require_role(pathway, "priority", by)
    pathway = _lock_on_list(pathway)
    if not reason.strip():
        raise WaitingListError("Give the reason for the priority decision")
    priority = _priority(code)
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
def record_tci(pathway: Pathway, tci_date: date, *, by, auditor: Auditor, today: date | None = None) -> Pathway:
    """Record the to-come-in date. `by` (a user or an API token's principal) needs a waiting-list
    manager or scheduler role at the pathway's provider."""
    today = today or timezone.localdate()
    _require_role(pathway, "tci", by)
    pathway = _lock_on_list(pathway)
    problem = tci_date_problem(pathway, tci_date, today)
    if problem:
        raise WaitingListError(problem)
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
        raise WaitingListError("Enter the note")
    if len(text) > 5000:
        raise WaitingListError("A note can be at most 5,000 characters")
    note = PathwayNote.objects.create(pathway=pathway, author=by, text=text)
    auditor.create(note, summary=f"note on pathway {pathway.pk}")
    return note


@transaction.atomic
def record_clock_event(pathway: Pathway, status: str, event_date: date, *, auditor: Auditor, by=None,
                       source: str = ClockEvent.Source.MANUAL) -> ClockEvent:
    if not RttStatus.objects.filter(code=status).exists():
        raise WaitingListError(f"Choose an RTT status code: {status!r} is not one")
    if event_date > timezone.localdate():
        raise WaitingListError("A clock event cannot be in the future")
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
    _require_role(pathway, "remove", decided_by)
    pathway = _lock_on_list(pathway)
    if reason not in RemovalReason.values:
        raise WaitingListError(f"Choose a removal reason: {reason!r} is not one")
    if not rationale.strip():
        raise WaitingListError("Record why the patient is being removed")
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
    signals.pathway_removed.send(Pathway, pathway=pathway, removal=removal, by=decided_by, auditor=auditor)
    return removal
