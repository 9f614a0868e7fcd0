"""Import batches, their row-level rejections, and per-organisation column-mapping profiles."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from carecoord.core.models import Organisation


class ImportMode(models.TextChoices):
    ALL_OR_NOTHING = "all-or-nothing", "Reject the whole file if any row is bad"
    GOOD_ROWS = "good-rows", "Load the good rows, report the bad ones"


class ImportBatch(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        LOADED = "loaded", "Loaded"
        REJECTED = "rejected", "Rejected (nothing loaded)"
        FAILED = "failed", "Failed (nothing loaded)"

    provider = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="import_batches")
    kind = models.CharField(max_length=20, default="wlmds")
    filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    profile_name = models.CharField(max_length=80, blank=True)
    mode = models.CharField(max_length=16, choices=ImportMode.choices)
    census_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    rows_read = models.IntegerField(default=0)
    rows_loaded = models.IntegerField(default=0)
    rows_rejected = models.IntegerField(default=0)
    pathways_created = models.IntegerField(default=0)
    pathways_updated = models.IntegerField(default=0)
    pathways_unchanged = models.IntegerField(default=0)
    pathways_closed = models.IntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    system_job = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.filename})"


class ImportRejection(models.Model):
    """One bad field of one row: which row, which field, why. Values are kept for the report
    (visible only to the provider's authorised users), never logged."""

    patient_level = True

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="rejections")
    row_number = models.IntegerField(help_text="1-based data row (the header is row 0)")
    field = models.CharField(max_length=80)
    value = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=300)
    # The row's pathway identity as the importer read it (trimmed; issuer upper case), to trace the row.
    ppid = models.CharField(max_length=40, blank=True, default="")
    ppid_issuer = models.CharField(max_length=20, blank=True, default="")

    class Meta:
        ordering = ["row_number", "field"]


class MappingProfile(models.Model):
    """How one organisation's PAS extract maps onto carecoord's WLMDS fields."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="mapping_profiles")
    name = models.CharField(max_length=80)
    columns = models.JSONField(help_text="{wlmds_field: source column name}")
    date_format = models.CharField(max_length=20, default="auto", help_text="auto, YYYY-MM-DD or DD/MM/YYYY")
    delimiter = models.CharField(max_length=1, default=",")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="profile_name_per_org")]

    def __str__(self) -> str:
        return self.name


def scoped_batches(organisation: Organisation | None):
    """The import batches a user acting for `organisation` may see: its own imports only (views
    use this; a batch's rejections are reached through it)."""
    if organisation is None:
        return ImportBatch.objects.none()
    return ImportBatch.objects.filter(provider=organisation)
