"""The SCC board: every provider's OPEL level and key metrics, refreshed in place (htmx polling)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render

from carecoord.coordination import services
from carecoord.core.models import Organisation, OrganisationKind
from carecoord.core.permissions import permission_required

KEY_METRICS = [
    ("ambulance_handover_mean_minutes", "Handover (mean min)"),
    ("ed_4h_performance_pct", "ED 4-hour %"),
    ("majors_resus_occupancy_pct", "Majors occupancy %"),
    ("ga_bed_occupancy_pct", "G&A occupancy %"),
]
LEVEL_TAG = {1: "nhsuk-tag--green", 2: "nhsuk-tag--yellow", 3: "nhsuk-tag--orange", 4: "nhsuk-tag--red"}


def _system(request) -> Organisation:
    org = request.organisation
    if org.kind in (OrganisationKind.ICB, OrganisationKind.HEALTH_BOARD, OrganisationKind.REGION) or org.parent is None:
        return org
    return org.parent


@permission_required("coordination.view_board")
def board(request):
    state = services.board_state(_system(request))
    template = "coordination/_board.jinja" if request.htmx else "coordination/board.jinja"
    return render(request, template, {"page_title": "Coordination centre", "state": state, "metrics": KEY_METRICS,
                                      "level_tag": LEVEL_TAG})


@permission_required("coordination.view_board")
def provider(request, code: str):
    system = _system(request)
    org = get_object_or_404(Organisation, ods_code=code, parent=system)
    score = org.opel_scores.first()
    history = list(org.opel_scores.order_by("-at")[:96])[::-1]
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
