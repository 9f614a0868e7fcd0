"""Theatre pages: the week's lists by theatre; a list page with its bookings, predicted finish and
overrun risk, reordering, confirmation, TCI letters, cancellation and suggested patients for the freed
time; assisted scheduling runs and their review; booking a patient from the PTL; and the metrics."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from carecoord.core.forms import posted_id, posted_ids
from carecoord.core.permissions import permission_required
from carecoord.core.services.audit import Auditor
from carecoord.theatres import services
from carecoord.theatres.forms import GenerateForm
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
    sites = list(services.theatres_of(request.organisation).values_list("site_id", "site__name").distinct()
                 .order_by("site__name"))
    site = request.GET.get("site", "")
    site = site if site in {str(pk) for pk, _ in sites} else ""
    sessions = (_sessions(request).filter(date__range=(days[0], days[-1])).select_related("theatre", "theatre__site")
                .annotate(n=Count("bookings", filter=Q(bookings__status__in=LIVE_BOOKING))).order_by("starts_at"))
    if site:
        sessions = sessions.filter(theatre__site_id=int(site))
    grid = defaultdict(lambda: defaultdict(list))
    theatres = {}
    for s in sessions:
        grid[s.theatre_id][s.date].append(s)
        theatres[s.theatre_id] = s.theatre
    return render(request, "theatres/calendar.jinja", {
        "page_title": "Theatre lists", "monday": monday, "days": [d for d in days if d.weekday() < 5 or any(
            grid[t][d] for t in theatres)], "grid": grid, "theatres": sorted(theatres.values(), key=lambda t: t.name),
        "prev": monday - timedelta(days=7), "next": monday + timedelta(days=7), "sites": sites, "site": site,
        "can_book": request.user.has_perm("theatres.book", request.organisation),
        "generate_form": GenerateForm(initial={"start": monday + timedelta(days=7), "weeks": 6})})


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
    cancelled = list(services.cancellations_for(request.organisation).filter(booking__session=session).select_related("booking__pathway", "rebooked")
                     .order_by("cancelled_at"))
    return render(request, "theatres/session.jinja", {
        "page_title": f"{session.theatre.name} {session.date:%d %b %Y} {session.get_slot_display()}",
        "session": session, "state": state, "suggestions": suggestions, "pathways": pathways, "can_book": can_book,
        "cancelled": cancelled,
        "reasons": {**services.CANCELLATION_REASONS, **services.SYSTEM_CANCELLATION_REASONS}})


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
        messages.error(request, f"Not booked: the list is {session.get_status_display().lower()}, and only planned "
                                "lists take bookings")
        return HttpResponseRedirect(request.path.rsplit("book/", 1)[0])
    try:
        services.book(session, pathway, by=request.user, auditor=Auditor.from_request(request),
                      reasons=tuple(request.POST.getlist("reason"))[:5], suggested=True)
        messages.success(request, f"Booked {pathway.ppid} on this list")
    except services.BookingRefused as exc:
        messages.error(request, f"Not booked: {exc}")
    return HttpResponseRedirect(request.path.rsplit("book/", 1)[0])


def _booking(request, pk: int):
    b = (services.bookings_for(request.organisation).filter(pk=pk)
         .select_related("session", "session__theatre", "session__theatre__site", "pathway", "pathway__patient")
         .first())
    if b is None:
        raise Http404("no such booking")
    return b


def _back(booking_or_session):
    pk = getattr(booking_or_session, "session_id", None) or booking_or_session.pk
    return HttpResponseRedirect(reverse("theatres:session", args=[pk]))


@require_POST
@permission_required("theatres.book")
def booking_move(request, pk: int):
    booking = _booking(request, pk)
    direction = request.POST.get("direction")
    if direction not in ("up", "down"):
        return HttpResponseBadRequest("direction must be up or down", content_type="text/plain; charset=utf-8")
    delta = -1 if direction == "up" else 1
    try:
        if services.move(booking, delta, auditor=Auditor.from_request(request)):
            messages.success(request, f"Moved {booking.pathway.ppid} {'up' if delta < 0 else 'down'} the list")
    except services.BookingError as exc:
        messages.error(request, str(exc))
    return _back(booking)


@require_POST
@permission_required("theatres.book")
def booking_confirm(request, pk: int):
    booking = _booking(request, pk)
    try:
        services.confirm(booking, auditor=Auditor.from_request(request))
        messages.success(request, f"Confirmed {booking.pathway.ppid}")
    except services.BookingError as exc:
        messages.error(request, f"Not confirmed: {exc}")
    return _back(booking)


@require_POST
@permission_required("theatres.book")
def booking_letter(request, pk: int):
    """The TCI letter as a PDF; printing it marks the booking 'TCI sent' and sets the TCI date."""
    from django.http import HttpResponse

    booking = _booking(request, pk)
    auditor = Auditor.from_request(request)
    try:
        pdf = services.tci_letter(booking, auditor=auditor)
    except services.BookingError as exc:
        messages.error(request, f"No letter: {exc}")
        return _back(booking)
    auditor.event("export", booking.pathway.patient, summary=f"TCI letter for booking {booking.pk}")
    resp = HttpResponse(pdf, content_type="application/pdf")
    resp["Content-Disposition"] = f'attachment; filename="tci-letter-{booking.pk}.pdf"'
    return resp


@permission_required("theatres.book")
def booking_cancel(request, pk: int):
    from carecoord.theatres.forms import CancelForm

    booking = _booking(request, pk)
    form = CancelForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                c = services.cancel(booking, reason_code=form.cleaned_data["reason_code"],
                                    reason=form.cleaned_data["reason"], user=request.user,
                                    auditor=Auditor.from_request(request))
                note = (f" A new date is owed by {c.rebook_by:%d %B %Y} (28 days)." if c.rebook_by else "")
                messages.success(request, f"Cancelled {booking.pathway.ppid}.{note} Suggestions to fill the freed "
                                          "time are below.")
                return _back(booking)
            except services.BookingError as exc:
                form.add_error(None, str(exc))
        status = 400
    if request.method == "GET":
        Auditor.from_request(request).view(booking.pathway, summary="cancellation form")
    return render(request, "theatres/cancel.jinja", {
        "page_title": f"Cancel {booking.pathway.ppid}", "booking": booking, "form": form}, status=status)


@require_POST
@permission_required("theatres.book")
def session_status(request, pk: int):
    session = _session(request, pk)
    new = request.POST.get("status", "")
    try:
        services.set_session_status(session, new, auditor=Auditor.from_request(request))
        messages.success(request, f"The list is now {session.get_status_display().lower()}")
    except services.BookingError as exc:
        messages.error(request, f"Not changed: {exc}")
    return _back(session)


@require_POST
@permission_required("theatres.book")
def generate(request):
    from carecoord.theatres.forms import GenerateForm

    form = GenerateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not generated: " + "; ".join(f"{form.fields[k].label if k in form.fields else k}: "
                                                             f"{v[0]}" for k, v in form.errors.items()))
        return HttpResponseRedirect(reverse("theatres:calendar"))
    d = form.cleaned_data
    n = services.generate_sessions(request.organisation, d["start"], d["weeks"])
    Auditor.from_request(request).event("create", "theatres.session", object_id=request.organisation.pk,
                                        summary=f"generated {n} sessions from templates, {d['start']} + {d['weeks']} "
                                                f"weeks")
    messages.success(request, f"{n} new list{'s' if n != 1 else ''} generated from the weekly templates "
                              f"({_weeks(d['weeks'])} from {d['start']:%d %B %Y}); existing lists were kept")
    return HttpResponseRedirect(f"{reverse('theatres:calendar')}?week={d['start'].isoformat()}")


# ---------------------------------------------------------------- assisted scheduling

PLAN_KIND = "theatre_plan"


def _weeks(n: int) -> str:
    return f"{n} week{'s' if n != 1 else ''}"


@permission_required("theatres.book")
def plan(request):
    from carecoord.core.models import Job
    from carecoord.core.services.jobs import start_job
    from carecoord.theatres import tasks
    from carecoord.theatres.forms import PlanForm

    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        params = {"start": d["start"].isoformat(), "weeks": d["weeks"], "seconds": d["seconds"],
                  "seed": d.get("seed") or 0, "user_id": request.user.pk}
        job = start_job(tasks.run_plan, kind=PLAN_KIND,
                        title=f"Assisted scheduling: {_weeks(d['weeks'])} from {d['start']:%d %B %Y}",
                        organisation=request.organisation, user=request.user, params=params)
        Auditor.from_request(request).create(job, summary="assisted scheduling started")
        return HttpResponseRedirect(reverse("core:job_detail", args=[job.pk]))
    recent = Job.objects.filter(organisation=request.organisation, kind=PLAN_KIND).order_by("-created_at")[:10]
    return render(request, "theatres/plan.jinja", {"page_title": "Assisted scheduling", "form": form,
                                                   "recent": recent},
                  status=400 if request.method == "POST" else 200)


def _plan_job(request, pk: int):
    from carecoord.core.models import Job

    job = Job.objects.filter(organisation=request.organisation, kind=PLAN_KIND, pk=pk).first()
    if job is None:
        raise Http404("no such plan")
    return job


@permission_required("theatres.book")
def plan_detail(request, pk: int):
    job = _plan_job(request, pk)
    if job.state != job.State.SUCCEEDED:
        return HttpResponseRedirect(reverse("core:job_detail", args=[job.pk]))
    result = job.result
    start = date.fromisoformat(result["start"])
    sessions = {s.pk: s for s in _sessions(request).filter(pk__in={r["session"] for r in result["lists"]})
                .select_related("theatre")}
    by_session = defaultdict(list)
    for row in result["suggested_bookings"]:
        by_session[row["session"]].append(row)
    lists = [(sessions[x["session"]], x, by_session.get(x["session"], [])) for x in result["lists"]
             if x["session"] in sessions]
    ids = {r["pathway"] for r in result["suggested_bookings"]} | {r["pathway"] for r in result.get("poa_prompts", [])}
    Auditor.from_request(request).bulk("view", "waitinglist.pathway", sorted(ids), summary=f"plan review {job.pk}")
    advice = services.release_advice(request.organisation, start, int(result["weeks"]))
    from carecoord.theatres.planner import NOT_BOOKED

    return render(request, "theatres/plan_detail.jinja", {
        "page_title": job.title, "job": job, "result": result, "lists": lists, "advice": advice,
        "not_booked": [(NOT_BOOKED.get(k, k), n) for k, n in result["not_booked_by_reason"].items()],
        "pending": sum(1 for r in result["suggested_bookings"] if r["state"] == "suggested")})


@require_POST
@permission_required("theatres.book")
def plan_decide(request, pk: int):
    """Accept (book through the database's guards) or reject the chosen suggestions."""
    from django.db import transaction

    from carecoord.core.models import Job
    from carecoord.waitinglist.models import scoped_pathways

    job = _plan_job(request, pk)
    action = request.POST.get("action")
    if action not in ("accept", "reject") or job.state != job.State.SUCCEEDED:
        messages.error(request, "Choose to accept or reject the selected suggestions")
        return HttpResponseRedirect(reverse("theatres:plan_detail", args=[pk]))
    chosen = set(posted_ids(request.POST.getlist("pick")))
    if not chosen:
        messages.error(request, "Select at least one suggestion")
        return HttpResponseRedirect(reverse("theatres:plan_detail", args=[pk]))
    auditor = Auditor.from_request(request)
    booked = refused = rejected = 0
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)  # two schedulers deciding at once take turns
        rows = job.result["suggested_bookings"]
        sessions = {s.pk: s for s in _sessions(request).filter(pk__in={r["session"] for r in rows})
                    .select_related("theatre", "theatre__site")}
        pathways = {p.pk: p for p in scoped_pathways(request.organisation).filter(pk__in={r["pathway"] for r in rows})}
        for row in sorted(rows, key=lambda r: (r["session"], r["order"])):
            if row["i"] not in chosen or row["state"] != "suggested":
                continue
            if action == "reject":
                row["state"], rejected = "rejected", rejected + 1
                continue
            session, pathway = sessions.get(row["session"]), pathways.get(row["pathway"])
            if session is None or pathway is None or session.status != "planned" or pathway.status != "on_list":
                row.update(state="refused", message="the list or the patient has changed since the plan")
                refused += 1
                continue
            try:
                services.book(session, pathway, by=request.user, auditor=auditor,
                              reasons=tuple(row.get("reasons", ()))[:5], suggested=True)
                row["state"], booked = "accepted", booked + 1
            except services.BookingRefused as exc:
                row.update(state="refused", message=str(exc))
                refused += 1
        job.save(update_fields=["result"])
    auditor.event("update", "theatres.plan", object_id=job.pk,
                  summary=f"{action}: {booked} booked, {refused} refused, {rejected} rejected")
    if action == "reject":
        messages.success(request, f"{rejected} suggestion{'s' if rejected != 1 else ''} rejected")
    else:
        messages.success(request, f"{booked} booked" + (f"; {refused} refused (see each for why)" if refused else ""))
    return HttpResponseRedirect(reverse("theatres:plan_detail", args=[pk]))


# ---------------------------------------------------------------- booking from the PTL

@permission_required("theatres.book")
def book_pathway(request, pathway_id: int):
    pathway = scoped_pathways(request.organisation).filter(pk=pathway_id).select_related("provider").first()
    if pathway is None or pathway.provider_id != request.organisation.pk:
        raise Http404("no such pathway on this organisation's list")
    if request.method == "POST":
        chosen = posted_id(request.POST.get("session"))
        session = _session(request, chosen) if chosen is not None else None
        if session is None:
            messages.error(request, "Choose a list")
        elif session.status != "planned":
            messages.error(request, f"Not booked: the list is {session.get_status_display().lower()}, and only "
                                    "planned lists take bookings")
        else:
            try:
                services.book(session, pathway, by=request.user, auditor=Auditor.from_request(request))
                messages.success(request, f"Booked {pathway.ppid} on {session.theatre.name} {session.date:%d %B %Y}")
                return _back(session)
            except services.BookingRefused as exc:
                messages.error(request, f"Not booked: {exc}")
        return HttpResponseRedirect(request.path)
    Auditor.from_request(request).view(pathway)
    return render(request, "theatres/book_pathway.jinja", {
        "page_title": f"Book {pathway.ppid} on a theatre list", "pathway": pathway,
        "problem": services.pathway_problem(pathway, request.organisation),
        "options": services.sessions_for_pathway(pathway)})


# ---------------------------------------------------------------- metrics

@permission_required("theatres.view")
def metrics(request):
    from django.http import HttpResponse

    from carecoord.core import csvsafe
    from carecoord.theatres.forms import MetricsForm

    today = timezone.localdate()
    data = request.GET.copy()
    data.setdefault("start", (today - timedelta(weeks=8)).isoformat())
    data.setdefault("end", today.isoformat())
    data.setdefault("by", "week")
    form = MetricsForm(data)
    if not form.is_valid():
        return render(request, "theatres/metrics.jinja", {"page_title": "Theatre metrics", "form": form, "out": None},
                      status=400)
    d = form.cleaned_data
    out = services.metrics_for(request.organisation, d["start"], d["end"], by=d["by"] or "week")
    Auditor.from_request(request).event("view", "theatres.metrics", object_id=request.organisation.pk,
                                        summary=f"theatre metrics {d['start']} to {d['end']}")
    if request.GET.get("format") == "csv":
        resp = HttpResponse(content_type="text/csv")
        resp["Content-Disposition"] = f'attachment; filename="theatre-metrics-{d["start"]}-{d["end"]}.csv"'
        w = csvsafe.writer(resp)
        cols = list(METRIC_COLUMNS)
        rates = [k for k in cols if isinstance(out[k], dict)]
        w.writerow([out["by"], *cols, *(f"{k}_{part}" for k in rates for part in ("numerator", "denominator"))])
        for g in [{"group": "All", **out}, *out["groups"]]:
            w.writerow([g["group"], *[_flat(g[k]) for k in cols],
                        *(g[k][part] for k in rates for part in ("numerator", "denominator"))])
        return resp
    chart = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": f"Capped and booked utilisation by {out['by']}",
        "width": "container", "height": 220,
        "data": {"values": [{"group": g["group"], "measure": label, "value": g[k]}
                            for g in out["groups"] for k, label in (("capped_utilisation", "Capped utilisation"),
                                                                    ("booked_utilisation", "Booked utilisation"))
                            if g[k] is not None]},
        "mark": {"type": "line" if out["by"] == "week" else "bar", "point": True, "aria": False},
        "encoding": {
            "x": {"field": "group", "type": "ordinal", "title": services.METRIC_GROUPS[out["by"]]},
            "y": {"field": "value", "type": "quantitative", "axis": {"format": "%"}, "title": "Utilisation"},
            "color": {"field": "measure", "type": "nominal", "title": None,
                      "scale": {"range": ["#005eb8", "#ffb81c"]}},
            **({} if out["by"] == "week" else {"xOffset": {"field": "measure"}}),
            "tooltip": [{"field": "group"}, {"field": "measure"}, {"field": "value", "format": ".1%"}],
        },
    }
    return render(request, "theatres/metrics.jinja", {"page_title": "Theatre metrics", "form": form, "out": out,
                                                      "chart": chart, "columns": METRIC_COLUMNS})


METRIC_COLUMNS = {
    "lists": "Lists", "lists_cancelled": "Lists cancelled", "cases": "Cases",
    "capped_utilisation": "Capped utilisation", "uncapped_utilisation": "Uncapped utilisation",
    "booked_utilisation": "Booked utilisation", "overrun_rate": "Lists overrunning > 10 min",
    "mean_overrun_minutes": "Mean overrun (min)", "early_finish_rate": "Early finishes > 30 min",
    "late_start_rate": "Late starts > 30 min", "cases_per_list": "Cases per list",
    "on_the_day_cancellation_rate": "On-the-day cancellations (of cases)",
    "rebooked_within_28_days": "Rebooked within 28 days", "priority_compliance_p1_p2": "P1–P2 within time frame",
}
def _flat(v):
    if isinstance(v, dict):
        return "" if v["value"] is None else v["value"]
    return "" if v is None else v


# ---------------------------------------------------------------- consultant leave

@permission_required("theatres.book")
def leave(request):
    from carecoord.theatres.forms import LeaveForm, LeaveUploadForm
    from carecoord.theatres.models import ConsultantLeave

    form, upload = LeaveForm(prefix="l"), LeaveUploadForm(prefix="u")
    result, status = None, 200
    if request.method == "POST":
        if request.POST.get("action") == "upload":
            upload = LeaveUploadForm(request.POST, request.FILES, prefix="u")
            if upload.is_valid():
                raw = upload.cleaned_data["file"].read(5_000_000)
                try:
                    text = raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    upload.add_error("file", "The file must be CSV text in UTF-8")
                else:
                    result = services.import_leave(request.organisation, text, auditor=Auditor.from_request(request))
        else:
            form = LeaveForm(request.POST, prefix="l")
            if form.is_valid():
                result = services.load_leave(request.organisation, [form.cleaned_data],
                                             auditor=Auditor.from_request(request))
                form = LeaveForm(prefix="l")
        if result and result.clashes:  # the page names the patients booked during the new leave
            Auditor.from_request(request).bulk("view", "waitinglist.pathway", [b.pathway_id for b in result.clashes],
                                               summary="booked during new consultant leave")
        if result and not result.errors:
            messages.success(request, f"{result.created} leave period{'s' if result.created != 1 else ''} added"
                                      + (f", {result.duplicates} already held" if result.duplicates else ""))
        if (result and result.errors) or form.errors or upload.errors:
            status = 400
    upcoming = (ConsultantLeave.objects.filter(organisation=request.organisation, ends_on__gte=timezone.localdate())
                .order_by("starts_on", "consultant_code")[:200])
    return render(request, "theatres/leave.jinja", {
        "page_title": "Consultant leave", "form": form, "upload": upload, "result": result,
        "upcoming": upcoming}, status=status)
