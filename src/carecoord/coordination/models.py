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
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="readings")
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

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="opel_scores")
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
