"""Technical validation rules T1–T21 (reference `waiting-list.md` §4.2) as a pure, set-based kernel.

Each rule is a function from a `Frames` (the list as a Polars frame, its clock events, the census
date and a `RuleConfig`) to a frame of `pathway_id` + `detail` for the pathways it flags. Rules are
Polars expressions over the whole list — never a Python loop per pathway — so a run over a million
pathways takes seconds. `run` applies every rule (or a chosen few) and returns one row per finding:
pathway_id, rule, severity, team, detail. Details never carry an NHS number or a name.

Adding a rule: write a function, decorate it with `@rule(code, title, severity=, team=, fix=,
source=)`, and add tests with cases that must fire and cases that must not.

Input frame (`PATHWAY_SCHEMA`): one row per pathway on the list, with the patient's NHS number and
date of birth joined in. Events (`EVENT_SCHEMA`): the pathway's clock events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from carecoord.core import nhs_number
from carecoord.waitinglist import rtt

TEST_RANGE_FROM = 9_000_000_000  # 9000000000-9999999999: synthetic and test patients, never issued

PATHWAY_SCHEMA = {
    "pathway_id": pl.Int64, "provider_id": pl.Int64, "nhs_number": pl.Utf8, "birth_date": pl.Date,
    "ppid": pl.Utf8, "ppid_issuer": pl.Utf8, "ubrn": pl.Utf8, "referral_received": pl.Date, "rtt_start": pl.Date,
    "clock_state": pl.Utf8, "rtt_status": pl.Utf8, "waiting_list_type": pl.Utf8, "list_type": pl.Utf8,
    "tfc": pl.Utf8, "priority_type": pl.Utf8, "clinical_priority": pl.Utf8, "source_of_referral": pl.Utf8,
    "dta_date": pl.Date, "tci_date": pl.Date, "due_date": pl.Date, "intended_procedure": pl.Utf8,
    "last_validated_on": pl.Date, "status": pl.Utf8,
}
EVENT_SCHEMA = {"pathway_id": pl.Int64, "event_date": pl.Date, "status": pl.Utf8}

WAITING_LIST_TYPES = frozenset({"ORTT", "IRTT", "ONON", "INON", "PTLO", "PTLI", "RTTO", "RTTI"})
RTT_LISTS = ("admitted", "non_admitted")
SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class RuleConfig:
    """Thresholds the reference marks as local choices or unconfirmed."""

    allow_test_range: bool = True            # T1: accept the 999 test range (synthetic and training data)
    duplicate_referral_days: int = 14        # T5: "close referral dates" for the NHS number + TFC + provider key
    am_review_days: int = 84                 # T18: active monitoring with no review in 12 weeks
    revalidation_days: int = 84              # T19: validated in the last 12 weeks
    revalidation_from_days: int = 84         # T19: applies once a pathway has waited 12 weeks
    emergency_referral_sources: frozenset[str] = frozenset({"10"})  # T16: unconfirmed — set per trust
    earliest_plausible: date = date(1900, 1, 1)   # T13: ceiling / floor sentinel dates
    latest_plausible: date = date(2100, 1, 1)


# The columns of the same patients' pathways at providers outside a run, for the cross-provider rule (T21).
OTHERS_SCHEMA = {"pathway_id": pl.Int64, "provider_id": pl.Int64, "nhs_number": pl.Utf8, "tfc": pl.Utf8,
                 "status": pl.Utf8}


@dataclass
class Frames:
    pathways: pl.DataFrame
    events: pl.DataFrame
    census: date
    config: RuleConfig = field(default_factory=RuleConfig)
    others: pl.DataFrame | None = None  # context only: never reported on


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    severity: str
    team: str
    fix: str
    source: str
    check: Callable[[Frames], pl.DataFrame]

    @property
    def number(self) -> int:
        return int(self.code[1:])


RULES: dict[str, Rule] = {}


def rule(code: str, title: str, *, severity: str, team: str, fix: str, source: str):
    assert severity in SEVERITIES
    assert team in ("validation", "booking", "clinical", "data_quality")

    def register(fn):
        RULES[code] = Rule(code, title, severity, team, fix, source, fn)
        return fn
    return register


def _flag(frame: pl.DataFrame, condition: pl.Expr, detail: pl.Expr | str) -> pl.DataFrame:
    detail_expr = pl.lit(detail) if isinstance(detail, str) else detail
    return frame.filter(condition.fill_null(False)).select("pathway_id", detail=detail_expr.cast(pl.Utf8))


def _on_list() -> pl.Expr:
    return pl.col("status") == "on_list"


def _open_rtt() -> pl.Expr:
    return _on_list() & pl.col("list_type").is_in(RTT_LISTS)


def _nhs_check_digit_ok(col: str) -> pl.Expr:
    """Ten digits and the Modulus 11 check digit."""
    s = pl.col(col).fill_null("")
    fmt = s.str.contains(r"^\d{10}$")
    total = sum(s.str.slice(i, 1).cast(pl.Int32, strict=False) * (10 - i) for i in range(9))
    check = 11 - (total % 11)
    check = pl.when(check == 11).then(0).otherwise(check)
    return fmt & (check != 10) & (check == s.str.slice(9, 1).cast(pl.Int32, strict=False))


def _nhs_in_range(col: str, allow_test_range: bool = True) -> pl.Expr:
    """In an allocated range (`core.nhs_number.RANGES`) or, if allowed, the synthetic 9xx test range
    (as the importer accepts)."""
    num = pl.col(col).cast(pl.Int64, strict=False)
    in_range = pl.lit(False)
    for low, high, _use, allocated in nhs_number.RANGES:
        if allocated or (allow_test_range and low >= TEST_RANGE_FROM):
            in_range = in_range | num.is_between(low, high)
    return in_range.fill_null(False)


def _nhs_valid(col: str, allow_test_range: bool = True) -> pl.Expr:
    return _nhs_check_digit_ok(col) & _nhs_in_range(col, allow_test_range)


@rule("T1", "NHS number missing or invalid", severity="error", team="data_quality",
      fix="Trace the patient on PDS and correct the NHS number", source="Data Dictionary NHS NUMBER; Modulus 11")
def t1(f: Frames) -> pl.DataFrame:
    valid = _nhs_valid("nhs_number", f.config.allow_test_range)
    n = pl.col("nhs_number").fill_null("")
    return _flag(f.pathways, ~valid, pl.when(n == "").then(pl.lit("no NHS number"))
                 .when(_nhs_check_digit_ok("nhs_number")).then(pl.lit("NHS number is not in an allocated range"))
                 .otherwise(pl.lit("NHS number fails the format or check digit")))


@rule("T2", "Patient pathway identifier or issuer missing", severity="error", team="data_quality",
      fix="Record the PPID (up to 20 characters) and its issuer (X09 when UBRN-based)", source="RTT guidance Annex C")
def t2(f: Frames) -> pl.DataFrame:
    ppid = pl.col("ppid").fill_null("")
    issuer = pl.col("ppid_issuer").fill_null("")
    bad = (ppid == "") | (ppid.str.len_chars() > 20) | (issuer == "")
    return _flag(f.pathways, bad, pl.when(ppid == "").then(pl.lit("no PPID"))
                 .when(ppid.str.len_chars() > 20).then(pl.lit("PPID longer than 20 characters"))
                 .otherwise(pl.lit("no PPID issuer")))


@rule("T3", "Unknown clock start", severity="error", team="validation",
      fix="Find the referral received date and record the RTT period start", source="RTT guidance §3.2.1, §10.1.5")
def t3(f: Frames) -> pl.DataFrame:
    return _flag(f.pathways, _open_rtt() & pl.col("rtt_start").is_null(), "open pathway with no RTT period start")


@rule("T4", "Clock start or referral in the future", severity="error", team="data_quality",
      fix="Correct the start or referral date", source="derived")
def t4(f: Frames) -> pl.DataFrame:
    c = pl.lit(f.census)
    bad = (pl.col("rtt_start") > c) | (pl.col("referral_received") > c)
    return _flag(f.pathways, _on_list() & bad, "RTT start or referral received after the census date")


@rule("T5", "Duplicate pathway", severity="warning", team="validation",
      fix="Merge or close the duplicate, keeping the earliest clock start",
      source="Source Group; ehrQL pathway key; NCL dedupe")
def t5(f: Frames) -> pl.DataFrame:
    p = f.pathways.filter(_on_list() & _nhs_valid("nhs_number"))  # an invalid number is no identity (T1)
    exact = p.filter(pl.len().over("nhs_number", "ppid", "ppid_issuer", "rtt_start") > 1).select(
        "pathway_id", detail=pl.lit("same NHS number, PPID, issuer and clock start as another pathway"))
    days = f.config.duplicate_referral_days
    key = ["nhs_number", "tfc", "provider_id"]
    s = p.filter(pl.col("referral_received").is_not_null()).sort([*key, "referral_received", "pathway_id"])
    same_prev = pl.all_horizontal([pl.col(k) == pl.col(k).shift(1) for k in key])
    same_next = pl.all_horizontal([pl.col(k) == pl.col(k).shift(-1) for k in key])
    near_prev = same_prev & ((pl.col("referral_received") - pl.col("referral_received").shift(1)).dt.total_days() <= days)
    near_next = same_next & ((pl.col("referral_received").shift(-1) - pl.col("referral_received")).dt.total_days() <= days)
    close = s.filter((near_prev | near_next).fill_null(False)).select(
        "pathway_id", detail=pl.lit(f"same NHS number, treatment function and provider, referrals within {days} days"))
    return pl.concat([exact, close]).unique("pathway_id", keep="first")


@rule("T6", "Clock-stop activity recorded but pathway still open", severity="error", team="validation",
      fix="Stop the clock with the recorded outcome and take the pathway off the PTL", source="Source Group; Annex D")
def t6(f: Frames) -> pl.DataFrame:
    stops = f.events.filter(pl.col("status").is_in(list(rtt.STOPS | {rtt.DNA_FIRST})))
    p = f.pathways.filter(_open_rtt() & (pl.col("clock_state") == "open") & pl.col("rtt_start").is_not_null())
    j = p.join(stops, on="pathway_id").filter(pl.col("event_date") >= pl.col("rtt_start"))
    later = j.group_by("pathway_id").agg(status=pl.col("status").sort_by("event_date").last(),
                                         on=pl.col("event_date").max())
    # a 33 is a stop only as the first activity: leave those to T17
    later = later.filter(pl.col("status") != rtt.DNA_FIRST)
    return later.select("pathway_id", detail=pl.format("status {} recorded on {} after the clock start",
                                                       pl.col("status"), pl.col("on")))


@rule("T7", "Non-RTT status on the RTT PTL", severity="error", team="validation",
      fix="Move the pathway to the right (non-RTT) list", source="RTT guidance Annex D; Source Group")
def t7(f: Frames) -> pl.DataFrame:
    return _flag(f.pathways, _open_rtt() & pl.col("rtt_status").is_in(sorted(rtt.NON_RTT)),
                 pl.format("latest status {} is not an RTT status", pl.col("rtt_status")))


@rule("T8", "Transferred pathway still on the sending provider's PTL", severity="warning", team="validation",
      fix="Close the pathway here once the receiving provider has accepted it", source="RTT guidance Annex C")
def t8(f: Frames) -> pl.DataFrame:
    return _flag(f.pathways, _open_rtt() & (pl.col("rtt_status") == "21"), "status 21: transferred to another provider")


@rule("T9", "TCI date passed without an admission or outcome", severity="error", team="booking",
      fix="Record the admission or the reason it did not happen, and rebook", source="Tavistock & Portman FOI")
def t9(f: Frames) -> pl.DataFrame:
    return _flag(f.pathways, _on_list() & (pl.col("tci_date") < pl.lit(f.census)),
                 pl.format("TCI date {} has passed", pl.col("tci_date")))


@rule("T10", "Decision to admit but not on the admitted list", severity="warning", team="validation",
      fix="Add the patient to the admitted list or remove the decision to admit", source="Tavistock & Portman FOI")
def t10(f: Frames) -> pl.DataFrame:
    return _flag(f.pathways, _on_list() & pl.col("dta_date").is_not_null() & (pl.col("list_type") != "admitted"),
                 "decision to admit recorded on a non-admitted pathway")


@rule("T11", "Admitted-list entry without an active RTT clock", severity="error", team="validation",
      fix="Check the clock: restart it (11/12) if treatment was decided, or move the entry to the planned list",
      source="Tavistock & Portman FOI")
def t11(f: Frames) -> pl.DataFrame:
    return _flag(f.pathways, _on_list() & (pl.col("list_type") == "admitted") & (pl.col("clock_state") != "open"),
                 pl.format("admitted entry with clock {}", pl.col("clock_state")))


@rule("T12", "Waiting-list information missing", severity="warning", team="booking",
      fix="Record the intended procedure (admitted) or the due date (planned)", source="Tavistock & Portman FOI")
def t12(f: Frames) -> pl.DataFrame:
    admitted_gap = (pl.col("list_type") == "admitted") & (pl.col("intended_procedure").fill_null("") == "")
    planned_gap = (pl.col("list_type") == "planned") & pl.col("due_date").is_null()
    return _flag(f.pathways, _on_list() & (admitted_gap | planned_gap),
                 pl.when(admitted_gap).then(pl.lit("no intended procedure")).otherwise(pl.lit("no due date")))


@rule("T13", "Implausible dates", severity="error", team="data_quality",
      fix="Correct the dates", source="derived; ehrQL PR #1651 (sentinel dates)")
def t13(f: Frames) -> pl.DataFrame:
    c = f.config
    dates = ["birth_date", "referral_received", "rtt_start", "dta_date", "tci_date", "due_date"]
    sentinel = pl.any_horizontal([(pl.col(d) >= pl.lit(c.latest_plausible)) | (pl.col(d) < pl.lit(c.earliest_plausible))
                                  for d in dates])
    tci_early = pl.col("tci_date") < pl.col("rtt_start")
    before_birth = (pl.col("rtt_start") < pl.col("birth_date")) | (pl.col("referral_received") < pl.col("birth_date"))
    detail = (pl.when(sentinel.fill_null(False)).then(pl.lit("a sentinel or out-of-range date"))
              .when(tci_early.fill_null(False)).then(pl.lit("TCI date before the clock start"))
              .otherwise(pl.lit("referral or clock start before the date of birth")))
    return _flag(f.pathways, _on_list() & (sentinel.fill_null(False) | tci_early.fill_null(False)
                                           | before_birth.fill_null(False)), detail)


@rule("T14", "Unknown Waiting_List_Type", severity="warning", team="data_quality",
      fix="Map the list type to one of ORTT, IRTT, ONON, INON, PTLO, PTLI, RTTO, RTTI", source="ehrQL; cohort-extractor #783")
def t14(f: Frames) -> pl.DataFrame:
    w = pl.col("waiting_list_type").fill_null("")
    return _flag(f.pathways, _on_list() & ~w.is_in(sorted(WAITING_LIST_TYPES)),
                 pl.when(w == "").then(pl.lit("Waiting_List_Type is missing"))
                 .otherwise(pl.format("Waiting_List_Type '{}' is not a known value", w)))


@rule("T15", "Invalid codes", severity="error", team="data_quality",
      fix="Correct the treatment function, priority type or RTT status code", source="Data Dictionary; ehrQL regex")
def t15(f: Frames) -> pl.DataFrame:
    tfc_bad = ~pl.col("tfc").fill_null("").str.contains(r"^[A-Za-z0-9]{3}$")
    prio_bad = ~pl.col("priority_type").fill_null("").is_in(["", "1", "2", "3"])
    status_bad = ~pl.col("rtt_status").fill_null("").is_in(["", *sorted(rtt.ALL_STATUSES)])
    detail = (pl.when(tfc_bad).then(pl.lit("treatment function is not a 3-character code"))
              .when(prio_bad).then(pl.lit("priority type is not 1, 2 or 3"))
              .otherwise(pl.lit("RTT status is not one of the 17 national codes")))
    return _flag(f.pathways, _on_list() & (tfc_bad | prio_bad | status_bad), detail)


@rule("T16", "Emergency-origin pathway on the RTT list", severity="warning", team="clinical",
      fix="Confirm there was an elective referral decision; otherwise remove from the RTT list",
      source="RTT guidance §9.1 (source-of-referral codes are a local setting: unconfirmed)")
def t16(f: Frames) -> pl.DataFrame:
    return _flag(f.pathways, _open_rtt() & pl.col("source_of_referral").is_in(sorted(f.config.emergency_referral_sources)),
                 pl.format("source of referral {} suggests an emergency origin", pl.col("source_of_referral")))


@rule("T17", "First-appointment DNA still counted as open", severity="error", team="validation",
      fix="Nullify the clock (33) and rebook or discharge under the DNA policy", source="RTT guidance rule 5e")
def t17(f: Frames) -> pl.DataFrame:
    return _flag(f.pathways, _open_rtt() & (pl.col("clock_state") == "open") & (pl.col("rtt_status") == "33"),
                 "latest status 33 (first appointment not attended) but the clock is open")


@rule("T18", "Active monitoring without a review", severity="warning", team="clinical",
      fix="Review the patient and record the outcome", source="RTT guidance §8.3")
def t18(f: Frames) -> pl.DataFrame:
    last = f.events.group_by("pathway_id").agg(last=pl.col("event_date").max())
    p = f.pathways.filter(_on_list() & pl.col("rtt_status").is_in(["31", "32", "91"])).join(last, on="pathway_id",
                                                                                              how="left")
    days = f.config.am_review_days
    return _flag(p, (pl.lit(f.census) - pl.col("last")).dt.total_days() > days,
                 pl.format("on active monitoring with no activity since {}", pl.col("last")))


@rule("T19", "Due for revalidation", severity="info", team="validation",
      fix="Validate the pathway (contact the patient or review the record)", source="NHS England validation cadence")
def t19(f: Frames) -> pl.DataFrame:
    c = f.config
    waited = (pl.lit(f.census) - pl.col("rtt_start")).dt.total_days()
    stale = pl.col("last_validated_on").is_null() | (
        (pl.lit(f.census) - pl.col("last_validated_on")).dt.total_days() > c.revalidation_days)
    return _flag(f.pathways, _open_rtt() & (waited > c.revalidation_from_days) & stale,
                 pl.format("waited {} days; not validated in the last 12 weeks", waited))


@rule("T20", "Planned patient past the due date", severity="warning", team="booking",
      fix="Treat, or move to the active list and start an RTT clock", source="RTT guidance §5.2")
def t20(f: Frames) -> pl.DataFrame:
    return _flag(f.pathways, _on_list() & (pl.col("list_type") == "planned") & (pl.col("due_date") < pl.lit(f.census)),
                 pl.format("due {} and not yet treated", pl.col("due_date")))


@rule("T21", "Same patient on several providers' lists for one treatment function", severity="info",
      team="validation", fix="Check for a duplicate referral or a mutual-aid transfer", source="derived")
def t21(f: Frames) -> pl.DataFrame:
    """In a run for some providers, `f.others` holds the same patients' pathways at the other providers,
    so the rule sees them; findings are reported only for the run's own pathways."""
    cols = list(OTHERS_SCHEMA)
    p = f.pathways.select(cols)
    if f.others is not None and f.others.height:
        p = pl.concat([p, f.others.select(cols).cast(OTHERS_SCHEMA)])
    p = p.filter(_on_list() & _nhs_valid("nhs_number"))
    multi = p.filter(pl.col("provider_id").n_unique().over("nhs_number", "tfc") > 1)
    multi = multi.join(f.pathways.select("pathway_id"), on="pathway_id", how="semi")
    return multi.select("pathway_id", detail=pl.format("also on another provider's list for treatment function {}",
                                                       pl.col("tfc")))


FINDING_SCHEMA = {"pathway_id": pl.Int64, "rule": pl.Utf8, "severity": pl.Utf8, "team": pl.Utf8, "detail": pl.Utf8}


def run(pathways: pl.DataFrame, census: date, *, events: pl.DataFrame | None = None,
        config: RuleConfig | None = None, rules: list[str] | None = None,
        others: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every (or the chosen) rule over the list; one row per finding. `others` (`OTHERS_SCHEMA`): the
    same patients' pathways at providers outside the run, which cross-provider rules look at but never
    report on."""
    missing = set(PATHWAY_SCHEMA) - set(pathways.columns)
    if missing:
        raise ValueError(f"pathway frame lacks columns: {', '.join(sorted(missing))}")
    events = events if events is not None else pl.DataFrame(schema=EVENT_SCHEMA)
    frames = Frames(pathways.cast({k: v for k, v in PATHWAY_SCHEMA.items() if k in pathways.columns}),
                    events.cast(EVENT_SCHEMA), census, config or RuleConfig(),
                    others.cast(OTHERS_SCHEMA) if others is not None else None)
    chosen = [RULES[c] for c in (rules or sorted(RULES, key=lambda c: int(c[1:])))]
    parts = []
    for r in chosen:
        hits = r.check(frames)
        if hits.height:
            parts.append(hits.with_columns(rule=pl.lit(r.code), severity=pl.lit(r.severity), team=pl.lit(r.team))
                         .select(list(FINDING_SCHEMA)))
    return pl.concat(parts) if parts else pl.DataFrame(schema=FINDING_SCHEMA)
