"""Core domain: organisations, sites, patients, users and roles, the audit log, API tokens,
background jobs and the reference data every module shares.

Patient-level data is reached only through organisation-scoped querysets
(`Organisation.patients`, `Patient.objects.visible_to(...)`); views never call
`Patient.objects` directly (see tests/test_scoping_lint.py).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


# ---------------------------------------------------------------- organisations


class OrganisationKind(models.TextChoices):
    NHS_TRUST = "nhs_trust", "NHS trust"
    HEALTH_BOARD = "health_board", "Health board"
    INDEPENDENT_SECTOR = "independent_sector", "Independent-sector provider"
    ICB = "icb", "Integrated care board"
    ELECTIVE_HUB = "elective_hub", "Elective coordination hub"
    REGION = "region", "Region"


PROVIDER_KINDS = (OrganisationKind.NHS_TRUST, OrganisationKind.HEALTH_BOARD, OrganisationKind.INDEPENDENT_SECTOR)


class OrganisationQuerySet(models.QuerySet):
    def providers(self):
        return self.filter(kind__in=PROVIDER_KINDS)

    def descendants_of(self, org: Organisation):
        """Organisations below `org` in the hierarchy (children, grandchildren, ...)."""
        ids, frontier = set(), {org.pk}
        while frontier:
            frontier = set(Organisation.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)) - ids
            ids |= frontier
        return self.filter(pk__in=ids)


class Organisation(TimestampedModel):
    ods_code = models.CharField("ODS code", max_length=12, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=24, choices=OrganisationKind.choices)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    postcode_district = models.CharField(max_length=8, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    active = models.BooleanField(default=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.ods_code})"

    @property
    def is_provider(self) -> bool:
        return self.kind in PROVIDER_KINDS

    def patient_scope_ids(self) -> list[int]:
        """Organisations whose patient-level data a user acting for this organisation may see:
        itself plus every organisation that has granted it patient-level access."""
        granted = DataSharingGrant.objects.active().filter(grantee=self, scope=DataSharingGrant.Scope.PATIENT)
        return [self.pk, *granted.values_list("grantor_id", flat=True)]

    def aggregate_scope_ids(self) -> list[int]:
        """Organisations whose aggregate figures this organisation may see: its patient scope,
        its descendants (an ICB sees its trusts' aggregates) and aggregate grants."""
        ids = set(self.patient_scope_ids())
        ids |= set(Organisation.objects.descendants_of(self).values_list("pk", flat=True))
        ids |= set(
            DataSharingGrant.objects.active().filter(grantee=self).values_list("grantor_id", flat=True)
        )
        return sorted(ids)

    @property
    def patients(self):
        return Patient.objects.visible_to(self)


class Site(TimestampedModel):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="sites")
    ods_code = models.CharField("ODS site code", max_length=12, unique=True)
    name = models.CharField(max_length=200)
    postcode_district = models.CharField(max_length=8, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.ods_code})"


class DataSharingGrantQuerySet(models.QuerySet):
    def active(self, on: date | None = None):
        on = on or timezone.localdate()
        return self.filter(Q(starts_on__lte=on), Q(ends_on__isnull=True) | Q(ends_on__gte=on))


class DataSharingGrant(TimestampedModel):
    """An explicit, audited grant: `grantor` lets `grantee` see its data (e.g. a trust lets its
    ICB or an elective hub see its patient-level waiting list)."""

    class Scope(models.TextChoices):
        PATIENT = "patient", "Patient-level data"
        AGGREGATE = "aggregate", "Aggregate figures only"

    grantor = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="grants_given")
    grantee = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="grants_received")
    scope = models.CharField(max_length=12, choices=Scope.choices)
    purpose = models.CharField(max_length=200)
    starts_on = models.DateField(default=timezone.localdate)
    ends_on = models.DateField(null=True, blank=True)

    objects = DataSharingGrantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["grantor", "grantee", "scope"], name="unique_grant"),
            models.CheckConstraint(condition=~Q(grantor=models.F("grantee")), name="grant_not_to_self"),
        ]


# ---------------------------------------------------------------- users and roles


class Role(models.TextChoices):
    WAITING_LIST_MANAGER = "waiting_list_manager", "Waiting-list manager"
    SCHEDULER = "scheduler", "Scheduler"
    CLINICIAN = "clinician", "Clinician"
    VALIDATOR = "validator", "Validator"
    HUB_COORDINATOR = "hub_coordinator", "Hub coordinator"
    SCC_OPERATOR = "scc_operator", "SCC operator"
    DISCHARGE_COORDINATOR = "discharge_coordinator", "Discharge coordinator"
    ANALYST = "analyst", "Analyst"
    ORG_ADMIN = "org_admin", "Organisation admin"


class User(AbstractUser):
    display_name = models.CharField(max_length=150, blank=True)
    oidc_sub = models.CharField("OpenID Connect subject", max_length=255, unique=True, null=True, blank=True)
    failed_logins = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    is_persona = models.BooleanField(default=False, help_text="A demo persona (persona login in demo mode only)")
    persona_description = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.username

    def organisations(self):
        return Organisation.objects.filter(role_assignments__user=self).distinct()

    def roles_at(self, organisation: Organisation | None) -> set[str]:
        if organisation is None:
            return set()
        cache = getattr(self, "_roles_cache", None)
        if cache is None:
            cache = {a.organisation_id: set(a.roles) for a in self.role_assignments.all()}
            self._roles_cache = cache
        return cache.get(organisation.pk, set())


class RoleAssignment(TimestampedModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="role_assignments")
    roles = ArrayField(models.CharField(max_length=32, choices=Role.choices), default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organisation"], name="one_assignment_per_org")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation.ods_code}: {', '.join(self.roles)}"


# ---------------------------------------------------------------- patients


class PatientQuerySet(models.QuerySet):
    def visible_to(self, organisation: Organisation):
        """Patients known to the organisations in `organisation`'s patient scope."""
        ids = organisation.patient_scope_ids()
        known = PatientIdentifier.objects.filter(patient=OuterRef("pk"), organisation_id__in=ids)
        return self.filter(Exists(known))


class Sex(models.TextChoices):
    """PERSON STATED GENDER CODE (NHS Data Dictionary)."""

    MALE = "1", "Male"
    FEMALE = "2", "Female"
    INDETERMINATE = "9", "Indeterminate"
    NOT_KNOWN = "0", "Not known"


class Patient(TimestampedModel):
    # Unique through Meta.constraints, not unique=True, which would add a second (varchar_pattern_ops)
    # index that nothing uses (NHS numbers are matched whole) and every import would maintain.
    nhs_number = models.CharField("NHS number", max_length=10, null=True, blank=True)
    given_name = models.CharField(max_length=100, blank=True)
    family_name = models.CharField(max_length=100, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.NOT_KNOWN)
    postcode_district = models.CharField(max_length=8, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    email = models.EmailField(blank=True)
    consent_sms = models.BooleanField("may be contacted by SMS", default=False)
    consent_email = models.BooleanField("may be contacted by email", default=False)
    prefers_letter = models.BooleanField(default=False)
    vulnerable = models.BooleanField("flagged as vulnerable", default=False)
    parent_contact = models.CharField("parent or carer contact (children)", max_length=200, blank=True)
    deceased_on = models.DateField(null=True, blank=True)

    objects = PatientQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["nhs_number"], name="patient_nhs_number_unique")]

    def __str__(self) -> str:
        # Never the NHS number or name: __str__ ends up in logs.
        return f"Patient {self.pk}"

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    def age_on(self, on: date) -> int | None:
        if not self.birth_date:
            return None
        b = self.birth_date
        return on.year - b.year - ((on.month, on.day) < (b.month, b.day))


class PatientIdentifier(models.Model):
    """A patient's local identifier (MRN / PAS number) at one organisation."""

    # Indexed by the composite (patient, organisation) index and the unique (organisation, local_id).
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="identifiers", db_index=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="patient_identifiers",
                                     db_index=False)
    local_id = models.CharField(max_length=40)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "local_id"], name="unique_local_id"),
        ]
        indexes = [models.Index(fields=["patient", "organisation"])]


# ---------------------------------------------------------------- audit


class AuditLog(models.Model):
    """Append-only: PostgreSQL rejects UPDATE and DELETE on this table (migration 0002)."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"
        VIEW = "view"
        EXPORT = "export"
        IMPORT = "import"
        LOGIN = "login"
        LOGOUT = "logout"
        LOGIN_FAILED = "login_failed"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+",
                              db_index=False)  # the (actor, at) index serves it
    system_job = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    organisation = models.ForeignKey(Organisation, null=True, on_delete=models.PROTECT, related_name="+")
    request_id = models.CharField(max_length=36, blank=True)
    before = models.JSONField(null=True)
    after = models.JSONField(null=True)
    summary = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["object_type", "object_id", "at"]),
            models.Index(fields=["actor", "at"]),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.object_type}:{self.object_id}"


# ---------------------------------------------------------------- API tokens


class ApiToken(TimestampedModel):
    """A bearer token for a provider's system or a system client. Only its SHA-256 is stored."""

    name = models.CharField(max_length=100)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="api_tokens",
        help_text="Empty for a system client with no organisation",
    )
    roles = ArrayField(models.CharField(max_length=32, choices=Role.choices), default=list)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)


    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def generate(cls) -> tuple[str, str]:
        prefix = secrets.token_hex(4)
        return prefix, f"cc_{prefix}_{secrets.token_urlsafe(32)}"


# ---------------------------------------------------------------- background jobs


class Job(models.Model):
    """A long piece of work run by the worker (import, validation run, planning, simulation),
    with its progress and errors for the task page."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=50)
    title = models.CharField(max_length=200)
    organisation = models.ForeignKey(Organisation, null=True, on_delete=models.PROTECT, related_name="jobs")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(null=True)
    message = models.CharField(max_length=300, blank=True)
    errors = models.JSONField(default=list)
    result = models.JSONField(null=True)
    params = models.JSONField(default=dict)
    task_result_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, int(100 * self.progress_done / self.progress_total))


# ---------------------------------------------------------------- reference data


class ReferenceData(models.Model):
    """Versioned reference data loaded by migrations: each row says which edition it is from."""

    version = models.CharField(max_length=40)
    source = models.CharField(max_length=300, blank=True)
    confirmed = models.BooleanField(default=True, help_text="False where the public source is unconfirmed")

    class Meta:
        abstract = True


class MainSpecialty(ReferenceData):
    code = models.CharField(max_length=3, primary_key=True)
    name = models.CharField(max_length=120)

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class TreatmentFunction(ReferenceData):
    code = models.CharField(max_length=3, primary_key=True)
    name = models.CharField(max_length=120)
    reported_as = models.CharField(
        max_length=3, help_text="The code RTT statistics report it under (one of the 18, or X02-X06)"
    )
    surgical = models.BooleanField(default=False)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class RttStatus(ReferenceData):
    class ClockEffect(models.TextChoices):
        START = "start"
        RUNNING = "running"
        STOP = "stop"
        STOP_NULLIFY = "stop_nullify"
        NOT_RTT = "not_rtt"

    code = models.CharField(max_length=2, primary_key=True)
    meaning = models.CharField(max_length=200)
    clock_effect = models.CharField(max_length=14, choices=ClockEffect.choices)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "RTT statuses"

    def __str__(self) -> str:
        return f"{self.code} {self.meaning}"


class ClinicalPriority(ReferenceData):
    code = models.CharField(max_length=4, primary_key=True)
    name = models.CharField(max_length=60)
    description = models.CharField(max_length=300)
    time_frame_days = models.PositiveIntegerField(null=True, help_text="Treat within; empty if no limit")
    rank = models.PositiveSmallIntegerField(help_text="Order of treatment: lower first")
    deferral = models.BooleanField(default=False, help_text="Patient-chosen postponement (P5/P6)")

    class Meta:
        ordering = ["rank"]
        verbose_name_plural = "clinical priorities"

    def __str__(self) -> str:
        return self.code


class WaitingListType(ReferenceData):
    code = models.CharField(max_length=4, primary_key=True)
    meaning = models.CharField(max_length=120)
    admitted = models.BooleanField()
    rtt = models.BooleanField()

    def __str__(self) -> str:
        return self.code


class WorkerHeartbeat(models.Model):
    """Written every few seconds by each `carecoord worker`, so `carecoord check` can tell
    whether background work will run."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=200)
    pid = models.IntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)


class OutboxMessage(models.Model):
    """Messages sent by the default notifier backend (see core/notify.py): the demo's outbox."""

    patient_level = True

    channel = models.CharField(max_length=8)
    to = models.CharField(max_length=200)
    template = models.CharField(max_length=100)
    personalisation = models.JSONField(default=dict)
    reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]


class ScheduledRun(models.Model):
    """One row per scheduled job per day: the first worker to insert it runs the job, so several
    workers never run the nightly work twice (`core.scheduler`)."""

    name = models.CharField(max_length=60)
    day = models.DateField()
    started_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "day"], name="one_scheduled_run_per_day")]
