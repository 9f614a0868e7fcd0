"""Validation worklist: open findings by team and rule, and a button to run the rules now."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from carecoord.core import csvsafe
from carecoord.core.forms import posted_ids
from carecoord.core.models import AuditLog
from carecoord.core.permissions import permission_required
from carecoord.core.services.audit import Auditor
from carecoord.validation import tasks
from carecoord.validation.models import Team, scoped_findings, scoped_runs
from carecoord.waitinglist.rules import technical

PAGE_SIZE = 50


FINDING_SORTS = {
    "turn": ("pathway__priority_rank", "pathway__queue_date", "rule", "id"),  # treat in turn
    "severity": ("severity_rank", "pathway__priority_rank", "pathway__queue_date", "id"),
    "longest_wait": ("pathway__rtt_start", "id"),
    "newest": ("-opened_at", "id"),
    "oldest": ("opened_at", "id"),
}
SEVERITIES = ("error", "warning", "info")


def _filtered(request):
    """The worklist's query from its filters (team, rule, severity, provider) and sort; bad values are
    named, not ignored silently."""
    from django.db.models import Case, IntegerField, Value, When

    g = request.GET
    team, rule, severity = g.get("team", ""), g.get("rule", ""), g.get("severity", "")
    provider, sort = g.get("provider", "").strip().upper(), g.get("sort", "turn") or "turn"
    errors = []
    if team and team not in Team.values:
        errors.append(("team", f"Choose a team from the list, not “{team[:20]}”"))
        team = ""
    if rule and rule not in technical.RULES:
        errors.append(("rule", f"Choose a rule from T1 to T21, not “{rule[:20]}”"))
        rule = ""
    if severity and severity not in SEVERITIES:
        errors.append(("severity", f"Choose error, warning or info, not “{severity[:20]}”"))
        severity = ""
    if sort not in FINDING_SORTS:
        errors.append(("sort", f"Choose a sort order from the list, not “{sort[:20]}”"))
        sort = "turn"
    if provider and not provider.isalnum():
        errors.append(("provider", "A provider is an ODS code: letters and digits"))
        provider = ""
    qs = scoped_findings(request.organisation).open().select_related("pathway", "pathway__provider")
    if team:
        qs = qs.filter(team=team)
    if rule:
        qs = qs.filter(rule=rule)
    if severity:
        qs = qs.filter(severity=severity)
    if provider:
        qs = qs.filter(pathway__provider__ods_code=provider)
    qs = qs.annotate(severity_rank=Case(*[When(severity=v, then=Value(i)) for i, v in enumerate(SEVERITIES)],
                                        default=Value(9), output_field=IntegerField()))
    filters = {"team": team, "rule": rule, "severity": severity, "provider": provider, "sort": sort}
    return qs.order_by(*FINDING_SORTS[sort]), filters, errors


@permission_required("validation.view_worklist")
def worklist(request):
    qs, filters, errors = _filtered(request)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = {}
    for r, _team, n in _counts(request):
        counts.setdefault(r, 0)
        counts[r] += n
    Auditor.from_request(request).event(AuditLog.Action.VIEW, "validation.worklist", object_id=request.organisation.pk,
                                        summary=f"worklist page {page.number}: {len(page.object_list)} findings")
    last_run = scoped_runs(request.organisation).first()
    return render(request, "validation/worklist.jinja", {
        "page_title": "Validation worklist", "page": page, "team": filters["team"], "rule": filters["rule"], "errors": errors,
        "teams": Team.choices, "rules": [technical.RULES[c] for c in sorted(technical.RULES, key=lambda c: int(c[1:]))],
        "counts": counts, "last_run": last_run, "f": filters,
        "query": urlencode(filters), "severities": SEVERITIES,
        "sorts": [("turn", "Treat in turn (priority, then queue date)"), ("severity", "Most severe first"),
                  ("longest_wait", "Longest wait first"), ("newest", "Newest finding first"),
                  ("oldest", "Oldest finding first")],
        "can_run": request.user.has_perm("validation.run", request.organisation),
    }, status=400 if errors else 200)


def _counts(request):
    from django.db.models import Count

    return (scoped_findings(request.organisation).open().values_list("rule", "team").annotate(n=Count("id"))
            .order_by())


@permission_required("validation.view_worklist")
def worklist_csv(request):
    qs, _filters, errors = _filtered(request)
    if errors:
        return HttpResponse("; ".join(m for _, m in errors), status=400, content_type="text/plain")
    rows = list(qs.values_list("pathway__ppid", "pathway__ppid_issuer", "pathway__provider__ods_code", "rule",
                               "severity", "team", "detail", "opened_at")[:200_000])
    Auditor.from_request(request).event(AuditLog.Action.EXPORT, "validation.worklist",
                                        object_id=request.organisation.pk, summary=f"worklist CSV: {len(rows)} rows")
    resp = HttpResponse(content_type="text/csv")
    resp["Content-Disposition"] = 'attachment; filename="validation-findings.csv"'
    w = csvsafe.writer(resp)
    w.writerow(["patient_pathway_identifier", "issuer", "provider", "rule", "severity", "team", "detail", "opened"])
    for r in rows:
        w.writerow([*r[:7], r[7].date().isoformat()])
    return resp


@require_POST
@permission_required("validation.run")
def run_now(request):
    job = tasks.start_run(request.organisation, trigger="manual", user=request.user)
    Auditor.from_request(request).create(job, summary="validation run started")
    messages.success(request, "The rules are running. This page shows their progress.")
    return HttpResponseRedirect(reverse("core:job_detail", args=[job.pk]))


def _pathway(request, pk: int):
    from django.http import Http404

    from carecoord.waitinglist.models import scoped_pathways

    pathway = scoped_pathways(request.organisation).filter(pk=pk).select_related("provider", "patient").first()
    if pathway is None:
        raise Http404("no such pathway")
    return pathway


def _require(request, perm: str) -> None:
    if not request.user.has_perm(perm, request.organisation):
        raise PermissionDenied(perm)


@permission_required("validation.view_worklist")
def pathway_validation(request, pk: int):
    from carecoord.validation import workflows
    from carecoord.validation.forms import ContactForm, CorrectionForm, DecisionForm

    pathway = _pathway(request, pk)
    contact_form, decision_form = ContactForm(prefix="c"), DecisionForm(prefix="d")
    correction_form = CorrectionForm(prefix="x", initial={f: getattr(pathway, f) for f in workflows.CORRECTABLE},
                                     pathway=pathway)
    status, refusal = 200, ""
    if request.method == "POST":
        auditor = Auditor.from_request(request)
        action = request.POST.get("action")
        try:
            if action == "contact":
                _require(request, "validation.record_contact")
                contact_form = ContactForm(request.POST, prefix="c")
                if contact_form.is_valid():
                    d = contact_form.cleaned_data
                    workflows.record_contact(pathway, by=request.user, method=d["method"], outcome=d["outcome"],
                                             notes=d["notes"], auditor=auditor)
                    messages.success(request, "Contact recorded")
                    return HttpResponseRedirect(request.path)
            elif action == "decision":
                _require(request, "validation.decide")
                decision_form = DecisionForm(request.POST, prefix="d")
                if decision_form.is_valid():
                    d = decision_form.cleaned_data
                    workflows.record_decision(pathway, clinician=request.user, decision=d["decision"],
                                              rationale=d["rationale"], priority=d["priority"],
                                              removal_reason=d["removal_reason"], new_list_type=d["new_list_type"],
                                              auditor=auditor)
                    messages.success(request, "Clinical decision recorded")
                    return HttpResponseRedirect(request.path)
            elif action == "correct":
                _require(request, "validation.record_contact")
                correction_form = CorrectionForm(request.POST, prefix="x", pathway=pathway)
                if correction_form.is_valid():
                    d = correction_form.cleaned_data
                    changed = workflows.correct(pathway, {f: d[f] for f in workflows.CORRECTABLE}, reason=d["reason"],
                                                by=request.user, auditor=auditor)
                    messages.success(request, f"Corrected: {'; '.join(changed)}" if changed else "Nothing changed")
                    return HttpResponseRedirect(request.path)
            elif action == "escalate":
                _require(request, "validation.record_contact")
                workflows.request_review(pathway, reason="Escalated for clinical review", auditor=auditor)
                messages.success(request, "Sent to the clinicians' worklist")
                return HttpResponseRedirect(request.path)
        except (workflows.ValidationError, ValueError) as exc:
            pathway.refresh_from_db()  # e.g. removed meanwhile: show it as it is now (its forms hidden)
            form = {"decision": decision_form, "correct": correction_form, "contact": contact_form}.get(action)
            if form is not None and form.is_bound and pathway.status == "on_list":
                form.add_error(None, str(exc))
            else:
                refusal = str(exc)
        status = 400
    Auditor.from_request(request).view(pathway)
    return render(request, "validation/pathway.jinja", {
        "page_title": f"Validate pathway {pathway.ppid}", "pathway": pathway,
        "findings": pathway.findings.filter(closed_at__isnull=True).order_by("rule"),
        "contacts": pathway.contact_attempts.select_related("by").order_by("-at"),
        "decisions": pathway.clinical_decisions.select_related("clinician").order_by("-decided_at"),
        "tasks": pathway.validation_tasks.order_by("-created_at"),
        "digital": pathway.digital_messages.select_related("batch").filter(sent_at__isnull=False).order_by("-sent_at"),
        "contact_form": contact_form, "decision_form": decision_form, "correction_form": correction_form,
        "refusal": refusal,
        "can_contact": request.user.has_perm("validation.record_contact", request.organisation),
        "can_decide": request.user.has_perm("validation.decide", request.organisation),
    }, status=status)


# Only clinicians receive tasks (escalations, patients' answers). The validation, booking and data-quality
# teams work from the findings worklist filtered by team (`/validation/?team=`): no task list for them.
TASK_TEAMS = (Team.CLINICAL.value,)

TASK_SORTS = {
    "turn": ("pathway__priority_rank", "pathway__queue_date", "id"),  # treat in turn
    "oldest": ("created_at", "id"),
    "longest_wait": ("pathway__rtt_start", "id"),
}


@permission_required("validation.view_worklist")
def task_list(request):
    """A team's open tasks: filter by kind and assignment, sort in turn / oldest task / longest wait, and
    act on many at once where it is safe (assign, unassign, ask a clinician)."""
    from django.utils import timezone

    from carecoord.validation import dashboard as figures
    from carecoord.validation import workflows
    from carecoord.validation.models import ValidationTask, scoped_tasks

    source = request.POST if request.method == "POST" else request.GET
    team = source.get("team", "clinical")
    if team not in TASK_TEAMS:
        team = "clinical"
    kind = source.get("kind", "")
    kind = kind if kind in ValidationTask.Kind.values else ""
    assigned = source.get("assigned", "")
    assigned = assigned if assigned in ("me", "none") else ""
    sort = source.get("sort", "turn")
    sort = sort if sort in TASK_SORTS else "turn"
    query = urlencode({"team": team, "kind": kind, "assigned": assigned, "sort": sort})
    qs = scoped_tasks(request.organisation).open().filter(team=team)
    if kind:
        qs = qs.filter(kind=kind)
    if assigned == "me":
        qs = qs.filter(assigned_to=request.user)
    elif assigned == "none":
        qs = qs.filter(assigned_to__isnull=True)
    if request.method == "POST":
        _require(request, "validation.record_contact")
        action = request.POST.get("action", "")
        ids = posted_ids(request.POST.getlist("task"))
        if action not in workflows.BULK_ACTIONS:
            messages.error(request, "Choose what to do with the selected tasks")
        elif not ids:
            messages.error(request, "Select at least one task")
        else:
            n = workflows.bulk(qs.filter(pk__in=ids), action, user=request.user, auditor=Auditor.from_request(request))
            messages.success(request, f"{workflows.BULK_ACTIONS[action]}: {n} task{'s' if n != 1 else ''}")
        return HttpResponseRedirect(f"{reverse('validation:tasks')}?{query}")
    qs = qs.select_related("pathway", "pathway__provider", "assigned_to").order_by(*TASK_SORTS[sort])
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    Auditor.from_request(request).event(AuditLog.Action.VIEW, "validation.tasks", object_id=request.organisation.pk,
                                        summary=f"{team} tasks page {page.number}")
    return render(request, "validation/tasks.jinja", {
        "page_title": "Clinical review tasks", "page": page, "team": team,
        "teams": [(v, label) for v, label in Team.choices if v in TASK_TEAMS], "kind": kind,
        "finding_teams": [(v, label) for v, label in Team.choices if v not in TASK_TEAMS],
        "kinds": ValidationTask.Kind.choices, "assigned": assigned, "sort": sort,
        "overdue_before": figures.overdue_cutoff(team, timezone.localdate()),
        "target_days": figures.target_days()[team], "today": timezone.localdate(),
        "actions": [(k, v) for k, v in workflows.BULK_ACTIONS.items() if not (k == "escalate" and team == "clinical")],
        "query": query})


@permission_required("validation.view_worklist")
def dashboard(request):
    """Counts by rule and severity over runs, open findings, coverage and revalidation, teams' open and
    overdue tasks, removals, digital validation response, and the effect on the list (`validation.dashboard`)."""
    from carecoord.validation import dashboard as figures

    data = figures.build(request.organisation)
    Auditor.from_request(request).event(AuditLog.Action.VIEW, "validation.dashboard", object_id=request.organisation.pk,
                                        summary="validation dashboard")
    if request.GET.get("format") == "csv":
        resp = HttpResponse(content_type="text/csv")
        resp["Content-Disposition"] = f'attachment; filename="validation-dashboard-{data["today"]}.csv"'
        w = csvsafe.writer(resp)
        w.writerow(["section", "item", "measure", "value"])
        w.writerows(["" if v is None else v for v in row] for row in figures.csv_rows(data))
        return resp
    several = len({r.organisation_id for r in data["runs"]}) > 1  # an ICB's trusts: name each run's provider
    by_rule = [{"run": (f"{r.organisation.ods_code} " if several else "") + r.started_at.strftime("%d %b %H:%M"),
                "rule": rule, "findings": n}
               for r in data["runs"] for rule, n in r.findings_by_rule.items() if n]
    chart = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": "Findings by rule in each validation run", "width": "container", "height": 260,
        "data": {"values": by_rule},
        "mark": {"type": "bar", "aria": False},
        "encoding": {"x": {"field": "run", "type": "ordinal", "title": "Run", "sort": None},
                     "y": {"field": "findings", "type": "quantitative", "title": "Findings"},
                     "color": {"field": "rule", "type": "nominal", "title": "Rule"},
                     "tooltip": [{"field": "rule"}, {"field": "findings"}]},
    }
    answered = data["digital"]["total"]
    answers_chart = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": "Patients' answers to digital validation", "width": "container", "height": 160,
        "data": {"values": [{"answer": label, "patients": answered[f"answer_{a}"]}
                            for a, label in data["digital"]["answers"]]},
        "mark": {"type": "bar", "color": "#005eb8", "aria": False},
        "encoding": {"y": {"field": "answer", "type": "nominal", "title": None, "sort": None},
                     "x": {"field": "patients", "type": "quantitative", "title": "Patients"},
                     "tooltip": [{"field": "answer"}, {"field": "patients"}]},
    }
    return render(request, "validation/dashboard.jinja", {
        "page_title": "Validation dashboard", **data, "runs": data["runs"][::-1][:10], "chart": chart,
        "has_chart": bool(by_rule), "answers_chart": answers_chart})
