"""Administrative and clinical validation: contact attempts, escalation to a clinician, and clinical
decisions. A patient leaves the list only through a clinician's recorded decision
(`waitinglist.services.remove_from_list` enforces the role and stops the clock with the right code).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from carecoord.core.models import Role
from carecoord.core.services.audit import Auditor, snapshot
from carecoord.validation.models import (
    ClinicalDecision,
    ContactAttempt,
    ContactOutcome,
    Team,
    ValidationTask,
)
from carecoord.waitinglist import services as wl
from carecoord.waitinglist.models import Pathway, PathwayStatus, RemovalReason

NEEDS_CLINICIAN = {ContactOutcome.NO_LONGER_REQUIRED, ContactOutcome.TREATED_ELSEWHERE}
DECISION_REMOVAL = {
    ClinicalDecision.Decision.DISCHARGE: RemovalReason.DISCHARGED_TO_REFERRER,
}


class ValidationError(ValueError):
    pass


def _validated(pathway: Pathway, by, auditor: Auditor) -> None:
    before = snapshot(pathway)
    pathway.last_validated_on = timezone.localdate()
    pathway.last_validated_by = by.get_full_name() or by.username
    pathway.save(update_fields=["last_validated_on", "last_validated_by"])
    auditor.update(pathway, before, summary="validated")


def _lock_on_list(pathway: Pathway, what: str) -> Pathway:
    """Lock the pathway's row for the rest of the transaction and refuse `what` if it has left the list
    (a stale page: another user removed it meanwhile). Returns the locked, current row."""
    locked = Pathway.objects.select_for_update().get(pk=pathway.pk)
    if locked.status != PathwayStatus.ON_LIST:
        raise ValidationError(f"This pathway is no longer on the waiting list ({locked.get_status_display().lower()}"
                              f"), so {what} cannot be recorded. Reload the page to see its current state.")
    return locked


def escalate(pathway: Pathway, *, reason: str, auditor: Auditor, source: str = "escalation") -> ValidationTask:
    """Open a clinical-validation task, or return the open one: at most one open task per pathway and team
    (a partial unique constraint), so two clicks at once, or a click and a patient's answer, give one task
    (get_or_create falls back to reading the other's row when its insert hits the constraint)."""
    task, created = ValidationTask.objects.get_or_create(
        pathway=pathway, team=Team.CLINICAL, status=ValidationTask.Status.OPEN,
        defaults={"kind": ValidationTask.Kind.CLINICAL, "reason": reason[:300], "source": source[:30]})
    if created:
        auditor.create(task, summary="clinical validation requested")
    return task


@transaction.atomic
def request_review(pathway: Pathway, *, reason: str, auditor: Auditor) -> ValidationTask:
    """"Ask a clinician" from the pathway page: refused once the pathway has left the list."""
    return escalate(_lock_on_list(pathway, "a request for clinical review"), reason=reason, auditor=auditor)


@transaction.atomic
def record_contact(pathway: Pathway, *, by, method: str, outcome: str, notes: str, auditor: Auditor) -> ContactAttempt:
    pathway = _lock_on_list(pathway, "a contact")
    if method not in ContactAttempt.Method.values:
        raise ValidationError(f"{method!r} is not a contact method")
    if outcome not in ContactOutcome.values:
        raise ValidationError(f"{outcome!r} is not a contact outcome")
    attempt = ContactAttempt.objects.create(pathway=pathway, by=by, method=method, outcome=outcome, notes=notes.strip())
    auditor.create(attempt, summary=f"contact: {outcome}")
    if outcome != ContactOutcome.UNABLE_TO_CONTACT:
        _validated(pathway, by, auditor)
    if outcome in NEEDS_CLINICIAN:
        escalate(pathway, reason=f"Patient says: {ContactOutcome(outcome).label.lower()}", auditor=auditor,
                 source="contact")
    return attempt


@transaction.atomic
def record_decision(pathway: Pathway, *, clinician, decision: str, rationale: str, auditor: Auditor,
                    priority: str = "", removal_reason: str = "", new_list_type: str = "") -> ClinicalDecision:
    """A clinician's decision. Keep (optionally with a priority), discharge or remove (off the list,
    clock stopped), or move to another list type."""
    if Role.CLINICIAN not in clinician.roles_at(pathway.provider):
        raise wl.ClinicalDecisionRequired("only a clinician can record a clinical validation decision")
    pathway = _lock_on_list(pathway, "a clinical decision")
    if decision not in ClinicalDecision.Decision.values:
        raise ValidationError(f"{decision!r} is not a decision")
    if not rationale.strip():
        raise ValidationError("record the reason for the decision")
    if decision == ClinicalDecision.Decision.REMOVE and removal_reason not in RemovalReason.values:
        raise ValidationError("choose why the patient is being removed")
    if decision == ClinicalDecision.Decision.MOVE and new_list_type not in ("admitted", "non_admitted", "planned",
                                                                             "diagnostic"):
        raise ValidationError("choose the list to move the patient to")
    record = ClinicalDecision.objects.create(pathway=pathway, clinician=clinician, decision=decision,
                                             priority=priority, new_list_type=new_list_type,
                                             removal_reason=removal_reason, rationale=rationale.strip())
    auditor.create(record, summary=f"clinical decision: {decision}")
    if priority:
        wl.set_priority(pathway, priority, reason=rationale.strip(), by=clinician, auditor=auditor)
    if decision in (ClinicalDecision.Decision.REMOVE, ClinicalDecision.Decision.DISCHARGE):
        reason = removal_reason if decision == ClinicalDecision.Decision.REMOVE else DECISION_REMOVAL[decision]
        wl.remove_from_list(pathway, reason=reason, decided_by=clinician, rationale=rationale, auditor=auditor)
    elif decision == ClinicalDecision.Decision.MOVE:
        before = snapshot(pathway)
        pathway.list_type = new_list_type
        pathway.save(update_fields=["list_type"])
        auditor.update(pathway, before, summary=f"moved to the {new_list_type} list")
    pathway.refresh_from_db()
    _validated(pathway, clinician, auditor)
    for task in ValidationTask.objects.filter(pathway=pathway, team=Team.CLINICAL, status=ValidationTask.Status.OPEN):
        before = snapshot(task)
        task.status, task.done_at, task.outcome = ValidationTask.Status.DONE, timezone.now(), decision
        task.save(update_fields=["status", "done_at", "outcome"])
        auditor.update(task, before, summary="clinical validation done")
    return record


BULK_ACTIONS = {"assign": "Assign to me", "release": "Unassign", "escalate": "Ask a clinician to review"}


@transaction.atomic
def bulk(tasks, action: str, *, user, auditor: Auditor) -> int:
    """Safe bulk actions on open tasks: assign to me, unassign, or ask a clinician to review (the task is
    done with outcome "escalated" and a clinical task opens). Nothing here removes or changes a pathway's
    clinical data. Returns how many tasks changed."""
    if action not in BULK_ACTIONS:
        raise ValidationError(f"{action!r} is not a bulk action")
    n = 0
    for task in tasks.select_for_update().filter(status=ValidationTask.Status.OPEN).select_related("pathway"):
        before = snapshot(task)
        if action == "assign":
            task.assigned_to = user
        elif action == "release":
            task.assigned_to = None
        elif task.team != Team.CLINICAL:
            if task.pathway.status != PathwayStatus.ON_LIST:
                continue  # off the list since: nothing for a clinician to review
            escalate(task.pathway, reason=f"Asked by the {task.get_team_display().lower()}: {task.reason}",
                     auditor=auditor)
            task.status, task.done_at, task.outcome = ValidationTask.Status.DONE, timezone.now(), "escalated"
        else:
            continue
        task.save()
        auditor.update(task, before, summary=f"bulk: {action}")
        n += 1
    return n


CORRECTABLE = ("tfc", "consultant_code", "intended_procedure", "referral_received", "dta_date")


@transaction.atomic
def correct(pathway: Pathway, changes: dict, *, reason: str, by, auditor: Auditor) -> list[str]:
    """Correct a pathway's administrative data with a reason: audited with before and after, a note on
    the pathway names each change, open data-correction tasks are done, and the pathway counts as
    validated. Clock dates are not corrected here: they come from the provider's clock events."""
    if not reason.strip():
        raise ValidationError("record why the data is being corrected")
    pathway = _lock_on_list(pathway, "a data correction")
    unknown = set(changes) - set(CORRECTABLE)
    if unknown:
        raise ValidationError(f"{', '.join(sorted(unknown))} cannot be corrected here")
    before = snapshot(pathway)
    changed = []
    for field, value in changes.items():
        old = getattr(pathway, field)
        if (old or None) != (value or None):
            setattr(pathway, field, value if value is not None else (None if field.endswith(("_date", "_received"))
                                                                     else ""))
            label = Pathway._meta.get_field(field).verbose_name
            changed.append(f"{label}: {old or '–'} → {value or '–'}")
    if not changed:
        return []
    pathway.save()
    auditor.update(pathway, before, summary=f"data corrected: {reason.strip()[:200]}")
    wl.add_note(pathway, "Data corrected (" + "; ".join(changed) + f"). Reason: {reason.strip()}", by=by,
                auditor=auditor)
    for task in ValidationTask.objects.filter(pathway=pathway, kind=ValidationTask.Kind.DATA,
                                              status=ValidationTask.Status.OPEN):
        t_before = snapshot(task)
        task.status, task.done_at, task.outcome = ValidationTask.Status.DONE, timezone.now(), "corrected"
        task.save(update_fields=["status", "done_at", "outcome"])
        auditor.update(task, t_before, summary="data corrected")
    _validated(pathway, by, auditor)
    return changed
