"""Digital validation batches: choose a cohort, preview it, send, and follow the answers."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from carecoord.core.permissions import permission_required
from carecoord.core.services.audit import Auditor
from carecoord.validation import digital
from carecoord.validation.models import DigitalBatch, DigitalResponse


class BatchForm(forms.Form):
    name = forms.CharField(max_length=120, label="Batch name", error_messages={"required": "Name the batch"})
    min_weeks = forms.IntegerField(min_value=0, max_value=200, initial=12, label="Waiting at least (weeks)")
    not_contacted_weeks = forms.IntegerField(min_value=1, max_value=104, initial=12,
                                             label="Not validated or contacted in the last (weeks)")
    priority = forms.ChoiceField(required=False, initial="P4", label="Clinical priority", choices=[
        ("", "Any"), ("P2", "P2"), ("P3", "P3"), ("P4", "P4")])
    list_type = forms.ChoiceField(required=False, label="List", choices=[
        ("", "Any"), ("admitted", "Admitted"), ("non_admitted", "Non-admitted")])


def _batches(request):
    return DigitalBatch.objects.filter(organisation=request.organisation)


@permission_required("validation.view_worklist")
def batches(request):
    form = BatchForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not request.user.has_perm("validation.run", request.organisation):
            raise PermissionDenied("validation.run")
        if form.is_valid():
            d = form.cleaned_data
            batch = digital.create_batch(request.organisation, name=d["name"], by=request.user,
                                         cohort=digital.Cohort(d["min_weeks"], d["not_contacted_weeks"],
                                                               d["list_type"], d["priority"]),
                                         auditor=Auditor.from_request(request))
            return HttpResponseRedirect(reverse("validation:digital_batch", args=[batch.pk]))
        status = 400
    rows = _batches(request).annotate(
        sent_n=Count("messages"), answered=Count("messages", filter=Q(messages__responded_at__isnull=False))
    ).order_by("-created_at")[:50]
    return render(request, "validation/digital/batches.jinja", {"page_title": "Digital validation", "form": form,
                                                                "batches": rows}, status=status)


@permission_required("validation.view_worklist")
def batch_detail(request, pk: int):
    batch = _batches(request).filter(pk=pk).first()
    if batch is None:
        raise Http404("no such batch")
    preview = digital.cohort_queryset(request.organisation, digital.Cohort(**batch.cohort))
    answers = dict(batch.messages.exclude(response="").values_list("response").annotate(n=Count("id")))
    counts = batch.messages.aggregate(total=Count("id"), answered=Count("id", filter=Q(responded_at__isnull=False)),
                                      locked=Count("id", filter=Q(locked_at__isnull=False)),
                                      reminded=Count("id", filter=Q(reminder_sent_at__isnull=False)),
                                      lettered=Count("id", filter=Q(letter_sent_at__isnull=False)))
    return render(request, "validation/digital/batch.jinja", {
        "page_title": f"Digital validation: {batch.name}", "batch": batch,
        "preview_count": preview.count() if batch.status == "draft" else None,
        "answers": [(label, answers.get(value, 0)) for value, label in DigitalResponse.choices], "counts": counts,
        "letters": batch.messages.filter(letter_sent_at__isnull=False).select_related("pathway")
                   .order_by("letter_sent_at")[:500],
        "can_send": request.user.has_perm("validation.run", request.organisation) and batch.status == "draft"})


@require_POST
@permission_required("validation.run")
def send(request, pk: int):
    batch = _batches(request).filter(pk=pk).first()
    if batch is None:
        raise Http404("no such batch")
    try:
        n = digital.send(batch, auditor=Auditor.from_request(request), base_url=request.build_absolute_uri("/"))
        messages.success(request, f"Sent to {n} patients")
    except digital.DigitalError as exc:
        messages.error(request, str(exc))
    return HttpResponseRedirect(reverse("validation:digital_batch", args=[pk]))


@permission_required("validation.run")
def letter(request, pk: int, msg: int):
    """A letter as printed (PDF), for the print room or to send again."""
    from django.http import FileResponse

    batch = _batches(request).filter(pk=pk).first()
    message = batch.messages.filter(pk=msg, letter_sent_at__isnull=False).select_related("pathway__patient").first() \
        if batch else None
    path = digital.letter_path(message) if message else None
    if path is None or not path.exists():
        raise Http404("no such letter")
    Auditor.from_request(request).event("export", message.pathway.patient, summary=f"validation letter {message.pk}")
    return FileResponse(open(path, "rb"), content_type="application/pdf", as_attachment=True, filename=path.name)
