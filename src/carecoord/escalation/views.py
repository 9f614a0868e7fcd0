"""The escalation log: actions started by OPEL levels, worked by SCC operators."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from carecoord.coordination.views import _system
from carecoord.core.permissions import permission_required
from carecoord.core.services.audit import Auditor
from carecoord.escalation import services
from carecoord.escalation.models import EscalationAction


@permission_required("coordination.view_board")
def log(request):
    raw = request.GET.get("day", "")
    try:
        day = date.fromisoformat(raw) if raw else timezone.localdate()
    except ValueError:
        day = timezone.localdate()
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
        "can_act": request.user.has_perm("coordination.act", request.organisation)})


@require_POST
@permission_required("coordination.act")
def act(request, pk: int):
    action = EscalationAction.objects.filter(pk=pk, system=_system(request)).first()
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


def _day(request):
    raw = request.GET.get("day", "")
    try:
        return date.fromisoformat(raw) if raw else timezone.localdate()
    except ValueError:
        return timezone.localdate()


@permission_required("coordination.view_board")
def sitrep(request):
    from carecoord.escalation import sitrep as report

    data = report.build(_system(request), _day(request))
    Auditor.from_request(request).event("view", "escalation.sitrep", object_id=_system(request).pk,
                                        summary=f"sitrep {data['day']}")
    return render(request, "escalation/sitrep.jinja", {"page_title": "Situation report", **data})


@permission_required("coordination.view_board")
def sitrep_pdf(request):
    from django.http import HttpResponse

    from carecoord.escalation import sitrep as report

    data = report.build(_system(request), _day(request))
    Auditor.from_request(request).event("export", "escalation.sitrep", object_id=_system(request).pk,
                                        summary=f"sitrep PDF {data['day']}")
    resp = HttpResponse(report.pdf(data), content_type="application/pdf")
    resp["Content-Disposition"] = f'attachment; filename="sitrep-{data["system"].ods_code}-{data["day"]}.pdf"'
    return resp
