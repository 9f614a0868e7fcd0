"""Import routes in the access matrix."""

from django.core.files.uploadedfile import SimpleUploadedFile

from carecoord.core.models import Role
from carecoord.integration.models import ImportBatch, ImportRejection, MappingProfile
from carecoord.testing.access import Route, register

IMPORT = frozenset({Role.WAITING_LIST_MANAGER, Role.ORG_ADMIN})


def _setup(s):
    if "own_batch" in s:
        return
    for key in ("own", "other"):
        batch = ImportBatch.objects.create(provider=s[key], filename=f"{key}.csv", sha256="0" * 64,
                                           mode="good-rows", status="loaded", rows_read=1, rows_rejected=1)
        patient = s[f"{key}_patient"]
        ImportRejection.objects.create(batch=batch, row_number=1, field="NHS_NUMBER", value=patient.nhs_number,
                                       reason="duplicate")
        s[f"{key}_batch"] = batch
        s[f"{key}_profile"] = MappingProfile.objects.create(organisation=s[key], name=f"{key} PAS",
                                                            columns={"NHS_NUMBER": "NHS No"})


def _upload(s):
    from carecoord.integration.tests import wlmds_files as wf

    row = wf.open_row(7, provider=s["own"].ods_code)
    text = ",".join(row) + "\n" + ",".join(row.values()) + "\n"
    return {"file": SimpleUploadedFile("w.csv", text.encode(), content_type="text/csv"),
            "provider": s["own"].ods_code, "mode": "good-rows"}


register(Route("integration:imports", lambda s: "/imports/", IMPORT, setup=_setup))
register(Route("integration:report", lambda s: f"/imports/{s['own_batch'].pk}/", IMPORT, setup=_setup,
               other_url=lambda s: f"/imports/{s['other_batch'].pk}/"))
register(Route("integration:report_csv", lambda s: f"/imports/{s['own_batch'].pk}/rejections.csv", IMPORT,
               setup=_setup, other_url=lambda s: f"/imports/{s['other_batch'].pk}/rejections.csv"))
register(Route("integration:profiles", lambda s: "/imports/profiles/", IMPORT, setup=_setup, patient_level=False))
register(Route("integration:profile_create", lambda s: "/imports/profiles/new/", IMPORT, patient_level=False))
register(Route("integration:profile_edit", lambda s: f"/imports/profiles/{s['own_profile'].pk}/", IMPORT,
               setup=_setup, patient_level=False, other_url=lambda s: f"/imports/profiles/{s['other_profile'].pk}/"))
register(Route("api:imports", lambda s: "/api/v1/imports/", IMPORT, method="post", data=_upload, api=True,
               setup=_setup))
