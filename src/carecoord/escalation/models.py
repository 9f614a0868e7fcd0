"""Escalation action cards (configurable per OPEL level and pillar) and the actions started from them
when a provider or the system reaches that level: assigned, acknowledged, done, with notes. The
day's actions are the escalation log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from carecoord.core.models import Organisation


class Pillar(models.TextChoices):
    ACUTE = "acute", "Acute provider"
    SYSTEM = "system", "System (ICS overall)"


class ActionCard(models.Model):
    system = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="action_cards", help_text="Empty: the default set every system starts with")
    level = models.PositiveSmallIntegerField(choices=[(i, f"OPEL {i}") for i in range(1, 5)])
    pillar = models.CharField(max_length=8, choices=Pillar.choices)
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    source = models.CharField(max_length=300, blank=True)
    confirmed = models.BooleanField(default=False, help_text="False: an illustrative default to replace locally")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["level", "pillar", "id"]


class EscalationAction(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Not started"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        DONE = "done", "Done"

    card = models.ForeignKey(ActionCard, on_delete=models.PROTECT, related_name="actions")
    system = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="escalation_actions",
                                     help_text="The provider (or the system) whose level started it")
    level = models.PositiveSmallIntegerField()
    triggered_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    done_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-triggered_at"]
        constraints = [models.UniqueConstraint(fields=["card", "organisation"], condition=~Q(status="done"),
                                               name="one_live_action_per_card")]


class MutualAidRequest(models.Model):
    """A provider asks its system for help; neighbours offer; the SCC agrees one offer or declines."""

    class Kind(models.TextChoices):
        AMBULANCE_DIVERT = "divert", "Ambulance divert"
        ED = "ed", "ED mutual aid"
        BEDS = "beds", "Bed mutual aid"
        CRITICAL_CARE = "critical_care", "Critical-care transfer"
        REPATRIATION = "repatriation", "Repatriation to home trust"

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        AGREED = "agreed", "Agreed"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"
        COMPLETED = "completed", "Completed"

    system = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    requester = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="aid_requests")
    kind = models.CharField(max_length=14, choices=Kind.choices)
    detail = models.TextField()
    quantity = models.PositiveSmallIntegerField(default=1, help_text="beds, patients or hours, by kind")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    agreed_offer = models.ForeignKey("MutualAidOffer", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    # Repatriation: the patient (one the requester may see) and the trust they go home to. Shown only to
    # the requester and that home trust; everyone else in the system sees "a patient".
    patient = models.ForeignKey("core.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    home_provider = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="repatriations_home")

    class Meta:
        ordering = ["-requested_at"]

    def patient_visible_to(self, organisation) -> bool:
        return self.patient_id is not None and organisation is not None and organisation.pk in (
            self.requester_id, self.home_provider_id)


class MutualAidOffer(models.Model):
    request = models.ForeignKey(MutualAidRequest, on_delete=models.CASCADE, related_name="offers")
    provider = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="aid_offers")
    detail = models.TextField()
    offered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    offered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["offered_at"]
        constraints = [models.UniqueConstraint(fields=["request", "provider"], name="one_offer_per_provider")]


class ServiceHours(models.Model):
    """When a system's coordination centre is staffed: one or more windows per ICB."""

    class Days(models.TextChoices):
        EVERY_DAY = "every_day", "Every day"
        WEEKDAYS = "weekdays", "Weekdays (not bank holidays)"
        WEEKENDS_AND_BANK_HOLIDAYS = "weekends_bh", "Weekends and bank holidays"

    system = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="scc_hours")
    days = models.CharField(max_length=12, choices=Days.choices, default=Days.EVERY_DAY)
    starts = models.TimeField()
    ends = models.TimeField()

    class Meta:
        ordering = ["days", "starts"]


class HandoverNote(models.Model):
    """Out-of-hours handover: what the next shift needs to know."""

    system = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="handover_notes")
    written_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    written_at = models.DateTimeField(default=timezone.now)
    text = models.TextField()

    class Meta:
        ordering = ["-written_at"]


class Shift(models.Model):
    """Who staffs the coordination centre when (the rota); the board shows who is on now."""

    system = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="scc_shifts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="scc_shifts")
    role = models.CharField(max_length=60, default="SCC operator", help_text="e.g. SCC lead, tactical on call")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        ordering = ["starts_at"]
        constraints = [models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                              name="shift_times")]


class SitrepSchedule(models.Model):
    """A time of day the system's situation report is produced (PDF kept, staff told)."""

    system = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="sitrep_schedule")
    at = models.TimeField()
    notify = models.CharField(max_length=300, blank=True, help_text="Staff contacts, comma-separated (optional)")

    class Meta:
        ordering = ["at"]
        constraints = [models.UniqueConstraint(fields=["system", "at"], name="one_sitrep_time")]


class SitrepRun(models.Model):
    """A produced sitrep: one per schedule entry per day, whichever worker gets there first."""

    schedule = models.ForeignKey(SitrepSchedule, on_delete=models.CASCADE, related_name="runs")
    day = models.DateField()
    produced_at = models.DateTimeField(default=timezone.now)
    path = models.CharField(max_length=300)

    class Meta:
        ordering = ["-produced_at"]
        constraints = [models.UniqueConstraint(fields=["schedule", "day"], name="one_sitrep_run_per_day")]
