"""FHIR R4 exchange of waiting-list entries, validated with `fhir.resources` (its R4B models: R4B is
the R4 technical correction, wire-compatible for Patient, ServiceRequest, EpisodeOfCare and
Appointment).

A pathway maps to:
- `Patient` — NHS number (https://fhir.nhs.uk/Id/nhs-number), the local patient identifiers at the
  exported pathways' providers (system per organisation), birth date, gender, postcode district;
- `ServiceRequest` — the referral: PPID identifier (system per issuer), authoredOn = referral received,
  category = treatment function, code = intended procedure (OPCS-4), priority (routine / urgent /
  asap = two-week wait), orderDetail = clinical priority (P-code), performer = the provider's ODS code
  and the consultant code;
- `EpisodeOfCare` — the waiting-list entry: same PPID identifier, status waitlist / finished /
  cancelled (removed), period.start = RTT clock start, period.end = clock stop, type = list type and
  the WLMDS Waiting_List_Type (one CodeableConcept each), managingOrganization = provider,
  referralRequest, extensions carrying the queue-order date (kept apart from the clock start: after active monitoring the clock restarts but
  the patient keeps their place), the latest RTT status, the stop status and the clock state;
- `Appointment` — the TCI date when one is booked (basedOn the ServiceRequest).

`export_bundle(patient, pathways)` writes a `collection` Bundle; `import_bundle(data, provider=...)`
reads one back into pathways: all or nothing, every problem named by entry index and field, the
import recorded as an `ImportBatch` of kind "fhir" (rejections included) and every change audited.
It follows the WLMDS loader's rules: the same date checks (no placeholders, nothing more than five
years ahead, clock dates not in the future), clock-start and clock-stop `ClockEvent`s with the batch,
a removed pathway (a clinician's recorded decision) never reopened, and an entry that changes nothing
writes nothing, so exporting and importing back is a no-change round trip.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.utils import timezone

from carecoord.core import nhs_number as nhs
from carecoord.core.models import Organisation, Patient, PatientIdentifier
from carecoord.core.services.audit import Auditor, snapshot
from carecoord.integration.loader import START_CODES, gets_start_event, start_status
from carecoord.integration.models import ImportBatch, ImportMode, ImportRejection
from carecoord.integration.wlmds import (
    FUTURE_LIMIT_YEARS,
    NON_RTT,
    future_limit,
    is_placeholder_date,
    list_type_of,
)
from carecoord.waitinglist.models import ClockEvent, ClockState, ListType, Pathway, PathwayStatus, Removal

NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
PPID_SYSTEM = "https://carecoord.nhs.example/Id/ppid/"  # + issuer ODS code
TFC_SYSTEM = "https://fhir.nhs.uk/CodeSystem/NHSDataModelAndDictionary-treatment-function"
OPCS_SYSTEM = "http://fhir.nhs.net/CodeSystem/opcs-4"
PRIORITY_SYSTEM = "https://carecoord.nhs.example/CodeSystem/clinical-priority"
LIST_SYSTEM = "https://carecoord.nhs.example/CodeSystem/waiting-list-type"  # carecoord's list type (admitted...)
# WLMDS Waiting_List_Type (ORTT, IRTT, ONON, INON, PTLO, PTLI, RTTO, RTTI): no national FHIR code system yet.
WLMDS_LIST_SYSTEM = "https://carecoord.nhs.example/CodeSystem/wlmds-waiting-list-type"
LOCAL_ID_SYSTEM = "https://carecoord.nhs.example/Id/local-patient-id/"  # + the organisation's ODS code
CONSULTANT_SYSTEM = "https://fhir.hl7.org.uk/Id/gmc-number"  # WLMDS consultant code (GMC, GDC or other)
QUEUE_DATE_URL = "https://carecoord.nhs.example/StructureDefinition/queue-order-date"
RTT_STATUS_URL = "https://carecoord.nhs.example/StructureDefinition/rtt-status"  # latest RTT status code
STOP_STATUS_URL = "https://carecoord.nhs.example/StructureDefinition/rtt-stop-status"  # the code that stopped it
CLOCK_STATE_URL = "https://carecoord.nhs.example/StructureDefinition/rtt-clock-state"  # open, stopped, nullified...
RTT_LIST_CODE = {ListType.ADMITTED: "IRTT", ListType.NON_ADMITTED: "ORTT"}  # an RTT list's code, by list type
LOCAL_ID_PLACEHOLDER = "FHIR-"  # the local identifier carecoord makes for a patient a Bundle brings without one
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


def _patient(p: Patient, provider_ids=()) -> dict:
    res = {"resourceType": "Patient", "id": f"patient-{p.pk}"}
    ident = [{"system": NHS_SYSTEM, "value": p.nhs_number}] if p.nhs_number else []
    # The local identifiers at the providers whose entries are exported (not the placeholder carecoord
    # makes for a patient imported without one), so a re-import matches them instead of adding another.
    local = (PatientIdentifier.objects.filter(patient=p, organisation_id__in=list(provider_ids))
             .exclude(local_id__startswith=LOCAL_ID_PLACEHOLDER)
             .order_by("organisation__ods_code", "local_id").values_list("organisation__ods_code", "local_id"))
    ident += [{"system": LOCAL_ID_SYSTEM + ods, "value": local_id} for ods, local_id in local]
    if ident:
        res["identifier"] = ident
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
           "type": [{"coding": [{"system": LIST_SYSTEM, "code": p.list_type}]}]
           + ([{"coding": [{"system": WLMDS_LIST_SYSTEM, "code": p.waiting_list_type}]}] if p.waiting_list_type else []),
           "patient": {"reference": patient_ref}, "managingOrganization": org,
           "referralRequest": [{"reference": f"ServiceRequest/referral-{p.pk}"}]}
    if p.rtt_start:
        eoc["period"] = {"start": p.rtt_start.isoformat()}
    if p.clock_stop:
        eoc.setdefault("period", {})["end"] = p.clock_stop.isoformat()
    ext = []
    if p.queue_date:
        ext.append({"url": QUEUE_DATE_URL, "valueDate": p.queue_date.isoformat()})
    if p.rtt_status:
        ext.append({"url": RTT_STATUS_URL, "valueCode": p.rtt_status})
    if p.clock_stop_status:
        ext.append({"url": STOP_STATUS_URL, "valueCode": p.clock_stop_status})
    ext.append({"url": CLOCK_STATE_URL, "valueCode": p.clock_state})
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
    pathways = list(pathways)
    entries = [_patient(patient, {p.provider_id for p in pathways})]
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
    pathways_unchanged: int = 0
    # Entries read but deliberately not applied (a pathway a recorded decision took off the list).
    notes: list[FhirError] = field(default_factory=list)
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
        self.today = timezone.localdate()
        self.limit = future_limit(self.today)

    def error(self, entry: int | None, field_: str, message: str) -> None:
        self.errors.append(FhirError(entry, field_, message))

    def date(self, value, entry: int, field_: str, *, past: bool = False) -> date | None:
        """A FHIR date or dateTime to a date; partial dates (YYYY, YYYY-MM) are refused here because
        an RTT clock needs the day. The WLMDS importer's date rules apply (`wlmds.is_placeholder_date`,
        at most FUTURE_LIMIT_YEARS ahead); `past`: a date that records something that has happened
        (a clock start or stop, a referral) may not be after today, as a WLMDS one may not be after
        the file's census week."""
        if value in (None, ""):
            return None
        text = str(value)
        if len(text) < 10:
            self.error(entry, field_, f"{text!r} is not a full date (YYYY-MM-DD)")
            return None
        try:
            d = date.fromisoformat(text[:10])
        except ValueError:
            self.error(entry, field_, f"{text!r} is not a valid date")
            return None
        if is_placeholder_date(d):
            self.error(entry, field_, f"{d.isoformat()} is a placeholder date (such as 9999-12-31 or 1900-01-01), "
                                      "not a real date")
        elif d > self.limit:
            self.error(entry, field_, f"{d.isoformat()} is more than {FUTURE_LIMIT_YEARS} years after today "
                                      f"({self.today.isoformat()})")
        elif past and d > self.today:
            self.error(entry, field_, f"{d.isoformat()} is after today ({self.today.isoformat()})")
        else:
            return d
        return None


def _validation_error(reader: _Reader, i: int, kind: str, exc: Exception) -> None:
    details = exc.errors() if hasattr(exc, "errors") else []
    if not details:
        reader.error(i, kind, str(exc).splitlines()[0] if str(exc) else "invalid resource")
        return
    for d in details[:5]:
        loc = ".".join(str(x) for x in d.get("loc", ()) if x != "__root__")
        reader.error(i, f"{kind}.{loc}" if loc else kind, d.get("msg", "invalid"))


def _read_patient(r: _Reader, i: int, res: dict, provider: Organisation) -> dict | None:
    """One Patient entry, checked once however many entries reference it: its NHS number, the local
    identifiers it carries for `provider`, and its birth date. None when it is unusable."""
    before = len(r.errors)
    number = next((str(x.get("value") or "").replace(" ", "") for x in res.get("identifier") or []
                   if x.get("system") == NHS_SYSTEM), None)
    if not number or not nhs.is_valid(number):
        r.error(i, "Patient.identifier", f"missing or invalid NHS number (an identifier with system {NHS_SYSTEM})")
    system = LOCAL_ID_SYSTEM + provider.ods_code
    local_ids = list(dict.fromkeys(str(x.get("value") or "").strip() for x in res.get("identifier") or []
                                   if str(x.get("system") or "").upper() == system.upper() and x.get("value")))
    for local_id in local_ids:
        if len(local_id) > 40:
            r.error(i, "Patient.identifier", f"local patient identifier {local_id[:40]!r}... is longer than "
                                             "40 characters")
    if number and local_ids and len(r.errors) == before:
        taken = (PatientIdentifier.objects.filter(organisation=provider, local_id__in=local_ids)
                 .exclude(patient__nhs_number=number).values_list("local_id", flat=True))
        for local_id in sorted(taken):
            r.error(i, "Patient.identifier", f"local patient identifier {local_id} at {provider.ods_code} "
                                             "belongs to another patient")
    birth = res.get("birthDate") or ""
    born = r.date(birth, i, "Patient.birthDate", past=True) if len(birth) == 10 else None
    if len(r.errors) > before:
        return None
    return {"nhs": number, "local_ids": local_ids, "birth_date": born, "resource": res}


def read_bundle(data, *, provider: Organisation) -> tuple[list[dict], list[FhirError], int]:
    """Validate a Bundle and turn its EpisodeOfCare entries into pathway plans.

    Returns (plans, errors, entries read). Every problem is collected, each naming the entry and field."""
    from carecoord.core.models import ClinicalPriority, RttStatus, WaitingListType

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
    valid = [(index_of[id(res)], res) for res in (e.get("resource") for e in entries if isinstance(e, dict))
             if isinstance(res, dict) and id(res) in index_of]
    episodes = [(i, res) for i, res in valid if res.get("resourceType") == "EpisodeOfCare"]
    # Each Patient is checked once, against its own entry (not once per pathway that references it).
    patients = {id(res): _read_patient(r, i, res, provider) for i, res in valid if res.get("resourceType") == "Patient"}
    if not episodes and not r.errors:
        r.error(None, "Bundle.entry", "the Bundle holds no EpisodeOfCare (waiting-list entry)")
    ranks = dict(ClinicalPriority.objects.values_list("code", "rank"))
    priorities = {code.casefold(): code for code in ranks}  # P1a/P1b whatever the case they arrive in
    list_types = dict(WaitingListType.objects.values_list("code", "admitted"))
    effects = dict(RttStatus.objects.values_list("code", "clock_effect"))
    stop_codes = {c for c, e in effects.items() if e in (RttStatus.ClockEffect.STOP, RttStatus.ClockEffect.STOP_NULLIFY)}
    nullifying = {c for c, e in effects.items() if e == RttStatus.ClockEffect.STOP_NULLIFY}
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
        person = None
        if pat is None or pat.get("resourceType") != "Patient":
            r.error(i, "EpisodeOfCare.patient", "the referenced Patient is not in the Bundle")
        else:
            person = patients.get(id(pat))  # None: its problems are reported against the Patient entry
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
        given_priority = _code(sr.get("orderDetail"), PRIORITY_SYSTEM)
        priority = priorities.get(given_priority.casefold(), "")
        if given_priority and not priority:
            r.error(j, "ServiceRequest.orderDetail", f"unknown clinical priority {given_priority!r} "
                    f"(one of {', '.join(sorted(ranks))})")
        list_code = _code(eoc.get("type"), LIST_SYSTEM)
        if list_code and list_code not in ListType.values:
            r.error(i, "EpisodeOfCare.type", f"unknown list type {list_code!r} (one of {', '.join(ListType.values)})")
        wlt = _code(eoc.get("type"), WLMDS_LIST_SYSTEM).upper()
        if wlt and wlt not in list_types:
            r.error(i, "EpisodeOfCare.type", f"unknown Waiting_List_Type {wlt!r} ({WLMDS_LIST_SYSTEM}: one of "
                                             f"{', '.join(sorted(list_types))})")
        start = r.date((eoc.get("period") or {}).get("start"), i, "EpisodeOfCare.period.start", past=True)
        received = r.date(sr.get("authoredOn"), j, "ServiceRequest.authoredOn", past=True)
        sr_refs = {f"ServiceRequest/{sr.get('id')}"} | {k for k, v in by_ref.items() if v is sr}
        tci_res = next((a for a in appointments if a.get("status") not in ("cancelled", "noshow", "entered-in-error")
                        and any(_ref(b) in sr_refs for b in a.get("basedOn") or [])), None)
        tci = r.date(tci_res.get("start"), index_of[id(tci_res)], "Appointment.start") if tci_res else None
        ext = {x.get("url"): x for x in eoc.get("extension") or [] if isinstance(x, dict)}
        queue = (ext.get(QUEUE_DATE_URL) or {}).get("valueDate")
        queue_date = (r.date(queue, i, "EpisodeOfCare.extension(queue-order-date)", past=True) if queue
                      else start)
        stop = r.date((eoc.get("period") or {}).get("end"), i, "EpisodeOfCare.period.end", past=True)
        if start and stop and stop < start:
            r.error(i, "EpisodeOfCare.period.end", "the clock stop is before the clock start")
        codes = {}
        for url, name in ((RTT_STATUS_URL, "rtt-status"), (STOP_STATUS_URL, "rtt-stop-status"),
                          (CLOCK_STATE_URL, "rtt-clock-state")):
            codes[name] = str((ext.get(url) or {}).get("valueCode") or "").strip()
        if codes["rtt-status"] and codes["rtt-status"] not in effects:
            r.error(i, "EpisodeOfCare.extension(rtt-status)", f"{codes['rtt-status']!r} is not a 2-digit RTT status "
                                                              "code (Annex D)")
        if codes["rtt-stop-status"] and codes["rtt-stop-status"] not in stop_codes:
            r.error(i, "EpisodeOfCare.extension(rtt-stop-status)", f"{codes['rtt-stop-status']!r} is not a clock-stop "
                                                                   "status (30 to 36)")
        stop_status = codes["rtt-stop-status"] or (codes["rtt-status"] if codes["rtt-status"] in stop_codes else "")
        if stop and not stop_status:
            r.error(i, "EpisodeOfCare.extension(rtt-stop-status)", "a clock stop (period.end) needs the RTT status "
                                                                   "that stopped it (30 to 36)")
        # The clock state: as carried, else as the period and codes imply (a nullifying stop, 33, nullifies).
        if stop:
            derived = ClockState.NULLIFIED if stop_status in nullifying else ClockState.STOPPED
        elif start is None:
            derived = ClockState.UNKNOWN
        elif wlt in NON_RTT:
            derived = ClockState.NON_RTT
        else:
            derived = ClockState.OPEN
        state = codes["rtt-clock-state"] or derived
        problem = None
        if len(r.errors) > before:
            pass  # the clock's dates or codes are already wrong: their own errors say so
        elif state not in ClockState.values:
            problem = f"{state!r} is not a clock state (one of {', '.join(ClockState.values)})"
        elif state == ClockState.OPEN and (start is None or stop is not None):
            problem = "an open clock needs period.start and no period.end"
        elif state in (ClockState.STOPPED, ClockState.NULLIFIED) and stop is None:
            problem = f"a {state} clock needs period.end (the clock stop)"
        elif state == ClockState.NULLIFIED and stop_status not in nullifying:
            problem = "a nullified clock is stopped by status 33 (first-appointment DNA)"
        elif state == ClockState.STOPPED and stop_status in nullifying:
            problem = "a clock stopped by status 33 is nullified, not stopped"
        elif state == ClockState.UNKNOWN and start is not None:
            problem = "an unknown clock start cannot have period.start"
        if problem:
            r.error(i, "EpisodeOfCare.extension(rtt-clock-state)", problem)
        consultant = next((str(x["identifier"].get("value") or "").strip().upper() for x in sr.get("performer") or []
                           if (x.get("identifier") or {}).get("system") == CONSULTANT_SYSTEM), "")
        if len(consultant) > 12:
            r.error(j, "ServiceRequest.performer", f"consultant code {consultant!r} is longer than 12 characters")
        if len(r.errors) > before or person is None:
            continue
        list_type = list_code or list_type_of(wlt)
        # Without a Waiting_List_Type, a code only where the entry says it: an admitted or non-admitted
        # list with an RTT clock. A planned or diagnostic list, a non-RTT clock, or no list type at all
        # (as a WLMDS row without the code) is stored without one rather than as an RTT list.
        waiting_list_type = wlt or (RTT_LIST_CODE.get(list_code, "") if state != ClockState.NON_RTT else "")
        plans.append({"entry": i, "ppid": ppid, "issuer": issuer, "nhs": person["nhs"], "person": person, "tfc": tfc,
                      "rtt_start": start, "referral_received": received, "procedure": procedure, "priority": priority,
                      "rank": ranks.get(priority, 99), "list_type": list_type, "waiting_list_type": waiting_list_type,
                      "queue_date": queue_date, "queue_explicit": bool(queue), "consultant": consultant,
                      "priority_type": {"routine": "1", "urgent": "2", "asap": "3", "stat": "3"}.get(sr.get("priority"), ""),
                      "on_list": eoc.get("status") in ("waitlist", "active", "planned", "onhold"), "tci": tci,
                      "clock_state": state, "clock_stop": stop, "rtt_status": codes["rtt-status"],
                      "clock_stop_status": stop_status})
    return plans, r.errors, len(entries)


def _entries(problems: list[FhirError]) -> int:
    """How many Bundle entries the problems are about (a problem with the Bundle itself names none)."""
    return len({p.entry for p in problems if p.entry is not None})


def _patient_for(plan: dict, provider: Organisation, auditor: Auditor, result: ImportResult) -> Patient:
    person = plan["person"]
    res = person["resource"]
    patient, created = Patient.objects.get_or_create(nhs_number=plan["nhs"], defaults={
        "birth_date": person["birth_date"], "sex": SEX.get(res.get("gender", "unknown"), "0"),
        "postcode_district": ((res.get("address") or [{}])[0].get("postalCode") or "")[:8]})
    if created:
        result.patients_created += 1
        auditor.create(patient, summary="patient from FHIR import")
    # The Bundle's local identifiers at this provider are matched (added when new; read_bundle refused
    # any that belong to another patient). Without one, a patient the provider already knows keeps the
    # identifiers it has (a patient may hold several at one provider); one it does not know gets a
    # placeholder, so the provider's users can see them.
    # A new identifier lets the provider's users see the patient, so each is audited.
    for local_id in person["local_ids"]:
        ident, created = PatientIdentifier.objects.get_or_create(organisation=provider, local_id=local_id,
                                                                 defaults={"patient": patient})
        if created:
            auditor.create(ident, summary="local identifier from FHIR import")
    if not PatientIdentifier.objects.filter(patient=patient, organisation=provider).exists():
        ident = PatientIdentifier.objects.create(organisation=provider, patient=patient,
                                                 local_id=f"{LOCAL_ID_PLACEHOLDER}{patient.pk}")
        auditor.create(ident, summary="placeholder local identifier from FHIR import")
    return patient


def _held_by_decision(pathway: Pathway, changes: dict) -> str | None:
    """Why an import may not change this pathway, or None. A pathway a clinician removed from the list
    stays as it is (as the WLMDS loader keeps it removed), and so does a clock a recorded decision
    stopped (not an import): an older Bundle must not reopen either."""
    from carecoord.core.formatting import date_uk

    reopen = changes.get("status") == PathwayStatus.ON_LIST or changes.get("clock_state") == ClockState.OPEN
    outcome = "not reopened" if reopen else "left as it is"
    if pathway.status == PathwayStatus.REMOVED:
        removal = Removal.objects.filter(pathway=pathway).only("decided_on").first()
        when = f" on {date_uk(removal.decided_on)}" if removal else ""
        return f"the pathway was removed from the list{when} by a recorded decision; {outcome}"
    clock = {"rtt_start", "clock_state", "clock_stop", "clock_stop_status"}
    if pathway.clock_stop and clock & changes.keys() and ClockEvent.objects.filter(
            pathway=pathway, event_date=pathway.clock_stop, status=pathway.clock_stop_status,
            source__in=[ClockEvent.Source.MANUAL, ClockEvent.Source.VALIDATION]).exists():
        return (f"the clock was stopped on {date_uk(pathway.clock_stop)} (RTT status {pathway.clock_stop_status}) "
                f"by a recorded decision; {outcome}")
    return None


def _clock_events(pathway: Pathway, plan: dict, batch: ImportBatch, now) -> None:
    """The clock start and stop as `ClockEvent`s, as the WLMDS loader writes them (a start records the
    entry's status when it is 10, 11 or 12, else 10; a start already held on that date is kept), so the
    RTT kernel and the pathway's timeline see a FHIR pathway as they see an imported one. The same rule
    decides which get a start event (`loader.gets_start_event`): not a non-RTT pathway (the kernel would
    read a start as an open clock), nor a clock nullified by a first-appointment DNA (33 nullifies only
    as the first RTT event; the kernel reads a 33 after a 10 as a later DNA that leaves the clock running)."""
    events = []
    start = plan["rtt_start"]
    if gets_start_event(start, plan["clock_state"], plan["rtt_status"]) and not ClockEvent.objects.filter(
            pathway=pathway, event_date=start, status__in=START_CODES).exists():
        events.append((start, start_status(plan["rtt_status"])))
    if plan["clock_stop"] and plan["clock_stop_status"]:
        events.append((plan["clock_stop"], plan["clock_stop_status"]))
    ClockEvent.objects.bulk_create([
        ClockEvent(pathway=pathway, event_date=d, status=status, source=ClockEvent.Source.FHIR, source_system="fhir",
                   import_batch=batch, recorded_at=now) for d, status in events], ignore_conflicts=True)


def import_bundle(data, *, provider: Organisation, auditor: Auditor, user=None,
                  filename: str = "FHIR Bundle") -> ImportResult:
    """Read a Bundle into `provider`'s pathways, all or nothing.

    The import is recorded as an `ImportBatch` (kind "fhir"): loaded with its figures, or rejected with
    one `ImportRejection` per problem (row_number = the entry index, 0-based; -1 for the Bundle itself).
    Raises `FhirImportError` when anything is wrong; then no pathway or patient has been written.
    An entry whose pathway a recorded decision took off the list is not applied: the batch still loads
    and lists it (`ImportResult.notes`, and a rejection row on the batch). An entry that would change
    nothing writes nothing."""
    from carecoord.integration.loader import lock_provider

    raw = json.dumps(data, sort_keys=True, default=str).encode()
    batch = ImportBatch(provider=provider, kind="fhir", filename=filename[:255], sha256=hashlib.sha256(raw).hexdigest(),
                        mode=ImportMode.ALL_OR_NOTHING, started_by=user if getattr(user, "pk", None) else None,
                        system_job=(auditor.system_job or "")[:100])
    plans, errors, entries = read_bundle(data, provider=provider)
    batch.rows_read = entries
    if errors:
        rejected = _entries(errors)
        batch.status, batch.rows_rejected, batch.finished_at = ImportBatch.Status.REJECTED, rejected, timezone.now()
        batch.message = (f"{len(errors)} problem(s) in {rejected} of {entries} entries; nothing loaded" if rejected
                         else f"{len(errors)} problem(s) with the Bundle; nothing loaded")
        batch.save()
        ImportRejection.objects.bulk_create([
            ImportRejection(batch=batch, row_number=-1 if e.entry is None else e.entry, field=e.field[:80],
                            reason=e.message[:300]) for e in errors])
        auditor.create(batch, summary=f"FHIR import rejected: {len(errors)} problem(s)")
        raise FhirImportError(errors)
    result = ImportResult()
    now = timezone.now()
    with transaction.atomic():
        lock_provider(provider.pk)  # one import at a time per provider, FHIR or WLMDS
        batch.save()
        for plan in plans:
            patient = _patient_for(plan, provider, auditor, result)
            fields = {"patient_id": patient.pk, "tfc": plan["tfc"], "rtt_start": plan["rtt_start"],
                      "referral_received": plan["referral_received"],
                      "intended_procedure": plan["procedure"], "clinical_priority": plan["priority"],
                      "priority_rank": plan["rank"], "priority_type": plan["priority_type"],
                      "list_type": plan["list_type"], "tci_date": plan["tci"], "clock_state": plan["clock_state"],
                      "clock_stop": plan["clock_stop"], "rtt_status": plan["rtt_status"],
                      "clock_stop_status": plan["clock_stop_status"],
                      "status": PathwayStatus.ON_LIST if plan["on_list"] else PathwayStatus.CLOSED,
                      "waiting_list_type": plan["waiting_list_type"], "consultant_code": plan["consultant"]}
            existing = (Pathway.objects.select_for_update()
                        .filter(provider=provider, ppid=plan["ppid"], ppid_issuer=plan["issuer"]).first())
            if existing is None:
                p = Pathway.objects.create(provider=provider, ppid=plan["ppid"], ppid_issuer=plan["issuer"],
                                           queue_date=plan["queue_date"], import_batch=batch, created_at=now,
                                           updated_at=now, **fields)
                auditor.create(p, summary="created from FHIR import")
                _clock_events(p, plan, batch, now)
                result.pathways_created += 1
                continue
            # An entry without a queue-order date keeps its place; one that carries it moves to it.
            if plan["queue_explicit"] or existing.queue_date is None:
                fields["queue_date"] = plan["queue_date"]
            if not plan["on_list"] and existing.status == PathwayStatus.REMOVED:
                fields["status"] = PathwayStatus.REMOVED  # a closed entry (EpisodeOfCare "cancelled") of a removed one
            changes = {k: v for k, v in fields.items() if getattr(existing, k) != v}
            if not changes:
                result.pathways_unchanged += 1
                continue
            held = _held_by_decision(existing, changes)
            if held:
                result.notes.append(FhirError(plan["entry"], "EpisodeOfCare", held))
                continue
            before = snapshot(existing)
            for k, v in changes.items():
                setattr(existing, k, v)
            existing.import_batch, existing.updated_at = batch, now
            existing.row_hash = ""  # changed outside the provider's extract: its next snapshot row is applied again
            existing.save()
            auditor.update(existing, before, summary="updated from FHIR import")
            _clock_events(existing, plan, batch, now)
            result.pathways_updated += 1
        batch.status, batch.finished_at = ImportBatch.Status.LOADED, timezone.now()
        batch.rows_loaded = len(plans) - len(result.notes)
        batch.rows_rejected = _entries(result.notes)
        batch.pathways_created, batch.pathways_updated = result.pathways_created, result.pathways_updated
        batch.pathways_unchanged = result.pathways_unchanged
        batch.message = (f"Loaded {batch.rows_loaded} of {len(plans)} waiting-list entries"
                         + (f"; {len(result.notes)} left as a recorded decision made them" if result.notes else ""))
        batch.save()
        ImportRejection.objects.bulk_create([
            ImportRejection(batch=batch, row_number=n.entry, field=n.field[:80], reason=n.message[:300])
            for n in result.notes])
        auditor.create(batch, summary=f"FHIR import: {len(plans)} entries ({result.pathways_created} created, "
                                      f"{result.pathways_updated} updated, {result.pathways_unchanged} unchanged, "
                                      f"{len(result.notes)} not applied)")
    result.batch = batch
    return result
