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
          "clock_state", "clock_stop", "clock_stop_status", "rtt_status", "waiting_list_type")
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
    assert (again.pathways_updated, again.pathways_unchanged) == (0, 2)
    assert Pathway.objects.count() == 2 and _state() == before


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


# ---------------------------------------------------------------- local patient identifiers


def test_a_patient_with_two_local_ids_at_the_provider_imports(trust):
    """A clock-starts WLMDS row can give a known patient a second LOCAL_PATIENT_IDENTIFIER at the
    provider; a FHIR import then matches on the Bundle's local id, or leaves the identifiers alone."""
    from carecoord.core.models import PatientIdentifier

    patient = patient_at(trust)
    PatientIdentifier.objects.create(patient=patient, organisation=trust, local_id="PAS-2")
    p = pathway_at(trust, patient)
    held = set(PatientIdentifier.objects.filter(patient=patient).values_list("organisation_id", "local_id"))
    bundle = fhir.export_bundle(patient, [p])
    local = [x["value"] for x in bundle["entry"][0]["resource"]["identifier"]
             if x["system"] == fhir.LOCAL_ID_SYSTEM + "RAA"]
    assert sorted(local) == sorted([f"MRN{patient.pk:08d}", "PAS-2"])
    fhir.import_bundle(copy.deepcopy(bundle), provider=trust, auditor=SYSTEM)
    without = copy.deepcopy(bundle)
    without["entry"][0]["resource"]["identifier"] = without["entry"][0]["resource"]["identifier"][:1]
    _entry(without, "ServiceRequest")[1]["code"] = {"coding": [{"system": fhir.OPCS_SYSTEM, "code": "W372"}]}
    assert fhir.import_bundle(without, provider=trust, auditor=SYSTEM).pathways_updated == 1
    assert set(PatientIdentifier.objects.filter(patient=patient).values_list("organisation_id", "local_id")) == held
    another = copy.deepcopy(bundle)
    another["entry"][0]["resource"]["identifier"].append({"system": fhir.LOCAL_ID_SYSTEM + "RAA", "value": "PAS-3"})
    fhir.import_bundle(another, provider=trust, auditor=SYSTEM)
    assert PatientIdentifier.objects.get(organisation=trust, local_id="PAS-3").patient == patient


def test_a_local_id_of_another_patient_is_refused(trust):
    patient, someone = patient_at(trust), patient_at(trust)
    bundle = fhir.export_bundle(patient, [pathway_at(trust, patient)])
    bundle["entry"][0]["resource"]["identifier"].append(
        {"system": fhir.LOCAL_ID_SYSTEM + "RAA", "value": f"MRN{someone.pk:08d}"})
    _refused(bundle, trust, "entry[0] Patient.identifier", "belongs to another patient")


# ---------------------------------------------------------------- removed pathways stay removed


def test_an_import_does_not_reopen_a_removed_pathway(client, trust, wlm):
    from carecoord.waitinglist.models import ClockEvent
    from carecoord.waitinglist.services import remove_from_list

    patient = patient_at(trust)
    p = pathway_at(trust, patient, rtt_start=date(2026, 6, 1), queue_date=date(2026, 6, 1))
    earlier = fhir.export_bundle(patient, [p])
    clinician = user_with_roles(trust, Role.CLINICIAN)
    remove_from_list(p, reason="treated", decided_by=clinician, rationale="Operated on", auditor=SYSTEM,
                     decided_on=date(2026, 11, 2))
    p.refresh_from_db()
    removed = Pathway.objects.filter(pk=p.pk).values().get()
    assert (p.status, p.clock_state, p.clock_stop, p.clock_stop_status) == ("removed", "stopped",
                                                                              date(2026, 11, 2), "30")
    client.force_login(wlm)
    r = client.post("/api/v1/imports/fhir", data=json.dumps(earlier), content_type="application/json")
    assert r.status_code == 200, r.content
    assert Pathway.objects.filter(pk=p.pk).values().get() == removed
    i_eoc = _entry(earlier, "EpisodeOfCare")[0]
    note = r.json()["notes"]
    assert [n["entry"] for n in note] == [i_eoc] and "removed from the list on 2 November 2026" in note[0]["msg"]
    assert "not reopened" in note[0]["msg"]
    batch = ImportBatch.objects.get(pk=r.json()["batch"])
    assert batch.status == "loaded" and batch.rows_rejected == 1 and batch.rows_loaded == 0
    assert list(batch.rejections.values_list("row_number", flat=True)) == [i_eoc]
    assert "removed from the list on 2 November 2026" in client.get(f"/imports/{batch.pk}/").content.decode()
    assert not ClockEvent.objects.filter(pathway=p, source="fhir").exists()
    # Its own export (EpisodeOfCare "cancelled") is a no-change round trip.
    again = fhir.import_bundle(fhir.export_bundle(patient, [p]), provider=trust, auditor=SYSTEM)
    assert again.pathways_unchanged == 1 and not again.notes
    assert Pathway.objects.filter(pk=p.pk).values().get() == removed


def test_an_import_does_not_reopen_a_clock_a_clinician_stopped(trust):
    from carecoord.waitinglist.services import record_clock_event

    patient = patient_at(trust)
    p = pathway_at(trust, patient, rtt_start=date(2026, 6, 1), queue_date=date(2026, 6, 1))
    earlier = fhir.export_bundle(patient, [p])
    record_clock_event(p, "10", date(2026, 6, 1), auditor=SYSTEM)
    record_clock_event(p, "32", date(2026, 10, 5), auditor=SYSTEM)  # active monitoring
    p.refresh_from_db()
    assert p.clock_state == "stopped"
    stopped = Pathway.objects.filter(pk=p.pk).values().get()
    result = fhir.import_bundle(earlier, provider=trust, auditor=SYSTEM)
    assert "stopped on 5 October 2026" in result.notes[0].message
    assert Pathway.objects.filter(pk=p.pk).values().get() == stopped


# ---------------------------------------------------------------- export then import changes nothing


WAITING_LIST_TYPES = ("ORTT", "IRTT", "ONON", "INON", "PTLO", "PTLI", "RTTO", "RTTI")
PRIORITIES = ("", "P1a", "P1b", "P2", "P3", "P4", "P5", "P6")


def _varied_pathways(trust, patient):
    """Pathways over every clock state, Waiting_List_Type and clinical priority (and the other fields
    the export carries, set and empty)."""
    from itertools import cycle, product

    from carecoord.core.models import ClinicalPriority
    from carecoord.integration.wlmds import ADMITTED

    ranks = dict(ClinicalPriority.objects.values_list("code", "rank"))
    priorities = cycle(PRIORITIES)
    made = []
    for n, (state, wlt) in enumerate(product(("open", "stopped", "nullified", "non_rtt", "unknown"),
                                             WAITING_LIST_TYPES)):
        start = date(2025, 1, 6) + (n * 7) * (date(2025, 1, 2) - date(2025, 1, 1))
        stop = {"stopped": date(2026, 9, 1), "nullified": start + (date(2025, 1, 31) - date(2025, 1, 1)),
                "non_rtt": date(2026, 3, 3) if n % 2 else None}.get(state)
        stop_status = {"stopped": "3" + "012456"[n % 6], "nullified": "33"}.get(state, "31" if stop else "")
        rtt_status = {"open": ("10", "11", "12", "20", "21")[n % 5], "non_rtt": "90", "unknown": ""}.get(state,
                                                                                                          stop_status)
        priority = next(priorities)
        made.append(pathway_at(
            trust, patient, tfc=("110", "130", "X02")[n % 3], waiting_list_type=wlt,
            list_type="admitted" if wlt in ADMITTED else ("planned" if wlt.startswith("PTL") else "non_admitted"),
            clock_state=state, rtt_start=None if state == "unknown" else start, rtt_status=rtt_status,
            clock_stop=stop, clock_stop_status=stop_status,
            queue_date=None if state == "unknown" else (start - (date(2025, 1, 9) - date(2025, 1, 1)) * (n % 2)),
            clinical_priority=priority, priority_rank=ranks.get(priority, 99), priority_type=("", "1", "2", "3")[n % 4],
            intended_procedure=("", "W371", "C751")[n % 3], consultant_code=("", "C7654321")[n % 2],
            referral_received=None if n % 7 == 0 else date(2025, 1, 2),
            tci_date=date(2027, 1, 4) if state == "open" and n % 2 else None,
            status="on_list" if state in ("open", "unknown") or n % 3 == 0 else "closed"))
    return made


def _rows():
    return {row["id"]: row for row in Pathway.objects.values()}


def test_export_then_import_changes_nothing(trust):
    from carecoord.waitinglist.models import ClockEvent

    patient = patient_at(trust)
    pathways = _varied_pathways(trust, patient)
    covered = {(p.clock_state, p.waiting_list_type) for p in pathways}
    assert len(covered) == 5 * 8 and {p.clinical_priority for p in pathways} == set(PRIORITIES)
    bundle = fhir.export_bundle(patient, pathways)
    rows, audit, events = _rows(), AuditLog.objects.count(), ClockEvent.objects.count()
    result = fhir.import_bundle(copy.deepcopy(bundle), provider=trust, auditor=SYSTEM)
    assert (result.pathways_created, result.pathways_updated, result.pathways_unchanged) == (0, 0, len(pathways))
    assert _rows() == rows, "an unchanged entry must write nothing"
    assert ClockEvent.objects.count() == events
    assert AuditLog.objects.count() == audit + 1  # the batch's own row only

    # Into a list that does not hold them: every field the export carries comes back as it was.
    exported = _state()
    Pathway.objects.all().delete()
    created = fhir.import_bundle(bundle, provider=trust, auditor=SYSTEM)
    assert created.pathways_created == len(pathways)
    assert _state() == exported


def test_an_entry_that_changes_one_field_changes_only_that_field(trust):
    patient = patient_at(trust)
    p = pathway_at(trust, patient, clinical_priority="P1a", priority_rank=1, waiting_list_type="PTLO",
                   list_type="planned")
    bundle = fhir.export_bundle(patient, [p])
    _entry(bundle, "ServiceRequest")[1]["category"][0]["coding"][0]["code"] = "130"
    before = Pathway.objects.filter(pk=p.pk).values().get()
    result = fhir.import_bundle(bundle, provider=trust, auditor=SYSTEM)
    after = Pathway.objects.filter(pk=p.pk).values().get()
    assert result.pathways_updated == 1
    assert {k for k in after if after[k] != before[k]} == {"tfc", "import_batch_id", "updated_at"}
    audited = AuditLog.objects.get(action="update", object_type="waitinglist.pathway")
    assert set(audited.after) == {"tfc", "import_batch_id", "updated_at"} and audited.after["tfc"] == "130"


def test_codes_are_read_whatever_their_case(trust):
    patient = patient_at(trust)
    p = pathway_at(trust, patient, clinical_priority="P1b", priority_rank=2)
    bundle = fhir.export_bundle(patient, [p])
    _entry(bundle, "ServiceRequest")[1]["orderDetail"][0]["coding"][0]["code"] = "p1B"
    eoc = _entry(bundle, "EpisodeOfCare")[1]
    eoc["type"][1]["coding"][0]["code"] = "ptli"
    fhir.import_bundle(bundle, provider=trust, auditor=SYSTEM)
    p.refresh_from_db()
    assert (p.clinical_priority, p.priority_rank, p.waiting_list_type) == ("P1b", 2, "PTLI")


def _typed_only(bundle, list_type=None, wlt=None):
    """The Bundle's EpisodeOfCare carrying only these codes (None: that coding left out)."""
    eoc = _entry(bundle, "EpisodeOfCare")[1]
    eoc["type"] = ([{"coding": [{"system": fhir.LIST_SYSTEM, "code": list_type}]}] if list_type else []) + (
        [{"coding": [{"system": fhir.WLMDS_LIST_SYSTEM, "code": wlt}]}] if wlt else [])
    return bundle


@pytest.mark.parametrize(("list_type", "clock_state", "stored"), [
    ("admitted", "open", ("admitted", "IRTT")),
    ("non_admitted", "open", ("non_admitted", "ORTT")),
    ("non_admitted", "unknown", ("non_admitted", "ORTT")),
    # Not an RTT list: no RTT code is made up for it (T20 and the RTT figures read the code).
    ("planned", "open", ("planned", "")),
    ("diagnostic", "open", ("diagnostic", "")),
    ("admitted", "non_rtt", ("admitted", "")),
    ("non_admitted", "non_rtt", ("non_admitted", "")),
    # Nothing about the list: as a WLMDS row without a Waiting_List_Type (non-admitted, no code).
    (None, "open", ("non_admitted", "")),
])
def test_without_a_waiting_list_type_a_code_is_stored_only_for_an_rtt_list(trust, list_type, clock_state, stored):
    patient = patient_at(trust)
    p = pathway_at(trust, patient, clock_state=clock_state, rtt_status="90" if clock_state == "non_rtt" else "20",
                   rtt_start=None if clock_state == "unknown" else date(2026, 5, 1))
    bundle = _typed_only(fhir.export_bundle(patient, [p]), list_type=list_type)
    Pathway.objects.all().delete()
    fhir.import_bundle(bundle, provider=trust, auditor=SYSTEM)
    assert Pathway.objects.values_list("list_type", "waiting_list_type").get() == stored


def test_a_list_without_a_waiting_list_type_round_trips_without_one(trust):
    patient = patient_at(trust)
    pathways = [pathway_at(trust, patient, list_type=lt, waiting_list_type="") for lt in ("planned", "diagnostic")]
    rows = _rows()
    result = fhir.import_bundle(fhir.export_bundle(patient, pathways), provider=trust, auditor=SYSTEM)
    assert result.pathways_unchanged == 2 and _rows() == rows


@pytest.mark.parametrize(("wlt", "list_type"), [  # as test_wlmds's test_list_types_and_clock_states
    ("IRTT", "admitted"), ("RTTI", "admitted"), ("INON", "admitted"), ("PTLO", "planned"), ("PTLI", "planned"),
    ("ORTT", "non_admitted"), ("RTTO", "non_admitted"), ("ONON", "non_admitted"),
])
def test_a_waiting_list_type_alone_sets_the_list_type_as_a_wlmds_row_does(trust, wlt, list_type):
    patient = patient_at(trust)
    bundle = _typed_only(fhir.export_bundle(patient, [pathway_at(trust, patient)]), wlt=wlt)
    Pathway.objects.all().delete()
    fhir.import_bundle(bundle, provider=trust, auditor=SYSTEM)
    assert Pathway.objects.values_list("list_type", "waiting_list_type").get() == (list_type, wlt)


# ---------------------------------------------------------------- the importer's date rules, clock events


@pytest.mark.parametrize(("where", "value", "why"), [
    ("EpisodeOfCare.period.start", "9999-12-31", "placeholder"),
    ("EpisodeOfCare.period.start", "1900-01-01", "placeholder"),
    ("EpisodeOfCare.period.start", "1850-06-01", "placeholder"),
    ("EpisodeOfCare.period.start", "2999-12-31", "placeholder"),
    ("EpisodeOfCare.period.start", "2026-12-25", "after today"),
    ("EpisodeOfCare.period.end", "9999-12-31", "placeholder"),
    ("ServiceRequest.authoredOn", "1900-01-01", "placeholder"),
    ("Appointment.start", "2040-01-02T08:00:00+00:00", "more than 5 years"),
    ("Appointment.start", "9999-12-31T08:00:00+00:00", "placeholder"),
    ("Patient.birthDate", "1900-01-01", "placeholder"),
])
def test_the_importers_date_rules_apply(trust, where, value, why):
    from unittest import mock

    patient = patient_at(trust)
    p = pathway_at(trust, patient, rtt_start=date(2026, 5, 1), tci_date=date(2026, 12, 14),
                   clock_state="stopped", clock_stop=date(2026, 9, 1), clock_stop_status="30", rtt_status="30")
    bundle = fhir.export_bundle(patient, [p])
    kind, path = where.split(".", 1)
    i, res = _entry(bundle, kind)
    if path.startswith("period."):
        res["period"][path.split(".")[1]] = value
    else:
        res[path] = value
    with mock.patch("django.utils.timezone.localdate", return_value=date(2026, 11, 29)):
        errors = _refused(bundle, trust, f"entry[{i}] {where}", why)
    assert len(errors) == 1


def test_imported_pathways_have_clock_events_like_wlmds_ones(trust):
    from carecoord.waitinglist import clock
    from carecoord.waitinglist.models import ClockEvent

    patient = patient_at(trust)
    running = pathway_at(trust, patient, rtt_start=date(2026, 3, 2), rtt_status="11")
    stopped = pathway_at(trust, patient, rtt_start=date(2026, 3, 9), rtt_status="30", clock_state="stopped",
                         clock_stop=date(2026, 8, 3), clock_stop_status="30", status="closed")
    dna = pathway_at(trust, patient, rtt_start=date(2026, 4, 6), rtt_status="33", clock_state="nullified",
                     clock_stop=date(2026, 5, 4), clock_stop_status="33", status="closed")
    bundle = fhir.export_bundle(patient, [running, stopped, dna])
    Pathway.objects.all().delete()
    batch = fhir.import_bundle(bundle, provider=trust, auditor=SYSTEM).batch
    events = {(e.pathway.ppid, e.event_date, e.status) for e in ClockEvent.objects.select_related("pathway")}
    assert events == {(running.ppid, date(2026, 3, 2), "11"),
                      (stopped.ppid, date(2026, 3, 9), "10"), (stopped.ppid, date(2026, 8, 3), "30"),
                      (dna.ppid, date(2026, 5, 4), "33")}  # 33 nullifies only as the first RTT event
    assert set(ClockEvent.objects.values_list("source", "source_system", "import_batch")) == {
        ("fhir", "fhir", batch.pk)}
    clock_fields = ("rtt_start", "clock_state", "clock_stop", "clock_stop_status")
    for p in Pathway.objects.all():
        imported = tuple(getattr(p, f) for f in clock_fields)
        assert tuple(getattr(clock.recompute(p, auditor=SYSTEM), f) for f in clock_fields) == imported


def test_a_clock_stop_needs_its_status(trust):
    patient = patient_at(trust)
    bundle = fhir.export_bundle(patient, [pathway_at(trust, patient, rtt_start=date(2026, 5, 1))])
    i, eoc = _entry(bundle, "EpisodeOfCare")
    eoc["period"]["end"] = "2026-06-01"
    eoc["extension"] = [x for x in eoc["extension"] if x["url"] != fhir.CLOCK_STATE_URL]
    _refused(copy.deepcopy(bundle), trust, f"entry[{i}] EpisodeOfCare.extension(rtt-stop-status)")
    eoc["extension"].append({"url": fhir.STOP_STATUS_URL, "valueCode": "33"})
    fhir.import_bundle(bundle, provider=trust, auditor=SYSTEM)
    assert Pathway.objects.get().clock_state == "nullified"


# ---------------------------------------------------------------- scope


def test_an_import_touches_only_the_importing_providers_pathways(trust, other_trust):
    patient = patient_at(trust)
    theirs = pathway_at(trust, patient, tfc="110", ppid="SHARED-1", ppid_issuer="RAA")
    before = Pathway.objects.filter(pk=theirs.pk).values().get()
    bundle = fhir.export_bundle(patient, [theirs])
    i, eoc = _entry(bundle, "EpisodeOfCare")
    del eoc["managingOrganization"]  # nothing in the Bundle names a provider: it is the importer's
    _entry(bundle, "ServiceRequest")[1]["category"][0]["coding"][0]["code"] = "130"
    result = fhir.import_bundle(bundle, provider=other_trust, auditor=SYSTEM)
    assert result.pathways_created == 1
    assert Pathway.objects.filter(pk=theirs.pk).values().get() == before
    mine = Pathway.objects.get(provider=other_trust)
    assert (mine.ppid, mine.ppid_issuer, mine.tfc) == ("SHARED-1", "RAA", "130")


# ---------------------------------------------------------------- the report


def test_a_bad_nhs_number_is_reported_once_against_the_patient(client, trust, wlm):
    patient = patient_at(trust)
    bundle = fhir.export_bundle(patient, [pathway_at(trust, patient) for _ in range(3)])
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = "1234567890"
    i_sr, sr = _entry(bundle, "ServiceRequest", 1)
    sr["category"] = []
    errors = _refused(bundle, trust)
    assert [(e.entry, e.field) for e in errors] == [(0, "Patient.identifier"), (i_sr, "ServiceRequest.category")]
    batch = ImportBatch.objects.get(kind="fhir")
    assert batch.rows_rejected == 2 and batch.rows_read == len(bundle["entry"])
    client.force_login(wlm)
    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert "FHIR R4 bundle" in page and "Column mapping" not in page and "Standard WLMDS names" not in page
    assert "Row 1 is the first row after the header" not in page
    assert "Entry 0 is the first entry of the bundle" in page and "2 problems in 2 entries" in page


def test_a_non_rtt_pathway_gets_no_clock_start_event_as_in_a_wlmds_load(trust):
    """The importers share one rule for start events: a non-RTT pathway has none (the RTT kernel would
    read one as an open clock), an RTT one has its start."""
    from carecoord.waitinglist.models import ClockEvent

    patient = patient_at(trust)
    pathways = [pathway_at(trust, patient, rtt_start=date(2026, 6, 1), clock_state="non_rtt", waiting_list_type="ONON"),
                pathway_at(trust, patient, rtt_start=date(2026, 6, 1))]
    bundle = fhir.export_bundle(patient, pathways)
    Pathway.objects.all().delete()
    fhir.import_bundle(bundle, provider=trust, auditor=SYSTEM)
    events = {p.clock_state: list(p.clock_events.values_list("event_date", "status")) for p in Pathway.objects.all()}
    assert events == {"non_rtt": [], "open": [(date(2026, 6, 1), "10")]}
    assert ClockEvent.objects.count() == 1
