"""System coordination centre data: operational readings (a time series per provider and metric)
and the OPEL scores computed from them, with their explanations.

Readings are aggregate operational figures, not patient-level data. Metric keys are the parameter
keys of the OPEL framework edition in use (see `coordination/editions/`); other keys are kept too
(reported as unknown to the scorer) so a provider's feed is never silently dropped.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from carecoord.core.models import Organisation


class Reading(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="readings",
                                     db_index=False)  # the unique constraint below leads with it
    metric = models.CharField(max_length=64)
    at = models.DateTimeField()
    value = models.FloatField()
    source = models.CharField(max_length=20, default="api", help_text="api, csv, synth, derived")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "metric", "at"], name="one_reading_per_time")]
        indexes = [models.Index(fields=["organisation", "at"], name="reading_org_time")]


class OpelScore(models.Model):
    """One organisation's (provider's or system's) OPEL score at one reading time."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="opel_scores",
                                     db_index=False)  # the unique constraint below leads with it
    at = models.DateTimeField()
    edition = models.CharField(max_length=80)
    is_system = models.BooleanField(default=False)
    score = models.FloatField(null=True, blank=True)
    level = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1–4; empty when too much is missing")
    explanation = models.JSONField(default=dict)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "at", "edition"], name="one_score_per_time")]
        indexes = [models.Index(fields=["organisation", "-at"], name="opel_latest")]
        ordering = ["-at"]


class ScoreQueue(models.Model):
    """A provider whose readings at `at` changed and whose OPEL score there is due (see `scorer`).

    Ingest inserts a row in the statement that stores the readings; the scorer claims rows (setting
    `claimed_at`), scores them in bulk and deletes them. A new post for a claimed row clears the claim,
    so the row stays and is scored again; a claim older than a minute (its scorer died) is taken over."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+",
                                     db_index=False)  # the unique constraint below leads with it
    at = models.DateTimeField()
    queued_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "at"], name="one_score_due_per_time")]


class AlertRule(models.Model):
    """An ICB's alert on a metric crossing a threshold (for one provider or all its providers), or on
    a provider's OPEL level reaching a value (metric "opel_level")."""

    class Direction(models.TextChoices):
        ABOVE = "above", "At or above"
        BELOW = "below", "At or below"

    system = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="alert_rules")
    provider = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                                 help_text="Empty: every provider of the system")
    metric = models.CharField(max_length=64, help_text='A metric key, or "opel_level"')
    direction = models.CharField(max_length=5, choices=Direction.choices, default=Direction.ABOVE)
    threshold = models.FloatField()
    notify = models.CharField(max_length=200, blank=True, help_text="Staff contact for the notifier (optional)")
    active = models.BooleanField(default=True)

    def breached(self, value: float) -> bool:
        return value >= self.threshold if self.direction == self.Direction.ABOVE else value <= self.threshold


class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="scc_alerts")
    at = models.DateTimeField(help_text="The reading time that breached")
    value = models.FloatField()
    raised_at = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey("core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            # one unacknowledged alert per rule and provider: a persisting breach is not re-raised every 15 minutes
            models.UniqueConstraint(fields=["rule", "organisation"], condition=models.Q(acknowledged_at__isnull=True),
                                    name="one_open_alert_per_rule"),
        ]


class AmbulanceHandover(models.Model):
    """One ambulance arrival at a provider's ED (event feed; the provider's own id, no patient details)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="ambulance_handovers",
                                     db_index=False)  # the unique constraint below leads with it
    external_id = models.CharField(max_length=64)
    arrived_at = models.DateTimeField()
    handed_over_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "external_id"], name="one_handover_per_id")]
        indexes = [models.Index(fields=["organisation", "arrived_at"], name="handover_org_arrival")]


class EdAttendance(models.Model):
    """One ED attendance: arrival and departure (admitted, transferred or discharged), no patient details."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="ed_attendances",
                                     db_index=False)  # the unique constraint below leads with it
    external_id = models.CharField(max_length=64)
    arrived_at = models.DateTimeField()
    departed_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "external_id"], name="one_attendance_per_id")]
        indexes = [models.Index(fields=["organisation", "arrived_at"], name="attendance_org_arrival")]


class BedState(models.Model):
    """General and acute beds at a moment: open, occupied, escalation beds open."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="bed_states",
                                     db_index=False)  # the unique constraint below leads with it
    at = models.DateTimeField()
    ga_beds_open = models.PositiveIntegerField()
    ga_beds_occupied = models.PositiveIntegerField()
    escalation_beds_open = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "at"], name="one_bed_state_per_time")]
