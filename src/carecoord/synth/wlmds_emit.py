"""Write the synthetic waiting lists as WLMDS CSV files (open pathways, clock starts, clock stops),
one set per provider, in the field names the importer's default profile reads (reference §2.2).
Streamed with COPY ... TO STDOUT, so the national scale writes without holding rows in memory."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from django.db import connection

from carecoord.core.models import Organisation

# The national status of the row: the pathway's latest for open pathways and clock starts; for clock
# stops, the status that stopped the clock (30-36), never a later non-RTT code such as 90 or 91.
COMMON = """
  p.ppid AS "PATIENT_PATHWAY_IDENTIFIER", p.ppid_issuer AS "ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER",
  pt.nhs_number AS "NHS_NUMBER", p.local_patient_id AS "LOCAL_PATIENT_IDENTIFIER",
  o.ods_code AS "ORGANISATION_IDENTIFIER_CODE_OF_PROVIDER", %(census)s::date AS "Week_Ending_Date",
  p.waiting_list_type AS "Waiting_List_Type", p.tfc AS "ACTIVITY_TREATMENT_FUNCTION_CODE",
  p.referral_received AS "REFERRAL_REQUEST_RECEIVED_DATE",
  p.rtt_start AS "REFERRAL_TO_TREATMENT_PERIOD_START_DATE", {status} AS "REFERRAL_TO_TREATMENT_PERIOD_STATUS",
  p.priority_type AS "PRIORITY_TYPE_CODE", p.clinical_priority AS "Procedure_Priority_Code",
  p.consultant_code AS "CONSULTANT_CODE", p.intended_procedure AS "Proposed_Procedure_OPCS_Code",
  p.dta_date AS "DECISION_TO_ADMIT_DATE", p.tci_date AS "TCI_Date", p.due_date AS "Due_Date",
  pt.birth_date AS "PERSON_BIRTH_DATE", pt.sex AS "PERSON_STATED_GENDER_CODE"
"""
QUERIES = {
    "open": f"SELECT {COMMON.format(status='p.rtt_status')} FROM waitinglist_pathway p JOIN core_patient pt ON pt.id = p.patient_id "
            "JOIN core_organisation o ON o.id = p.provider_id WHERE p.provider_id = %(provider)s "
            "AND p.status = 'on_list' ORDER BY p.id",
    "starts": f"SELECT {COMMON.format(status='p.rtt_status')} FROM waitinglist_pathway p JOIN core_patient pt ON pt.id = p.patient_id "
              "JOIN core_organisation o ON o.id = p.provider_id WHERE p.provider_id = %(provider)s "
              "AND p.rtt_start > %(week_start)s AND p.rtt_start <= %(census)s ORDER BY p.id",
    "stops": f"SELECT {COMMON.format(status='p.clock_stop_status')}, p.clock_stop AS \"REFERRAL_TO_TREATMENT_PERIOD_END_DATE\" "
             "FROM waitinglist_pathway p JOIN core_patient pt ON pt.id = p.patient_id "
             "JOIN core_organisation o ON o.id = p.provider_id WHERE p.provider_id = %(provider)s "
             "AND p.clock_stop IS NOT NULL AND p.clock_stop_status <> '' ORDER BY p.id",
}


def week_ending(on: date) -> date:
    """WLMDS weeks end on a Sunday."""
    return on + timedelta(days=(6 - on.weekday()) % 7)


def emit(directory: Path, as_of: date) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    census = week_ending(as_of)
    written = []
    providers = Organisation.objects.filter(pathways__isnull=False).distinct().order_by("ods_code")
    with connection.cursor() as cur:
        for org in providers:
            for kind, sql in QUERIES.items():
                path = directory / f"{org.ods_code}-{kind}-{census.isoformat()}.csv"
                query = cur.mogrify(sql, {"provider": org.pk, "census": census, "week_start": census - timedelta(7)})
                with open(path, "wb") as fh, cur.cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
                    for block in copy:
                        fh.write(block)
                written.append(path)
    return written
