"""The elective waiting list: pathways with their RTT clocks, the immutable clock-event history,
RTT periods, priority reviews, notes and recorded removal decisions.

A `Pathway` is one patient pathway at one provider, identified as the RTT rules identify it
(patient pathway identifier + its issuer), holding its current RTT period and the waiting-list
entry that puts it on the PTL (ADR 0004: in WLMDS every open-pathway row is one list entry, so the
entry's fields live on the pathway row the PTL sorts and filters on). Periods and clock events keep
the history. Patient-level: reach pathways only through `Pathway.objects.visible_to(org)` or
`Organisation.pathways`.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from carecoord.core.models import Organisation, Patient, Site


class ListType(models.TextChoices):
    ADMITTED = "admitted", "Admitted"
    NON_ADMITTED = "non_admitted", "Non-admitted"
    PLANNED = "planned", "Planned"
    DIAGNOSTIC = "diagnostic", "Diagnostic"


class ClockState(models.TextChoices):
    OPEN = "open", "Clock running"
    STOPPED = "stopped", "Clock stopped"
    NULLIFIED = "nullified", "Nullified (first-appointment DNA)"
    NON_RTT = "non_rtt", "Not an RTT pathway"
    UNKNOWN = "unknown", "Unknown clock start"


class PathwayStatus(models.TextChoices):
    ON_LIST = "on_list", "On the waiting list"
    REMOVED = "removed", "Removed"
    CLOSED = "closed", "Closed (no longer in extracts)"


class PoaStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    BOOKED = "booked", "Booked"
    FIT = "fit", "Fit for surgery"
    UNFIT = "unfit", "Not fit"
    EXPIRED = "expired", "Expired"


class PathwayQuerySet(models.QuerySet):
    def visible_to(self, organisation: Organisation):
        return self.filter(provider_id__in=organisation.patient_scope_ids())

    def on_list(self):
        return self.filter(status=PathwayStatus.ON_LIST)

    def ptl(self):
        """Open RTT pathways on the list (the patient tracking list)."""
        return self.on_list().filter(clock_state__in=[ClockState.OPEN, ClockState.UNKNOWN])

    def treat_in_turn(self):
        """Clinical priority first, then the order patients joined the list."""
        return self.order_by("priority_rank", "queue_date", "id")


class Pathway(models.Model):
    patient_level = True

    # No single-column indexes on provider and patient: the composite indexes in Meta lead with them, and
    # every extra index is written for each of the millions of rows an import merges.
    provider = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="pathways", db_index=False)
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="pathways")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="pathways", db_index=False)
    ppid = models.CharField("patient pathway identifier", max_length=20)
    ppid_issuer = models.CharField("PPID issuer", max_length=12)
    ubrn = models.CharField("UBRN", max_length=12, blank=True)
    local_patient_id = models.CharField(max_length=40, blank=True)
    referral_received = models.DateField(null=True, blank=True)
    source_of_referral = models.CharField(max_length=2, blank=True)
    referrer_code = models.CharField(max_length=12, blank=True)
    commissioner_code = models.CharField(max_length=12, blank=True)
    tfc = models.CharField("treatment function code", max_length=3)
    main_specialty = models.CharField(max_length=3, blank=True)
    consultant_code = models.CharField(max_length=12, blank=True)
    priority_type = models.CharField(max_length=1, blank=True, help_text="1 routine, 2 urgent, 3 two-week wait")

    # The clock (computed by waitinglist.rtt from the clock events).
    rtt_start = models.DateField("RTT period start", null=True, blank=True)
    rtt_status = models.CharField("latest RTT status", max_length=2, blank=True)
    clock_state = models.CharField(max_length=10, choices=ClockState.choices, default=ClockState.OPEN)
    clock_stop = models.DateField(null=True, blank=True)
    clock_stop_status = models.CharField(max_length=2, blank=True)
    queue_date = models.DateField("queue-order date", null=True, blank=True,
                                  help_text="Place in the treatment order; kept across active monitoring")

    # The waiting-list entry.
    waiting_list_type = models.CharField(max_length=4, blank=True, help_text="WLMDS Waiting_List_Type (ORTT, IRTT…)")
    list_type = models.CharField(max_length=12, choices=ListType.choices, default=ListType.NON_ADMITTED)
    clinical_priority = models.CharField(max_length=4, blank=True)
    priority_rank = models.PositiveSmallIntegerField(default=99, help_text="ClinicalPriority.rank; 99 = not set")
    priority_reviewed_on = models.DateField(null=True, blank=True)
    intended_procedure = models.CharField("intended procedure (OPCS-4)", max_length=8, blank=True)
    intended_management = models.CharField(max_length=1, blank=True)
    dta_date = models.DateField("decision to admit", null=True, blank=True)
    tci_date = models.DateField("to-come-in date", null=True, blank=True)
    tci_provided_on = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    asa_grade = models.PositiveSmallIntegerField(null=True, blank=True)
    bmi = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    poa_status = models.CharField("pre-operative assessment", max_length=12, choices=PoaStatus.choices,
                                  default=PoaStatus.NOT_STARTED)
    poa_date = models.DateField(null=True, blank=True)
    poa_valid_until = models.DateField(null=True, blank=True)
    willing_to_travel = models.BooleanField(null=True, blank=True)
    last_validated_on = models.DateField(null=True, blank=True)
    last_validated_by = models.CharField(max_length=100, blank=True)

    status = models.CharField(max_length=8, choices=PathwayStatus.choices, default=PathwayStatus.ON_LIST)
    census_date = models.DateField(null=True, blank=True, help_text="Week ending of the extract that last changed it")
    import_batch = models.ForeignKey("integration.ImportBatch", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    row_hash = models.CharField(max_length=32, blank=True, help_text="Hash of the imported fields")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = PathwayQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "ppid", "ppid_issuer"], name="pathway_identity"),
            models.CheckConstraint(condition=Q(asa_grade__isnull=True) | Q(asa_grade__range=(1, 6)),
                                   name="asa_grade_1_6"),
        ]
        indexes = [
            models.Index(fields=["provider", "status", "priority_rank", "queue_date", "id"], name="ptl_order"),
            models.Index(fields=["provider", "status", "rtt_start"], name="ptl_wait"),
            models.Index(fields=["provider", "tfc", "status"], name="ptl_tfc"),
            models.Index(fields=["provider", "consultant_code"], name="ptl_consultant"),
            models.Index(fields=["patient"], name="pathway_patient"),
        ]

    def __str__(self) -> str:
        return f"Pathway {self.pk}"

    def days_waited(self, census: date) -> int | None:
        if self.rtt_start is None or self.clock_state not in (ClockState.OPEN,):
            return None
        return (census - self.rtt_start).days


class RttPeriod(models.Model):
    patient_level = True

    pathway = models.ForeignKey(Pathway, on_delete=models.CASCADE, related_name="periods")
    start = models.DateField()
    stop = models.DateField(null=True, blank=True)
    stop_status = models.CharField(max_length=2, blank=True)
    nullified = models.BooleanField(default=False)

    class Meta:
        ordering = ["start"]
        constraints = [models.UniqueConstraint(fields=["pathway", "start"], name="one_period_per_start")]


class ClockEvent(models.Model):
    """Immutable: one RTT status recorded on a date, with where it came from."""

    patient_level = True

    class Source(models.TextChoices):
        IMPORT = "import", "Import"
        FHIR = "fhir", "FHIR"
        MANUAL = "manual", "Recorded in carecoord"
        SYNTH = "synth", "Synthetic"
        VALIDATION = "validation", "Validation decision"

    pathway = models.ForeignKey(Pathway, on_delete=models.CASCADE, related_name="clock_events",
                                db_index=False)  # clock_event_once (pathway, date, status) serves lookups
    event_date = models.DateField()
    status = models.CharField(max_length=2)
    source = models.CharField(max_length=10, choices=Source.choices)
    source_system = models.CharField(max_length=40, blank=True)
    import_batch = models.ForeignKey("integration.ImportBatch", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", db_index=False)  # partial index below: imports leave it empty
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["event_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pathway", "event_date", "status"], name="clock_event_once"),
        ]
        indexes = [models.Index(fields=["recorded_by"], condition=models.Q(recorded_by__isnull=False),
                                name="clock_event_recorded_by")]


class PriorityReview(models.Model):
    """Immutable history of clinical priority: who, when, from what to what, why."""

    patient_level = True

    pathway = models.ForeignKey(Pathway, on_delete=models.CASCADE, related_name="priority_reviews")
    from_code = models.CharField(max_length=4, blank=True)
    to_code = models.CharField(max_length=4)
    reason = models.TextField()
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=10, default="manual")

    class Meta:
        ordering = ["-reviewed_at"]


class PathwayNote(models.Model):
    patient_level = True

    pathway = models.ForeignKey(Pathway, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]


class RemovalReason(models.TextChoices):
    TREATED = "treated", "Treated (first definitive treatment)"
    TREATED_ELSEWHERE = "treated_elsewhere", "Treated elsewhere"
    NO_LONGER_REQUIRED = "no_longer_required", "Patient no longer requires treatment"
    DECLINED = "declined", "Patient declined treatment"
    NOT_TO_TREAT = "not_to_treat", "Clinical decision not to treat"
    ACTIVE_MONITORING = "active_monitoring", "Active monitoring (clinician)"
    DISCHARGED_TO_REFERRER = "discharged", "Discharged back to referrer"
    DIED = "died", "Patient died"
    DUPLICATE = "duplicate", "Duplicate entry"


# The RTT status a removal stops the clock with (RTT guidance v5.0 Annex D).
REMOVAL_STATUS = {
    RemovalReason.TREATED: "30",
    RemovalReason.TREATED_ELSEWHERE: "34",
    RemovalReason.NO_LONGER_REQUIRED: "34",
    RemovalReason.DECLINED: "35",
    RemovalReason.NOT_TO_TREAT: "34",
    RemovalReason.ACTIVE_MONITORING: "32",
    RemovalReason.DISCHARGED_TO_REFERRER: "34",
    RemovalReason.DIED: "36",
    RemovalReason.DUPLICATE: "",
}


class Removal(models.Model):
    """A recorded clinical decision to remove a pathway from the list: never without a clinician."""

    patient_level = True

    pathway = models.OneToOneField(Pathway, on_delete=models.PROTECT, related_name="removal")
    reason = models.CharField(max_length=20, choices=RemovalReason.choices)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_on = models.DateField()
    rationale = models.TextField()
    stop_status = models.CharField(max_length=2, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)


class SavedView(models.Model):
    """A user's saved PTL filter and sort."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_ptl_views")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organisation", "name"], name="saved_view_name")]


def scoped_pathways(organisation: Organisation | None):
    """The pathways a user acting for `organisation` may see (views use this, never Pathway.objects)."""
    if organisation is None:
        return Pathway.objects.none()
    return Pathway.objects.visible_to(organisation)
