"""Core pages: login and logout, persona login (demo only), home, organisation switcher,
background jobs, a patient's record, and the error pages."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from carecoord.core import navigation
from carecoord.core.forms import LoginForm, SwitchOrganisationForm, posted_id
from carecoord.core.middleware import CurrentOrganisationMiddleware
from carecoord.core.models import AuditLog, Job, Role, User
from carecoord.core.permissions import permission_required
from carecoord.core.presenters import JobPresenter, PatientPresenter
from carecoord.core.services.audit import Auditor


def _safe_next(request, default="/") -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return nxt
    return default


def login_view(request):
    form = LoginForm(request, data=request.POST or None)
    locked = False
    if request.method == "POST":
        if form.is_valid():
            user = form.get_user()
            auth_login(request, user, backend="carecoord.core.auth.LockoutModelBackend")
            Auditor(user, request_id=request.request_id).event(AuditLog.Action.LOGIN, user)
            return HttpResponseRedirect(_safe_next(request))
        locked = getattr(request, "login_locked", False)
    from carecoord.core import oidc

    return render(request, "core/login.jinja", {
        "form": form, "locked": locked, "page_title": "Log in", "next": _safe_next(request),
        "oidc_enabled": oidc.enabled(), "personas_enabled": settings.DEMO_MODE,
    })


@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        Auditor(request.user, request_id=request.request_id).event(AuditLog.Action.LOGOUT, request.user)
    auth_logout(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


def personas_view(request):
    """Demo only: pick a persona to log in as. Never available outside demo mode."""
    if not settings.DEMO_MODE:
        raise Http404("persona login is only available in demo mode")
    personas = (User.objects.filter(is_persona=True, is_active=True)
                .prefetch_related("role_assignments__organisation").order_by("username"))
    if request.method == "POST":
        try:
            user = personas.get(pk=int(request.POST.get("persona", "0")))
        except (User.DoesNotExist, ValueError):
            messages.error(request, "Choose a persona")
            return redirect("core:personas")
        auth_login(request, user, backend="carecoord.core.auth.LockoutModelBackend")
        # A persona with roles at two organisations is listed once per organisation: act for the one chosen.
        # (The middleware acts only for an organisation the user holds a role at, so no check here.)
        organisation = posted_id(request.POST.get("organisation"))
        if organisation is not None:
            request.session[CurrentOrganisationMiddleware.SESSION_KEY] = organisation
        Auditor(user, request_id=request.request_id).event(AuditLog.Action.LOGIN, user, summary="persona login")
        return HttpResponseRedirect(_safe_next(request))
    rows = []
    for p in personas:
        for a in p.role_assignments.all():
            rows.append({"user": p, "organisation": a.organisation,
                         "roles": ", ".join(Role(r).label for r in a.roles)})
    return render(request, "core/personas.jinja", {"rows": rows, "page_title": "Choose a demo persona",
                                                   "next": _safe_next(request)})


ROLE_HOME_HINTS = {
    Role.WAITING_LIST_MANAGER: "Keep the waiting list accurate and treat patients in turn.",
    Role.SCHEDULER: "Fill theatre lists by clinical priority and wait.",
    Role.CLINICIAN: "Review clinical priorities and validation decisions.",
    Role.VALIDATOR: "Work the validation worklists.",
    Role.HUB_COORDINATOR: "Match long waiters to spare capacity.",
    Role.SCC_OPERATOR: "Watch live operational pressures and escalate.",
    Role.DISCHARGE_COORDINATOR: "Track criteria to reside and discharge delays.",
    Role.ANALYST: "Analyse waiting-list dynamics, demand and capacity.",
    Role.ORG_ADMIN: "Manage users, API tokens and reference data.",
}


def home(request):
    org = request.organisation
    if org is None:
        return render(request, "core/no_organisation.jinja", {"page_title": "No organisation"}, status=403)
    hints = [{"role": Role(r).label, "hint": ROLE_HOME_HINTS[Role(r)]} for r in sorted(request.roles)]
    return render(request, "core/home.jinja", {
        "page_title": "Home", "hints": hints, "cards": navigation.items_for(request),
    })


def switch_organisation(request):
    orgs = list(request.user.organisations())
    form = SwitchOrganisationForm(request.POST or None, organisations=orgs,
                                  initial={"organisation": getattr(request.organisation, "pk", None)})
    if request.method == "POST" and form.is_valid():
        request.session[CurrentOrganisationMiddleware.SESSION_KEY] = form.cleaned_data["organisation"]
        return HttpResponseRedirect(_safe_next(request, reverse("core:home")))
    return render(request, "core/switch_organisation.jinja", {
        "form": form, "organisations": orgs, "page_title": "Switch organisation", "next": _safe_next(request),
    })


@permission_required("core.view_jobs")
def jobs(request):
    qs = Job.objects.filter(organisation=request.organisation)[:100]
    return render(request, "core/jobs.jinja", {"jobs": [JobPresenter(j) for j in qs],
                                               "page_title": "Background jobs"})


@permission_required("core.view_jobs")
def job_detail(request, pk: int):
    job = Job.objects.filter(organisation=request.organisation, pk=pk).first()
    if job is None:
        raise Http404("no such job")
    template = "core/_job_status.jinja" if request.htmx else "core/job_detail.jinja"
    return render(request, template, {"job": JobPresenter(job), "page_title": job.title})


@permission_required("core.view_patient")
def patient_detail(request, pk: int):
    patient = request.organisation.patients.filter(pk=pk).first()
    if patient is None:
        raise Http404("no such patient")
    Auditor.from_request(request).view(patient)
    identifiers = patient.identifiers.filter(organisation_id__in=request.organisation.patient_scope_ids())
    return render(request, "core/patient_detail.jinja", {
        "patient": patient, "presenter": PatientPresenter(patient), "identifiers": identifiers.select_related(
            "organisation"), "page_title": "Patient record",
    })


def error_403(request, exception=None):
    return render(request, "core/error.jinja", {"page_title": "You do not have access to this page",
                                                "status": 403}, status=403)


def error_404(request, exception=None):
    return render(request, "core/error.jinja", {"page_title": "Page not found", "status": 404}, status=404)


def error_500(request):
    return render(request, "core/error.jinja", {"page_title": "Sorry, there is a problem with the service",
                                                "status": 500}, status=500)
