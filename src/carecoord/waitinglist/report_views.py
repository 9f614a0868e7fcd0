"""RTT reports: the incomplete-pathway summary by provider and treatment function (aggregates only)."""

from __future__ import annotations

from datetime import date

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from carecoord.core import csvsafe
from carecoord.core.models import AuditLog, Organisation
from carecoord.core.permissions import permission_required
from carecoord.core.services.audit import Auditor
from carecoord.waitinglist import summary
from carecoord.waitinglist.management.commands.rtt import CSV_FIGURES


def _census(request) -> tuple[date, str | None]:
    raw = request.GET.get("census", "")
    if not raw:
        return timezone.localdate(), None
    try:
        census = date.fromisoformat(raw)
    except ValueError:
        return timezone.localdate(), f"Enter the census date as YYYY-MM-DD (for example 2026-11-15), not “{raw[:20]}”"
    problem = summary.census_problem(census, timezone.localdate())
    return (timezone.localdate(), problem) if problem else (census, None)


def _report(request, *, with_trend: bool = False):
    """The headline at the census, by provider, and (for the page) the weekly trend: all from one
    load of the clock periods and one predicate (`summary.running_at`), so they agree."""
    census, error = _census(request)
    ids = request.organisation.aggregate_scope_ids()
    clocks = summary.load(ids, census, since=None if with_trend else census)
    names = dict(Organisation.objects.filter(pk__in=ids).values_list("pk", "ods_code"))
    out = clocks.summarise(census)
    by_provider = {}
    for pid, part in clocks.by_provider().items():
        figures = part.summarise(census)
        if figures["total"] or figures["unknown_clock_start"]:
            by_provider[names.get(pid, str(pid))] = figures
    weekly = clocks.trend(census) if with_trend else []
    return census, error, out, by_provider, weekly


@permission_required("waitinglist.view_reports")
def rtt_report(request):
    census, error, out, by_provider, weekly = _report(request, with_trend=True)
    Auditor.from_request(request).event(AuditLog.Action.VIEW, "waitinglist.rtt_report",
                                        object_id=request.organisation.pk, summary=f"RTT summary at {census}")
    dist = [{"weeks": d["week_band"], "pathways": d["pathways"]} for d in out["distribution"]]
    chart = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": (f"Bar chart: incomplete pathways by weekly band of weeks waited at {census:%d/%m/%Y}. "
                        "The same figures are in the table 'Show the weeks waited as a table' below the chart."),
        "width": "container", "height": 240,
        "data": {"values": dist},
        # The bars are hidden from assistive technology: the chart's description names the table
        # (#rtt-dist-table in the template) that gives every band's count (WCAG 1.1.1).
        "mark": {"type": "bar", "color": "#005eb8", "aria": False},
        "encoding": {
            "x": {"field": "weeks", "type": "quantitative", "bin": {"binned": True, "step": 1},
                  "title": "Weeks waited (band)"},
            "y": {"field": "pathways", "type": "quantitative", "title": "Pathways"},
            "tooltip": [{"field": "weeks", "title": "Week band"}, {"field": "pathways", "title": "Pathways"}],
        },
    }
    trend_chart = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": ("Line chart: the share of incomplete pathways within 18 weeks at each weekly census. "
                        "The figures are in the table 'Trend figures' below the chart."),
        "width": "container", "height": 200, "data": {"values": weekly},
        "encoding": {"x": {"field": "census", "type": "temporal", "title": "Census (week ending)"}},
        "layer": [
            {"mark": {"type": "line", "point": True, "color": "#005eb8", "aria": False},
             "encoding": {"y": {"field": "pct_within_18_weeks", "type": "quantitative",
                                "title": "% within 18 weeks", "scale": {"zero": False}}}},
        ],
    }
    status = 400 if error else 200
    return render(request, "waitinglist/rtt_report.jinja", {
        "page_title": "RTT waiting times", "census": census, "error": error, "out": out,
        "by_provider": by_provider, "chart": chart,
        "trend": weekly, "trend_chart": trend_chart,
    }, status=status)


@permission_required("waitinglist.view_reports")
def rtt_report_csv(request):
    census, error, out, by_provider, _ = _report(request)
    if error:
        return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
    Auditor.from_request(request).event(AuditLog.Action.EXPORT, "waitinglist.rtt_report",
                                        object_id=request.organisation.pk, summary=f"RTT summary CSV at {census}")
    resp = HttpResponse(content_type="text/csv")
    resp["Content-Disposition"] = f'attachment; filename="rtt-summary-{census.isoformat()}.csv"'
    w = csvsafe.writer(resp)
    w.writerow(["provider", "treatment_function", *CSV_FIGURES])
    w.writerow(["all", "all", *(out[f] for f in CSV_FIGURES)])
    for prov, figs in by_provider.items():
        w.writerow([prov, "all", *(figs[f] for f in CSV_FIGURES)])
        for tfc, t in figs["by_treatment_function"].items():
            w.writerow([prov, tfc, *(t[f] for f in CSV_FIGURES)])
    return resp
