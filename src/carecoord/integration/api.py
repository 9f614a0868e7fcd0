"""Imports API: a provider's nightly job posts its WLMDS file and gets the import's figures back."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from ninja import Body, File, Form, Router, Schema, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile

from carecoord.core.services.audit import Auditor
from carecoord.integration import services
from carecoord.integration.models import ImportMode, MappingProfile

router = Router(tags=["imports"])


class ImportOut(Schema):
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    pathways_created: int
    pathways_updated: int
    pathways_unchanged: int
    report: str


def _auditor(request) -> Auditor:
    user = request.auth if getattr(request.auth, "pk", None) else None
    if user is not None:
        return Auditor(user, organisation=request.organisation, request_id=getattr(request, "request_id", None))
    return Auditor.system(f"api-token:{request.api_token.prefix}", organisation=request.organisation)


@router.post("/", response={200: ImportOut, 422: ImportOut},
             summary="Import a WLMDS file (open pathways, clock starts or clock stops) for your organisation",
             description="Multipart form: `file` (CSV), `provider` (ODS code: must be the token's organisation), "
                         "`kind` (open|starts|stops), `mode` (all-or-nothing|good-rows), `profile` (mapping profile "
                         "name). 200 when loaded; 422 with the same figures when all-or-nothing rejected the file; "
                         "400 for an unusable file; 409 for a census older than the latest loaded.")
def import_file(request, file: File[UploadedFile], provider: Form[str], kind: Form[str] = "open",
                mode: Form[str] = ImportMode.ALL_OR_NOTHING, profile: Form[str] = ""):
    organisation = getattr(request, "organisation", None)
    if not request.auth.has_perm("waitinglist.import", organisation):
        raise PermissionDenied("waitinglist.import")
    if provider.strip().upper() != organisation.ods_code:
        raise HttpError(403, f"you may import only for your own organisation ({organisation.ods_code})")
    if kind not in ("open", "starts", "stops"):
        raise HttpError(400, "kind must be open, starts or stops")
    if mode not in ImportMode.values:
        raise HttpError(400, f"mode must be one of {', '.join(ImportMode.values)}")
    chosen = None
    if profile:
        chosen = MappingProfile.objects.filter(organisation=organisation, name=profile).first()
        if chosen is None:
            raise HttpError(400, f"no mapping profile called {profile!r} for {organisation.ods_code}")
    if not file.size:
        raise HttpError(400, "the file is empty")
    path, sha = services.store_upload(file)
    try:
        batch = services.import_wlmds(path, provider=organisation, auditor=_auditor(request), kind=kind, mode=mode,
                                      profile=chosen, filename=file.name or "upload.csv",
                                      user=request.auth if getattr(request.auth, "pk", None) else None, sha256=sha)
    except services.ImportFileError as exc:
        raise HttpError(400, f"the file cannot be imported: {exc}") from exc
    except services.ImportRefused as exc:
        raise HttpError(409, str(exc)) from exc
    finally:
        path.unlink(missing_ok=True)
    if batch.status == batch.Status.LOADED:
        # Validate the provider's list once the import has landed (in the worker: the response does not wait).
        from carecoord.validation.tasks import start_run

        start_run(organisation, trigger="import", user=request.auth if getattr(request.auth, "pk", None) else None)
    return Status(200 if batch.status == batch.Status.LOADED else 422, services.outcome(batch))


class FhirNote(Schema):
    entry: int | None
    field: str
    msg: str


class FhirImportOut(Schema):
    patients_created: int
    pathways_created: int
    pathways_updated: int
    pathways_unchanged: int
    notes: list[FhirNote]  # entries read but not applied (a pathway a recorded decision took off the list)
    batch: int
    report: str


@router.post("/fhir", response={200: FhirImportOut},
             summary="Import a FHIR R4 Bundle of waiting-list entries for your organisation",
             description="Patient, ServiceRequest (referral), EpisodeOfCare (entry) and Appointment (TCI) "
                         "resources (see docs/modules/waitinglist.md). All or nothing: a bad Bundle is a 400 "
                         "problem+json whose `errors` name each bad entry (0-based index) and field. An entry "
                         "whose pathway a recorded decision removed from the list is not applied: it is listed "
                         "in `notes` and the rest loads. An entry that changes nothing writes nothing.")
def import_fhir(request, bundle: Body[dict]):
    from django.http import JsonResponse

    from carecoord.integration import fhir

    organisation = getattr(request, "organisation", None)
    if not request.auth.has_perm("waitinglist.import", organisation):
        raise PermissionDenied("waitinglist.import")
    user = request.auth if getattr(request.auth, "pk", None) else None
    try:
        result = fhir.import_bundle(bundle, provider=organisation, auditor=_auditor(request), user=user)
    except fhir.FhirImportError as exc:
        return JsonResponse({"type": "about:blank", "title": "Invalid FHIR Bundle", "status": 400,
                             "detail": str(exc), "errors": [e.as_dict() for e in exc.errors]},
                            status=400, content_type="application/problem+json")
    from carecoord.validation.tasks import start_run

    start_run(organisation, trigger="import", user=user)  # as after a WLMDS import: validate the updated list
    return {"patients_created": result.patients_created, "pathways_created": result.pathways_created,
            "pathways_updated": result.pathways_updated, "pathways_unchanged": result.pathways_unchanged,
            "notes": [n.as_dict() for n in result.notes], "batch": result.batch.pk,
            "report": services.report_path(result.batch)}
