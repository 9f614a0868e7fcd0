"""The patient's page behind a digital validation link: no login, nothing clinical before the date of
birth is confirmed, three wrong attempts lock it, single use, rate-limited per address.

A confirmed date of birth belongs to the browser that confirmed it (its session), not to the link, and
only for `VERIFIED_MINUTES`: anyone else holding the link (a forwarded message, a shared computer
later) must pass the date-of-birth check again, under the same attempt limit."""

from __future__ import annotations

import time
from datetime import date

from django import forms
from django.core.cache import cache
from django.shortcuts import render

from carecoord.validation import digital
from carecoord.validation.models import DigitalResponse

RATE_LIMIT = 30  # requests per address per 10 minutes
VERIFIED_MINUTES = 15  # how long a confirmed date of birth lets this browser answer


class BirthDateForm(forms.Form):
    day = forms.IntegerField(min_value=1, max_value=31, label="Day")
    month = forms.IntegerField(min_value=1, max_value=12, label="Month")
    year = forms.IntegerField(min_value=1900, max_value=2100, label="Year")

    def clean(self):
        d = super().clean()
        try:
            d["birth_date"] = date(d["year"], d["month"], d["day"])
        except (KeyError, TypeError, ValueError):
            raise forms.ValidationError("Enter a real date of birth") from None
        return d


class AnswerForm(forms.Form):
    answer = forms.ChoiceField(choices=DigitalResponse.choices, widget=forms.RadioSelect,
                               label="Do you still need this care?",
                               error_messages={"required": "Choose the answer that fits best"})
    text = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
                           label="Anything you would like to tell us (optional)")


def _limited(request) -> bool:
    key = f"pidv-rate:{request.META.get('REMOTE_ADDR', '-')}"
    n = cache.get_or_set(key, 0, 600)
    cache.incr(key)
    return n >= RATE_LIMIT


def _session_key(msg) -> str:
    return f"pidv-verified:{msg.pk}"


def _verified_here(request, msg) -> bool:
    """Did this browser confirm the date of birth for this message in the last VERIFIED_MINUTES?"""
    until = request.session.get(_session_key(msg))
    return bool(until) and until > time.time()


def link(request, token: str):
    if _limited(request):
        return render(request, "validation/patient/closed.jinja",
                      {"page_title": "Too many attempts", "state": "rate_limited"}, status=429)
    msg = digital.find(token)
    st = digital.state(msg)
    ctx = {"page_title": "Do you still need care?", "state": st}
    if st in ("unknown", "used", "locked", "expired"):
        return render(request, "validation/patient/closed.jinja", ctx, status=404 if st == "unknown" else 410)
    if not _verified_here(request, msg):
        form = BirthDateForm(request.POST or None, prefix="dob")
        if request.method == "POST" and form.is_valid():
            if digital.check_birth_date(msg, form.cleaned_data["birth_date"]):
                request.session.cycle_key()
                request.session[_session_key(msg)] = time.time() + VERIFIED_MINUTES * 60
                return render(request, "validation/patient/question.jinja",
                              {**ctx, "form": AnswerForm(prefix="a"), "provider": msg.pathway.provider.name,
                               "tfc": msg.pathway.tfc})
            msg.refresh_from_db()
            if digital.state(msg) == "locked":
                return render(request, "validation/patient/closed.jinja", {**ctx, "state": "locked"}, status=410)
            form.add_error(None, "The date of birth does not match our records. Check it and try again.")
        return render(request, "validation/patient/birth_date.jinja", {**ctx, "form": form},
                      status=400 if request.method == "POST" else 200)
    form = AnswerForm(request.POST or None, prefix="a")
    if request.method == "POST" and form.is_valid():
        try:
            digital.respond(msg, form.cleaned_data["answer"], form.cleaned_data["text"])
        except digital.DigitalError:  # answered already (a double click, a second tab): the link is used
            msg.refresh_from_db()
            return render(request, "validation/patient/closed.jinja", {**ctx, "state": digital.state(msg)},
                          status=410)
        return render(request, "validation/patient/thanks.jinja", {**ctx, "answer": form.cleaned_data["answer"]})
    return render(request, "validation/patient/question.jinja",
                  {**ctx, "form": form, "provider": msg.pathway.provider.name, "tfc": msg.pathway.tfc},
                  status=400 if request.method == "POST" else 200)
