"""Upload and mapping-profile forms."""

from __future__ import annotations

from django import forms

from carecoord.integration import wlmds
from carecoord.integration.models import ImportMode, MappingProfile

KIND_CHOICES = [
    ("open", "Open pathways (the weekly snapshot of the waiting list)"),
    ("starts", "Clock starts (new RTT periods)"),
    ("stops", "Clock stops (completed pathways)"),
]
DATE_FORMAT_CHOICES = [("auto", "Either YYYY-MM-DD or DD/MM/YYYY"), ("YYYY-MM-DD", "YYYY-MM-DD"),
                       ("DD/MM/YYYY", "DD/MM/YYYY")]
DELIMITER_CHOICES = [(",", "Comma"), ("|", "Pipe ( | )"), (";", "Semicolon"), ("\t", "Tab")]
MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024


class UploadForm(forms.Form):
    file = forms.FileField(label="WLMDS file (CSV)", error_messages={"required": "Choose the CSV file to import",
                                                                      "empty": "The file is empty"})
    kind = forms.ChoiceField(label="What does the file hold?", choices=KIND_CHOICES, initial="open",
                             error_messages={"required": "Choose what the file holds"})
    mode = forms.ChoiceField(label="If some rows are bad", choices=ImportMode.choices, initial=ImportMode.ALL_OR_NOTHING,
                             error_messages={"required": "Choose what to do with bad rows"})
    profile = forms.ChoiceField(label="Column mapping", required=False)

    def __init__(self, *args, organisation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        profiles = MappingProfile.objects.filter(organisation=organisation).order_by("name") if organisation else []
        self.fields["profile"].choices = [("", "Standard WLMDS column names")] + [(str(p.pk), p.name) for p in profiles]

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 2 GB; use the command line (carecoord import)")
        return f

    def clean_profile(self):
        value = self.cleaned_data.get("profile")
        if not value:
            return None
        return MappingProfile.objects.filter(organisation=self.organisation, pk=value).first()


class ProfileForm(forms.Form):
    name = forms.CharField(label="Profile name", max_length=80, error_messages={"required": "Give the profile a name"})
    date_format = forms.ChoiceField(label="Dates in the extract", choices=DATE_FORMAT_CHOICES, initial="auto")
    delimiter = forms.ChoiceField(label="Column separator", choices=DELIMITER_CHOICES, initial=",")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for i, wlmds_field in enumerate(wlmds.FIELDS):
            self.fields[f"col_{i}"] = forms.CharField(label=wlmds_field, required=False, max_length=120)
        self.wlmds_field_names = [f"col_{i}" for i in range(len(wlmds.FIELDS))]

    @classmethod
    def for_profile(cls, profile: MappingProfile):
        initial = {"name": profile.name, "date_format": profile.date_format, "delimiter": profile.delimiter}
        for i, wlmds_field in enumerate(wlmds.FIELDS):
            initial[f"col_{i}"] = profile.columns.get(wlmds_field, "")
        return cls(initial=initial)

    def columns(self) -> dict:
        return {wlmds_field: self.cleaned_data.get(f"col_{i}", "") for i, wlmds_field in enumerate(wlmds.FIELDS)}

    def mapping_fields(self):
        return [self[name] for name in self.wlmds_field_names]
