"""FHIR R4 exchange of waiting-list entries, validated with `fhir.resources` (its R4B models: R4B is
the R4 technical correction, wire-compatible for Patient, ServiceRequest, EpisodeOfCare and
Appointment).

A pathway maps to:
- `Patient` — NHS number (https://fhir.nhs.uk/Id/nhs-number), birth date, gender, postcode district;
- `ServiceRequest` — the referral: PPID identifier (system per issuer), authoredOn = referral received,
  category = treatment function, code = intended procedure (OPCS-4), priority (routine / urgent /
  asap = two-week wait), orderDetail = clinical priority (P-code), performer = the provider's ODS code
  and the consultant code;
- `EpisodeOfCare` — the waiting-list entry: same PPID identifier, status waitlist / finished,
  period.start = RTT clock start, type = list type, managingOrganization = provider, referralRequest,
  an extension carrying the queue-order date (kept apart from the clock start: after active
  monitoring the clock restarts but the patient keeps their place);
- `Appointment` — the TCI date when one is booked (basedOn the ServiceRequest).

`export_bundle(patient, pathways)` writes a `collection` Bundle; `import_bundle(data, provider=...)`
reads one back into pathways: all or nothing, every problem named by entry index and field, the
import recorded as an `ImportBatch` of kind "fhir" (rejections included) and every change audited.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils import timezone

from carecoord.core import nhs_number as nhs
from carecoord.core.models import Organisation, Patient, PatientIdentifier
from carecoord.core.services.audit import Auditor, snapshot
from carecoord.integration.models import ImportBatch, ImportMode, ImportRejection
from carecoord.waitinglist.models import ListType, Pathway, PathwayStatus

NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
PPID_SYSTEM = "https://carecoord.nhs.example/Id/ppid/"  # + issuer ODS code
TFC_SYSTEM = "https://fhir.nhs.uk/CodeSystem/NHSDataModelAndDictionary-treatment-function"
OPCS_SYSTEM = "http://fhir.nhs.net/CodeSystem/opcs-4"
PRIORITY_SYSTEM = "https://carecoord.nhs.example/CodeSystem/clinical-priority"
LIST_SYSTEM = "https://carecoord.nhs.example/CodeSystem/waiting-list-type"
CONSULTANT_SYSTEM = "https://fhir.hl7.org.uk/Id/gmc-number"  # WLMDS consultant code (GMC, GDC or other)
QUEUE_DATE_URL = "https://carecoord.nhs.example/StructureDefinition/queue-order-date"
RTT_STATUS_URL = "https://carecoord.nhs.example/StructureDefinition/rtt-status"  # latest RTT status code
STOP_STATUS_URL = "https://carecoord.nhs.example/StructureDefinition/rtt-stop-status"  # the code that stopped it
EOC_STATUS = {PathwayStatus.ON_LIST: "waitlist", PathwayStatus.REMOVED: "cancelled", PathwayStatus.CLOSED: "finished"}
PRIORITY_TYPE = {"1": "routine", "2": "urgent", "3": "asap"}
GENDER = {"1": "male", "2": "female", "9": "unknown", "0": "unknown"}
SEX = {"male": "1", "female": "2", "other": "9", "unknown": "0"}


class FhirImportError(ValueError):
    def __init__(self, errors: list[FhirError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors[:20]))


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
          }
    if p.priority_type in PRIORITY_TYPE:
        sr["priority"] = PRIORITY_TYPE[p.priority_type]
    if p.consultant_code:
        sr["performer"].append({"identifier": {"system": CONSULTANT_SYSTEM, "value": p.consultant_code}})
    if p.referral_received:
        sr["authoredOn"] = p.referral_received.isoformat()
    if p.intended_procedure:
        sr["code"] = {"coding": [{"system": OPCS_SYSTEM, "code": p.intended_procedure}]}
    if p.clinical_priority:
        sr["orderDetail"] = [{"coding": [{"system": PRIORITY_SYSTEM, "code": p.clinical_priority}]}]
    eoc = {"resourceType": "EpisodeOfCare", "id": f"entry-{p.pk}", "identifier": ident,
           "status": EOC_STATUS.get(p.status, "finished"),
           "type": [{"coding": [{"system": LIST_SYSTEM, "code": p.list_type}]}],
           "patient": {"reference": patient_ref}, "managingOrganization": org,
           "referralRequest": [{"reference": f"ServiceRequest/referral-{p.pk}"}]}
    if p.rtt_start:
        eoc["period"] = {"start": p.rtt_start.isoformat()}
        if p.clock_stop:
            eoc["period"]["end"] = p.clock_stop.isoformat()
    ext = []
    if p.queue_date:
        ext.append({"url": QUEUE_DATE_URL, "valueDate": p.queue_date.isoformat()})
    if p.rtt_status:
        ext.append({"url": RTT_STATUS_URL, "valueCode": p.rtt_status})
    if p.clock_stop_status:
        ext.append({"url": STOP_STATUS_URL, "valueCode": p.clock_stop_status})
    if ext:
        eoc["extension"] = ext
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


@dataclass(frozen=True)
class FhirError:
    """One problem: which Bundle entry (0-based, as in `Bundle.entry[i]`), which field, why."""

    entry: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"entry[{self.entry}] " if self.entry is not None else ""
        return f"{where}{self.field}: {self.message}"

    def as_dict(self) -> dict:
        return {"entry": self.entry, "field": self.field, "msg": self.message}


@dataclass
class ImportResult:
    patients_created: int = 0
    pathways_created: int = 0
    pathways_updated: int = 0
    batch: ImportBatch | None = None


def _code(concepts, system: str) -> str:
    for c in concepts or []:
        if not isinstance(c, dict):
            continue
        for coding in (c.get("coding") or []):
            if isinstance(coding, dict) and coding.get("system") == system and coding.get("code"):
                return str(coding["code"]).strip()
    return ""


def _ref(obj) -> str:
    return (obj or {}).get("reference", "") if isinstance(obj, dict) else ""


class _Reader:
    """Collects errors while reading one Bundle (nothing is written until every entry is good)."""

    def __init__(self):
        self.errors: list[FhirError] = []

    def error(self, entry: int | None, field_: str, message: str) -> None:
        self.errors.append(FhirError(entry, field_, message))

    def date(self, value, entry: int, field_: str) -> date | None:
        """A FHIR date or dateTime to a date; partial dates (YYYY, YYYY-MM) are refused here because
        an RTT clock needs the day."""
        if value in (None, ""):
            return None
        text = str(value)
        if len(text) < 10:
            self.error(entry, field_, f"{text!r} is not a full date (YYYY-MM-DD)")
            return None
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            self.error(entry, field_, f"{text!r} is not a valid date")
            return None


def _validation_error(reader: _Reader, i: int, kind: str, exc: Exception) -> None:
    details = exc.errors() if hasattr(exc, "errors") else []
    if not details:
        reader.error(i, kind, str(exc).splitlines()[0] if str(exc) else "invalid resource")
        return
    for d in details[:5]:
        loc = ".".join(str(x) for x in d.get("loc", ()) if x != "__root__")
        reader.error(i, f"{kind}.{loc}" if loc else kind, d.get("msg", "invalid"))


def read_bundle(data, *, provider: Organisation) -> tuple[list[dict], list[FhirError], int]:
    """Validate a Bundle and turn its EpisodeOfCare entries into pathway plans.

    Returns (plans, errors, entries read). Every problem is collected, each naming the entry and field."""
    from carecoord.core.models import ClinicalPriority

    r = _Reader()
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        r.error(None, "resourceType", "the body must be a FHIR Bundle (resourceType 'Bundle')")
        return [], r.errors, 0
    entries = data.get("entry")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        r.error(None, "Bundle.entry", "must be a list of entries")
        return [], r.errors, 0
    by_ref: dict[str, dict] = {}
    index_of: dict[int, int] = {}
    for i, e in enumerate(entries):
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict):
            r.error(i, "resource", "each entry needs a resource object")
            continue
        kind = str(res.get("resourceType") or "?")
        try:
            _validate(res)
        except Exception as exc:  # KeyError/LookupError (unknown type) or pydantic ValidationError
            if kind == "?" or "resourceType" not in res:
                r.error(i, "resourceType", "missing")
            elif not hasattr(exc, "errors"):
                r.error(i, "resourceType", f"{kind!r} is not a FHIR R4 resource")
            else:
                _validation_error(r, i, kind, exc)
            continue
        index_of[id(res)] = i
        if res.get("id"):
            by_ref[f"{kind}/{res['id']}"] = res
        if isinstance(e.get("fullUrl"), str) and e["fullUrl"]:
            by_ref[e["fullUrl"]] = res
    episodes = [(index_of[id(res)], res) for res in (e.get("resource") for e in entries if isinstance(e, dict))
                if isinstance(res, dict) and id(res) in index_of and res.get("resourceType") == "EpisodeOfCare"]
    if not episodes and not r.errors:
        r.error(None, "Bundle.entry", "the Bundle holds no EpisodeOfCare (waiting-list entry)")
    ranks = dict(ClinicalPriority.objects.values_list("code", "rank"))
    appointments = [res for res in by_ref.values() if res.get("resourceType") == "Appointment"]
    plans: list[dict] = []
    seen: dict[tuple[str, str], int] = {}
    for i, eoc in episodes:
        before = len(r.errors)
        ident = next((x for x in eoc.get("identifier") or []
                      if str(x.get("system", "")).startswith(PPID_SYSTEM) and x.get("value")), None)
        if ident is None:
            r.error(i, "EpisodeOfCare.identifier", f"no patient pathway identifier (system {PPID_SYSTEM}<issuer>)")
            continue
        ppid, issuer = str(ident["value"]).strip(), ident["system"][len(PPID_SYSTEM):].strip().upper()
        if len(ppid) > 20:
            r.error(i, "EpisodeOfCare.identifier.value", "a patient pathway identifier is at most 20 characters")
        if not issuer or len(issuer) > 12:
            r.error(i, "EpisodeOfCare.identifier.system", "the identifier system must end in the issuer's code "
                                                          "(1 to 12 characters)")
        if (ppid, issuer) in seen:
            r.error(i, "EpisodeOfCare.identifier", f"the same pathway is also in entry[{seen[ppid, issuer]}]")
        seen.setdefault((ppid, issuer), i)
        org_code = str(((eoc.get("managingOrganization") or {}).get("identifier") or {}).get("value") or "")
        if org_code and org_code.strip().upper() != provider.ods_code:
            r.error(i, "EpisodeOfCare.managingOrganization",
                    f"{org_code} is not {provider.ods_code}: you may import only your own organisation's entries")
        pat = by_ref.get(_ref(eoc.get("patient")))
        number = None
        if pat is None or pat.get("resourceType") != "Patient":
            r.error(i, "EpisodeOfCare.patient", "the referenced Patient is not in the Bundle")
        else:
            number = next((str(x.get("value") or "").replace(" ", "") for x in pat.get("identifier") or []
                           if x.get("system") == NHS_SYSTEM), None)
            if not number or not nhs.is_valid(number):
                r.error(index_of[id(pat)], "Patient.identifier", "missing or invalid NHS number "
                        f"(an identifier with system {NHS_SYSTEM})")
        refs = eoc.get("referralRequest") or []
        sr = by_ref.get(_ref(refs[0])) if refs else None
        if sr is None or sr.get("resourceType") != "ServiceRequest":
            r.error(i, "EpisodeOfCare.referralRequest", "must reference a ServiceRequest (the referral) in the Bundle")
            continue
        j = index_of[id(sr)]
        tfc = _code(sr.get("category"), TFC_SYSTEM).upper()
        if not (len(tfc) == 3 and tfc.isalnum()):
            r.error(j, "ServiceRequest.category", f"needs a 3-character treatment function code ({TFC_SYSTEM})")
        procedure = _code([sr.get("code")] if sr.get("code") else [], OPCS_SYSTEM).replace(".", "").upper()
        if len(procedure) > 8:
            r.error(j, "ServiceRequest.code", f"{procedure!r} is not an OPCS-4 code")
        priority = _code(sr.get("orderDetail"), PRIORITY_SYSTEM).upper()
        if priority and priority not in ranks:
            r.error(j, "ServiceRequest.orderDetail", f"unknown clinical priority {priority!r} "
                    f"(one of {', '.join(sorted(ranks))})")
        list_code = _code(eoc.get("type"), LIST_SYSTEM)
        if list_code and list_code not in ListType.values:
            r.error(i, "EpisodeOfCare.type", f"unknown list type {list_code!r} (one of {', '.join(ListType.values)})")
        start = r.date((eoc.get("period") or {}).get("start"), i, "EpisodeOfCare.period.start")
        received = r.date(sr.get("authoredOn"), j, "ServiceRequest.authoredOn")
        sr_refs = {f"ServiceRequest/{sr.get('id')}"} | {k for k, v in by_ref.items() if v is sr}
        tci_res = next((a for a in appointments if a.get("status") not in ("cancelled", "noshow", "entered-in-error")
                        and any(_ref(b) in sr_refs for b in a.get("basedOn") or [])), None)
        tci = r.date(tci_res.get("start"), index_of[id(tci_res)], "Appointment.start") if tci_res else None
        ext = {x.get("url"): x for x in eoc.get("extension") or [] if isinstance(x, dict)}
        queue = (ext.get(QUEUE_DATE_URL) or {}).get("valueDate")
        queue_date = r.date(queue, i, "EpisodeOfCare.extension(queue-order-date)") if queue else start
        stop = r.date((eoc.get("period") or {}).get("end"), i, "EpisodeOfCare.period.end")
        if start and stop and stop < start:
            r.error(i, "EpisodeOfCare.period.end", "the clock stop is before the clock start")
        codes = {}
        for url, name in ((RTT_STATUS_URL, "rtt-status"), (STOP_STATUS_URL, "rtt-stop-status")):
            code = str((ext.get(url) or {}).get("valueCode") or "")
            if code and not (len(code) == 2 and code.isdigit()):
                r.error(i, f"EpisodeOfCare.extension({name})", f"{code!r} is not a 2-digit RTT status code")
            codes[name] = code
        consultant = next((str(x["identifier"].get("value") or "").strip().upper() for x in sr.get("performer") or []
                           if (x.get("identifier") or {}).get("system") == CONSULTANT_SYSTEM), "")
        if len(consultant) > 12:
            r.error(j, "ServiceRequest.performer", f"consultant code {consultant!r} is longer than 12 characters")
        if len(r.errors) > before:
            continue
        list_type = list_code or ListType.NON_ADMITTED
        plans.append({"ppid": ppid, "issuer": issuer, "nhs": number, "patient": pat, "tfc": tfc, "rtt_start": start,
                      "referral_received": received, "procedure": procedure, "priority": priority,
                      "rank": ranks.get(priority, 99), "list_type": list_type, "queue_date": queue_date,
                      "queue_explicit": bool(queue), "consultant": consultant,
                      "priority_type": {"routine": "1", "urgent": "2", "asap": "3", "stat": "3"}.get(sr.get("priority"), ""),
                      "on_list": eoc.get("status") in ("waitlist", "active", "planned", "onhold"), "tci": tci,
                      "clock_stop": stop, "rtt_status": codes["rtt-status"],
                      "clock_stop_status": codes["rtt-stop-status"]})
    return plans, r.errors, len(entries)


def import_bundle(data, *, provider: Organisation, auditor: Auditor, user=None,
                  filename: str = "FHIR Bundle") -> ImportResult:
    """Read a Bundle into `provider`'s pathways, all or nothing.

    The import is recorded as an `ImportBatch` (kind "fhir"): loaded with its figures, or rejected with
    one `ImportRejection` per problem (row_number = the entry index). Raises `FhirImportError` when
    anything is wrong; then no pathway or patient has been written."""
    raw = json.dumps(data, sort_keys=True, default=str).encode()
    batch = ImportBatch(provider=provider, kind="fhir", filename=filename[:255], sha256=hashlib.sha256(raw).hexdigest(),
                        mode=ImportMode.ALL_OR_NOTHING, started_by=user if getattr(user, "pk", None) else None,
                        system_job=(auditor.system_job or "")[:100])
    plans, errors, entries = read_bundle(data, provider=provider)
    batch.rows_read = entries
    if errors:
        batch.status, batch.rows_rejected, batch.finished_at = ImportBatch.Status.REJECTED, len(errors), timezone.now()
        batch.message = f"{len(errors)} problem(s) in the Bundle; nothing loaded"
        batch.save()
        ImportRejection.objects.bulk_create([
            ImportRejection(batch=batch, row_number=-1 if e.entry is None else e.entry, field=e.field[:80],
                            reason=e.message[:300]) for e in errors])
        auditor.create(batch, summary=f"FHIR import rejected: {len(errors)} problem(s)")
        raise FhirImportError(errors)
    result = ImportResult()
    with transaction.atomic():
        batch.save()
        for plan in plans:
            pat = plan["patient"]
            patient, created = Patient.objects.get_or_create(nhs_number=plan["nhs"], defaults={
                "birth_date": date.fromisoformat(pat["birthDate"]) if len(pat.get("birthDate") or "") == 10 else None,
                "sex": SEX.get(pat.get("gender", "unknown"), "0"),
                "postcode_district": ((pat.get("address") or [{}])[0].get("postalCode") or "")[:8]})
            if created:
                result.patients_created += 1
                auditor.create(patient, summary="patient from FHIR import")
            PatientIdentifier.objects.get_or_create(patient=patient, organisation=provider,
                                                    defaults={"local_id": f"FHIR-{patient.pk}"})
            fields = {"patient": patient, "tfc": plan["tfc"], "rtt_start": plan["rtt_start"],
                      "referral_received": plan["referral_received"],
                      "intended_procedure": plan["procedure"], "clinical_priority": plan["priority"],
                      "priority_rank": plan["rank"], "priority_type": plan["priority_type"],
                      "list_type": plan["list_type"], "tci_date": plan["tci"],
                      "clock_state": ("stopped" if plan["clock_stop"] else "open") if plan["rtt_start"] else "unknown",
                      "clock_stop": plan["clock_stop"], "rtt_status": plan["rtt_status"],
                      "clock_stop_status": plan["clock_stop_status"],
                      "status": PathwayStatus.ON_LIST if plan["on_list"] else PathwayStatus.CLOSED,
                      "waiting_list_type": "IRTT" if plan["list_type"] == ListType.ADMITTED else "ORTT",
                      "consultant_code": plan["consultant"], "import_batch": batch}
            existing = (Pathway.objects.select_for_update()
                        .filter(provider=provider, ppid=plan["ppid"], ppid_issuer=plan["issuer"]).first())
            if existing:
                # An entry without a queue-order date keeps its place; one that carries it moves to it.
                if plan["queue_explicit"] or existing.queue_date is None:
                    fields["queue_date"] = plan["queue_date"]
                before = snapshot(existing)
                for k, v in fields.items():
                    setattr(existing, k, v)
                existing.updated_at = timezone.now()
                existing.save()
                auditor.update(existing, before, summary="updated from FHIR import")
                result.pathways_updated += 1
            else:
                p = Pathway.objects.create(provider=provider, ppid=plan["ppid"], ppid_issuer=plan["issuer"],
                                           queue_date=plan["queue_date"], **fields)
                auditor.create(p, summary="created from FHIR import")
                result.pathways_created += 1
        batch.status, batch.finished_at = ImportBatch.Status.LOADED, timezone.now()
        batch.rows_loaded = len(plans)
        batch.pathways_created, batch.pathways_updated = result.pathways_created, result.pathways_updated
        batch.save()
        auditor.create(batch, summary=f"FHIR import: {len(plans)} entries")
    result.batch = batch
    return result
