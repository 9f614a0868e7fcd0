"""Theatres, session templates and sessions, consultant availability, bookings, case timings and
cancellations.

Booking safety lives in the database, not only in code (migration 0002):
- a patient is never booked into two live sessions that overlap in time (exclusion constraint);
- a pathway has at most one live booking (partial unique index);
- a session's live bookings never exceed its minutes plus the allowed overrun, no booking goes
  into a session whose consultant is on leave that day, and none for a patient whose
  pre-operative assessment will have expired by the session date (a trigger that locks the session
  row, so concurrent bookings by several schedulers serialise per session).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import Q
from django.utils import timezone

from carecoord.core.models import Organisation, Site
from carecoord.waitinglist.models import Pathway


class Theatre(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="theatres")
    name = models.CharField(max_length=80)
    specialties = ArrayField(models.CharField(max_length=3), default=list, help_text="Treatment function codes")
    equipment = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="theatre_name_per_site")]

    def __str__(self) -> str:
        return f"{self.name} ({self.site.name})"

    @property
    def organisation(self) -> Organisation:
        return self.site.organisation


class SessionSlot(models.TextChoices):
    AM = "am", "Morning"
    PM = "pm", "Afternoon"
    ALL_DAY = "all_day", "All day"
    EVENING = "evening", "Evening"


class SessionTemplate(models.Model):
    """A weekly recurring session: theatre, weekday, slot, specialty, consultant, anaesthetist."""

    theatre = models.ForeignKey(Theatre, on_delete=models.CASCADE, related_name="templates")
    weekday = models.PositiveSmallIntegerField(help_text="0 = Monday")
    slot = models.CharField(max_length=8, choices=SessionSlot.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()
    specialty = models.CharField(max_length=3)
    consultant_code = models.CharField(max_length=12)
    anaesthetist = models.CharField(max_length=80, blank=True)
    every_n_weeks = models.PositiveSmallIntegerField(default=1)
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(weekday__range=(0, 6)), name="template_weekday"),
            models.CheckConstraint(condition=Q(end_time__gt=models.F("start_time")), name="template_times"),
        ]


class SessionStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    RELEASED = "released", "Released"
    CANCELLED = "cancelled", "Cancelled"
    COMPLETED = "completed", "Completed"


class SessionQuerySet(models.QuerySet):
    def for_organisation(self, organisation: Organisation):
        return self.filter(theatre__site__organisation=organisation)


class TheatreSession(models.Model):
    theatre = models.ForeignKey(Theatre, on_delete=models.PROTECT, related_name="sessions")
    template = models.ForeignKey(SessionTemplate, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="sessions")
    date = models.DateField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    during = DateTimeRangeField(help_text="[starts_at, ends_at); kept in step by save()")
    slot = models.CharField(max_length=8, choices=SessionSlot.choices)
    specialty = models.CharField(max_length=3)
    consultant_code = models.CharField(max_length=12)
    anaesthetist = models.CharField(max_length=80, blank=True)
    status = models.CharField(max_length=10, choices=SessionStatus.choices, default=SessionStatus.PLANNED)
    allowed_overrun_minutes = models.PositiveSmallIntegerField(default=30)
    actual_start = models.DateTimeField(null=True, blank=True)
    actual_end = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["date", "starts_at", "theatre_id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="session_times"),
            ExclusionConstraint(
                name="no_overlapping_sessions_in_a_theatre",
                expressions=[("theatre", RangeOperators.EQUAL), ("during", RangeOperators.OVERLAPS)],
                condition=~Q(status="cancelled"),
            ),
        ]
        indexes = [models.Index(fields=["date", "theatre"])]

    def __str__(self) -> str:
        return f"Session {self.pk} {self.date} {self.slot}"

    def save(self, *args, **kwargs):
        from psycopg.types.range import Range

        self.during = Range(self.starts_at, self.ends_at, "[)")
        super().save(*args, **kwargs)

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


class ConsultantLeave(models.Model):
    class Kind(models.TextChoices):
        ANNUAL = "annual", "Annual leave"
        STUDY = "study", "Study leave"
        ROTA = "rota", "Off rota"
        OTHER = "other", "Other"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="consultant_leave")
    consultant_code = models.CharField(max_length=12)
    starts_on = models.DateField()
    ends_on = models.DateField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.ANNUAL)
    source = models.CharField(max_length=20, default="manual")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="leave_dates")]
        indexes = [models.Index(fields=["organisation", "consultant_code", "starts_on"])]


class BookingStatus(models.TextChoices):
    PROVISIONAL = "provisional", "Provisional"
    CONFIRMED = "confirmed", "Confirmed"
    TCI_SENT = "tci_sent", "TCI letter sent"
    CANCELLED = "cancelled", "Cancelled"
    COMPLETED = "completed", "Completed"


LIVE_BOOKING = ("provisional", "confirmed", "tci_sent")


class Booking(models.Model):
    patient_level = True

    session = models.ForeignKey(TheatreSession, on_delete=models.PROTECT, related_name="bookings")
    pathway = models.ForeignKey(Pathway, on_delete=models.PROTECT, related_name="bookings")
    patient_id_copy = models.BigIntegerField(help_text="pathway.patient_id, for the overlap constraint")
    during = DateTimeRangeField(help_text="the session's time, for the overlap constraint")
    order = models.PositiveSmallIntegerField()
    procedure = models.CharField(max_length=8, blank=True)
    predicted_minutes = models.PositiveSmallIntegerField()
    predicted_p80_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=BookingStatus.choices, default=BookingStatus.PROVISIONAL)
    booked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    booked_at = models.DateTimeField(default=timezone.now)
    suggested_by_planner = models.BooleanField(default=False)
    reasons = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["session", "order"]
        constraints = [
            ExclusionConstraint(
                name="patient_not_in_two_live_sessions_at_once",
                expressions=[("patient_id_copy", RangeOperators.EQUAL), ("during", RangeOperators.OVERLAPS)],
                condition=Q(status__in=LIVE_BOOKING),
            ),
            models.UniqueConstraint(fields=["pathway"], condition=Q(status__in=LIVE_BOOKING),
                                    name="one_live_booking_per_pathway"),
        ]


class CaseTiming(models.Model):
    patient_level = True

    booking = models.OneToOneField(Booking, on_delete=models.CASCADE, related_name="timing")
    into_theatre = models.DateTimeField()
    anaesthesia_start = models.DateTimeField(null=True, blank=True)
    knife_to_skin = models.DateTimeField(null=True, blank=True)
    closure = models.DateTimeField(null=True, blank=True)
    out_of_theatre = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(out_of_theatre__gt=models.F("into_theatre")),
                                              name="timing_order")]


class Cancellation(models.Model):
    patient_level = True

    class By(models.TextChoices):
        HOSPITAL = "hospital", "Hospital"
        PATIENT = "patient", "Patient"

    booking = models.OneToOneField(Booking, on_delete=models.PROTECT, related_name="cancellation")
    by = models.CharField(max_length=8, choices=By.choices)
    clinical = models.BooleanField()
    on_the_day = models.BooleanField()
    reason_code = models.CharField(max_length=40)
    reason = models.CharField(max_length=300, blank=True)
    cancelled_at = models.DateTimeField(default=timezone.now)
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    rebook_by = models.DateField(null=True, blank=True, help_text="28 days after an on-the-day hospital cancellation")
    rebooked = models.ForeignKey(Booking, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")


class HistoricalCase(models.Model):
    """Completed case history used to predict durations (imported or synthetic)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="case_history")
    date = models.DateField()
    specialty = models.CharField(max_length=3)
    procedure = models.CharField(max_length=8)
    consultant_code = models.CharField(max_length=12)
    minutes = models.PositiveSmallIntegerField(help_text="into theatre to out of theatre")
    turnaround_minutes = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["organisation", "procedure", "consultant_code"])]
