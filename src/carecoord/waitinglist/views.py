"""PTL, pathway page and pathway actions. Patient data only through `scoped_pathways`."""

from __future__ import annotations

import io
from datetime import date

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from carecoord.core import csvsafe
from carecoord.core.models import AuditLog
from carecoord.core.permissions import permission_required
from carecoord.core.services.audit import Auditor
from carecoord.waitinglist import services, system
from carecoord.waitinglist.forms import NoteForm, PriorityForm, RemovalForm, SavedViewForm, TciForm
from carecoord.waitinglist.models import scoped_pathways
from carecoord.waitinglist.presenters import PathwayPresenter, PathwayRow, weeks_waited
from carecoord.waitinglist.ptl import (
    BANDS,
    COLUMNS,
    EstimatingPaginator,
    PtlFilterForm,
    PtlQuery,
    elsewhere,
    parse_page,
    possible_duplicates,
)

PAGE_SIZE = 50
EXPORT_COLUMNS = ["ppid", "ppid_issuer", "provider", "tfc", "list_type", "rtt_start", "days_waited", "weeks_waited",
                  "priority", "queue_date", "tci_date", "consultant_code", "intended_procedure"]


def _scope(request) -> list[int]:
    """The organisations whose patients the user sees (one grants query; pass it on, do not re-ask)."""
    return request.organisation.patient_scope_ids() if request.organisation else []


def _query(request, scope: list[int]) -> tuple[PtlFilterForm, PtlQuery]:
    """The filter form (bound when there is a query string) and the query it gives. The page number is
    read apart from the filters (`parse_page`), so a bad page never invalidates them."""
    form = PtlFilterForm(request.GET or None, providers=system.visible_providers(request.organisation, scope))
    if request.GET and form.is_valid():
        return form, PtlQuery.from_form(form, page=request.GET.get("page", 1))
    return form, PtlQuery(page=parse_page(request.GET.get("page", 1)))


def _ptl_queryset(request, query: PtlQuery, scope: list[int]):
    qs = scoped_pathways(request.organisation).ptl().select_related("provider")
    return query.apply(qs, scope)


def _page_items(query: PtlQuery, number: int, last: int) -> list[dict]:
    """NHS.UK numbered pagination: the first and last pages, the current one and its neighbours, with
    an ellipsis for the gaps."""
    shown = sorted({1, last, number - 1, number, number + 1} & set(range(1, last + 1)))
    items, prev = [], 0
    for n in shown:
        if n - prev > 1:
            items.append({"ellipsis": True})
        items.append({"number": n, "href": "?" + query.querystring(page=n), "current": n == number,
                      "ariaLabel": f"Page {n}" + (" (last page)" if n == last and last > 1 else "")})
        prev = n
    return items


@permission_required("waitinglist.view_ptl")
def ptl(request):
    scope = _scope(request)
    form, query = _query(request, scope)
    saved = list(request.user.saved_ptl_views.filter(organisation=request.organisation).order_by("name"))
    for v in saved:  # views saved before the page was left out still open on page 1
        q = QueryDict(v.query, mutable=True)
        q.pop("page", None)
        v.link_query = q.urlencode()
    context = {
        "page_title": "Patient tracking list", "form": form, "query": query, "bands": BANDS, "columns": COLUMNS,
        "saved_views": saved, "system_view": len(scope) > 1, "duplicate_label": system.DUPLICATE_LABEL,
        "export_qs": query.querystring(page=1), "save_form": SavedViewForm(initial={"query": query.querystring(page=1)}),
    }
    if form.is_bound and not form.is_valid():
        # Invalid filters: say which (the error summary), and show no list rather than an empty one
        # that reads as "nothing matches".
        return render(request, "waitinglist/ptl.jinja", {**context, "rows": None, "page": None, "paginator": None,
                                                          "duplicates": None}, status=200)
    qs = _ptl_queryset(request, query, scope)
    paginator = EstimatingPaginator(qs, PAGE_SIZE, exact=query.duplicates == "only")
    page = paginator.get_page(query.page)  # past the end: the last page
    query.page = page.number
    # With the duplicates-only filter every row is one already (the filter is the same EXISTS).
    dupes = ({p.pk for p in page.object_list} if query.duplicates == "only"
             else possible_duplicates(page.object_list, scope))
    rows = [PathwayRow(p, query.census, p.pk in dupes) for p in page.object_list]
    Auditor.from_request(request).event(AuditLog.Action.VIEW, "waitinglist.ptl", object_id=request.organisation.pk,
                                        summary=f"PTL page {page.number}: {len(rows)} pathways")
    return render(request, "waitinglist/ptl.jinja", {
        **context, "rows": rows, "page": page, "paginator": paginator,
        "page_items": _page_items(query, page.number, paginator.num_pages),
        # The where-are-they summary is one GROUP BY over the whole system: only when asked for.
        "duplicates": system.duplicate_summary(scope) if query.duplicates == "only" else None,
    })


def _export_rows(request, query: PtlQuery, scope: list[int], limit: int = 1_000_000):
    """Rows of EXPORT_COLUMNS as Python values (dates as dates); a system view (several providers) adds
    `possible_duplicate`. Weeks waited is the §10.1.7 band, as on the page and in the API."""
    from django.db.models import Exists, Value

    qs = _ptl_queryset(request, query, scope).annotate(
        dup=Exists(elsewhere(scope)) if len(scope) > 1 else Value(False)).values_list(
        "ppid", "ppid_issuer", "provider__ods_code", "tfc", "list_type", "rtt_start", "clinical_priority",
        "queue_date", "tci_date", "consultant_code", "intended_procedure", "clock_state", "dup")
    for ppid, issuer, prov, tfc, lt, start, prio, qd, tci, cons, proc, state, dup in qs[:limit].iterator(
            chunk_size=5000):
        days = (query.census - start).days if start and state == "open" else None
        row = [ppid, issuer, prov, tfc, lt, start, days, weeks_waited(days), prio, qd, tci, cons, proc]
        yield [*row, "yes" if dup else ""] if len(scope) > 1 else row


def _csv_value(v):
    if v is None:
        return ""
    return v.isoformat() if isinstance(v, date) else v


@permission_required("waitinglist.export_ptl")
def ptl_export(request, fmt: str):
    """The filtered list (every page: `page` is ignored) as CSV or Excel. Excel cells hold real dates
    (dd/mm/yyyy) and numbers, so they sort and filter; the workbook is write-only (rows streamed to
    its temporary file, not held as a cell grid)."""
    if fmt not in ("csv", "xlsx"):
        raise Http404("export as csv or xlsx")
    scope = _scope(request)
    form, query = _query(request, scope)
    if request.GET and not form.is_valid():
        return HttpResponse("Invalid filters: " + "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items()),
                            status=400, content_type="text/plain")
    columns = EXPORT_COLUMNS + (["possible_duplicate"] if len(scope) > 1 else [])
    count = 0
    if fmt == "csv":
        buf = io.StringIO()
        writer = csvsafe.writer(buf)
        writer.writerow(columns)
        for row in _export_rows(request, query, scope):
            writer.writerow([_csv_value(v) for v in row])
            count += 1
        body, content_type = buf.getvalue(), "text/csv"
    else:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("PTL")
        ws.append(columns)

        def cell(v):
            if isinstance(v, date):
                c = WriteOnlyCell(ws, value=v)
                c.number_format = "dd/mm/yyyy"
                return c
            if isinstance(v, str) and v.startswith("="):
                c = WriteOnlyCell(ws, value=v)
                c.data_type = "s"  # text as typed: openpyxl would otherwise write it as a formula
                return c
            return "" if v is None else v

        for row in _export_rows(request, query, scope):
            ws.append([cell(v) for v in row])
            count += 1
        out = io.BytesIO()
        wb.save(out)
        body, content_type = out.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    Auditor.from_request(request).event(AuditLog.Action.EXPORT, "waitinglist.ptl", object_id=request.organisation.pk,
                                        summary=f"PTL export {fmt}: {count} rows")
    response = HttpResponse(body, content_type=content_type)
    name = f"ptl-{request.organisation.ods_code}-{query.census.isoformat()}"
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


def _back_to_ptl(query: str = "") -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("waitinglist:ptl") + ("?" + query if query else ""))


@require_POST
@permission_required("waitinglist.view_ptl")
def save_view(request):
    """Save the current filters and sort under a name. The query is checked with the PTL's own filter
    form and stored as that form reads it: without the page number (a view opens on page 1) and
    without anything the list does not understand."""
    form = SavedViewForm(request.POST)
    raw = form.data.get("query", "")
    if not form.is_valid():
        messages.error(request, "The view was not saved: " + " ".join(e[0] for e in form.errors.values()))
        return _back_to_ptl(raw if len(raw) <= SavedViewForm.QUERY_MAX else "")
    scope = _scope(request)
    filters = PtlFilterForm(QueryDict(raw), providers=system.visible_providers(request.organisation, scope))
    if not filters.is_valid():
        problems = "; ".join(f"{filters[k].label}: {v[0]}" if k in filters.fields else v[0]
                             for k, v in filters.errors.items())
        messages.error(request, f"The view was not saved because its filters are not valid ({problems})")
        return _back_to_ptl(raw)
    query = PtlQuery.from_form(filters).querystring(page=1)
    request.user.saved_ptl_views.update_or_create(
        organisation=request.organisation, name=form.cleaned_data["name"], defaults={"query": query})
    messages.success(request, f"Saved view '{form.cleaned_data['name']}'")
    return _back_to_ptl(query)


@require_POST
@permission_required("waitinglist.view_ptl")
def delete_view(request, pk: int):
    """Delete one of the user's own saved views (anyone else's is not found)."""
    view = request.user.saved_ptl_views.filter(pk=pk, organisation=request.organisation).first()
    if view is None:
        raise Http404("no such saved view")
    view.delete()
    messages.success(request, f"Deleted view '{view.name}'")
    return _back_to_ptl()


def _pathway(request, pk: int):
    pathway = scoped_pathways(request.organisation).select_related("provider", "patient", "site").filter(pk=pk).first()
    if pathway is None:
        raise Http404("no such pathway")
    return pathway


NOTES_SHOWN = 50  # newest first; ?notes=all shows every note
# Each action on the pathway page: its form key (the services' action name) and its permission.
ACTION_PERMS = {"priority": "set_priority", "tci": "record_tci", "note": "add_note", "remove": "remove"}


@permission_required("waitinglist.view_pathway")
def pathway_detail(request, pk: int, forms: dict | None = None, status: int = 200, page_error: str = ""):
    pathway = _pathway(request, pk)
    all_notes = request.GET.get("notes") == "all"
    notes = pathway.notes.select_related("author")
    notes = list(notes if all_notes else notes[:NOTES_SHOWN])
    notes_total = len(notes) if all_notes or len(notes) < NOTES_SHOWN else pathway.notes.count()
    Auditor.from_request(request).view(pathway, summary=f"pathway page with all {notes_total} notes" if all_notes else "")
    forms = forms or {}
    # An action is offered only when the user holds its permission here *and* the services would
    # allow it on this pathway (the role at the pathway's provider; the pathway still on the list).
    offered = {key: request.user.has_perm(f"waitinglist.{perm}", request.organisation)
               and services.refusal(pathway, key, request.user) is None for key, perm in ACTION_PERMS.items()}
    perms = {perm: offered[key] for key, perm in ACTION_PERMS.items()}
    perms["book_theatre"] = (request.user.has_perm("theatres.book", request.organisation)
                             and pathway.provider_id == getattr(request.organisation, "pk", None)
                             and pathway.status == "on_list" and pathway.list_type == "admitted")
    # A refused action, or a posted form the page no longer draws (the pathway left the list meanwhile),
    # is named in an error summary at the top of the page rather than lost with its hidden form.
    page_errors = [page_error] if page_error else []
    for key, form in forms.items():
        if not offered.get(key) and form.errors:
            page_errors += [*form.non_field_errors(), *(f.errors[0] for f in form if f.errors)]
    return render(request, "waitinglist/pathway.jinja", {
        "page_title": "Pathway", "pathway": pathway, "patient": pathway.patient,
        "presenter": PathwayPresenter(pathway, PtlQuery().census),
        "events": pathway.clock_events.all(), "periods": pathway.periods.all(),
        "reviews": pathway.priority_reviews.select_related("reviewed_by"),
        "notes": notes, "notes_total": notes_total, "all_notes": all_notes, "notes_shown": NOTES_SHOWN,
        "removal": getattr(pathway, "removal", None),
        "perms": perms, "page_errors": page_errors,
        "priority_form": forms.get("priority") or PriorityForm(initial={"priority": pathway.clinical_priority}),
        "tci_form": forms.get("tci") or TciForm(),
        "note_form": forms.get("note") or NoteForm(),
        "removal_form": forms.get("remove") or RemovalForm(),
    }, status=status)


def _action(request, pk, form_class, key, perform, success):
    pathway = _pathway(request, pk)
    # Refused before the form is read: a removal clicked twice, or a TCI on a closed pathway, is
    # about the pathway, not about what was typed (and the page no longer draws that form).
    refused = services.refusal(pathway, key, request.user)
    if refused:
        return pathway_detail(request, pk, page_error=refused,
                              status=403 if services.role_refusal(pathway, key, request.user) else 400)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            perform(pathway, form.cleaned_data, Auditor.from_request(request))
        except services.WaitingListError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, success)
            return HttpResponseRedirect(reverse("waitinglist:pathway", args=[pathway.pk]))
    return pathway_detail(request, pk, forms={key: form}, status=400)


@require_POST
@permission_required("waitinglist.set_priority")
def set_priority(request, pk: int):
    return _action(request, pk, PriorityForm, "priority", lambda p, d, a: services.set_priority(
        p, d["priority"], reason=d["reason"], by=request.user, auditor=a), "Priority recorded")


@require_POST
@permission_required("waitinglist.record_tci")
def record_tci(request, pk: int):
    return _action(request, pk, TciForm, "tci", lambda p, d, a: services.record_tci(
        p, d["tci_date"], by=request.user, auditor=a),
                   "TCI date recorded")


@require_POST
@permission_required("waitinglist.add_note")
def add_note(request, pk: int):
    return _action(request, pk, NoteForm, "note", lambda p, d, a: services.add_note(
        p, d["text"], by=request.user, auditor=a), "Note added")


@require_POST
@permission_required("waitinglist.remove")
def remove(request, pk: int):
    return _action(request, pk, RemovalForm, "remove", lambda p, d, a: services.remove_from_list(
        p, reason=d["reason"], decided_by=request.user, rationale=d["rationale"], auditor=a),
        "Removed from the waiting list")
