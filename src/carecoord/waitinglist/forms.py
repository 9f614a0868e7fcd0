from django import forms

from carecoord.core.models import ClinicalPriority
from carecoord.waitinglist.models import RemovalReason

DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y"]


class ActionForm(forms.Form):
    """A form for one pathway action. The pathway page shows several at once, and two share field
    names (`reason`), so each gives its fields ids of its own ("priority-reason", "remove-reason")
    while keeping the posted names that the routes and their clients use."""

    id_prefix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        super().__init__(*args, **kwargs)


class PriorityForm(ActionForm):
    id_prefix = "priority"
    priority = forms.ChoiceField(label="Clinical priority", error_messages={"required": "Choose a priority"})
    reason = forms.CharField(label="Reason for the decision", widget=forms.Textarea, max_length=2000,
                             error_messages={"required": "Give the reason for the decision"})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["priority"].choices = [(p.code, f"{p.code} – {p.name}") for p in ClinicalPriority.objects.all()]


class TciForm(ActionForm):
    id_prefix = "tci"
    tci_date = forms.DateField(label="To-come-in date", input_formats=DATE_FORMATS,
                               error_messages={"required": "Enter a TCI date",
                                               "invalid": "Enter a TCI date as a real date, for example 2026-03-27 "
                                                          "or 27/03/2026"})


class NoteForm(ActionForm):
    id_prefix = "note"
    text = forms.CharField(label="Note", widget=forms.Textarea, max_length=5000,
                           error_messages={"required": "Enter the note"})


class RemovalForm(ActionForm):
    id_prefix = "remove"
    reason = forms.ChoiceField(label="Why is the patient being removed?", choices=RemovalReason.choices,
                               error_messages={"required": "Choose the reason"})
    rationale = forms.CharField(label="Clinical rationale", widget=forms.Textarea, max_length=5000,
                                error_messages={"required": "Record the clinical rationale"})
    confirm = forms.BooleanField(label="I am the clinician making this decision",
                                 error_messages={"required": "Confirm that this is your clinical decision"})


class SavedViewForm(forms.Form):
    QUERY_MAX = 1000  # SavedView.query

    name = forms.CharField(label="Name this view", max_length=80, error_messages={
        "required": "Give the view a name", "max_length": "Give the view a name of 80 characters or fewer"})
    query = forms.CharField(widget=forms.HiddenInput, required=False, max_length=QUERY_MAX, strip=False,
                            error_messages={"max_length": "These filters are too long to save as a view "
                                                          "(more than 1,000 characters)"})
