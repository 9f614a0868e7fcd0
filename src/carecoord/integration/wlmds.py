"""The WLMDS kernel: header mapping (with per-trust profiles), parsing and cleaning with Polars.

Pure: no Django import. Takes strings (a header, a frame of raw text columns) and the valid code
sets; returns the clean, typed frame plus the rejections (row number, field, value, reason).

Field names are the national data lake's (waiting-list.md §2.2), matched case-insensitively. A
mapping profile ({wlmds_field: source column}) renames a trust's own PAS extract columns; fields a
profile does not map fall back to their WLMDS names. Dates may be YYYY-MM-DD or DD/MM/YYYY.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from carecoord.core import nhs_number

KINDS = ("open", "starts", "stops")

# WLMDS field (data-lake spelling) -> internal column.
FIELDS: dict[str, str] = {
    "PATIENT_PATHWAY_IDENTIFIER": "ppid",
    "ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER": "ppid_issuer",
    "NHS_NUMBER": "nhs_number",
    "LOCAL_PATIENT_IDENTIFIER": "local_patient_id",
    "ORGANISATION_IDENTIFIER_CODE_OF_PROVIDER": "provider",
    "ORGANISATION_SITE_IDENTIFIER_OF_TREATMENT": "site_code",
    "ORGANISATION_IDENTIFIER_CODE_OF_COMMISSIONER": "commissioner_code",
    "ORGANISATION_IDENTIFIER_REFERRING_ORGANISATION": "referrer_code",
    "Week_Ending_Date": "census_date",
    "Waiting_List_Type": "waiting_list_type",
    "PERSON_BIRTH_DATE": "birth_date",
    "PERSON_STATED_GENDER_CODE": "sex",
    "REFERRAL_REQUEST_RECEIVED_DATE": "referral_received",
    "UNIQUE_BOOKING_REFERENCE_NUMBER": "ubrn",
    "SOURCE_OF_REFERRAL": "source_of_referral",
    "MAIN_SPECIALTY_CODE": "main_specialty",
    "ACTIVITY_TREATMENT_FUNCTION_CODE": "tfc",
    "CONSULTANT_CODE": "consultant_code",
    "REFERRAL_TO_TREATMENT_PERIOD_START_DATE": "rtt_start",
    "REFERRAL_TO_TREATMENT_PERIOD_END_DATE": "rtt_end",
    "REFERRAL_TO_TREATMENT_PERIOD_STATUS": "rtt_status",
    "PRIORITY_TYPE_CODE": "priority_type",
    "Procedure_Priority_Code": "clinical_priority",
    "Date_Of_Last_Priority_Review": "priority_reviewed_on",
    "Proposed_Procedure_OPCS_Code": "intended_procedure",
    "INTENDED_MANAGEMENT_CODE": "intended_management",
    "DECISION_TO_ADMIT_DATE": "dta_date",
    "TCI_Date": "tci_date",
    "TCI_Date_Provided": "tci_provided_on",
    "Due_Date": "due_date",
    "Last_PAS_Validation_Date": "last_validated_on",
}
LABEL = {internal: wlmds for wlmds, internal in FIELDS.items()}

DATE_FIELDS = ("census_date", "birth_date", "referral_received", "rtt_start", "rtt_end", "priority_reviewed_on",
               "dta_date", "tci_date", "tci_provided_on", "due_date", "last_validated_on")
# Longest value each text field may hold (the waiting-list columns' widths).
MAX_LENGTH = {
    "ppid": 20, "ppid_issuer": 12, "local_patient_id": 40, "provider": 12, "site_code": 12, "commissioner_code": 12,
    "referrer_code": 12, "waiting_list_type": 4, "sex": 1, "ubrn": 12, "source_of_referral": 2, "main_specialty": 3,
    "tfc": 3, "consultant_code": 12, "rtt_status": 2, "priority_type": 1, "clinical_priority": 4,
    "intended_procedure": 8, "intended_management": 1,
}

COMMON_COLUMNS = ("ppid", "ppid_issuer", "nhs_number", "provider", "census_date", "tfc")
REQUIRED_COLUMNS = {
    "open": (*COMMON_COLUMNS, "waiting_list_type", "rtt_start"),
    "starts": (*COMMON_COLUMNS, "rtt_start"),
    "stops": (*COMMON_COLUMNS, "rtt_end", "rtt_status"),
}
REQUIRED_VALUES = {
    "open": (*COMMON_COLUMNS, "waiting_list_type"),
    "starts": (*COMMON_COLUMNS, "rtt_start"),
    "stops": (*COMMON_COLUMNS, "rtt_end", "rtt_status"),
}

SENTINEL_DATES = (date(9999, 12, 31), date(1900, 1, 1), date(1899, 12, 31), date(1800, 1, 1), date(2999, 12, 31))
EARLIEST_DATE = date(1901, 1, 1)
FUTURE_LIMIT_YEARS = 5
PLANNED = {"PTLO", "PTLI"}  # planned lists (§5): list type "planned", out of RTT scope (validation's T20 reads it)
ADMITTED = {"IRTT", "RTTI", "INON"}
NON_RTT = {"ONON", "INON"}
SEXES = ("0", "1", "2", "9")
PRIORITY_TYPES = ("1", "2", "3")


def list_type_of(waiting_list_type: str | None) -> str:
    """The list type a Waiting_List_Type code sets (a missing or other code: non-admitted). The CSV and
    FHIR imports both read it."""
    code = (waiting_list_type or "").upper()
    return "planned" if code in PLANNED else "admitted" if code in ADMITTED else "non_admitted"


class HeaderError(ValueError):
    """The file as a whole cannot be read: empty, not CSV, or missing required columns."""


@dataclass(frozen=True)
class Codes:
    """The valid code sets, from the reference tables (core_rttstatus, core_waitinglisttype...)."""

    rtt_statuses: frozenset[str]
    waiting_list_types: frozenset[str]
    stop_statuses: frozenset[str] = frozenset({"30", "31", "32", "33", "34", "35", "36"})
    clinical_priorities: frozenset[str] = frozenset()

    @classmethod
    def default(cls) -> Codes:
        """The national codes (tests and the bench; the service reads the reference tables)."""
        return cls(
            rtt_statuses=frozenset({"10", "11", "12", "20", "21", "30", "31", "32", "33", "34", "35", "36", "90",
                                    "91", "92", "98", "99"}),
            waiting_list_types=frozenset({"ORTT", "IRTT", "ONON", "INON", "PTLO", "PTLI", "RTTO", "RTTI"}),
            clinical_priorities=frozenset({"P1a", "P1b", "P2", "P3", "P4", "P5", "P6"}),
        )


@dataclass
class Mapping:
    """Which source column feeds each internal column."""

    columns: dict[str, str]  # internal -> source column (as spelled in the file)
    ignored: list[str] = field(default_factory=list)

    def select_exprs(self) -> list[pl.Expr]:
        return [pl.col(src).alias(internal) for internal, src in self.columns.items()]


def _norm(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip().casefold()


def map_header(header: list[str], kind: str, profile: dict[str, str] | None = None) -> Mapping:
    """Match the file's header to the WLMDS fields (case-insensitive), a profile's columns first.

    Raises HeaderError naming every required column that is missing, and any column the header
    holds twice (whatever its case: which copy to read would be a guess)."""
    if kind not in KINDS:
        raise HeaderError(f"unknown kind {kind!r} (choose {', '.join(KINDS)})")
    present: dict[str, str] = {}
    copies: dict[str, list[str]] = {}
    for col in header:
        present.setdefault(_norm(col), col)
        copies.setdefault(_norm(col), []).append(col)
    wanted = {_norm(k) for k in FIELDS} | {_norm(v) for v in (profile or {}).values() if v}
    twice = [cols for name, cols in copies.items() if len(cols) > 1 and name in wanted]
    if twice:
        raise HeaderError("the header has the same column more than once (which copy to read would be a guess): "
                          + "; ".join(" and ".join(repr(c) for c in cols) for cols in twice))
    by_field = {_norm(k): v for k, v in FIELDS.items()}
    columns: dict[str, str] = {}
    problems = []
    for wlmds_field, source in (profile or {}).items():
        internal = by_field.get(_norm(wlmds_field))
        if internal is None:
            problems.append(f"the profile maps {wlmds_field!r}, which is not a WLMDS field")
            continue
        if not source:
            continue
        if _norm(source) not in present:
            problems.append(f"the profile maps {wlmds_field} to column {source!r}, which is not in the file")
            continue
        columns[internal] = present[_norm(source)]
    used = set(columns.values())
    for wlmds_field, internal in FIELDS.items():
        if internal in columns:
            continue
        src = present.get(_norm(wlmds_field))
        if src is not None and src not in used:
            columns[internal] = src
            used.add(src)
    missing = [LABEL[c] for c in REQUIRED_COLUMNS[kind] if c not in columns]
    if missing:
        problems.append("missing required column" + ("s" if len(missing) > 1 else "") + ": " + ", ".join(missing))
    if problems:
        raise HeaderError("; ".join(problems))
    return Mapping(columns, ignored=[c for c in header if c not in used])


UTF16_ADVICE = ("the file is UTF-16 text (Excel's \"Unicode Text\"), not UTF-8: open it in Excel and save it as "
                "\"CSV UTF-8 (Comma delimited)\"")
CP1252 = "cp1252"
UTF8 = "utf-8"


def _looks_utf16(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    sample = head[:4096]
    # Mostly-ASCII UTF-16 without a byte-order mark: every other byte is a NUL.
    return len(sample) >= 8 and max(sample[0::2].count(0), sample[1::2].count(0)) > len(sample) // 4


def read_header(path: str | Path, delimiter: str = ",") -> list[str]:
    """The header row of a CSV file, with clear errors for an empty, non-text, UTF-16, CR-only or
    unbroken file. The header is read as UTF-8 (with or without a byte-order mark), else as
    Windows-1252 (the whole file's encoding is settled by `scan_file`)."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if not head.strip():
        raise HeaderError("the file is empty")
    if _looks_utf16(head):
        raise HeaderError(UTF16_ADVICE)
    if b"\x00" in head or head.startswith(b"PK\x03\x04") or head.startswith(b"%PDF"):
        raise HeaderError("the file is not a CSV text file (is it a spreadsheet or a PDF? save it as CSV)")
    if b"\n" not in head:
        if b"\r" in head:
            raise HeaderError("the file's lines end with a carriage return only (old Mac style): save it as "
                              "CSV with Windows or Unix line endings")
        if len(head) == 65536:
            raise HeaderError("the file has no line breaks in its first 64 KB, so it is not a CSV file of rows")
    try:
        # Incremental, not final: a character cut at the 64 KB boundary is not an encoding error.
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        text = head.decode(CP1252, errors="replace")
    first = text.splitlines()[0] if text.splitlines() else ""
    row = next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
    if len(row) < 2:
        raise HeaderError(f"the first line is not a CSV header (expected columns separated by {delimiter!r})")
    rest = text.splitlines()[1:]
    if not any(line.strip() for line in rest) and len(head) < 65536:
        raise HeaderError("the file has a header but no data rows")
    return row


@dataclass(frozen=True)
class FileScan:
    rows: int          # data rows (lines after the header)
    encoding: str      # UTF8 or CP1252


SCAN_BLOCK = 16 * 1024 * 1024


def scan_file(path: str | Path) -> FileScan:
    """One streamed pass over the bytes: count the data rows and settle the encoding. UTF-8 (with or
    without a byte-order mark) is read as it is; a file that is not valid UTF-8 is Windows-1252 (what
    Excel's plain "CSV" and most Windows PAS exports write) if every byte is a Windows-1252 character,
    otherwise HeaderError names the problem. Nothing is ever replaced silently."""
    lines, last, utf8 = 0, b"\n", True
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as fh:
        while block := fh.read(SCAN_BLOCK):
            lines += block.count(b"\n")
            last = block[-1:]
            if utf8:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
        rows = max(0, lines + (0 if last == b"\n" else 1) - 1)
        if utf8:
            return FileScan(rows, UTF8)
        fh.seek(0)
        cp = codecs.getincrementaldecoder(CP1252)()
        offset = 0
        while block := fh.read(SCAN_BLOCK):
            try:
                cp.decode(block)
            except UnicodeDecodeError as exc:
                raise HeaderError(f"the file is neither UTF-8 nor Windows-1252 text (byte 0x{block[exc.start]:02X} "
                                  f"at offset {offset + exc.start:,}): save it as \"CSV UTF-8\"") from exc
            offset += len(block)
    return FileScan(rows, CP1252)


def transcode(path: str | Path, dest: str | Path, encoding: str = CP1252) -> None:
    """Rewrite `path` (in `encoding`) as UTF-8 in `dest`, streamed: Polars reads only UTF-8, and a
    lossless re-encoding keeps every character the trust typed (CSV rows are unchanged)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as src, open(dest, "w", encoding="utf-8", newline="") as out:
        while block := src.read(SCAN_BLOCK):
            out.write(decoder.decode(block))
        out.write(decoder.decode(b"", final=True))


def ragged_row(path: str | Path, *, delimiter: str = ",", encoding: str = UTF8) -> tuple[int, int, int] | None:
    """The first data row with more fields than the header: (row number, its fields, the header's).

    Only for explaining a file Polars could not read (an error path, so a plain csv.reader pass is
    fine); None when every row fits (the problem is something else, such as an unclosed quote)."""
    with open(path, encoding="utf-8-sig" if encoding == UTF8 else encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            width = len(next(reader))
            for number, row in enumerate(reader, start=1):
                if len(row) > width:
                    return number, len(row), width
        except (csv.Error, StopIteration):
            return None
    return None


def census_problem(census: date, *, today: date, future_days: int) -> str | None:
    """Why `census` cannot be a file's census week, or None. WLMDS weeks end on a Sunday
    (reference §2), and a census more than `future_days` after today is a typo (2062 for 2026) that
    would otherwise block every later week as "older than the latest loaded"."""
    if census.weekday() != 6:
        return (f"the census week (Week_Ending_Date) {census:%d/%m/%Y} is a {census:%A}; WLMDS weeks end on a "
                "Sunday")
    if census > today + timedelta(days=future_days):
        return (f"the census week (Week_Ending_Date) {census:%d/%m/%Y} is in the future (more than {future_days} "
                f"days after today, {today:%d/%m/%Y}); check the file's Week_Ending_Date")
    return None


# ---------------------------------------------------------------- cleaning


def parse_date(col: str, date_format: str = "auto") -> pl.Expr:
    c = pl.col(col)
    iso = c.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    uk = c.str.strptime(pl.Date, "%d/%m/%Y", strict=False)
    if date_format == "YYYY-MM-DD":
        return iso
    if date_format == "DD/MM/YYYY":
        return uk
    return pl.coalesce(iso, uk)


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def is_placeholder_date(d: date) -> bool:
    """A date the importer rejects as a placeholder (9999-12-31, 1900-01-01, anything before 1901):
    the one rule for single dates typed into pages and the API."""
    return d < EARLIEST_DATE or d in SENTINEL_DATES


def future_limit(d: date) -> date:
    """The latest believable date for a record made on `d` (FUTURE_LIMIT_YEARS later)."""
    return _add_years(d, FUTURE_LIMIT_YEARS)


def _nhs_ok_expr(col: str) -> pl.Expr:
    """Vectorised NHS number check: format, Modulus 11, allocated (or synthetic 9xx) range."""
    c = pl.col(col)
    digits = c.str.replace_all(r"[ -]", "")
    fmt = c.str.contains(r"^(\d{10}|\d{3} \d{3} \d{4}|\d{3}-\d{3}-\d{4})$")
    total = pl.sum_horizontal([digits.str.slice(i, 1).cast(pl.Int64, strict=False) * (10 - i) for i in range(9)])
    check = 11 - total % 11
    check = pl.when(check == 11).then(0).otherwise(check)
    num = digits.cast(pl.Int64, strict=False)
    in_range = pl.lit(False)
    for low, high, _use, allocated in nhs_number.RANGES:
        if allocated or low >= 9_000_000_000:
            in_range = in_range | num.is_between(low, high)
    return fmt & (check != 10) & (check == digits.str.slice(9, 1).cast(pl.Int64, strict=False)) & in_range


def census_of(frame: pl.DataFrame, date_format: str = "auto") -> date | None:
    """The file's census week: the most common parseable Week_Ending_Date."""
    if "census_date" not in frame.columns or frame.height == 0:
        return None
    dates = frame.select(parse_date("census_date", date_format).alias("d")).drop_nulls()
    if dates.height == 0:
        return None
    return dates.group_by("d").len().sort(["len", "d"], descending=[True, True])["d"][0]


@dataclass
class Cleaned:
    frame: pl.DataFrame        # typed, only the good rows
    rejections: pl.DataFrame   # row_number, field, value, reason, ppid, ppid_issuer
    census: date | None
    rows_read: int

    @property
    def rejected_rows(self) -> int:
        return self.rejections["row_number"].n_unique() if self.rejections.height else 0


REJECTION_SCHEMA = {"row_number": pl.Int64, "field": pl.String, "value": pl.String, "reason": pl.String,
                    "ppid": pl.String, "ppid_issuer": pl.String}


def clean(raw: pl.DataFrame, *, kind: str, provider: str, codes: Codes, census: date | None = None,
          date_format: str = "auto", check_duplicates: bool = True) -> Cleaned:
    """Clean one frame of raw text columns (internal names, plus `row_number`).

    Every bad field of every row becomes a rejection; a row with any rejection is left out of the
    clean frame. `census` is the file's census week (found from this frame when not given)."""
    for col in FIELDS.values():
        if col not in raw.columns:
            raw = raw.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    texts = [c for c in FIELDS.values()]
    raw = raw.with_columns([
        pl.col(c).cast(pl.String).str.strip_chars().replace("", None) for c in texts
    ]).with_columns(pl.col("row_number").cast(pl.Int64),
                    # The identity (PPID + issuer) is normalised once, here, so staged rows, rejections
                    # and duplicate checks all compare the same values (the issuer is an ODS code).
                    pl.col("ppid_issuer").str.to_uppercase())
    census = census or census_of(raw, date_format)
    limit = _add_years(census, FUTURE_LIMIT_YEARS) if census else date(9999, 1, 1)

    parsed = {c: parse_date(c, date_format) for c in DATE_FIELDS}
    reasons: dict[str, pl.Expr] = {}

    def add(col: str, cond: pl.Expr, reason: str | pl.Expr) -> None:
        new = pl.when(cond).then(reason if isinstance(reason, pl.Expr) else pl.lit(reason))
        reasons[col] = new.otherwise(reasons[col]) if col in reasons else new.otherwise(None)

    # Order matters: add() puts the latest rule first, so the most basic reasons are added last.
    for col, width in MAX_LENGTH.items():
        add(col, pl.col(col).str.len_chars() > width, f"longer than {width} characters")
    if census is not None:
        add("census_date", parsed["census_date"].is_not_null() & (parsed["census_date"] != pl.lit(census)),
            f"differs from the file's census week ({census.isoformat()})")
        for col in ("rtt_start", "rtt_end", "referral_received"):
            add(col, (parsed[col] > pl.lit(census)) & (parsed[col] <= pl.lit(limit)),
                f"after the census week ({census.isoformat()})")
    for col in DATE_FIELDS:
        d = parsed[col]
        if census is not None:
            add(col, d > pl.lit(limit), f"more than {FUTURE_LIMIT_YEARS} years after the census week "
                                        f"({census.isoformat()})")
        add(col, (d < pl.lit(EARLIEST_DATE)) | d.is_in(list(SENTINEL_DATES)),
            "a placeholder date (such as 9999-12-31 or 1900-01-01), not a real date")
        add(col, pl.col(col).is_not_null() & d.is_null(), "not a date (use YYYY-MM-DD or DD/MM/YYYY)")
    add("rtt_end", parsed["rtt_end"] < parsed["rtt_start"],
        "before the RTT period start date (REFERRAL_TO_TREATMENT_PERIOD_START_DATE)")
    add("tfc", ~pl.col("tfc").str.contains(r"^[A-Za-z0-9]{3}$"), "not a treatment function code (3 letters or digits)")
    add("priority_type", ~pl.col("priority_type").is_in(PRIORITY_TYPES),
        "not a priority type (1 routine, 2 urgent, 3 two-week wait)")
    add("sex", ~pl.col("sex").is_in(SEXES), "not a PERSON STATED GENDER CODE (0, 1, 2 or 9)")
    add("waiting_list_type", ~pl.col("waiting_list_type").str.to_uppercase().is_in(sorted(codes.waiting_list_types)),
        "not a known Waiting_List_Type (" + ", ".join(sorted(codes.waiting_list_types)) + ")")
    add("rtt_status", ~pl.col("rtt_status").is_in(sorted(codes.rtt_statuses)), "not an RTT status code (Annex D)")
    if kind == "stops":
        add("rtt_status", pl.col("rtt_status").is_in(sorted(codes.rtt_statuses))
            & ~pl.col("rtt_status").is_in(sorted(codes.stop_statuses)), "not a clock-stop status (30 to 36)")
    if codes.clinical_priorities:
        known = {c.casefold(): c for c in codes.clinical_priorities}
        add("clinical_priority", ~pl.col("clinical_priority").str.to_lowercase().is_in(list(known)),
            "not a known clinical priority (" + ", ".join(sorted(codes.clinical_priorities)) + ")")
    add("provider", pl.col("provider").str.to_uppercase() != provider.upper(),
        f"a different provider from the one importing ({provider})")
    add("nhs_number", ~_nhs_ok_expr("nhs_number"), pl.lit("__nhs__"))
    for col in REQUIRED_VALUES[kind]:
        add(col, pl.col(col).is_null(), "missing (required)")

    flagged = raw.with_columns([e.alias(f"__r_{c}") for c, e in reasons.items()])
    if check_duplicates:
        dup = pl.len().over(["ppid", "ppid_issuer"]) > 1
        rows = pl.col("row_number").cast(pl.String).str.join(", ").over(["ppid", "ppid_issuer"])
        flagged = flagged.with_columns(
            pl.when(dup & pl.col("ppid").is_not_null() & pl.col("ppid_issuer").is_not_null()
                    & pl.col("__r_ppid").is_null())
            .then(pl.lit("duplicate: the same PPID and issuer are on rows ") + rows)
            .otherwise(pl.col("__r_ppid")).alias("__r_ppid"))

    parts = []
    for col in reasons:
        part = flagged.filter(pl.col(f"__r_{col}").is_not_null()).select(
            "row_number", pl.lit(LABEL[col]).alias("field"), pl.col(col).alias("value"),
            pl.col(f"__r_{col}").alias("reason"), "ppid", "ppid_issuer")
        if part.height:
            parts.append(part)
    rejections = pl.concat(parts) if parts else pl.DataFrame(schema=REJECTION_SCHEMA)
    rejections = rejections.with_columns(
        pl.col("value").fill_null("").str.slice(0, 200), pl.col("reason").str.slice(0, 300))
    if rejections.height:
        rejections = _explain_nhs_numbers(rejections).sort(["row_number", "field"])

    good = flagged.filter(~pl.col("row_number").is_in(rejections["row_number"].unique().implode()))
    frame = _typed(good, kind, date_format, codes)
    return Cleaned(frame=frame, rejections=rejections.select(list(REJECTION_SCHEMA)), census=census,
                   rows_read=raw.height)


def _explain_nhs_numbers(rejections: pl.DataFrame) -> pl.DataFrame:
    """Replace the placeholder NHS-number reason with carecoord.core.nhs_number.validate's own."""
    mask = rejections["reason"] == "__nhs__"
    if not mask.any():
        return rejections
    values = rejections.filter(mask)["value"].unique().to_list()
    why = {v: nhs_number.validate(v).reason or "not a valid NHS number" for v in values}
    return rejections.with_columns(
        pl.when(pl.col("reason") == "__nhs__")
        .then(pl.lit("NHS number ") + pl.col("value").replace_strict(why, default="not valid", return_dtype=pl.String))
        .otherwise(pl.col("reason")).alias("reason"))


OUTPUT_COLUMNS = [
    "row_number", "ppid", "ppid_issuer", "nhs_number", "local_patient_id", "site_code", "commissioner_code",
    "referrer_code", "census_date", "waiting_list_type", "list_type", "clock_state", "birth_date", "sex",
    "referral_received", "ubrn", "source_of_referral", "main_specialty", "tfc", "consultant_code", "rtt_start",
    "rtt_end", "rtt_status", "priority_type", "clinical_priority", "priority_reviewed_on", "intended_procedure",
    "intended_management", "dta_date", "tci_date", "tci_provided_on", "due_date", "last_validated_on",
]


def _typed(good: pl.DataFrame, kind: str, date_format: str, codes: Codes) -> pl.DataFrame:
    wlt = pl.col("waiting_list_type").str.to_uppercase()
    known = {c.casefold(): c for c in codes.clinical_priorities}
    return good.with_columns(
        [parse_date(c, date_format).alias(c) for c in DATE_FIELDS]
        + [
            wlt.alias("waiting_list_type"),
            pl.col("nhs_number").str.replace_all(r"[ -]", ""),
            pl.col("site_code").str.to_uppercase(),
            pl.col("tfc").str.to_uppercase(),
            wlt.replace_strict({c: list_type_of(c) for c in PLANNED | ADMITTED}, default=list_type_of(None),
                               return_dtype=pl.String).alias("list_type"),
            pl.when(wlt.is_in(sorted(NON_RTT))).then(pl.lit("non_rtt"))
            .when(pl.col("rtt_start").is_null()).then(pl.lit("unknown"))
            .otherwise(pl.lit("open")).alias("clock_state"),
            (pl.col("clinical_priority").str.to_lowercase().replace_strict(known, default=None, return_dtype=pl.String)
             if known else pl.col("clinical_priority")).alias("clinical_priority"),
        ]
    ).select(OUTPUT_COLUMNS)


def read_frame(path: str | Path, mapping: Mapping, *, delimiter: str = ",") -> pl.LazyFrame:
    """A lazy scan of the file: every mapped column as text, with a 1-based `row_number`."""
    return pl.scan_csv(
        path, separator=delimiter, infer_schema=False, row_index_name="__row", row_index_offset=1,
        encoding="utf8",  # strict: scan_file has checked the file (or it was transcoded to UTF-8)
    ).select(pl.col("__row").cast(pl.Int64).alias("row_number"), *mapping.select_exprs())
