"""The pure WLMDS kernel: header mapping, profiles, every cleaning rule (fires and does not fire)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from carecoord.integration import wlmds
from carecoord.integration.tests import wlmds_files as wf

CODES = wlmds.Codes.default()
GOOD = {"row_number": 1, "ppid": "PP1", "ppid_issuer": "RAA", "nhs_number": wf.NUMBERS[0], "provider": "RAA",
        "census_date": "2026-11-15", "waiting_list_type": "IRTT", "tfc": "110", "rtt_start": "2026-03-01",
        "rtt_status": "20", "priority_type": "1", "clinical_priority": "P3", "tci_date": "2026-12-01", "sex": "2"}


def clean_one(kind="open", **overrides):
    row = {**GOOD, **overrides}
    raw = pl.DataFrame({k: [v] for k, v in row.items()}, schema={k: (pl.Int64 if k == "row_number" else pl.String)
                                                                 for k in row})
    return wlmds.clean(raw, kind=kind, provider="RAA", codes=CODES, census=date(2026, 11, 15))


def reasons(result) -> dict[str, str]:
    return dict(zip(result.rejections["field"].to_list(), result.rejections["reason"].to_list(), strict=True))


# ---------------------------------------------------------------- header mapping


def test_header_names_match_case_insensitively_with_stray_spaces_and_bom():
    header = ["\ufeffpatient_pathway_identifier", " Organisation_Code_Patient_Pathway_Identifier_Issuer ",
              "nhs_number", "ORGANISATION_IDENTIFIER_CODE_OF_PROVIDER", "WEEK_ENDING_DATE", "waiting_list_type",
              "activity_treatment_function_code", "referral_to_treatment_period_start_date", "Extra column"]
    m = wlmds.map_header(header, "open")
    assert m.columns["ppid"] == "\ufeffpatient_pathway_identifier"
    assert m.columns["census_date"] == "WEEK_ENDING_DATE" and m.ignored == ["Extra column"]


def test_missing_required_columns_are_all_named():
    with pytest.raises(wlmds.HeaderError) as exc:
        wlmds.map_header(["PATIENT_PATHWAY_IDENTIFIER", "NHS_NUMBER"], "open")
    msg = str(exc.value)
    assert "missing required columns" in msg
    for name in ("ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER", "Week_Ending_Date", "Waiting_List_Type",
                 "ACTIVITY_TREATMENT_FUNCTION_CODE", "REFERRAL_TO_TREATMENT_PERIOD_START_DATE"):
        assert name in msg
    assert "NHS_NUMBER," not in msg.split(":")[1]


def test_required_columns_depend_on_the_kind():
    base = ["PATIENT_PATHWAY_IDENTIFIER", "ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER", "NHS_NUMBER",
            "ORGANISATION_IDENTIFIER_CODE_OF_PROVIDER", "Week_Ending_Date", "ACTIVITY_TREATMENT_FUNCTION_CODE"]
    wlmds.map_header([*base, "REFERRAL_TO_TREATMENT_PERIOD_START_DATE"], "starts")
    with pytest.raises(wlmds.HeaderError, match="REFERRAL_TO_TREATMENT_PERIOD_END_DATE"):
        wlmds.map_header([*base, "REFERRAL_TO_TREATMENT_PERIOD_START_DATE"], "stops")
    with pytest.raises(wlmds.HeaderError, match="unknown kind"):
        wlmds.map_header(base, "weekly")


def test_a_profile_maps_a_trusts_own_columns_and_falls_back_to_wlmds_names():
    header = ["Pathway ID", "PPID Org", "NHS No", "Trust", "Census", "List", "Spec", "Clock Start", "TCI_Date"]
    profile = {"PATIENT_PATHWAY_IDENTIFIER": "pathway id", "ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER":
               "PPID Org", "NHS_NUMBER": "NHS No", "ORGANISATION_IDENTIFIER_CODE_OF_PROVIDER": "Trust",
               "week_ending_date": "Census", "Waiting_List_Type": "List", "ACTIVITY_TREATMENT_FUNCTION_CODE": "Spec",
               "REFERRAL_TO_TREATMENT_PERIOD_START_DATE": "Clock Start"}
    m = wlmds.map_header(header, "open", profile)
    assert m.columns["ppid"] == "Pathway ID" and m.columns["census_date"] == "Census"
    assert m.columns["tci_date"] == "TCI_Date"  # not in the profile: the WLMDS name still works


def test_a_profile_naming_absent_columns_or_unknown_fields_is_a_clear_error():
    with pytest.raises(wlmds.HeaderError, match="column 'Nope', which is not in the file"):
        wlmds.map_header(["A", "B"], "open", {"NHS_NUMBER": "Nope"})
    with pytest.raises(wlmds.HeaderError, match="'SHOE_SIZE', which is not a WLMDS field"):
        wlmds.map_header(["A", "B"], "open", {"SHOE_SIZE": "A"})


def test_read_header_rejects_empty_binary_and_header_only_files(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "x.xlsx").write_bytes(b"PK\x03\x04\x14\x00binary")
    (tmp_path / "h.csv").write_text("A,B,C\n")
    (tmp_path / "one.csv").write_text("just one column\nvalue\n")
    with pytest.raises(wlmds.HeaderError, match="empty"):
        wlmds.read_header(tmp_path / "empty.csv")
    with pytest.raises(wlmds.HeaderError, match="not a CSV text file"):
        wlmds.read_header(tmp_path / "x.xlsx")
    with pytest.raises(wlmds.HeaderError, match="no data rows"):
        wlmds.read_header(tmp_path / "h.csv")
    with pytest.raises(wlmds.HeaderError, match="not a CSV header"):
        wlmds.read_header(tmp_path / "one.csv")
    (tmp_path / "ok.csv").write_text("A|B\n1|2\n")
    assert wlmds.read_header(tmp_path / "ok.csv", delimiter="|") == ["A", "B"]


# ---------------------------------------------------------------- cleaning rules


def test_a_good_row_passes_and_is_typed():
    r = clean_one()
    assert r.rejections.height == 0 and r.frame.height == 1
    row = r.frame.row(0, named=True)
    assert row["rtt_start"] == date(2026, 3, 1) and row["list_type"] == "admitted" and row["clock_state"] == "open"


@pytest.mark.parametrize("value", ["2026-03-01", "01/03/2026"])
def test_both_date_formats_parse(value):
    r = clean_one(rtt_start=value)
    assert r.rejections.height == 0 and r.frame["rtt_start"][0] == date(2026, 3, 1)


@pytest.mark.parametrize(("field", "value", "label", "reason"), [
    ("rtt_start", "31/02/2026", "REFERRAL_TO_TREATMENT_PERIOD_START_DATE", "not a date"),
    ("rtt_start", "next week", "REFERRAL_TO_TREATMENT_PERIOD_START_DATE", "not a date"),
    ("tci_date", "9999-12-31", "TCI_Date", "placeholder date"),
    ("rtt_start", "1900-01-01", "REFERRAL_TO_TREATMENT_PERIOD_START_DATE", "placeholder date"),
    ("tci_date", "2031-11-16", "TCI_Date", "more than 5 years after the census week"),
    ("rtt_start", "2026-11-16", "REFERRAL_TO_TREATMENT_PERIOD_START_DATE", "after the census week"),
    ("census_date", "2026-11-08", "Week_Ending_Date", "differs from the file's census week"),
    ("waiting_list_type", "PLTO", "Waiting_List_Type", "not a known Waiting_List_Type"),
    ("rtt_status", "40", "REFERRAL_TO_TREATMENT_PERIOD_STATUS", "not an RTT status code"),
    ("tfc", "11", "ACTIVITY_TREATMENT_FUNCTION_CODE", "not a treatment function code"),
    ("tfc", "1-0", "ACTIVITY_TREATMENT_FUNCTION_CODE", "not a treatment function code"),
    ("priority_type", "4", "PRIORITY_TYPE_CODE", "not a priority type"),
    ("clinical_priority", "P9", "Procedure_Priority_Code", "not a known clinical priority"),
    ("sex", "M", "PERSON_STATED_GENDER_CODE", "not a PERSON STATED GENDER CODE"),
    ("nhs_number", "1234567890", "NHS_NUMBER", "check value is 10"),
    ("nhs_number", "9434765918", "NHS_NUMBER", "check digit does not match"),
    ("nhs_number", "94347659", "NHS_NUMBER", "not 10 digits"),
    ("nhs_number", "5000000005", "NHS_NUMBER", "not in an allocated range"),
    ("nhs_number", None, "NHS_NUMBER", "missing"),
    ("ppid", None, "PATIENT_PATHWAY_IDENTIFIER", "missing"),
    ("ppid", "X" * 21, "PATIENT_PATHWAY_IDENTIFIER", "longer than 20 characters"),
    ("ppid_issuer", "  ", "ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER", "missing"),
    ("provider", "RBB", "ORGANISATION_IDENTIFIER_CODE_OF_PROVIDER", "different provider"),
    ("waiting_list_type", None, "Waiting_List_Type", "missing"),
])
def test_each_rule_rejects_the_row_naming_field_and_reason(field, value, label, reason):
    r = clean_one(**{field: value})
    assert r.frame.height == 0
    got = reasons(r)
    assert label in got and reason in got[label], got
    assert r.rejections["row_number"].to_list() == [1] * r.rejections.height


@pytest.mark.parametrize(("field", "value"), [
    ("tci_date", "2031-11-14"), ("rtt_start", "2026-11-15"), ("rtt_start", "1901-01-01"), ("rtt_start", None),
    ("waiting_list_type", "ortt"), ("waiting_list_type", "RTTI"), ("rtt_status", None), ("rtt_status", "33"),
    ("tfc", "X02"), ("priority_type", None), ("priority_type", "3"), ("clinical_priority", "p1a"),
    ("clinical_priority", None), ("sex", "9"), ("nhs_number", wf.NUMBERS[1][:3] + " " + wf.NUMBERS[1][3:6] + " "
                                                 + wf.NUMBERS[1][6:]),
    ("nhs_number", "4010232137"), ("provider", "raa"), ("ppid", "X" * 20),
])
def test_each_rule_lets_a_good_value_through(field, value):
    r = clean_one(**{field: value})
    assert r.rejections.height == 0, reasons(r)
    assert r.frame.height == 1


def test_normalised_values():
    r = clean_one(nhs_number="401-023-2137", waiting_list_type="ortt", clinical_priority="p1a", rtt_start=None)
    row = r.frame.row(0, named=True)
    assert (row["nhs_number"], row["waiting_list_type"], row["clinical_priority"]) == ("4010232137", "ORTT", "P1a")
    assert (row["list_type"], row["clock_state"]) == ("non_admitted", "unknown")


def test_list_types_and_clock_states():
    # Planned lists (PTLO, PTLI) are list type "planned": out of RTT scope (§5), and what T20 looks for.
    for wlt, lt, cs in [("IRTT", "admitted", "open"), ("PTLI", "planned", "open"), ("RTTI", "admitted", "open"),
                        ("ORTT", "non_admitted", "open"), ("PTLO", "planned", "open"),
                        ("RTTO", "non_admitted", "open"), ("ONON", "non_admitted", "non_rtt"),
                        ("INON", "admitted", "non_rtt")]:
        row = clean_one(waiting_list_type=wlt).frame.row(0, named=True)
        assert (row["list_type"], row["clock_state"]) == (lt, cs), wlt


def test_required_values_depend_on_the_kind():
    assert "missing" in reasons(clean_one("starts", rtt_start=None))["REFERRAL_TO_TREATMENT_PERIOD_START_DATE"]
    stops = reasons(clean_one("stops", rtt_status="20"))
    assert "clock-stop status" in stops["REFERRAL_TO_TREATMENT_PERIOD_STATUS"]
    assert "missing" in stops["REFERRAL_TO_TREATMENT_PERIOD_END_DATE"]
    assert clean_one("stops", rtt_status="34", rtt_end="2026-11-10").rejections.height == 0


def test_duplicates_inside_a_frame_reject_every_copy():
    raw = pl.DataFrame({**{k: [v, v, v] for k, v in GOOD.items() if k != "row_number"}, "row_number": [1, 2, 3]})
    raw = raw.with_columns(pl.Series("ppid", ["A", "B", "A"]))
    r = wlmds.clean(raw, kind="open", provider="RAA", codes=CODES)
    assert r.rejections["row_number"].to_list() == [1, 3]
    assert all("rows 1, 3" in why for why in r.rejections["reason"])
    assert r.frame["ppid"].to_list() == ["B"]
    assert wlmds.clean(raw, kind="open", provider="RAA", codes=CODES, check_duplicates=False).rejections.height == 0


def test_census_is_the_commonest_week_when_not_given():
    raw = pl.DataFrame({**{k: [v] * 3 for k, v in GOOD.items() if k != "row_number"}, "row_number": [1, 2, 3]})
    raw = raw.with_columns(pl.Series("census_date", ["2026-11-15", "15/11/2026", "2026-11-08"]),
                           pl.Series("ppid", ["A", "B", "C"]))
    r = wlmds.clean(raw, kind="open", provider="RAA", codes=CODES)
    assert r.census == date(2026, 11, 15) and r.rejections["row_number"].to_list() == [3]


def test_several_bad_fields_on_one_row_are_each_reported():
    r = clean_one(tfc="1", priority_type="9", tci_date="9999-12-31")
    assert set(reasons(r)) == {"ACTIVITY_TREATMENT_FUNCTION_CODE", "PRIORITY_TYPE_CODE", "TCI_Date"}
    assert r.rejected_rows == 1


# ---------------------------------------------------------------- census week, identity, encodings


@pytest.mark.parametrize(("census", "problem"), [
    (date(2026, 11, 29), None),                      # today's Sunday
    (date(2026, 12, 6), None),                       # next Sunday: within the tolerance
    (date(2026, 12, 13), "in the future"),
    (date(2062, 11, 26), "in the future"),           # QA's typo for 2026-11-29 (a Sunday too)
    (date(2026, 11, 26), "is a Thursday; WLMDS weeks end on a Sunday"),
])
def test_a_census_week_must_be_a_sunday_and_not_in_the_future(census, problem):
    got = wlmds.census_problem(census, today=date(2026, 11, 29), future_days=7)
    if problem is None:
        assert got is None
    else:
        assert got and census.strftime("%d/%m/%Y") in got
        assert problem in got


def test_the_issuer_is_normalised_alike_for_rejected_and_good_rows():
    bad = clean_one(ppid_issuer=" raa ", tfc="1")
    assert bad.rejections["ppid_issuer"].to_list() == ["RAA"] and bad.rejections["ppid"].to_list() == ["PP1"]
    good = clean_one(ppid_issuer="raa", ppid=" PP1 ")
    assert good.frame.select("ppid", "ppid_issuer").row(0) == ("PP1", "RAA")


def test_a_clock_stop_before_the_clock_start_is_rejected():
    got = reasons(clean_one("stops", rtt_status="30", rtt_start="2026-06-01", rtt_end="2026-05-31"))
    assert "before the RTT period start date" in got["REFERRAL_TO_TREATMENT_PERIOD_END_DATE"]
    assert clean_one("stops", rtt_status="30", rtt_start="2026-06-01", rtt_end="2026-06-01").rejections.height == 0


@pytest.mark.parametrize("header", [["TCI_Date", "TCI_Date"], ["TCI_Date", "tci_date"]])
def test_a_header_holding_a_wlmds_column_twice_is_refused(header):
    with pytest.raises(wlmds.HeaderError, match="same column more than once.*'TCI_Date' and '(TCI_Date|tci_date)'"):
        wlmds.map_header([*header, "PATIENT_PATHWAY_IDENTIFIER"], "open")
    # Repeated columns the import does not read are left alone.
    wf_header = [*wf.OPEN_HEADER, "Comments", "Comments"]
    assert wlmds.map_header(wf_header, "open").ignored == ["Comments", "Comments"]


def test_read_header_names_utf16_cr_only_and_unbroken_files(tmp_path):
    (tmp_path / "u16.csv").write_bytes("A,B\r\n1,2\r\n".encode("utf-16"))
    (tmp_path / "u16le.csv").write_bytes("A,B\r\n1,2\r\n".encode("utf-16-le"))
    (tmp_path / "cr.csv").write_bytes(b"A,B\r1,2\r3,4\r")
    (tmp_path / "long.csv").write_bytes(b"A," * 3_000_000)
    for name in ("u16.csv", "u16le.csv"):
        with pytest.raises(wlmds.HeaderError, match="UTF-16.*CSV UTF-8"):
            wlmds.read_header(tmp_path / name)
    with pytest.raises(wlmds.HeaderError, match="carriage return only"):
        wlmds.read_header(tmp_path / "cr.csv")
    with pytest.raises(wlmds.HeaderError, match="no line breaks"):
        wlmds.read_header(tmp_path / "long.csv")


def test_scan_file_settles_the_encoding_of_the_whole_file(tmp_path):
    body = "A,B\n" + "x,y\n" * 10
    (tmp_path / "utf8.csv").write_text(body + "Café£,z\n", encoding="utf-8")
    (tmp_path / "bom.csv").write_text(body, encoding="utf-8-sig")
    (tmp_path / "cp.csv").write_bytes(body.encode() + "Café£,z\n".encode("cp1252"))
    (tmp_path / "neither.csv").write_bytes(body.encode() + b"\x81\xff,z\n")
    assert wlmds.scan_file(tmp_path / "utf8.csv") == wlmds.FileScan(11, "utf-8")
    assert wlmds.scan_file(tmp_path / "bom.csv") == wlmds.FileScan(10, "utf-8")
    assert wlmds.scan_file(tmp_path / "cp.csv") == wlmds.FileScan(11, "cp1252")
    with pytest.raises(wlmds.HeaderError, match="neither UTF-8 nor Windows-1252.*0x81"):
        wlmds.scan_file(tmp_path / "neither.csv")
    wlmds.transcode(tmp_path / "cp.csv", tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").endswith("Café£,z\n")


def test_a_row_with_too_many_fields_is_found_by_number(tmp_path):
    (tmp_path / "r.csv").write_text('A,B,C\n1,2,3\n4,"5,5",6\n7,8,9,10\n')
    assert wlmds.ragged_row(tmp_path / "r.csv") == (3, 4, 3)
    (tmp_path / "ok.csv").write_text("A,B\n1,2\n")
    assert wlmds.ragged_row(tmp_path / "ok.csv") is None
