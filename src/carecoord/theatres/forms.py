"""Theatre forms: planning runs, session generation, cancellations and the metrics period."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.utils import timezone

from carecoord.theatres.services import CANCELLATION_REASONS, METRIC_GROUPS


def _next_monday():
    today = timezone.localdate()
    return today + timedelta(days=7 - today.weekday())


# Bounds shared by the pages and `carecoord theatres plan|sessions` (which validate through these forms).
PLAN_MAX_WEEKS = 8  # the 6-4-2 horizon plus two weeks
GENERATE_MAX_WEEKS = 26
SEED_MAX = 2**31 - 1  # CP-SAT's random seed is a 32-bit integer
DAYS_BACK, DAYS_AHEAD = 365, 2 * 365  # a first day within a year back and two years ahead of today


def date_window(today=None):
    today = today or timezone.localdate()
    return today - timedelta(days=DAYS_BACK), today + timedelta(days=DAYS_AHEAD)


class _FirstDayInWindow:
    def clean_start(self):
        d = self.cleaned_data["start"]
        earliest, latest = date_window()
        if not earliest <= d <= latest:
            raise forms.ValidationError(f"Enter a first day between {earliest:%d %B %Y} and {latest:%d %B %Y} "
                                        "(a year back to two years ahead)")
        return d


class PlanForm(_FirstDayInWindow, forms.Form):
    start = forms.DateField(label="First day to plan", initial=_next_monday,
                            help_text="The 6-4-2 process plans six weeks out. For example, 2026-12-07")
    weeks = forms.IntegerField(label="Weeks", min_value=1, max_value=PLAN_MAX_WEEKS, initial=6)
    seconds = forms.IntegerField(label="Time limit for the solver (seconds)", min_value=2, initial=20,
                                 help_text="The best plan found in this time is returned")
    seed = forms.IntegerField(label="Seed", min_value=0, max_value=SEED_MAX, initial=0, required=False,
                              help_text="The same seed and data give the same plan")

    def clean_seconds(self):
        seconds, cap = self.cleaned_data["seconds"], settings.THEATRES_PLAN_MAX_SECONDS
        if seconds > cap:
            raise forms.ValidationError(f"Enter a time limit of at most {cap} seconds (THEATRES_PLAN_MAX_SECONDS)")
        return seconds


class GenerateForm(_FirstDayInWindow, forms.Form):
    start = forms.DateField(label="From", initial=_next_monday)
    weeks = forms.IntegerField(label="Weeks", min_value=1, max_value=GENERATE_MAX_WEEKS, initial=6)


class CancelForm(forms.Form):
    reason_code = forms.ChoiceField(label="Why is the operation cancelled?",
                                    choices=[(k, v[0]) for k, v in CANCELLATION_REASONS.items()],
                                    widget=forms.RadioSelect)
    reason = forms.CharField(label="More detail (optional)", max_length=300, required=False,
                             widget=forms.Textarea(attrs={"rows": 2}))


class MetricsForm(forms.Form):
    start = forms.DateField(label="From")
    end = forms.DateField(label="To")
    by = forms.ChoiceField(label="Break down by", choices=list(METRIC_GROUPS.items()), required=False)

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end"):
            if data["end"] < data["start"]:
                self.add_error("end", "The end date must be on or after the start date")
            elif (data["end"] - data["start"]).days > 366:
                self.add_error("end", "Choose a period of at most a year")
        return data


class LeaveForm(forms.Form):
    consultant_code = forms.CharField(label="Consultant code", max_length=12)
    starts_on = forms.DateField(label="First day of leave")
    ends_on = forms.DateField(label="Last day of leave")
    kind = forms.ChoiceField(label="Kind of leave", choices=[("annual", "Annual leave"), ("study", "Study leave"),
                                                            ("rota", "Off rota"), ("other", "Other")])

    def clean_consultant_code(self):
        return self.cleaned_data["consultant_code"].strip().upper()

    def clean(self):
        data = super().clean()
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            self.add_error("ends_on", "The last day must be on or after the first day")
        return data


class LeaveUploadForm(forms.Form):
    file = forms.FileField(label="Leave CSV", help_text="Columns consultant_code, starts_on, ends_on and "
                                                        "optionally kind (annual, study, rota, other)")
