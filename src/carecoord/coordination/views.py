"""The SCC board: every provider's OPEL level and key metrics, refreshed in place when something changes
(server-sent events from `stream`, with htmx polling as the fallback)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from carecoord.coordination import services
from carecoord.core.models import Organisation, OrganisationKind
from carecoord.core.permissions import permission_required
from carecoord.core.services.audit import Auditor

LEVEL_TAG = {1: "nhsuk-tag--green", 2: "nhsuk-tag--yellow", 3: "nhsuk-tag--orange", 4: "nhsuk-tag--red"}


def _system(request) -> Organisation:
    org = request.organisation
    if org.kind in (OrganisationKind.ICB, OrganisationKind.HEALTH_BOARD, OrganisationKind.REGION) or org.parent is None:
        return org
    return org.parent


def acting_for(request) -> Organisation | None:
    """Whose SCC items (alerts, alert rules, escalation actions) the user may act on: None for the
    system's own staff (every provider's and the system's), else only their own organisation's. (An
    operator at a trust sees the system's board, but acts only for that trust.)"""
    return None if request.organisation.pk == _system(request).pk else request.organisation


@permission_required("coordination.view_board")
def board(request):
    from carecoord.escalation import hours
    from carecoord.escalation.models import HandoverNote

    system = _system(request)
    state = services.board_state(system)
    state["staffed"] = hours.is_staffed(system)
    state["hours"] = hours.describe(system)
    state["handover"] = list(HandoverNote.objects.filter(system=system).select_related("written_by")[:3])
    state["on_shift"] = hours.on_shift(system)
    template = "coordination/_board.jinja" if request.htmx else "coordination/board.jinja"
    return render(request, template, {"page_title": "Coordination centre", "state": state, "metrics": services.KEY_METRICS,
                                      "level_tag": LEVEL_TAG,
                                      "can_act": request.user.has_perm("coordination.act", request.organisation),
                                      "act_for": acting_for(request)})


@permission_required("coordination.view_board")
def provider(request, code: str):
    system = _system(request)
    org = get_object_or_404(Organisation, ods_code=code, parent=system)
    from django.utils import timezone

    now = timezone.now()  # a score stored for a future time is not the current one
    history = list(org.opel_scores.filter(at__lte=now).order_by("-at")[:96])[::-1]
    score = history[-1] if history else None  # the latest
    chart = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": f"OPEL score of {org.ods_code} over time", "width": "container", "height": 200,
        "data": {"values": [{"at": s.at.isoformat(), "score": s.score, "level": s.level} for s in history]},
        "mark": {"type": "line", "point": True, "color": "#005eb8", "aria": False},
        "encoding": {"x": {"field": "at", "type": "temporal", "title": "Reading time"},
                     "y": {"field": "score", "type": "quantitative", "title": "OPEL score"}},
    }
    return render(request, "coordination/provider.jinja", {
        "page_title": f"{org.name} – OPEL", "org": org, "score": score, "chart": chart, "level_tag": LEVEL_TAG})


@require_POST
@permission_required("coordination.view_board")
def acknowledge(request, pk: int):
    from carecoord.coordination.models import Alert

    if not request.user.has_perm("coordination.act", request.organisation):
        raise PermissionDenied("coordination.act")
    alerts = Alert.objects.filter(pk=pk, rule__system=_system(request))
    if (mine := acting_for(request)) is not None:  # a trust's operator: that trust's alerts only
        alerts = alerts.filter(organisation=mine)
    alert = alerts.first()
    if alert is None:
        raise Http404("no such alert")
    services.acknowledge(alert, by=request.user, auditor=Auditor.from_request(request))
    messages.success(request, "Alert acknowledged")
    return HttpResponseRedirect(reverse("coordination:board"))


class AlertRuleForm(forms.Form):
    provider = forms.CharField(required=False, label="Provider ODS code (leave empty for every provider)",
                               max_length=12)
    metric = forms.CharField(label="Metric", max_length=64,
                             help_text='A metric key, e.g. ambulance_handover_mean_minutes, or "opel_level"')
    direction = forms.ChoiceField(choices=[("above", "At or above"), ("below", "At or below")], label="Alert when",
                                  widget=forms.RadioSelect)
    threshold = forms.FloatField(label="Threshold")
    notify = forms.CharField(required=False, max_length=200, label="Send to (optional staff contact)")


@permission_required("coordination.view_board")
def alert_rules(request):
    from carecoord.coordination.models import AlertRule

    system = _system(request)
    form = AlertRuleForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not request.user.has_perm("coordination.act", request.organisation):
            raise PermissionDenied("coordination.act")
        if form.is_valid():
            d = form.cleaned_data
            provider = None
            mine = acting_for(request)
            if mine is not None and d["provider"].strip().upper() != mine.ods_code:
                form.add_error("provider", f"As {mine.name}'s operator you may set rules for {mine.ods_code} only")
            elif d["provider"]:
                provider = Organisation.objects.filter(ods_code=d["provider"].strip().upper(), parent=system).first()
                if provider is None:
                    form.add_error("provider", f"{d['provider']} is not one of {system.name}'s providers")
            if form.is_valid():
                rule = AlertRule.objects.create(system=system, provider=provider, metric=d["metric"].strip(),
                                                direction=d["direction"], threshold=d["threshold"], notify=d["notify"])
                Auditor.from_request(request).create(rule, summary="alert rule added")
                messages.success(request, "Alert rule added")
                return HttpResponseRedirect(reverse("coordination:alert_rules"))
        status = 400
    rules = AlertRule.objects.filter(system=system).select_related("provider").order_by("metric")
    return render(request, "coordination/alert_rules.jinja", {"page_title": "Alert rules", "form": form,
                                                              "rules": rules}, status=status)


def _marker(system: Organisation, ids: list[int]) -> str:
    """A fingerprint of what the board shows: newest score computed, newest and acknowledged alerts."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("""
            SELECT (SELECT max(computed_at) FROM coordination_opelscore WHERE organisation_id = ANY(%s)),
                   (SELECT max(raised_at) FROM coordination_alert a JOIN coordination_alertrule r ON r.id = a.rule_id
                     WHERE r.system_id = %s),
                   (SELECT max(acknowledged_at) FROM coordination_alert a JOIN coordination_alertrule r
                     ON r.id = a.rule_id WHERE r.system_id = %s)""", [ids, system.pk, system.pk])
        return "|".join(str(v) for v in cur.fetchone())


@permission_required("coordination.view_board")
def stream(request):
    """Server-sent events: a `change` event whenever the board would show something new (checked every
    half second), a comment every 15 s to keep proxies from closing the connection. The stream ends
    after `SCC_STREAM_SECONDS` and the browser's EventSource reconnects on its own, sending the last
    event id, so a change made while it reconnected is not missed."""
    import time

    from django.conf import settings
    from django.http import StreamingHttpResponse

    system = _system(request)
    ids = [system.pk] + [p.pk for p in services.providers_of(system)]
    limit = getattr(settings, "SCC_STREAM_SECONDS", 300)
    interval = getattr(settings, "SCC_STREAM_INTERVAL", 0.5)

    def events():
        started = last_beat = time.monotonic()
        current = _marker(system, ids)
        yield f"retry: 2000\nid: {current}\nevent: hello\ndata: {current}\n\n"
        seen = request.headers.get("Last-Event-ID")
        if seen and seen != current:  # something changed while the browser was reconnecting
            yield f"id: {current}\nevent: change\ndata: {current}\n\n"
        last = current
        # (Django's request_finished signal closes the database connection when the stream ends.)
        while time.monotonic() - started < limit:
            time.sleep(interval)
            now = _marker(system, ids)
            if now != last:
                last = now
                yield f"id: {now}\nevent: change\ndata: {now}\n\n"
            elif time.monotonic() - last_beat > 15:
                last_beat = time.monotonic()
                yield ": still here\n\n"

    resp = StreamingHttpResponse(events(), content_type="text/event-stream")
    resp["Cache-Control"] = "no-cache"
    resp["X-Accel-Buffering"] = "no"
    return resp


UPLOAD_LIMIT = 10_000_000  # bytes; a larger sitrep CSV is refused whole (never cut short)


class ReadingsUploadForm(forms.Form):
    file = forms.FileField(label="Sitrep CSV", help_text="Columns provider (ODS code), metric, time (ISO 8601 with "
                                                         "offset) and value: the same as `carecoord opel score`")


@permission_required("coordination.submit_readings")
def upload(request):
    """A sitrep as CSV (`services.ingest_csv`). An SCC operator of the ICB may load any of its providers;
    a provider's own staff only their own."""
    form = ReadingsUploadForm(request.POST or None, request.FILES or None)
    errors = []
    system = _system(request)
    allowed = {p.ods_code: p for p in services.providers_of(system)}
    if request.organisation.pk != system.pk:  # provider staff: their own organisation only
        allowed = {request.organisation.ods_code: request.organisation}
    if request.method == "POST" and form.is_valid() and form.cleaned_data["file"].size > UPLOAD_LIMIT:
        errors = [f"The file is {form.cleaned_data['file'].size / 1e6:.1f} MB: the limit is {UPLOAD_LIMIT / 1e6:g} MB. "
                  "Split it into smaller files"]
    elif request.method == "POST" and form.is_valid():
        try:
            done = services.ingest_csv(form.cleaned_data["file"].read().decode("utf-8-sig"), allowed)
        except UnicodeDecodeError:
            errors = ["The file must be CSV text in UTF-8"]
        except services.CsvError as exc:
            errors = exc.errors
        else:
            Auditor.from_request(request).event("import", "coordination.readings", object_id=system.pk,
                                                summary=f"sitrep CSV: {done['received']} readings for "
                                                        f"{done['providers']} providers")
            messages.success(request, f"{done['received']:,} readings loaded for {done['providers']} provider"
                                      f"{'s' if done['providers'] != 1 else ''} ({done['changed']:,} new or changed)")
            return HttpResponseRedirect(reverse("coordination:upload"))
    status = 400 if (errors or form.errors) else 200
    return render(request, "coordination/upload.jinja", {"page_title": "Upload a sitrep", "form": form,
                                                         "errors": errors[:200], "n_errors": len(errors),
                                                         "providers": sorted(allowed)}, status=status)
