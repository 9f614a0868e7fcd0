"""FHIR R4 exchange of waiting-list entries, validated with `fhir.resources` (its R4B models: R4B is
the R4 technical correction, wire-compatible for Patient, ServiceRequest, EpisodeOfCare and
Appointment).

A pathway maps to:
- `Patient` — NHS number (https://fhir.nhs.uk/Id/nhs-number), birth date, gender, postcode district;
- `ServiceRequest` — the referral: PPID identifier (system per issuer), authoredOn = referral received,
  category = treatment function, code = intended procedure (OPCS-4), priority (routine / urgent),
  orderDetail = clinical priority (P-code), performer = the provider's ODS code;
- `EpisodeOfCare` — the waiting-list entry: same PPID identifier, status waitlist / finished,
  period.start = RTT clock start, type = list type, managingOrganization = provider, referralRequest;
- `Appointment` — the TCI date when one is booked.

`export_bundle(patient, pathways)` writes a `collection` Bundle; `import_bundle(data, provider=...)`
reads one back into pathways (all-or-nothing; errors name the entry index and the field).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.utils import timezone

from carecoord.core import nhs_number as nhs
from carecoord.core.models import Organisation, Patient, PatientIdentifier
from carecoord.core.services.audit import Auditor, snapshot
from carecoord.waitinglist.models import ListType, Pathway, PathwayStatus

NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
PPID_SYSTEM = "https://carecoord.nhs.example/Id/ppid/"  # + issuer ODS code
TFC_SYSTEM = "https://fhir.nhs.uk/CodeSystem/NHSDataModelAndDictionary-treatment-function"
OPCS_SYSTEM = "http://fhir.nhs.net/CodeSystem/opcs-4"
PRIORITY_SYSTEM = "https://carecoord.nhs.example/CodeSystem/clinical-priority"
LIST_SYSTEM = "https://carecoord.nhs.example/CodeSystem/waiting-list-type"
GENDER = {"1": "male", "2": "female", "9": "unknown", "0": "unknown"}
SEX = {"male": "1", "female": "2", "other": "9", "unknown": "0"}


class FhirImportError(ValueError):
    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors[:20]))


def _validate(resource: dict):
    from fhir.resources.R4B import get_fhir_model_class

    cls = get_fhir_model_class(resource.get("resourceType", ""))
    return cls.model_validate(resource)


def _patient(p: Patient) -> dict:
    res = {"resourceType": "Patient", "id": f"patient-{p.pk}"}
    if p.nhs_number:
        res["identifier"] = [{"system": NHS_SYSTEM, "value": p.nhs_number}]
    if p.birth_date:
        res["birthDate"] = p.birth_date.isoformat()
    res["gender"] = GENDER.get(p.sex, "unknown")
    if p.postcode_district:
        res["address"] = [{"postalCode": p.postcode_district}]
    return res


def _pathway_resources(p: Pathway, patient_ref: str) -> list[dict]:
    ident = [{"system": PPID_SYSTEM + p.ppid_issuer, "value": p.ppid}]
    org = {"identifier": {"system": ODS_SYSTEM, "value": p.provider.ods_code}}
    sr = {"resourceType": "ServiceRequest", "id": f"referral-{p.pk}", "identifier": ident,
          "status": "active" if p.status == PathwayStatus.ON_LIST else "completed", "intent": "order",
          "subject": {"reference": patient_ref}, "performer": [org],
          "category": [{"coding": [{"system": TFC_SYSTEM, "code": p.tfc}]}],
          "priority": "urgent" if p.priority_type in ("2", "3") else "routine"}
    if p.referral_received:
        sr["authoredOn"] = p.referral_received.isoformat()
    if p.intended_procedure:
        sr["code"] = {"coding": [{"system": OPCS_SYSTEM, "code": p.intended_procedure}]}
    if p.clinical_priority:
        sr["orderDetail"] = [{"coding": [{"system": PRIORITY_SYSTEM, "code": p.clinical_priority}]}]
    eoc = {"resourceType": "EpisodeOfCare", "id": f"entry-{p.pk}", "identifier": ident,
           "status": "waitlist" if p.status == PathwayStatus.ON_LIST else "finished",
           "type": [{"coding": [{"system": LIST_SYSTEM, "code": p.list_type}]}],
           "patient": {"reference": patient_ref}, "managingOrganization": org,
           "referralRequest": [{"reference": f"ServiceRequest/referral-{p.pk}"}]}
    if p.rtt_start:
        eoc["period"] = {"start": p.rtt_start.isoformat()}
    out = [sr, eoc]
    if p.tci_date:
        out.append({"resourceType": "Appointment", "id": f"tci-{p.pk}", "status": "booked",
                    "start": f"{p.tci_date.isoformat()}T08:00:00+00:00", "end": f"{p.tci_date.isoformat()}T18:00:00+00:00",
                    "basedOn": [{"reference": f"ServiceRequest/referral-{p.pk}"}],
                    "participant": [{"actor": {"reference": patient_ref}, "status": "accepted"}],
                    "description": "To come in (admission for the intended procedure)"})
    return out


def export_bundle(patient: Patient, pathways) -> dict:
    """A `collection` Bundle of the patient and their waiting-list entries (validated)."""
    entries = [_patient(patient)]
    for p in pathways:
        entries.extend(_pathway_resources(p, f"Patient/patient-{patient.pk}"))
    bundle = {"resourceType": "Bundle", "type": "collection", "timestamp": timezone.now().isoformat(),
              "entry": [{"fullUrl": f"urn:carecoord:{r['resourceType']}/{r['id']}", "resource": r} for r in entries]}
    _validate(bundle)
    return bundle


@dataclass
class ImportResult:
    patients_created: int = 0
    pathways_created: int = 0
    pathways_updated: int = 0
    errors: list[str] = field(default_factory=list)


def _code(concepts, system: str) -> str:
    for c in concepts or []:
        for coding in (c.get("coding") or []):
            if coding.get("system") == system and coding.get("code"):
                return str(coding["code"])
    return ""


def import_bundle(data: dict, *, provider: Organisation, auditor: Auditor) -> ImportResult:
    """Read a Bundle into `provider`'s pathways, all or nothing."""
    errors: list[str] = []
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise FhirImportError(["the body must be a FHIR Bundle (resourceType 'Bundle')"])
    entries = data.get("entry") or []
    by_ref: dict[str, dict] = {}
    for i, e in enumerate(entries):
        res = (e or {}).get("resource") or {}
        try:
            _validate(res)
        except Exception as exc:  # pydantic ValidationError: name the entry and the first bad field
            first = getattr(exc, "errors", lambda: [{}])()[:1]
            where = ".".join(str(x) for x in first[0].get("loc", ())) if first else ""
            errors.append(f"entry[{i}] {res.get('resourceType', '?')}{('.' + where) if where else ''}: "
                          f"{first[0].get('msg', str(exc)) if first else exc}")
            continue
        rid = res.get("id")
        if rid:
            by_ref[f"{res['resourceType']}/{rid}"] = res
        if e.get("fullUrl"):
            by_ref[e["fullUrl"]] = res
    episodes = [(i, (e.get("resource") or {})) for i, e in enumerate(entries)
                if (e.get("resource") or {}).get("resourceType") == "EpisodeOfCare"]
    if not episodes and not errors:
        errors.append("the Bundle holds no EpisodeOfCare (waiting-list entry)")
    plans = []
    for i, eoc in episodes:
        ident = next((x for x in eoc.get("identifier") or [] if str(x.get("system", "")).startswith(PPID_SYSTEM)), None)
        if ident is None:
            errors.append(f"entry[{i}] EpisodeOfCare.identifier: no patient pathway identifier ({PPID_SYSTEM}<issuer>)")
            continue
        org_code = ((eoc.get("managingOrganization") or {}).get("identifier") or {}).get("value", "")
        if org_code and org_code.upper() != provider.ods_code:
            errors.append(f"entry[{i}] EpisodeOfCare.managingOrganization: {org_code} is not {provider.ods_code}")
            continue
        pat = by_ref.get((eoc.get("patient") or {}).get("reference", ""))
        if pat is None:
            errors.append(f"entry[{i}] EpisodeOfCare.patient: the referenced Patient is not in the Bundle")
            continue
        number = next((x.get("value") for x in pat.get("identifier") or [] if x.get("system") == NHS_SYSTEM), None)
        if not number or not nhs.is_valid(number):
            errors.append(f"entry[{i}] Patient.identifier: missing or invalid NHS number")
            continue
        sr = by_ref.get(((eoc.get("referralRequest") or [{}])[0]).get("reference", "")) or {}
        tfc = _code(sr.get("category"), TFC_SYSTEM)
        if not tfc:
            errors.append(f"entry[{i}] ServiceRequest.category: no treatment function code")
            continue
        start = (eoc.get("period") or {}).get("start")
        list_type = _code(eoc.get("type"), LIST_SYSTEM) or ListType.NON_ADMITTED
        tci = next((r for r in by_ref.values() if r.get("resourceType") == "Appointment" and any(
            b.get("reference") == f"ServiceRequest/{sr.get('id')}" for b in r.get("basedOn") or [])), None)
        plans.append({"ppid": ident["value"], "issuer": ident["system"][len(PPID_SYSTEM):], "nhs": number, "patient": pat,
                      "tfc": tfc, "rtt_start": date.fromisoformat(start[:10]) if start else None,
                      "referral_received": date.fromisoformat(sr["authoredOn"][:10]) if sr.get("authoredOn") else None,
                      "procedure": _code([sr.get("code")] if sr.get("code") else [], OPCS_SYSTEM),
                      "priority": _code(sr.get("orderDetail"), PRIORITY_SYSTEM),
                      "priority_type": "2" if sr.get("priority") == "urgent" else "1",
                      "list_type": list_type if list_type in ListType.values else ListType.NON_ADMITTED,
                      "on_list": eoc.get("status") in ("waitlist", "active", "planned"),
                      "tci": date.fromisoformat(tci["start"][:10]) if tci and tci.get("start") else None})
    if errors:
        raise FhirImportError(errors)
    from carecoord.core.models import ClinicalPriority

    ranks = dict(ClinicalPriority.objects.values_list("code", "rank"))
    result = ImportResult()
    with transaction.atomic():
        for plan in plans:
            pat = plan["patient"]
            patient, created = Patient.objects.get_or_create(nhs_number=plan["nhs"], defaults={
                "birth_date": date.fromisoformat(pat["birthDate"]) if pat.get("birthDate") else None,
                "sex": SEX.get(pat.get("gender", "unknown"), "0"),
                "postcode_district": ((pat.get("address") or [{}])[0].get("postalCode") or "")[:8]})
            if created:
                result.patients_created += 1
                auditor.create(patient, summary="patient from FHIR import")
            PatientIdentifier.objects.get_or_create(patient=patient, organisation=provider,
                                                    defaults={"local_id": f"FHIR-{patient.pk}"})
            fields = {"patient": patient, "tfc": plan["tfc"], "rtt_start": plan["rtt_start"],
                      "queue_date": plan["rtt_start"], "referral_received": plan["referral_received"],
                      "intended_procedure": plan["procedure"], "clinical_priority": plan["priority"],
                      "priority_rank": ranks.get(plan["priority"], 99),
                      "priority_type": plan["priority_type"], "list_type": plan["list_type"], "tci_date": plan["tci"],
                      "clock_state": "open" if plan["rtt_start"] else "unknown",
                      "status": PathwayStatus.ON_LIST if plan["on_list"] else PathwayStatus.CLOSED,
                      "waiting_list_type": "IRTT" if plan["list_type"] == ListType.ADMITTED else "ORTT"}
            existing = Pathway.objects.filter(provider=provider, ppid=plan["ppid"], ppid_issuer=plan["issuer"]).first()
            if existing:
                before = snapshot(existing)
                for k, v in fields.items():
                    setattr(existing, k, v)
                existing.updated_at = timezone.now()
                existing.save()
                auditor.update(existing, before, summary="updated from FHIR import")
                result.pathways_updated += 1
            else:
                p = Pathway.objects.create(provider=provider, ppid=plan["ppid"], ppid_issuer=plan["issuer"], **fields)
                auditor.create(p, summary="created from FHIR import")
                result.pathways_created += 1
    return result
