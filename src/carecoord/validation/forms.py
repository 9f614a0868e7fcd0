from django import forms
from django.utils import timezone

from carecoord.core.models import TreatmentFunction
from carecoord.integration import wlmds
from carecoord.validation.models import ClinicalDecision, ContactAttempt, ContactOutcome
from carecoord.waitinglist.models import ListType, RemovalReason


class ContactForm(forms.Form):
    method = forms.ChoiceField(choices=ContactAttempt.Method.choices, label="How did you contact the patient?",
                               widget=forms.RadioSelect)
    outcome = forms.ChoiceField(choices=ContactOutcome.choices, label="What was the outcome?", widget=forms.RadioSelect)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Notes",
                            max_length=2000)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=ClinicalDecision.Decision.choices, label="Decision", widget=forms.RadioSelect)
    priority = forms.ChoiceField(required=False, label="Clinical priority (optional)", choices=[
        ("", "No change"), ("P1a", "P1a"), ("P1b", "P1b"), ("P2", "P2"), ("P3", "P3"), ("P4", "P4"), ("P5", "P5"),
        ("P6", "P6")])
    removal_reason = forms.ChoiceField(required=False, label="Reason for removal (if removing)",
                                       choices=[("", "Choose a reason"), *RemovalReason.choices])
    new_list_type = forms.ChoiceField(required=False, label="Move to list (if moving)",
                                      choices=[("", "Choose a list"), *ListType.choices])
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Clinical rationale", max_length=4000,
                                error_messages={"required": "Record the reason for the decision"})

    def clean(self):
        data = super().clean()
        if data.get("decision") == "remove" and not data.get("removal_reason"):
            self.add_error("removal_reason", "Choose why the patient is being removed")
        if data.get("decision") == "move" and not data.get("new_list_type"):
            self.add_error("new_list_type", "Choose the list to move the patient to")
        return data


class CorrectionForm(forms.Form):
    """Administrative correction of a pathway's data, with the reason (audited; also correct the PAS, or the
    next import puts the old value back)."""

    tfc = forms.CharField(label="Treatment function code", max_length=3, min_length=3)
    consultant_code = forms.CharField(label="Consultant code", max_length=12, required=False)
    intended_procedure = forms.CharField(label="Intended procedure (OPCS-4)", max_length=8, required=False)
    referral_received = forms.DateField(label="Referral received", required=False,
                                        help_text="YYYY-MM-DD")
    dta_date = forms.DateField(label="Decision to admit", required=False, help_text="YYYY-MM-DD")
    reason = forms.CharField(label="Why is this being corrected?", max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             error_messages={"required": "Record why the data is being corrected"})

    def __init__(self, *args, pathway=None, today=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.pathway = pathway
        self.today = today or timezone.localdate()

    def clean_tfc(self):
        """A known treatment function code (the reference table), or 3 digits if the table is empty. The
        pathway's own code, left as it is, always passes: the importer took it, and refusing it would
        block a correction of the other fields."""
        v = self.cleaned_data["tfc"].strip().upper()
        if self.pathway is not None and v == (self.pathway.tfc or "").upper():
            return v
        if TreatmentFunction.objects.filter(code=v).exists():
            return v
        if TreatmentFunction.objects.exists():
            raise forms.ValidationError(f"{v} is not a treatment function code")
        if not (len(v) == 3 and v.isdigit()):
            raise forms.ValidationError("A treatment function code is 3 digits, for example 110")
        return v

    def _past_date(self, field: str, label: str):
        """The importer's rules for a single date (no placeholder such as 1900-01-01 or 9999-12-31,
        nothing before 1901), and it must have happened: not after today, not before the birth date."""
        v = self.cleaned_data.get(field)
        if v is None:
            return v
        if wlmds.is_placeholder_date(v):
            raise forms.ValidationError(f"{v:%d %B %Y} is a placeholder date, not a real {label}")
        if v > self.today:
            raise forms.ValidationError(f"The {label} must be today or in the past")
        birth = getattr(getattr(self.pathway, "patient", None), "birth_date", None)
        if birth and v < birth:
            raise forms.ValidationError(f"The {label} must be after the patient's date of birth")
        return v

    def clean_referral_received(self):
        return self._past_date("referral_received", "referral received date")

    def clean_dta_date(self):
        return self._past_date("dta_date", "decision to admit date")

    def clean_consultant_code(self):
        return self.cleaned_data["consultant_code"].strip().upper()

    def clean_intended_procedure(self):
        v = self.cleaned_data["intended_procedure"].strip().upper().replace(".", "")
        if v and not (v[0].isalpha() and v[1:].isdigit() and 3 <= len(v) <= 4):
            raise forms.ValidationError("An OPCS-4 code is a letter and 2 or 3 digits, for example W371")
        return v
