"""The escalation log: actions started by OPEL levels, worked by SCC operators."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from carecoord.coordination.views import _system, acting_for
from carecoord.core.forms import posted_id
from carecoord.core.permissions import permission_required
from carecoord.core.services.audit import Auditor
from carecoord.escalation import mutual_aid, services
from carecoord.escalation.models import EscalationAction, MutualAidRequest


@permission_required("coordination.view_board")
def log(request):
    try:
        day = _day(request)
    except BadDay as exc:
        return _bad_day(request, exc)
    tz = timezone.get_current_timezone()
    start = datetime.combine(day, time.min, tz)
    actions = (EscalationAction.objects.filter(system=_system(request), triggered_at__gte=start,
                                               triggered_at__lt=start + timedelta(days=1))
               | EscalationAction.objects.filter(system=_system(request)).exclude(status="done"))
    actions = actions.distinct().select_related("card", "organisation", "assigned_to", "done_by").order_by(
        "status", "-level", "triggered_at")
    return render(request, "escalation/log.jinja", {
        "page_title": "Escalation log", "day": day, "actions": actions, "prev": day - timedelta(days=1),
        "next": day + timedelta(days=1),
        "can_act": request.user.has_perm("coordination.act", request.organisation), "act_for": acting_for(request)})


@require_POST
@permission_required("coordination.act")
def act(request, pk: int):
    actions = EscalationAction.objects.filter(pk=pk, system=_system(request))
    if (mine := acting_for(request)) is not None:  # a trust's operator: that trust's actions only
        actions = actions.filter(organisation=mine)
    action = actions.first()
    if action is None:
        raise Http404("no such action")
    auditor = Auditor.from_request(request)
    what = request.POST.get("do")
    try:
        if what == "acknowledge":
            services.acknowledge(action, by=request.user, auditor=auditor)
        elif what == "assign_me":
            services.assign(action, to=request.user, auditor=auditor)
        elif what == "done":
            services.complete(action, by=request.user, notes=request.POST.get("notes", ""), auditor=auditor)
        else:
            raise PermissionDenied("unknown action")
        messages.success(request, f"{action.card.title}: {action.get_status_display().lower()}")
    except services.ActionError as exc:
        messages.error(request, f"{action.card.title}: {exc}")
    return HttpResponseRedirect(reverse("escalation:log"))


class BadDay(ValueError):
    pass


EARLIEST_DAY = date(2000, 1, 1)


def _day(request) -> date:
    """`?day=YYYY-MM-DD` (default today), from 2000-01-01 to a year from today; else `BadDay`."""
    raw = request.GET.get("day", "").strip()
    if not raw:
        return timezone.localdate()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadDay(f"{raw[:40]!r} is not a date: give the day as YYYY-MM-DD, e.g. "
                     f"{timezone.localdate().isoformat()}") from None
    latest = timezone.localdate() + timedelta(days=365)
    if not EARLIEST_DAY <= day <= latest:
        raise BadDay(f"Choose a day from {EARLIEST_DAY:%d %B %Y} to {latest:%d %B %Y}")
    return day


def _bad_day(request, exc: BadDay):
    return render(request, "core/error.jinja", {"page_title": "Choose another day", "status": 400,
                                                "detail": str(exc)}, status=400)


@permission_required("coordination.view_board")
def sitrep(request):
    from carecoord.escalation import sitrep as report

    try:
        data = report.build(_system(request), _day(request))
    except BadDay as exc:
        return _bad_day(request, exc)
    Auditor.from_request(request).event("view", "escalation.sitrep", object_id=_system(request).pk,
                                        summary=f"sitrep {data['day']}")
    return render(request, "escalation/sitrep.jinja", {"page_title": "Situation report", **data})


@permission_required("coordination.view_board")
def sitrep_pdf(request):
    from django.http import HttpResponse

    from carecoord.escalation import sitrep as report

    try:
        data = report.build(_system(request), _day(request))
    except BadDay as exc:
        return _bad_day(request, exc)
    Auditor.from_request(request).event("export", "escalation.sitrep", object_id=_system(request).pk,
                                        summary=f"sitrep PDF {data['day']}")
    resp = HttpResponse(report.pdf(data), content_type="application/pdf")
    resp["Content-Disposition"] = f'attachment; filename="sitrep-{data["system"].ods_code}-{data["day"]}.pdf"'
    return resp


class AidRequestForm(forms.Form):
    kind = forms.ChoiceField(label="What do you need?", widget=forms.RadioSelect,
                             choices=MutualAidRequest.Kind.choices)
    quantity = forms.IntegerField(label="How many (beds, patients or hours)", min_value=1, max_value=500, initial=1)
    detail = forms.CharField(label="Details", widget=forms.Textarea(attrs={"rows": 3}), max_length=2000,
                             error_messages={"required": "Describe what is needed"})
    nhs_number = forms.CharField(label="Patient's NHS number (repatriation only)", max_length=12, required=False)
    home_provider = forms.ChoiceField(label="Patient's home trust (repatriation only)", required=False)

    def __init__(self, *args, providers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["home_provider"].choices = [("", "Choose the home trust")] + [
            (p.ods_code, f"{p.name} ({p.ods_code})") for p in providers]


def _can_see_aid(request) -> bool:
    org = request.organisation
    return request.user.has_perm("coordination.view_board", org) or mutual_aid.can_request(request.user, org)


def mutual_aid_list(request):
    if not _can_see_aid(request):
        raise PermissionDenied("mutual aid")
    from carecoord.coordination import services as scc

    system = _system(request)
    providers = [p for p in scc.providers_of(system) if p.pk != request.organisation.pk]
    form = AidRequestForm(request.POST or None, providers=providers)
    status = 200
    can_request = mutual_aid.can_request(request.user, request.organisation) and request.organisation != system
    if request.method == "POST":
        if not can_request:
            raise PermissionDenied("only a provider's staff can ask for mutual aid")
        if form.is_valid():
            d = form.cleaned_data
            home = next((p for p in providers if p.ods_code == d["home_provider"]), None)
            try:
                mutual_aid.request_aid(requester=request.organisation, kind=d["kind"], detail=d["detail"],
                                       quantity=d["quantity"], by=request.user, auditor=Auditor.from_request(request),
                                       nhs_number=d["nhs_number"], home_provider=home)
                messages.success(request, "Mutual aid requested")
                return HttpResponseRedirect(reverse("escalation:mutual_aid"))
            except mutual_aid.MutualAidError as exc:
                form.add_error(exc.field, str(exc)[0].upper() + str(exc)[1:])  # None: a form-wide error
        status = 400
    requests_ = list(MutualAidRequest.objects.filter(system=system)
                     .select_related("requester", "agreed_offer__provider", "home_provider", "patient")
                     .prefetch_related("offers__provider")[:50])
    auditor = Auditor.from_request(request)
    for r in requests_:
        if r.patient_visible_to(request.organisation):
            auditor.view(r.patient, summary=f"repatriation request {r.pk}")
    return render(request, "escalation/mutual_aid.jinja", {
        "page_title": "Mutual aid", "form": form, "requests": requests_, "can_request": can_request,
        "can_offer": mutual_aid.can_request(request.user, request.organisation) and request.organisation != system,
        "can_decide": request.user.has_perm("coordination.act", request.organisation) and request.organisation == system,
        "me": request.organisation}, status=status)


@require_POST
def mutual_aid_step(request, pk: int):
    if not _can_see_aid(request):
        raise PermissionDenied("mutual aid")
    req = MutualAidRequest.objects.filter(pk=pk, system=_system(request)).first()
    if req is None:
        raise Http404("no such request")
    auditor = Auditor.from_request(request)
    step = request.POST.get("step")
    try:
        if step == "offer":
            if not mutual_aid.can_request(request.user, request.organisation):
                raise PermissionDenied("only a provider's staff can offer")
            mutual_aid.offer(req, provider=request.organisation, detail=request.POST.get("detail", ""),
                             by=request.user, auditor=auditor)
            messages.success(request, "Offer sent")
        elif step in ("agree", "decline"):
            offer_obj = None
            if step == "agree":
                offer = posted_id(request.POST.get("offer"))
                offer_obj = req.offers.filter(pk=offer).first() if offer is not None else None
                if offer_obj is None:
                    raise mutual_aid.MutualAidError("choose an offer to agree")
            mutual_aid.decide(req, agree_offer=offer_obj, note=request.POST.get("note", ""), by=request.user,
                              auditor=auditor)
            messages.success(request, "Decision recorded")
        else:
            raise PermissionDenied("unknown step")
    except mutual_aid.MutualAidError as exc:
        messages.error(request, f"Not done: {exc}")
    return HttpResponseRedirect(reverse("escalation:mutual_aid"))


@require_POST
@permission_required("coordination.act")
def handover(request):
    from carecoord.escalation.models import HandoverNote

    text = request.POST.get("text", "").strip()
    if not text:
        messages.error(request, "Write the handover note before saving it")
    else:
        note = HandoverNote.objects.create(system=_system(request), written_by=request.user, text=text[:4000])
        Auditor.from_request(request).create(note, summary="handover note")
        messages.success(request, "Handover note saved")
    return HttpResponseRedirect(reverse("escalation:log"))


# ---------------------------------------------------------------- the rota

class ShiftForm(forms.Form):
    user = forms.ChoiceField(label="Who")
    role = forms.CharField(label="Role on the shift", max_length=60, initial="SCC operator")
    starts_at = forms.DateTimeField(label="Starts", help_text="YYYY-MM-DD HH:MM")
    ends_at = forms.DateTimeField(label="Ends", help_text="YYYY-MM-DD HH:MM")

    def __init__(self, *args, people=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = [("", "Choose a person")] + [(str(u.pk), u.display_name or u.username)
                                                                  for u in people]

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "The shift must end after it starts")
        return data


def _people(system):
    from carecoord.core.models import Role, User

    return list(User.objects.filter(role_assignments__organisation=system,
                                    role_assignments__roles__contains=[Role.SCC_OPERATOR]).order_by("username"))


@permission_required("coordination.view_board")
def rota(request):
    from carecoord.escalation.models import Shift

    system = _system(request)
    people = _people(system)
    form = ShiftForm(request.POST or None, people=people)
    if request.method == "POST":
        if not request.user.has_perm("coordination.act", request.organisation):
            raise PermissionDenied("coordination.act")
        if form.is_valid():
            d = form.cleaned_data
            person = next(u for u in people if str(u.pk) == d["user"])
            shift = Shift.objects.create(system=system, user=person, role=d["role"].strip() or "SCC operator",
                                         starts_at=d["starts_at"], ends_at=d["ends_at"])
            Auditor.from_request(request).create(shift, summary="shift added to the rota")
            messages.success(request, f"Shift added for {person.display_name or person.username}")
            return HttpResponseRedirect(reverse("escalation:rota"))
    now = timezone.now()
    shifts = Shift.objects.filter(system=system, ends_at__gt=now - timedelta(days=1)).select_related("user")[:200]
    return render(request, "escalation/rota.jinja", {
        "page_title": "SCC rota", "form": form, "shifts": shifts, "now": now,
        "can_act": request.user.has_perm("coordination.act", request.organisation)},
        status=400 if form.errors else 200)
