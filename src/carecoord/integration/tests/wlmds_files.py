"""Build small WLMDS CSV files for tests."""

from __future__ import annotations

import csv
from pathlib import Path

from carecoord.core import nhs_number

CENSUS = "2026-11-15"
OPEN_HEADER = [
    "PATIENT_PATHWAY_IDENTIFIER", "ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER", "NHS_NUMBER",
    "LOCAL_PATIENT_IDENTIFIER", "ORGANISATION_IDENTIFIER_CODE_OF_PROVIDER", "Week_Ending_Date", "Waiting_List_Type",
    "ACTIVITY_TREATMENT_FUNCTION_CODE", "REFERRAL_TO_TREATMENT_PERIOD_START_DATE",
    "REFERRAL_TO_TREATMENT_PERIOD_STATUS", "PRIORITY_TYPE_CODE", "Procedure_Priority_Code", "CONSULTANT_CODE",
    "DECISION_TO_ADMIT_DATE", "TCI_Date", "Due_Date", "Proposed_Procedure_OPCS_Code", "PERSON_BIRTH_DATE",
    "PERSON_STATED_GENDER_CODE",
]
NUMBERS = list(nhs_number.generate_test_numbers(200, start=100_000))


def open_row(i: int, provider: str = "RAA", **overrides) -> dict:
    row = {
        "PATIENT_PATHWAY_IDENTIFIER": f"PP{provider}{i:06d}", "ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER": provider,
        "NHS_NUMBER": NUMBERS[i], "LOCAL_PATIENT_IDENTIFIER": f"MRN{provider}{i:05d}",
        "ORGANISATION_IDENTIFIER_CODE_OF_PROVIDER": provider, "Week_Ending_Date": CENSUS, "Waiting_List_Type": "IRTT",
        "ACTIVITY_TREATMENT_FUNCTION_CODE": "110", "REFERRAL_TO_TREATMENT_PERIOD_START_DATE": "2026-03-01",
        "REFERRAL_TO_TREATMENT_PERIOD_STATUS": "20", "PRIORITY_TYPE_CODE": "1", "Procedure_Priority_Code": "P3",
        "CONSULTANT_CODE": "C1234567", "DECISION_TO_ADMIT_DATE": "2026-05-01", "TCI_Date": "",
        "Due_Date": "2026-12-01", "Proposed_Procedure_OPCS_Code": "W401", "PERSON_BIRTH_DATE": "1960-02-03",
        "PERSON_STATED_GENDER_CODE": "2",
    }
    row.update(overrides)
    return row


def clock_row(ppid: str, number: int, status: str, *, start: str | None = None, end: str | None = None,
              census: str = CENSUS, tfc: str = "110", provider: str = "RAA") -> dict:
    """A clock-starts or clock-stops row (RTT period start and end dates only when given)."""
    row = {"PATIENT_PATHWAY_IDENTIFIER": ppid, "ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER": provider,
           "NHS_NUMBER": NUMBERS[number], "ORGANISATION_IDENTIFIER_CODE_OF_PROVIDER": provider,
           "Week_Ending_Date": census, "ACTIVITY_TREATMENT_FUNCTION_CODE": tfc}
    if start is not None:
        row["REFERRAL_TO_TREATMENT_PERIOD_START_DATE"] = start
    if end is not None:
        row["REFERRAL_TO_TREATMENT_PERIOD_END_DATE"] = end
    return row | {"REFERRAL_TO_TREATMENT_PERIOD_STATUS": status}


def write(path: Path, rows: list[dict], header: list[str] | None = None, delimiter: str = ",") -> Path:
    header = header or (list(rows[0]) if rows else OPEN_HEADER)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header, delimiter=delimiter, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def open_file(tmp_path: Path, n: int = 3, provider: str = "RAA", name: str = "open.csv", census: str = CENSUS,
              **overrides) -> Path:
    rows = [open_row(i, provider, Week_Ending_Date=census, **overrides) for i in range(n)]
    return write(tmp_path / name, rows)
