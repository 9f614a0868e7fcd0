"""Import pages: upload (runs as a background job), batch reports with their rejections (HTML
and CSV), and mapping profiles. Batches only through `scoped_batches` (own organisation)."""

from __future__ import annotations

import io

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from carecoord.core import csvsafe
from carecoord.core.models import AuditLog
from carecoord.core.permissions import permission_required
from carecoord.core.services.audit import Auditor
from carecoord.core.services.jobs import start_job
from carecoord.integration import services, tasks
from carecoord.integration.forms import ProfileForm, UploadForm
from carecoord.integration.models import MappingProfile, scoped_batches
from carecoord.integration.presenters import BatchPresenter

REJECTIONS_PER_PAGE = 100


@permission_required("waitinglist.import")
def imports(request):
    form = UploadForm(request.POST or None, request.FILES or None, organisation=request.organisation)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            path, sha = services.store_upload(form.cleaned_data["file"])
            profile = form.cleaned_data["profile"]
            try:
                services.inspect(path, kind=form.cleaned_data["kind"], profile=profile)
            except services.ImportFileError as exc:
                path.unlink(missing_ok=True)
                form.add_error("file", f"The file cannot be imported: {exc}")
            else:
                job = start_job(tasks.run_import, kind="wlmds_import",
                                title=f"Import {form.cleaned_data['file'].name[:150]}",
                                organisation=request.organisation, user=request.user, params={
                                    "path": str(path), "sha256": sha, "filename": form.cleaned_data["file"].name,
                                    "kind": form.cleaned_data["kind"], "mode": form.cleaned_data["mode"],
                                    "profile_id": profile.pk if profile else None,
                                    "provider_id": request.organisation.pk, "user_id": request.user.pk})
                Auditor.from_request(request).create(job, summary="WLMDS import started")
                messages.success(request, "The file is being imported. This page shows its progress.")
                return HttpResponseRedirect(reverse("core:job_detail", args=[job.pk]))
        status = 400
    batches = scoped_batches(request.organisation).select_related("started_by")[:50]
    return render(request, "integration/imports.jinja", {
        "page_title": "Imports", "form": form, "batches": [BatchPresenter(b) for b in batches],
        "can_manage_profiles": request.user.has_perm("waitinglist.manage_profiles", request.organisation),
    }, status=status)


def _batch(request, pk: int):
    batch = scoped_batches(request.organisation).filter(pk=pk).first()
    if batch is None:
        raise Http404("no such import")
    return batch


@permission_required("waitinglist.import")
def report(request, pk: int):
    batch = _batch(request, pk)
    paginator = Paginator(batch.rejections.all(), REJECTIONS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    Auditor.from_request(request).view(batch, summary=f"import report page {page.number}")
    return render(request, "integration/report.jinja", {
        "page_title": f"Import report: {batch.filename}", "batch": BatchPresenter(batch), "page": page,
        "paginator": paginator,
    })


@permission_required("waitinglist.import")
def report_csv(request, pk: int):
    batch = _batch(request, pk)
    buf = io.StringIO()
    writer = csvsafe.writer(buf)
    writer.writerow(["row_number", "ppid", "ppid_issuer", "field", "value", "reason"])
    count = 0
    rows = batch.rejections.values_list("row_number", "ppid", "ppid_issuer", "field", "value", "reason")
    for row in rows.iterator(chunk_size=5000):
        writer.writerow(row)
        count += 1
    Auditor.from_request(request).event(AuditLog.Action.EXPORT, batch, summary=f"rejections CSV: {count} rows")
    response = HttpResponse(buf.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-rejections.csv"'
    return response


# ---------------------------------------------------------------- mapping profiles


@permission_required("waitinglist.manage_profiles")
def profiles(request):
    rows = MappingProfile.objects.filter(organisation=request.organisation).order_by("name")
    return render(request, "integration/profiles.jinja", {"page_title": "Column mapping profiles", "profiles": rows})


def _profile_form(request, profile: MappingProfile | None):
    form = ProfileForm(request.POST) if request.method == "POST" else (
        ProfileForm.for_profile(profile) if profile else ProfileForm())
    if request.method == "POST" and form.is_valid():
        try:
            services.save_profile(organisation=request.organisation, name=form.cleaned_data["name"],
                                  columns=form.columns(), date_format=form.cleaned_data["date_format"],
                                  delimiter=form.cleaned_data["delimiter"], auditor=Auditor.from_request(request),
                                  profile=profile)
        except services.ProfileError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Saved the profile '{form.cleaned_data['name']}'")
            return HttpResponseRedirect(reverse("integration:profiles"))
    return render(request, "integration/profile_form.jinja", {
        "page_title": "Edit mapping profile" if profile else "New mapping profile", "form": form, "profile": profile,
    }, status=400 if request.method == "POST" else 200)


@permission_required("waitinglist.manage_profiles")
def profile_create(request):
    return _profile_form(request, None)


@permission_required("waitinglist.manage_profiles")
def profile_edit(request, pk: int):
    profile = MappingProfile.objects.filter(organisation=request.organisation, pk=pk).first()
    if profile is None:
        raise Http404("no such profile")
    return _profile_form(request, profile)
