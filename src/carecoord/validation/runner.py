"""Technical validation runs: load the list into Polars with COPY, run the T1–T21 kernel
(`waitinglist.rules.technical`), and upsert the findings set-based.

A finding is kept per (pathway, rule) while it is open: a run that still sees it updates it (last
run, detail), one that no longer sees it closes it ("no longer seen"), and a new one is opened.
Nothing here changes a pathway: findings route work to people (worklists), and removals need a
clinician's decision.
"""

from __future__ import annotations

import io
import time
from datetime import date

import polars as pl
from django.db import connection, transaction
from django.utils import timezone

from carecoord.core.models import Organisation
from carecoord.core.services.audit import Auditor
from carecoord.validation.models import ValidationRun
from carecoord.waitinglist.rules import technical

PATHWAY_SQL = """
SELECT p.id AS pathway_id, p.provider_id, pt.nhs_number, pt.birth_date, p.ppid, p.ppid_issuer, p.ubrn,
       p.referral_received, p.rtt_start, p.clock_state, p.rtt_status, p.waiting_list_type, p.list_type, p.tfc,
       p.priority_type, p.clinical_priority, p.source_of_referral, p.dta_date, p.tci_date, p.due_date,
       p.intended_procedure, p.last_validated_on, p.status
FROM waitinglist_pathway p JOIN core_patient pt ON pt.id = p.patient_id
WHERE p.status = 'on_list' {scope}
"""
EVENT_SQL = """
SELECT e.pathway_id, e.event_date, e.status FROM waitinglist_clockevent e
JOIN waitinglist_pathway p ON p.id = e.pathway_id WHERE p.status = 'on_list' {scope}
"""

# The run's patients' pathways at the other providers: T21 needs them, to see a patient on several
# providers' lists in a run for one provider (findings are still reported for the run's providers only).
OTHERS_SQL = """
SELECT p.id AS pathway_id, p.provider_id, pt.nhs_number, p.tfc, p.status
FROM waitinglist_pathway p JOIN core_patient pt ON pt.id = p.patient_id
WHERE p.status = 'on_list' AND NOT (p.provider_id = ANY(%s))
  AND p.patient_id IN (SELECT q.patient_id FROM waitinglist_pathway q
                       WHERE q.status = 'on_list' AND q.provider_id = ANY(%s))
"""


def _copy_out(sql: str, params: list, schema: dict) -> pl.DataFrame:
    with connection.cursor() as cur:
        query = cur.mogrify(sql, params) if params else sql
        buf = io.BytesIO()
        with cur.cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            for block in copy:
                buf.write(block)
    buf.seek(0)
    if buf.getbuffer().nbytes == 0:
        return pl.DataFrame(schema=schema)
    return pl.read_csv(buf, schema_overrides=schema, try_parse_dates=False).cast(schema)


def load(provider_ids: list[int] | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    scope, params = ("AND p.provider_id = ANY(%s)", [provider_ids]) if provider_ids is not None else ("", [])
    pathways = _copy_out(PATHWAY_SQL.format(scope=scope), params, technical.PATHWAY_SCHEMA)
    events = _copy_out(EVENT_SQL.format(scope=scope), params, technical.EVENT_SCHEMA)
    # Empty strings come back from CSV as nulls; the kernel treats both alike.
    return pathways, events


def load_others(provider_ids: list[int] | None) -> pl.DataFrame | None:
    """For a run over some providers: their patients' on-list pathways at every other provider."""
    if provider_ids is None:
        return None
    return _copy_out(OTHERS_SQL, [provider_ids, provider_ids], technical.OTHERS_SCHEMA)


def run(*, organisation: Organisation | None = None, census: date | None = None, trigger: str = "manual",
        user=None, rules: list[str] | None = None, config: technical.RuleConfig | None = None) -> ValidationRun:
    """Validate one provider's list (or every provider's) and record the findings."""
    census = census or timezone.localdate()
    started = time.perf_counter()
    run_row = ValidationRun.objects.create(organisation=organisation, started_by=user, trigger=trigger, census=census)
    provider_ids = [organisation.pk] if organisation is not None else None
    pathways, events = load(provider_ids)
    others = load_others(provider_ids) if rules is None or "T21" in rules else None
    findings = technical.run(pathways, census, events=events, rules=rules, config=config, others=others)
    opened, closed = _upsert(run_row, findings, provider_ids, rules)
    counts = dict(findings.group_by("rule").len().iter_rows()) if findings.height else {}
    ordered = {code: counts.get(code, 0) for code in sorted(rules or technical.RULES, key=lambda c: int(c[1:]))}
    ValidationRun.objects.filter(pk=run_row.pk).update(
        status=ValidationRun.Status.DONE, finished_at=timezone.now(), pathways_checked=pathways.height,
        findings_by_rule=ordered, opened=opened, closed=closed, seconds=round(time.perf_counter() - started, 3))
    run_row.refresh_from_db()
    auditor = Auditor(user, organisation=organisation) if user else Auditor.system(f"validation:{trigger}",
                                                                                   organisation=organisation)
    auditor.create(run_row, summary=f"validation run: {pathways.height} pathways, {findings.height} findings, "
                          f"{opened} opened, {closed} closed")
    return run_row


def _upsert(run_row: ValidationRun, findings: pl.DataFrame, provider_ids: list[int] | None,
            rules: list[str] | None) -> tuple[int, int]:
    buf = io.BytesIO()
    findings.select("pathway_id", "rule", "severity", "team", "detail").write_csv(buf, include_header=False)
    now = timezone.now()
    scope = "AND p.provider_id = ANY(%(providers)s)" if provider_ids is not None else ""
    rule_scope = "AND f.rule = ANY(%(rules)s)" if rules else ""
    params = {"run": run_row.pk, "now": now, "providers": provider_ids, "rules": rules}
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS run_findings")
        cur.execute("CREATE TEMPORARY TABLE run_findings (pathway_id bigint, rule varchar(8), severity varchar(10), "
                    "team varchar(14), detail varchar(500)) ON COMMIT DROP")
        with cur.cursor.copy("COPY run_findings FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buf.getvalue())
        cur.execute("""
            UPDATE validation_finding f SET last_run_id = %(run)s, detail = t.detail, severity = t.severity
            FROM run_findings t WHERE f.closed_at IS NULL AND f.pathway_id = t.pathway_id AND f.rule = t.rule""", params)
        cur.execute("""
            INSERT INTO validation_finding (pathway_id, rule, severity, team, detail, first_run_id, last_run_id,
                                            opened_at, closed_reason)
            SELECT t.pathway_id, t.rule, t.severity, t.team, t.detail, %(run)s, %(run)s, %(now)s, ''
            FROM run_findings t WHERE NOT EXISTS (
                SELECT 1 FROM validation_finding f WHERE f.closed_at IS NULL AND f.pathway_id = t.pathway_id
                AND f.rule = t.rule)""", params)
        opened = cur.rowcount
        cur.execute(f"""
            UPDATE validation_finding f SET closed_at = %(now)s, closed_reason = 'no longer seen'
            FROM waitinglist_pathway p
            WHERE f.pathway_id = p.id AND f.closed_at IS NULL {scope} {rule_scope}
              AND NOT EXISTS (SELECT 1 FROM run_findings t WHERE t.pathway_id = f.pathway_id AND t.rule = f.rule)""",
                    params)
        closed = cur.rowcount
        cur.execute("DROP TABLE run_findings")
    return opened, closed
