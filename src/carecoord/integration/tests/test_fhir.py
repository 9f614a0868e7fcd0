"""FHIR R4 (R4B models): export a patient's waiting-list entries as a Bundle, import it back,
and refuse bad Bundles naming the entry and field, writing nothing."""

import copy
import json
from datetime import date

import pytest

from carecoord.core.models import AuditLog, Patient, Role
from carecoord.core.services.audit import Auditor
from carecoord.integration import fhir
from carecoord.integration.models import ImportBatch
from carecoord.testing.factories import pathway_at, patient_at, user_with_roles
from carecoord.waitinglist.models import Pathway

pytestmark = pytest.mark.django_db
FIELDS = ("ppid", "ppid_issuer", "tfc", "rtt_start", "referral_received", "intended_procedure", "clinical_priority",
          "priority_rank", "priority_type", "list_type", "tci_date", "status", "queue_date", "consultant_code",
          "clock_state", "clock_stop", "clock_stop_status", "rtt_status")
SYSTEM = Auditor.system("test")


def _state():
    return {p.ppid: tuple(getattr(p, f) for f in FIELDS) for p in Pathway.objects.all()}


def _entry(bundle, kind, n=0):
    """(index, resource) of the n-th resource of this kind in the Bundle."""
    found = [(i, e["resource"]) for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == kind]
    return found[n]


def _refused(bundle, provider, *patterns):
    before = _state()
    with pytest.raises(fhir.FhirImportError) as caught:
        fhir.import_bundle(bundle, provider=provider, auditor=SYSTEM)
    text = str(caught.value)
    for pattern in patterns:
        assert pattern in text, f"{pattern!r} not in {text!r}"
    assert _state() == before, "a refused Bundle must change nothing"
    return caught.value.errors


@pytest.fixture
def two_entries(trust):
    patient = patient_at(trust)
    # After active monitoring the clock restarted (rtt_start) but the patient kept their place (queue_date).
    a = pathway_at(trust, patient, tfc="110", intended_procedure="W371", clinical_priority="P2", priority_rank=3,
                   tci_date=date(2026, 12, 14), rtt_start=date(2026, 5, 1), queue_date=date(2025, 11, 3),
                   referral_received=date(2025, 11, 1), priority_type="3", consultant_code="C7654321")
    b = pathway_at(trust, patient, tfc="130", list_type="non_admitted", rtt_start=date(2026, 8, 3),
                   referral_received=date(2026, 8, 1), clock_state="stopped", clock_stop=date(2026, 9, 14),
                   clock_stop_status="30", rtt_status="30", status="closed")
    return patient, a, b


def test_round_trip_recreates_the_same_pathways(trust, two_entries):
    patient, a, b = two_entries
    before = _state()
    bundle = fhir.export_bundle(patient, [a, b])
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("EpisodeOfCare") == 2 and kinds.count("Appointment") == 1 and kinds[0] == "Patient"
    Pathway.objects.all().delete()
    result = fhir.import_bundle(copy.deepcopy(bundle), provider=trust, auditor=SYSTEM)
    assert result.pathways_created == 2 and result.patients_created == 0
    assert _state() == before
    assert set(Pathway.objects.values_list("patient_id", flat=True)) == {patient.pk}
    again = fhir.import_bundle(bundle, provider=trust, auditor=SYSTEM)
    assert again.pathways_updated == 2 and Pathway.objects.count() == 2 and _state() == before


def test_round_trip_into_a_clean_database_creates_the_patient(trust, two_entries):
    patient, a, b = two_entries
    bundle = fhir.export_bundle(patient, [a, b])
    before = _state()
    nhs_number, born = patient.nhs_number, patient.birth_date
    Pathway.objects.all().delete()
    Patient.objects.filter(pk=patient.pk).delete()
    result = fhir.import_bundle(bundle, provider=trust, auditor=SYSTEM)
    assert result.patients_created == 1 and result.pathways_created == 2
    assert _state() == before
    recreated = Patient.objects.get(nhs_number=nhs_number)
    assert recreated.birth_date == born and trust.patients.filter(pk=recreated.pk).exists()


def test_import_is_recorded_and_audited(trust, two_entries):
    patient, a, b = two_entries
    bundle = fhir.export_bundle(patient, [a, b])
    Pathway.objects.all().delete()
    result = fhir.import_bundle(bundle, provider=trust, auditor=SYSTEM)
    batch = ImportBatch.objects.get(pk=result.batch.pk)
    assert (batch.kind, batch.status, batch.provider, batch.rows_loaded, batch.pathways_created) == (
        "fhir", "loaded", trust, 2, 2)
    assert set(Pathway.objects.values_list("import_batch", flat=True)) == {batch.pk}
    created = AuditLog.objects.filter(action="create", object_type="waitinglist.pathway")
    assert created.count() == 2


def test_an_update_without_a_queue_date_keeps_the_patients_place(trust, two_entries):
    patient, a, b = two_entries
    bundle = fhir.export_bundle(patient, [a])
    del _entry(bundle, "EpisodeOfCare")[1]["extension"]
    fhir.import_bundle(bundle, provider=trust, auditor=SYSTEM)
    a.refresh_from_db()
    assert a.queue_date == date(2025, 11, 3) and a.rtt_start == date(2026, 5, 1)


def test_bad_bundles_are_refused_naming_entry_and_field(trust):
    patient = patient_at(trust)
    bundle = fhir.export_bundle(patient, [pathway_at(trust, patient)])
    broken = copy.deepcopy(bundle)
    broken["entry"][0]["resource"]["birthDate"] = "31/02/1960"
    _refused(broken, trust, "entry[0] Patient.birthDate")
    no_nhs = copy.deepcopy(bundle)
    no_nhs["entry"][0]["resource"]["identifier"] = []
    _refused(no_nhs, trust, "entry[0] Patient.identifier", "NHS number")
    bad_nhs = copy.deepcopy(bundle)
    bad_nhs["entry"][0]["resource"]["identifier"][0]["value"] = "1234567890"
    _refused(bad_nhs, trust, "entry[0] Patient.identifier")
    _refused({"resourceType": "Patient"}, trust, "Bundle")
    _refused({"resourceType": "Bundle", "type": "collection", "entry": []}, trust, "no EpisodeOfCare")
    _refused("not json object", trust, "Bundle")


def test_every_problem_is_reported_at_once_with_its_entry(trust):
    patient = patient_at(trust)
    bundle = fhir.export_bundle(patient, [pathway_at(trust, patient, tci_date=date(2026, 12, 1))])
    i_sr, sr = _entry(bundle, "ServiceRequest")
    i_eoc, eoc = _entry(bundle, "EpisodeOfCare")
    sr["category"][0]["coding"][0]["code"] = "1"
    sr["orderDetail"] = [{"coding": [{"system": fhir.PRIORITY_SYSTEM, "code": "P9"}]}]
    eoc["type"][0]["coding"][0]["code"] = "urgent-list"
    eoc["period"]["start"] = "2026-05"
    errors = _refused(bundle, trust)
    where = {(e.entry, e.field) for e in errors}
    assert {(i_sr, "ServiceRequest.category"), (i_sr, "ServiceRequest.orderDetail"), (i_eoc, "EpisodeOfCare.type"),
            (i_eoc, "EpisodeOfCare.period.start")} <= where
    assert any("P9" in e.message for e in errors) and any("full date" in e.message for e in errors)
    rejected = ImportBatch.objects.get(kind="fhir")
    assert rejected.status == "rejected" and rejected.rejections.count() == len(errors)


def test_structural_problems_name_the_entry(trust):
    patient = patient_at(trust)
    p = pathway_at(trust, patient)
    bundle = fhir.export_bundle(patient, [p])
    Pathway.objects.all().delete()
    i_eoc, eoc = _entry(bundle, "EpisodeOfCare")
    twice = copy.deepcopy(bundle)
    twice["entry"].append(copy.deepcopy(twice["entry"][i_eoc]))
    twice["entry"][-1]["resource"]["id"] = "entry-copy"
    twice["entry"][-1]["fullUrl"] = "urn:carecoord:EpisodeOfCare/entry-copy"
    _refused(twice, trust, f"entry[{len(twice['entry']) - 1}] EpisodeOfCare.identifier",
             f"also in entry[{i_eoc}]")
    unknown = copy.deepcopy(bundle)
    unknown["entry"].append({"resource": {"resourceType": "Spaceship", "id": "x"}})
    _refused(unknown, trust, f"entry[{len(unknown['entry']) - 1}] resourceType", "Spaceship")
    junk = copy.deepcopy(bundle)
    junk["entry"].insert(0, ["not", "an", "entry"])
    _refused(junk, trust, "entry[0] resource")
    dangling = copy.deepcopy(bundle)
    _entry(dangling, "EpisodeOfCare")[1]["referralRequest"] = [{"reference": "ServiceRequest/nowhere"}]
    _refused(dangling, trust, "EpisodeOfCare.referralRequest")
    assert not Pathway.objects.exists()


def test_another_providers_entries_are_refused(trust, other_trust):
    patient = patient_at(trust)
    bundle = fhir.export_bundle(patient, [pathway_at(trust, patient)])
    Pathway.objects.all().delete()
    _refused(bundle, other_trust, "EpisodeOfCare.managingOrganization", "is not RBB")
    assert not Pathway.objects.exists()


def test_api_round_trip_is_scoped_and_audited(client, trust, other_trust, wlm):
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
    assert ImportBatch.objects.get(pk=imported.json()["batch"]).started_by == wlm


def test_api_refusal_is_problem_json_naming_entry_and_field(client, trust, wlm):
    patient = patient_at(trust)
    bundle = fhir.export_bundle(patient, [pathway_at(trust, patient)])
    i_sr, sr = _entry(bundle, "ServiceRequest")
    sr["category"] = []
    client.force_login(wlm)
    bad = client.post("/api/v1/imports/fhir", data=json.dumps(bundle), content_type="application/json")
    assert bad.status_code == 400 and bad["Content-Type"] == "application/problem+json"
    assert {"entry": i_sr, "field": "ServiceRequest.category"}.items() <= bad.json()["errors"][0].items()
    empty = client.post("/api/v1/imports/fhir", data=json.dumps({"resourceType": "Bundle", "entry": []}),
                        content_type="application/json")
    assert empty.status_code == 400 and "EpisodeOfCare" in empty.json()["detail"]


def test_api_import_needs_the_import_permission(client, trust):
    patient = patient_at(trust)
    bundle = fhir.export_bundle(patient, [pathway_at(trust, patient)])
    Pathway.objects.all().delete()
    client.force_login(user_with_roles(trust, Role.CLINICIAN))
    r = client.post("/api/v1/imports/fhir", data=json.dumps(bundle), content_type="application/json")
    assert r.status_code == 403 and not Pathway.objects.exists()


def test_a_rejected_bundle_is_listed_with_its_report(client, trust, wlm):
    patient = patient_at(trust)
    bundle = fhir.export_bundle(patient, [pathway_at(trust, patient)])
    _entry(bundle, "ServiceRequest")[1]["category"] = []
    client.force_login(wlm)
    client.post("/api/v1/imports/fhir", data=json.dumps(bundle), content_type="application/json")
    batch = ImportBatch.objects.get(kind="fhir")
    assert batch.status == "rejected" and batch.started_by == wlm
    listing = client.get("/imports/")
    assert listing.status_code == 200 and f"/imports/{batch.pk}/" in listing.content.decode()
    report = client.get(f"/imports/{batch.pk}/")
    assert report.status_code == 200 and "ServiceRequest.category" in report.content.decode()
    rows = client.get(f"/imports/{batch.pk}/rejections.csv").content.decode()
    assert "ServiceRequest.category" in rows


def test_clock_fields_are_checked(trust):
    patient = patient_at(trust)
    bundle = fhir.export_bundle(patient, [pathway_at(trust, patient, rtt_start=date(2026, 5, 1))])
    i, eoc = _entry(bundle, "EpisodeOfCare")
    eoc["period"]["end"] = "2026-04-30"
    eoc["extension"].append({"url": fhir.RTT_STATUS_URL, "valueCode": "X"})
    errors = _refused(bundle, trust, "before the clock start", "not a 2-digit RTT status code")
    assert {e.entry for e in errors} == {i}


def test_an_icb_exports_across_the_providers_that_granted_it(client, icb, trust, other_trust):
    from carecoord.core.models import DataSharingGrant

    patient = patient_at(trust)
    pathway_at(trust, patient, tfc="110")
    pathway_at(other_trust, patient, tfc="110")
    client.force_login(user_with_roles(icb, Role.HUB_COORDINATOR))
    url = f"/api/v1/waiting-list/patients/{patient.pk}/fhir"
    assert client.get(url).status_code == 404  # no grant: the patient is not visible
    DataSharingGrant.objects.create(grantor=trust, grantee=icb, scope="patient", purpose="system PTL")
    only_trust = [e["resource"]["managingOrganization"]["identifier"]["value"]
                  for e in client.get(url).json()["entry"] if e["resource"]["resourceType"] == "EpisodeOfCare"]
    assert only_trust == ["RAA"]
    DataSharingGrant.objects.create(grantor=other_trust, grantee=icb, scope="patient", purpose="system PTL")
    both = [e["resource"]["managingOrganization"]["identifier"]["value"]
            for e in client.get(url).json()["entry"] if e["resource"]["resourceType"] == "EpisodeOfCare"]
    assert sorted(both) == ["RAA", "RBB"]
