"""FHIR R4 (R4B models): export a patient's waiting-list entries as a Bundle, import it back,
and refuse bad Bundles naming the entry and field."""

import copy
from datetime import date

import pytest

from carecoord.core.services.audit import Auditor
from carecoord.integration import fhir
from carecoord.testing.factories import pathway_at, patient_at
from carecoord.waitinglist.models import Pathway

pytestmark = pytest.mark.django_db
FIELDS = ("ppid", "ppid_issuer", "tfc", "rtt_start", "referral_received", "intended_procedure", "clinical_priority",
          "priority_rank", "list_type", "tci_date", "status")


def test_round_trip_recreates_the_same_pathways(trust):
    patient = patient_at(trust)
    a = pathway_at(trust, patient, tfc="110", intended_procedure="W371", clinical_priority="P2", priority_rank=3,
                   tci_date=date(2026, 12, 14), rtt_start=date(2026, 5, 1), referral_received=date(2026, 5, 1))
    b = pathway_at(trust, patient, tfc="130", list_type="non_admitted", rtt_start=date(2026, 8, 3),
                   referral_received=date(2026, 8, 1))
    before = {p.ppid: tuple(getattr(p, f) for f in FIELDS) for p in (a, b)}
    bundle = fhir.export_bundle(patient, [a, b])
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("EpisodeOfCare") == 2 and "Appointment" in kinds and kinds[0] == "Patient"
    Pathway.objects.all().delete()
    result = fhir.import_bundle(copy.deepcopy(bundle), provider=trust, auditor=Auditor.system("test"))
    assert result.pathways_created == 2 and result.patients_created == 0
    after = {p.ppid: tuple(getattr(p, f) for f in FIELDS) for p in Pathway.objects.all()}
    assert after == before
    again = fhir.import_bundle(bundle, provider=trust, auditor=Auditor.system("test"))
    assert again.pathways_updated == 2 and Pathway.objects.count() == 2


def test_bad_bundles_are_refused_naming_entry_and_field(trust):
    patient = patient_at(trust)
    bundle = fhir.export_bundle(patient, [pathway_at(trust, patient)])
    broken = copy.deepcopy(bundle)
    broken["entry"][0]["resource"]["birthDate"] = "31/02/1960"
    with pytest.raises(fhir.FhirImportError, match=r"entry\[0\] Patient.birthDate"):
        fhir.import_bundle(broken, provider=trust, auditor=Auditor.system("test"))
    no_nhs = copy.deepcopy(bundle)
    no_nhs["entry"][0]["resource"]["identifier"] = []
    with pytest.raises(fhir.FhirImportError, match="NHS number"):
        fhir.import_bundle(no_nhs, provider=trust, auditor=Auditor.system("test"))
    with pytest.raises(fhir.FhirImportError, match="Bundle"):
        fhir.import_bundle({"resourceType": "Patient"}, provider=trust, auditor=Auditor.system("test"))


def test_another_providers_entries_are_refused(trust, other_trust):
    patient = patient_at(trust)
    bundle = fhir.export_bundle(patient, [pathway_at(trust, patient)])
    Pathway.objects.all().delete()
    with pytest.raises(fhir.FhirImportError, match="is not RBB"):
        fhir.import_bundle(bundle, provider=other_trust, auditor=Auditor.system("test"))
    assert not Pathway.objects.exists()


def test_api_round_trip_is_scoped_and_audited(client, trust, other_trust, wlm):
    import json

    from carecoord.core.models import AuditLog

    patient = patient_at(trust)
    p = pathway_at(trust, patient)
    client.force_login(wlm)
    r = client.get(f"/api/v1/waiting-list/patients/{patient.pk}/fhir")
    assert r.status_code == 200 and r.json()["resourceType"] == "Bundle"
    assert AuditLog.objects.filter(action="view", object_type="core.patient", object_id=str(patient.pk)).exists()
    theirs = patient_at(other_trust)
    pathway_at(other_trust, theirs)
    assert client.get(f"/api/v1/waiting-list/patients/{theirs.pk}/fhir").status_code == 404
    bundle = r.json()
    Pathway.objects.filter(pk=p.pk).delete()
    imported = client.post("/api/v1/imports/fhir", data=json.dumps(bundle), content_type="application/json")
    assert imported.status_code == 200 and imported.json()["pathways_created"] == 1
    bad = client.post("/api/v1/imports/fhir", data=json.dumps({"resourceType": "Bundle", "entry": []}),
                      content_type="application/json")
    assert bad.status_code == 400 and "EpisodeOfCare" in bad.json()["detail"]
