"""Theatre pages: the week's lists by theatre, and a list page with its bookings, predicted finish and
overrun risk, and suggested patients to book."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from carecoord.core.permissions import permission_required
from carecoord.core.services.audit import Auditor
from carecoord.theatres import services
from carecoord.theatres.models import LIVE_BOOKING, TheatreSession
from carecoord.waitinglist.models import scoped_pathways


def _week(request) -> date:
    raw = request.GET.get("week", "")
    try:
        d = date.fromisoformat(raw) if raw else timezone.localdate()
    except ValueError:
        d = timezone.localdate()
    return d - timedelta(days=d.weekday())


def _sessions(request):
    return TheatreSession.objects.filter(theatre__site__organisation=request.organisation)


@permission_required("theatres.view")
def calendar(request):
    monday = _week(request)
    days = [monday + timedelta(days=i) for i in range(7)]
    sessions = (_sessions(request).filter(date__range=(days[0], days[-1])).select_related("theatre", "theatre__site")
                .annotate(n=Count("bookings", filter=Q(bookings__status__in=LIVE_BOOKING))).order_by("starts_at"))
    grid = defaultdict(lambda: defaultdict(list))
    theatres = {}
    for s in sessions:
        grid[s.theatre_id][s.date].append(s)
        theatres[s.theatre_id] = s.theatre
    return render(request, "theatres/calendar.jinja", {
        "page_title": "Theatre lists", "monday": monday, "days": [d for d in days if d.weekday() < 5 or any(
            grid[t][d] for t in theatres)], "grid": grid, "theatres": sorted(theatres.values(), key=lambda t: t.name),
        "prev": monday - timedelta(days=7), "next": monday + timedelta(days=7)})


def _session(request, pk: int) -> TheatreSession:
    s = _sessions(request).filter(pk=pk).select_related("theatre", "theatre__site").first()
    if s is None:
        raise Http404("no such session")
    return s


@permission_required("theatres.view")
def session_detail(request, pk: int):
    session = _session(request, pk)
    state = services.session_state(session)
    can_book = request.user.has_perm("theatres.book", request.organisation)
    suggestions, pathways = services.suggestions_for(session) if can_book and session.status == "planned" else ([], {})
    auditor = Auditor.from_request(request)
    for b in state.bookings:
        auditor.view(b.pathway)
    return render(request, "theatres/session.jinja", {
        "page_title": f"{session.theatre.name} {session.date:%d %b %Y} {session.get_slot_display()}",
        "session": session, "state": state, "suggestions": suggestions, "pathways": pathways, "can_book": can_book})


@require_POST
@permission_required("theatres.book")
def book(request, pk: int):
    session = _session(request, pk)
    try:
        pathway_id = int(request.POST.get("pathway", ""))
    except ValueError:
        pathway_id = None
    pathway = scoped_pathways(request.organisation).filter(pk=pathway_id).first() if pathway_id else None
    if pathway is None:
        messages.error(request, "Choose a patient on this organisation's list to book")
        return HttpResponseRedirect(request.path.rsplit("book/", 1)[0])
    if session.status != "planned":
        raise PermissionDenied("only planned lists take bookings")
    try:
        services.book(session, pathway, by=request.user, auditor=Auditor.from_request(request),
                      reasons=tuple(request.POST.getlist("reason"))[:5], suggested=True)
        messages.success(request, f"Booked {pathway.ppid} on this list")
    except services.BookingRefused as exc:
        messages.error(request, f"Not booked: {exc}")
    return HttpResponseRedirect(request.path.rsplit("book/", 1)[0])
