from django import forms
from django.contrib.auth.forms import AuthenticationForm


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": "Enter a correct username and password. Both are case-sensitive.",
        "inactive": "This account is inactive.",
    }


class SwitchOrganisationForm(forms.Form):
    organisation = forms.TypedChoiceField(coerce=int, label="Organisation")

    def __init__(self, *args, organisations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = [(o.pk, o.name) for o in organisations]


MAX_ID = 2**63 - 1  # PostgreSQL bigint: a larger number reaches SQL as an out-of-range error


def posted_id(text: str | None) -> int | None:
    """A row id posted as text, or None for anything that is not one (blank, '-1', '²', '1e3', 2**64):
    str.isdigit() accepts superscripts and int() has no bound, so either alone can end in a 500."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdecimal()) or int(text) > MAX_ID:
        return None
    return int(text)


def posted_ids(values) -> list[int]:
    """The row ids among posted values (a checkbox list), others dropped."""
    return [i for i in map(posted_id, values) if i is not None]
