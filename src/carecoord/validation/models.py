"""Waiting-list validation: technical-rule runs and their findings, worklist tasks, contact attempts,
clinical decisions, and patient-initiated digital validation (batches, messages, responses).

The rules themselves are the pure kernel in `carecoord.waitinglist.rules`. A finding is kept per
(pathway, rule): a run that no longer sees it closes it; one that still sees it updates it rather than
adding a duplicate (partial unique index on open findings).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from carecoord.core.models import Organisation
from carecoord.waitinglist.models import Pathway


class Team(models.TextChoices):
    VALIDATION = "validation", "Validation team"
    BOOKING = "booking", "Booking team"
    CLINICAL = "clinical", "Clinicians"
    DATA_QUALITY = "data_quality", "Data quality"


class ValidationRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    organisation = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="validation_runs", help_text="Empty: every provider")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    trigger = models.CharField(max_length=20, default="manual", help_text="manual, nightly, import, cli")
    census = models.DateField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    pathways_checked = models.IntegerField(default=0)
    findings_by_rule = models.JSONField(default=dict)
    opened = models.IntegerField(default=0)
    closed = models.IntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]


class FindingQuerySet(models.QuerySet):
    def open(self):
        return self.filter(closed_at__isnull=True)

    def visible_to(self, organisation: Organisation):
        return self.filter(pathway__provider_id__in=organisation.patient_scope_ids())


class Finding(models.Model):
    patient_level = True

    pathway = models.ForeignKey(Pathway, on_delete=models.CASCADE, related_name="findings")
    rule = models.CharField(max_length=8)
    severity = models.CharField(max_length=10)
    team = models.CharField(max_length=14, choices=Team.choices)
    detail = models.CharField(max_length=500)
    first_run = models.ForeignKey(ValidationRun, on_delete=models.PROTECT, related_name="+")
    last_run = models.ForeignKey(ValidationRun, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=100, blank=True)

    objects = FindingQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pathway", "rule"], condition=Q(closed_at__isnull=True),
                                    name="one_open_finding_per_rule"),
        ]
        indexes = [models.Index(fields=["rule", "closed_at"])]


class TaskQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status=ValidationTask.Status.OPEN)

    def visible_to(self, organisation: Organisation):
        return self.filter(pathway__provider_id__in=organisation.patient_scope_ids())


class ValidationTask(models.Model):
    """An item on a team's worklist."""

    patient_level = True

    class Kind(models.TextChoices):
        ADMINISTRATIVE = "admin", "Administrative validation"
        CLINICAL = "clinical", "Clinical validation"
        DATA = "data", "Data correction"
        REVALIDATION = "revalidation", "Revalidation due"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    pathway = models.ForeignKey(Pathway, on_delete=models.CASCADE, related_name="validation_tasks")
    team = models.CharField(max_length=14, choices=Team.choices)
    kind = models.CharField(max_length=14, choices=Kind.choices)
    reason = models.CharField(max_length=300)
    source = models.CharField(max_length=30, help_text="finding:T5, digital:response, escalation, cadence")
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=40, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["team", "status"])]
        constraints = [
            # One open task per pathway and team: a second "Ask a clinician" (double click, or a patient's
            # answer at the same moment) finds the open task instead of adding a duplicate.
            models.UniqueConstraint(fields=["pathway", "team"], condition=Q(status="open"),
                                    name="one_open_task_per_pathway_team"),
        ]


class ContactOutcome(models.TextChoices):
    REMAIN_PROCEED = "remain_proceed", "Remain and proceed"
    REMAIN_POSTPONE = "remain_postpone", "Remain and postpone"
    NO_LONGER_REQUIRED = "no_longer_required", "No longer required"
    TREATED_ELSEWHERE = "treated_elsewhere", "Treated elsewhere"
    UNABLE_TO_CONTACT = "unable_to_contact", "Unable to contact"


class ContactAttempt(models.Model):
    """Administrative validation: one attempt to reach the patient and what they said."""

    patient_level = True

    class Method(models.TextChoices):
        PHONE = "phone", "Phone"
        LETTER = "letter", "Letter"
        SMS = "sms", "Text message"
        EMAIL = "email", "Email"

    pathway = models.ForeignKey(Pathway, on_delete=models.CASCADE, related_name="contact_attempts")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    method = models.CharField(max_length=8, choices=Method.choices)
    outcome = models.CharField(max_length=20, choices=ContactOutcome.choices)
    notes = models.TextField(blank=True)


class ClinicalDecision(models.Model):
    """Clinical validation: a clinician's decision on a pathway (immutable)."""

    patient_level = True

    class Decision(models.TextChoices):
        KEEP = "keep", "Keep on the list"
        DISCHARGE = "discharge", "Discharge back to referrer"
        MOVE = "move", "Move to another list"
        REMOVE = "remove", "Remove from the list"

    pathway = models.ForeignKey(Pathway, on_delete=models.CASCADE, related_name="clinical_decisions")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    priority = models.CharField(max_length=4, blank=True)
    new_list_type = models.CharField(max_length=12, blank=True)
    removal_reason = models.CharField(max_length=20, blank=True)
    rationale = models.TextField()


class DigitalBatch(models.Model):
    """Patient-initiated digital validation: a cohort chosen, previewed and sent."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent"

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="digital_batches")
    name = models.CharField(max_length=120)
    cohort = models.JSONField(help_text="The filters that chose the cohort")
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    link_days = models.PositiveSmallIntegerField(default=14)
    reminder_after_days = models.PositiveSmallIntegerField(default=7)
    letter_after_days = models.PositiveSmallIntegerField(default=14)


class DigitalResponse(models.TextChoices):
    STILL_NEED = "still_need", "I still need care"
    NO_LONGER_NEED = "no_longer_need", "I no longer need it"
    HAD_ELSEWHERE = "had_elsewhere", "I have had it elsewhere"
    DELAY = "delay", "I want to delay"
    NOT_SURE = "not_sure", "I'm not sure"


class DigitalMessage(models.Model):
    """One patient's invitation: a single-use, expiring link (only its hash is stored)."""

    patient_level = True
    MAX_DOB_ATTEMPTS = 3

    batch = models.ForeignKey(DigitalBatch, on_delete=models.PROTECT, related_name="messages")
    pathway = models.ForeignKey(Pathway, on_delete=models.CASCADE, related_name="digital_messages")
    channel = models.CharField(max_length=8)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    letter_sent_at = models.DateTimeField(null=True, blank=True)
    dob_failures = models.PositiveSmallIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    response = models.CharField(max_length=16, choices=DigitalResponse.choices, blank=True)
    response_text = models.TextField(blank=True)

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


def scoped_findings(organisation: Organisation | None):
    """Open and closed findings on pathways the organisation may see (views use this)."""
    if organisation is None:
        return Finding.objects.none()
    return Finding.objects.visible_to(organisation)


def scoped_runs(organisation: Organisation | None, *, aggregate: bool = False):
    """The organisation's own runs; with `aggregate` (the dashboard), also the runs of every organisation
    whose aggregate figures it may see (an ICB: its trusts'; `Organisation.aggregate_scope_ids`). A
    system-wide run (no organisation) is never shown: it holds every provider's totals together, so
    showing it to one trust would mix in, and disclose, other providers' figures."""
    if organisation is None:
        return ValidationRun.objects.none()
    if aggregate:
        return ValidationRun.objects.filter(organisation_id__in=organisation.aggregate_scope_ids())
    return ValidationRun.objects.filter(organisation=organisation)


def scoped_tasks(organisation: Organisation | None):
    if organisation is None:
        return ValidationTask.objects.none()
    return ValidationTask.objects.visible_to(organisation)
