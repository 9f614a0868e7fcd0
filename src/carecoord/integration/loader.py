"""The bulk loader: COPY clean rows into a private staging table, then merge them into the waiting
list with set-based SQL in one transaction.

Staging tables are session-local temporary tables (invisible to anyone else, gone if the process
dies), so streaming the file into them changes nothing anyone can see. `merge()` then runs inside
one transaction: duplicates across the whole file, the all-or-nothing decision, patients, local
identifiers, pathways, clock events, census supersession and the rejection rows either all happen
or none do.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import polars as pl
import psycopg
from django.conf import settings
from django.db import OperationalError, connection
from django.utils import timezone

STAGE_COLUMNS = {
    "row_number": "bigint", "ppid": "text", "ppid_issuer": "text", "nhs_number": "text", "local_patient_id": "text",
    "site_code": "text", "commissioner_code": "text", "referrer_code": "text", "census_date": "date",
    "waiting_list_type": "text", "list_type": "text", "clock_state": "text", "birth_date": "date", "sex": "text",
    "referral_received": "date", "ubrn": "text", "source_of_referral": "text", "main_specialty": "text", "tfc": "text",
    "consultant_code": "text", "rtt_start": "date", "rtt_end": "date", "rtt_status": "text", "priority_type": "text",
    "clinical_priority": "text", "priority_reviewed_on": "date", "intended_procedure": "text",
    "intended_management": "text", "dta_date": "date", "tci_date": "date", "tci_provided_on": "date",
    "due_date": "date", "last_validated_on": "date",
}
REJECTION_COLUMNS = {"row_number": "bigint", "field": "text", "value": "text", "reason": "text", "ppid": "text",
                     "ppid_issuer": "text"}

# Fields whose change makes a pathway "updated" (census week excluded: a new week of the same
# pathway is unchanged).
HASHED = ["ppid", "ppid_issuer", "nhs_number", "local_patient_id", "site_code", "commissioner_code", "referrer_code",
          "waiting_list_type", "list_type", "clock_state", "referral_received", "ubrn", "source_of_referral",
          "main_specialty", "tfc", "consultant_code", "rtt_start", "rtt_status", "priority_type", "clinical_priority",
          "priority_reviewed_on", "intended_procedure", "intended_management", "dta_date", "tci_date",
          "tci_provided_on", "due_date", "last_validated_on"]
T = TypeVar("T")
LOCK_NAMESPACE = 472_001
# The tables whose plain secondary indexes a bulk load rebuilds (core_patient has only unique ones).
BULK_TABLES = ("waitinglist_pathway", "waitinglist_clockevent", "core_patientidentifier")
BULK_LOCK_WAIT = 30.0  # seconds a bulk load tries for its locks before loading row by row
log = logging.getLogger(__name__)


@dataclass
class MergeResult:
    rows_loaded: int = 0
    rows_rejected: int = 0
    pathways_created: int = 0
    pathways_updated: int = 0
    pathways_unchanged: int = 0
    pathways_closed: int = 0
    loaded: bool = False


def to_csv(frame: pl.DataFrame, columns: dict) -> bytes:
    """The frame's `columns` as COPY input: strings quoted, nulls as bare empty fields (so COPY reads
    them as NULL)."""
    if frame.height == 0:
        return b""
    buf = io.BytesIO()
    frame.select(list(columns)).write_csv(buf, include_header=False, null_value="", date_format="%Y-%m-%d",
                                          quote_style="non_numeric")
    return buf.getvalue()


def ahead(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield from `items`, produced `depth` steps ahead in a thread (Polars releases the GIL, so
    cleaning the next chunk overlaps the COPY of this one). An exception in the producer is raised
    here; leaving early stops the producer."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((end, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            slots.put((None, exc))

    worker = threading.Thread(target=produce, name="import-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = slots.get()
            if exc is not None:
                raise exc
            if item is end:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting to put
            try:
                slots.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()


class Staging:
    """Two temporary tables for one batch: the clean rows and the rejections."""

    def __init__(self, batch_id: int):
        self.batch_id = batch_id
        self.rows = f"wlmds_stage_{batch_id}"
        self.rejections = f"wlmds_reject_{batch_id}"

    def create(self) -> None:
        with connection.cursor() as cur:
            for table, cols in ((self.rows, STAGE_COLUMNS), (self.rejections, REJECTION_COLUMNS)):
                cur.execute(f"DROP TABLE IF EXISTS {table}")
                cur.execute(f"CREATE TEMPORARY TABLE {table} ("
                            + ", ".join(f"{c} {t}" for c, t in cols.items()) + ")")

    def drop(self) -> None:
        with connection.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self.rows}")
            cur.execute(f"DROP TABLE IF EXISTS {self.rejections}")

    def copy_rows(self, data: bytes) -> None:
        """COPY `to_csv(frame, STAGE_COLUMNS)` output into the rows table."""
        self._copy(self.rows, STAGE_COLUMNS, data)

    def copy_rejections(self, data: bytes) -> None:
        """COPY `to_csv(frame, REJECTION_COLUMNS)` output into the rejections table."""
        self._copy(self.rejections, REJECTION_COLUMNS, data)

    @staticmethod
    def _copy(table: str, columns: dict, data: bytes) -> None:
        if not data:
            return
        with connection.cursor() as cur:
            with cur.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(data)


def lock_provider(provider_id: int) -> None:
    """Serialise imports for one provider (held until the transaction ends)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, provider_id])


def _skip_row_fk_triggers(cur) -> None:
    """Every foreign key the merge writes comes from a join against rows that exist and are locked
    in this transaction, so PostgreSQL's per-row deferred FK checks (millions of single-row lookups
    at COMMIT — minutes for a national file) add nothing. Where the role may, skip them for this
    transaction only (`SET LOCAL`); elsewhere (a managed database without superuser) keep them."""
    cur.execute("SAVEPOINT fk_mode")
    try:
        cur.execute("SET LOCAL session_replication_role = replica")
    except Exception:  # insufficient privilege: leave the checks on
        cur.execute("ROLLBACK TO SAVEPOINT fk_mode")
    else:
        cur.execute("RELEASE SAVEPOINT fk_mode")


def _bulk_rebuild(cur, incoming: int) -> list[str]:
    """A load that brings at least twice as many rows as the waiting list holds (an initial or national
    load) builds the plain secondary indexes once, after the insert, instead of maintaining them row by
    row (about twice as fast: PostgreSQL's "Populating a Database" advice). They are dropped inside the
    merge's transaction, so a failure restores them; but until it commits the tables are locked against
    readers (ACCESS EXCLUSIVE), which is why only loads of at least CARECOORD_IMPORT_BULK_ROWS rows
    take this path. Unique constraints stay here (the comparison with the list reads them; a load that
    then needs no ON CONFLICT drops them too: `_drop_unique`). Returns the definitions to rebuild
    (none: row by row).

    The list's size is the catalogue's estimate (reltuples, kept current by ANALYZE), so the merge holds
    no lock on the list when it tries for the bulk locks (`_lock_for_bulk`). The factor of two keeps a
    re-import of the same list (an estimate a little under the true count) on the row-by-row path."""
    minimum = settings.CARECOORD_IMPORT_BULK_ROWS
    if not minimum or incoming < minimum:
        return []
    cur.execute("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'waitinglist_pathway'::regclass")
    if incoming < 2 * cur.fetchone()[0]:
        return []
    if not _lock_for_bulk(cur):
        return []
    cur.execute("""
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
        WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisunique AND NOT i.indisprimary
        ORDER BY i.indexrelid""", [list(BULK_TABLES)])
    indexes = cur.fetchall()
    for name, _ in indexes:
        cur.execute(f"DROP INDEX {name}")
    return [definition for _, definition in indexes]


def _drop_unique(cur, tables: list[str]) -> list[str]:
    """On the bulk path, when every row the merge writes is new (no ON CONFLICT runs, and the merge's own
    selection makes each key unique: one staged row per PPID and issuer, one start event per new pathway,
    one identifier per local id at a provider that has none), drop the unique constraints of `tables`
    too and build them once after the insert: a unique index maintained row by row costs a descent per
    row, and far more when the file is not in key order. Integrity is unchanged: the constraint is
    re-created (CREATE UNIQUE INDEX, then ADD CONSTRAINT ... USING INDEX, so the schema is exactly as
    Django made it) in the same transaction, and a duplicate would fail the build and roll the whole
    load back. Primary keys and constraints a foreign key references stay. Returns the statements that
    re-create them, to run before the plain indexes are rebuilt."""
    cur.execute("""
        SELECT c.conrelid::regclass::text, quote_ident(c.conname), c.conindid::regclass::text,
               pg_get_indexdef(c.conindid), c.condeferrable, c.condeferred
        FROM pg_constraint c
        WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype = 'u'
          AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid)
        ORDER BY c.oid""", [tables])
    statements = []
    for table, name, index, definition, deferrable, deferred in cur.fetchall():
        cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        timing = (" DEFERRABLE INITIALLY DEFERRED" if deferred else " DEFERRABLE") if deferrable else ""
        statements += [definition, f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {index}{timing}"]
    return statements


def _lock_for_bulk(cur) -> bool:
    """Lock the list's tables (and patients against other writers, so new patients go in with a plain
    INSERT) without ever waiting while holding one of them: each attempt takes them all with NOWAIT
    or none, and is retried for up to BULK_LOCK_WAIT seconds. Other writers take these tables in
    different orders (an open-pathways import reads pathways before adding patients; a clock-stops
    file or a FHIR bundle adds patients first), so waiting for one lock while holding another could
    deadlock. False: the tables stayed busy, and the load goes row by row instead."""
    deadline = time.monotonic() + BULK_LOCK_WAIT
    while True:
        cur.execute("SAVEPOINT bulk_locks")
        try:
            cur.execute("LOCK TABLE core_patient IN SHARE ROW EXCLUSIVE MODE NOWAIT")
            cur.execute(f"LOCK TABLE {', '.join(BULK_TABLES)} IN ACCESS EXCLUSIVE MODE NOWAIT")
        except OperationalError as exc:
            if not isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                raise
            cur.execute("ROLLBACK TO SAVEPOINT bulk_locks")  # releases whatever this attempt took
            if time.monotonic() >= deadline:
                log.info("bulk load: the waiting list stayed busy; loading row by row")
                return False
            time.sleep(0.2)
        else:
            cur.execute("RELEASE SAVEPOINT bulk_locks")
            return True


def _rebuild(cur, definitions: list[str]) -> None:
    if not definitions:
        return
    # CREATE INDEX and ALTER TABLE refuse a table that still has deferred trigger events queued: the
    # row foreign-key checks, where the role could not skip them (`_skip_row_fk_triggers`). Run them
    # now, as COMMIT would have, then defer again (every deferrable constraint in the schema is a
    # foreign key Django made INITIALLY DEFERRED).
    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cur.execute("SET CONSTRAINTS ALL DEFERRED")
    cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
    for definition in definitions:
        cur.execute(definition)
    for table in BULK_TABLES:  # fresh statistics, so the PTL plans well straight after a national load
        cur.execute(f"ANALYZE {table}")


def merge(staging: Staging, *, kind: str, provider_id: int, mode: str,
          step: Callable[[str], None] = lambda message: None) -> MergeResult:
    """Run inside transaction.atomic(). Returns the counts; loads nothing in all-or-nothing mode
    when any row was rejected. `step(message)` names each stage as it starts (for a progress display;
    it runs inside the transaction, so it must not write to the database)."""
    s, r = staging.rows, staging.rejections
    now = timezone.now()
    out = MergeResult()
    with connection.cursor() as cur:
        cur.execute("SET LOCAL work_mem = '256MB'")
        _skip_row_fk_triggers(cur)
        # Duplicates across the whole file (all copies rejected: which one is right is unknown). Every
        # row read is either staged or has a rejection carrying its identity, so both are searched: a
        # copy rejected for another field still makes the other copy a duplicate. The keys come from a
        # hash aggregate; only their rows are sorted to list each key's rows.
        keys = f"""(SELECT row_number, ppid, ppid_issuer FROM {s}
                    UNION ALL
                    SELECT DISTINCT row_number, ppid, ppid_issuer FROM {r}
                    WHERE ppid IS NOT NULL AND ppid_issuer IS NOT NULL)"""
        cur.execute(f"""
            INSERT INTO {r} (row_number, field, value, reason, ppid, ppid_issuer)
            SELECT row_number, 'PATIENT_PATHWAY_IDENTIFIER', ppid,
                   left('duplicate: the same PPID and issuer are on rows '
                        || string_agg(row_number::text, ', ') OVER (PARTITION BY ppid, ppid_issuer ORDER BY row_number
                               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), 300),
                   ppid, ppid_issuer
            FROM {keys} k JOIN (SELECT ppid, ppid_issuer FROM {keys} u GROUP BY ppid, ppid_issuer
                                HAVING count(*) > 1) d
              USING (ppid, ppid_issuer)""")
        cur.execute(f"SELECT count(DISTINCT row_number) FROM {r}")
        out.rows_rejected = cur.fetchone()[0]
        cur.execute(f"""
            INSERT INTO integration_importrejection (batch_id, row_number, field, value, reason, ppid, ppid_issuer)
            SELECT %s, row_number, field, left(coalesce(value, ''), 200), left(reason, 300),
                   left(coalesce(ppid, ''), 40), left(coalesce(ppid_issuer, ''), 20) FROM {r}
            ORDER BY row_number, field""", [staging.batch_id])
        if out.rows_rejected and mode == "all-or-nothing":
            return out
        if out.rows_rejected:
            cur.execute(f"DELETE FROM {s} WHERE row_number IN (SELECT row_number FROM {r})")
        cur.execute(f"ANALYZE {s}")  # temporary tables get no autovacuum statistics; the joins below need them
        cur.execute(f"SELECT count(*) FROM {s}")
        out.rows_loaded = cur.fetchone()[0]
        out.loaded = True
        if out.rows_loaded == 0:
            return out
        rebuild = _bulk_rebuild(cur, out.rows_loaded)

        hash_expr = "md5(concat_ws('|', " + ", ".join(f"coalesce(s.{c}::text, '')" for c in HASHED) + "))"
        source, row_hash = s, hash_expr
        if kind == "open":
            step("Comparing the file with the waiting list")
            cur.execute("SELECT EXISTS (SELECT 1 FROM waitinglist_pathway WHERE provider_id = %s)", [provider_id])
            if not cur.fetchone()[0]:
                # The provider's first load: every row is a new pathway (the provider's import lock keeps
                # it so until commit), so there is nothing to compare and the staged rows are the source.
                out.pathways_created = out.rows_loaded
            else:
                # A snapshot mostly repeats last week's: only new and changed rows (and closed pathways the
                # snapshot carries again) go further, so a weekly import costs what changed, not the list.
                cur.execute("DROP TABLE IF EXISTS wlmds_delta")
                cur.execute(f"""
                    CREATE TEMPORARY TABLE wlmds_delta ON COMMIT DROP AS
                    SELECT s.*, w.id IS NULL AS is_new
                    FROM (SELECT s.*, {hash_expr} AS row_hash FROM {s} s OFFSET 0) s  -- OFFSET 0: hash each row once
                    LEFT JOIN waitinglist_pathway w
                      ON w.provider_id = %s AND w.ppid = s.ppid AND w.ppid_issuer = s.ppid_issuer
                    WHERE w.id IS NULL OR w.row_hash IS DISTINCT FROM s.row_hash OR w.status = 'closed'""",
                            [provider_id])
                cur.execute("SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) "
                            "FROM wlmds_delta")
                out.pathways_created, out.pathways_updated = cur.fetchone()
                source, row_hash = "wlmds_delta", "s.row_hash"
            out.pathways_unchanged = out.rows_loaded - out.pathways_created - out.pathways_updated
        # Every row a new pathway: pathways and their clock starts go in with plain INSERTs (as do the local
        # identifiers of a provider that has none), so on the bulk path no statement needs their unique
        # constraints before the rebuild (the bulk locks keep all this true until commit).
        all_new = kind == "open" and out.pathways_updated == 0
        cur.execute("SELECT EXISTS (SELECT 1 FROM core_patientidentifier WHERE organisation_id = %s)", [provider_id])
        has_identifiers = cur.fetchone()[0]
        if rebuild and all_new:
            tables = ["waitinglist_pathway", "waitinglist_clockevent"]
            if not has_identifiers:
                tables.append("core_patientidentifier")
            rebuild = _drop_unique(cur, tables) + rebuild

        step("Adding new patients and local identifiers")
        # Patients, matched on NHS number; created when new (a plain INSERT of the unknown ones when the
        # bulk path holds the patient table against other writers). DISTINCT ON sorts under COLLATE "C"
        # here and for identifiers: the same groups (equality is bytewise under any deterministic
        # collation) and the same first row, but a byte compare instead of the locale's strcoll, which
        # halves the sort.
        if rebuild:
            unknown, conflict = "WHERE NOT EXISTS (SELECT 1 FROM core_patient p WHERE p.nhs_number = s.nhs_number)", ""
        else:
            unknown, conflict = "", "ON CONFLICT (nhs_number) DO NOTHING"
        cur.execute(f"""
            INSERT INTO core_patient (nhs_number, given_name, family_name, birth_date, sex, postcode_district, phone,
                email, consent_sms, consent_email, prefers_letter, vulnerable, parent_contact, created_at, updated_at)
            SELECT DISTINCT ON (nhs_number COLLATE "C") nhs_number, '', '', birth_date, coalesce(sex, '0'), '', '', '',
                   false, false, false, false, '', %s, %s
            FROM {source} s {unknown} ORDER BY nhs_number COLLATE "C", row_number
            {conflict}""", [now, now])

        # The merge source: rows to write with their patient, site, priority rank and row hash.
        cur.execute("DROP TABLE IF EXISTS wlmds_src")
        cur.execute(f"""
            CREATE TEMPORARY TABLE wlmds_src ON COMMIT DROP AS
            SELECT s.*, p.id AS patient_id, site.id AS site_id, coalesce(cp.rank, 99) AS priority_rank,
                   {row_hash} AS src_hash
            FROM {source} s
            JOIN core_patient p ON p.nhs_number = s.nhs_number
            LEFT JOIN core_site site ON site.ods_code = s.site_code AND site.organisation_id = %s
            LEFT JOIN core_clinicalpriority cp ON cp.code = s.clinical_priority""", [provider_id])
        if not all_new:  # all new: only read whole (plain INSERTs), where statistics change no plan
            cur.execute("ANALYZE wlmds_src")

        # Local patient identifiers at the provider (a plain INSERT when the provider has none yet).
        conflict = "ON CONFLICT (organisation_id, local_id) DO NOTHING" if has_identifiers else ""
        cur.execute(f"""
            INSERT INTO core_patientidentifier (patient_id, organisation_id, local_id)
            SELECT DISTINCT ON (local_patient_id COLLATE "C") patient_id, %s, local_patient_id
            FROM wlmds_src WHERE local_patient_id IS NOT NULL ORDER BY local_patient_id COLLATE "C", row_number
            {conflict}""", [provider_id])

        step("Writing pathways and clock events")
        if kind == "open":
            _merge_open(cur, out, provider_id=provider_id, batch_id=staging.batch_id, now=now, rows=s,
                        rejections=r)
        else:
            _merge_clock(cur, out, kind=kind, provider_id=provider_id, batch_id=staging.batch_id, now=now)
        if rebuild:
            step("Building the waiting list's indexes")
        _rebuild(cur, rebuild)
        cur.execute("DROP TABLE IF EXISTS wlmds_src")
        cur.execute("DROP TABLE IF EXISTS wlmds_delta")
    return out


# Which rows get a clock-start event (see _insert_start_events for why), on every path and in both
# importers: the staged rows (`s`) here, a FHIR entry through `gets_start_event`.
START_CODES = ("10", "11", "12")  # statuses that start a clock; a start event otherwise records 10


def _gets_start_event(row: str) -> str:
    return (f"{row}.rtt_start IS NOT NULL AND {row}.clock_state IS DISTINCT FROM 'non_rtt' "
            f"AND {row}.rtt_status IS DISTINCT FROM '33'")


def gets_start_event(rtt_start, clock_state: str, rtt_status: str) -> bool:
    """`_gets_start_event` for one pathway (a nullified clock, which a FHIR entry can state, neither)."""
    return rtt_start is not None and clock_state not in ("non_rtt", "nullified") and rtt_status != "33"


def start_status(rtt_status: str) -> str:
    return rtt_status if rtt_status in START_CODES else "10"


# A clock-start event's status: the row's own when it starts a clock (10, 11, 12), else 10.
START_STATUS = f"CASE WHEN rtt_status IN {START_CODES!r} THEN rtt_status ELSE '10' END"
INSERT_COLUMNS = """provider_id, site_id, patient_id, ppid, ppid_issuer, ubrn, local_patient_id, referral_received,
    source_of_referral, referrer_code, commissioner_code, tfc, main_specialty, consultant_code, priority_type,
    rtt_start, rtt_status, clock_state, clock_stop, clock_stop_status, queue_date, waiting_list_type, list_type,
    clinical_priority, priority_rank, priority_reviewed_on, intended_procedure, intended_management, dta_date,
    tci_date, tci_provided_on, due_date, poa_status, last_validated_on, last_validated_by, status, census_date,
    import_batch_id, row_hash, created_at, updated_at"""


def _select(*, clock_state: str, clock_stop: str, clock_stop_status: str, rtt_status: str, status: str) -> str:
    return f"""%(provider)s, site_id, patient_id, ppid, ppid_issuer, coalesce(ubrn, ''), coalesce(local_patient_id, ''),
        referral_received, coalesce(source_of_referral, ''), coalesce(referrer_code, ''),
        coalesce(commissioner_code, ''), tfc, coalesce(main_specialty, ''), coalesce(consultant_code, ''),
        coalesce(priority_type, ''), rtt_start, {rtt_status}, {clock_state}, {clock_stop}, {clock_stop_status},
        rtt_start, coalesce(waiting_list_type, ''), coalesce(list_type, 'non_admitted'),
        coalesce(clinical_priority, ''), priority_rank, priority_reviewed_on, coalesce(intended_procedure, ''),
        coalesce(intended_management, ''), dta_date, tci_date, tci_provided_on, due_date, 'not_started',
        last_validated_on, '', {status}, census_date, %(batch)s, src_hash, %(now)s, %(now)s"""


def _merge_open(cur, out: MergeResult, *, provider_id, batch_id, now, rows, rejections) -> None:
    """Write the new and changed rows (`wlmds_src`), then close what the snapshot (`rows`) no longer carries."""
    p = {"provider": provider_id, "batch": batch_id, "now": now}
    cur.execute("SELECT EXISTS (SELECT 1 FROM waitinglist_pathway WHERE provider_id = %(provider)s "
                "AND status = 'on_list')", p)
    had_open = cur.fetchone()[0]
    select = _select(clock_state="clock_state", clock_stop="NULL::date", clock_stop_status="''",
                     rtt_status="coalesce(rtt_status, '')", status="'on_list'")
    if out.pathways_updated == 0:
        # Every row to write is a new pathway (a provider's first load, or only new referrals): a plain
        # INSERT, without the speculative insertion ON CONFLICT costs per row (the provider's import
        # lock keeps it true until commit), and the clock starts from the rows it returns.
        cur.execute(f"""
            WITH created AS (INSERT INTO waitinglist_pathway ({INSERT_COLUMNS}) SELECT {select} FROM wlmds_src
                             RETURNING id, rtt_start, rtt_status, clock_state)
            INSERT INTO waitinglist_clockevent (pathway_id, event_date, status, source, source_system, import_batch_id,
                                                recorded_at)
            SELECT id, rtt_start, {START_STATUS}, 'import', 'wlmds', %(batch)s, %(now)s
            FROM created WHERE {_gets_start_event("created")}""", p)
    else:
        _upsert_open(cur, select, p)
        _insert_start_events(cur, provider_id=provider_id, batch_id=batch_id, now=now)
    # Census supersession: the provider's open pathways this snapshot no longer carries are closed
    # (but not those whose row was rejected: a bad row is not evidence the pathway has gone).
    if not had_open:
        return
    cur.execute(f"""
        UPDATE waitinglist_pathway w SET status = 'closed', updated_at = %(now)s, import_batch_id = %(batch)s
        WHERE w.provider_id = %(provider)s AND w.status = 'on_list'
          AND NOT EXISTS (SELECT 1 FROM {rows} s WHERE s.ppid = w.ppid AND s.ppid_issuer = w.ppid_issuer)
          AND NOT EXISTS (SELECT 1 FROM {rejections} r WHERE r.ppid = w.ppid AND r.ppid_issuer = w.ppid_issuer)""",
                p)
    out.pathways_closed = cur.rowcount


# A pathway removed by a recorded decision keeps the clock that decision stopped, whatever a later
# extract still carries (the PAS may not have caught up); its other fields follow the extract.
def _unless_removed(column: str, value: str) -> str:
    return f"CASE WHEN waitinglist_pathway.status = 'removed' THEN waitinglist_pathway.{column} ELSE {value} END"


def _upsert_open(cur, select: str, p: dict) -> None:
    cur.execute(f"""
        INSERT INTO waitinglist_pathway ({INSERT_COLUMNS})
        SELECT {select} FROM wlmds_src
        ON CONFLICT (provider_id, ppid, ppid_issuer) DO UPDATE SET
            site_id = EXCLUDED.site_id, patient_id = EXCLUDED.patient_id, ubrn = EXCLUDED.ubrn,
            local_patient_id = EXCLUDED.local_patient_id, referral_received = EXCLUDED.referral_received,
            source_of_referral = EXCLUDED.source_of_referral, referrer_code = EXCLUDED.referrer_code,
            commissioner_code = EXCLUDED.commissioner_code, tfc = EXCLUDED.tfc,
            main_specialty = EXCLUDED.main_specialty, consultant_code = EXCLUDED.consultant_code,
            priority_type = EXCLUDED.priority_type, rtt_start = {_unless_removed("rtt_start", "EXCLUDED.rtt_start")},
            rtt_status = {_unless_removed("rtt_status", "EXCLUDED.rtt_status")},
            clock_state = {_unless_removed("clock_state", "EXCLUDED.clock_state")},
            clock_stop = {_unless_removed("clock_stop", "NULL")},
            clock_stop_status = {_unless_removed("clock_stop_status", "''")},
            queue_date = coalesce(waitinglist_pathway.queue_date, EXCLUDED.rtt_start),
            waiting_list_type = EXCLUDED.waiting_list_type, list_type = EXCLUDED.list_type,
            clinical_priority = CASE WHEN EXCLUDED.clinical_priority <> '' THEN EXCLUDED.clinical_priority
                                     ELSE waitinglist_pathway.clinical_priority END,
            priority_rank = CASE WHEN EXCLUDED.clinical_priority <> '' THEN EXCLUDED.priority_rank
                                 ELSE waitinglist_pathway.priority_rank END,
            priority_reviewed_on = coalesce(EXCLUDED.priority_reviewed_on, waitinglist_pathway.priority_reviewed_on),
            intended_procedure = EXCLUDED.intended_procedure, intended_management = EXCLUDED.intended_management,
            dta_date = EXCLUDED.dta_date, tci_date = EXCLUDED.tci_date, tci_provided_on = EXCLUDED.tci_provided_on,
            due_date = EXCLUDED.due_date,
            last_validated_on = coalesce(EXCLUDED.last_validated_on, waitinglist_pathway.last_validated_on),
            status = CASE WHEN waitinglist_pathway.status = 'removed' THEN 'removed' ELSE 'on_list' END,
            census_date = EXCLUDED.census_date, import_batch_id = EXCLUDED.import_batch_id,
            row_hash = EXCLUDED.row_hash, updated_at = EXCLUDED.updated_at""", p)


def _insert_start_events(cur, *, provider_id, batch_id, now) -> None:
    """The clock start of each pathway in the source (once: a start already held is kept). None for a
    non-RTT pathway (the kernel would read a start as an open clock), for one removed by a recorded
    decision (its clock is the decision's), or for a first-appointment DNA (33): the kernel nullifies
    only a 33 that is the period's first RTT event, and an inferred first activity (10) before it would
    turn it into a DNA of a later appointment."""
    cur.execute(f"""
        INSERT INTO waitinglist_clockevent (pathway_id, event_date, status, source, source_system, import_batch_id,
                                            recorded_at)
        SELECT w.id, s.rtt_start, {START_STATUS.replace("rtt_status", "s.rtt_status")}, 'import', 'wlmds', %s, %s
        FROM wlmds_src s JOIN waitinglist_pathway w
          ON w.provider_id = %s AND w.ppid = s.ppid AND w.ppid_issuer = s.ppid_issuer
        WHERE {_gets_start_event("s")} AND w.status <> 'removed'
        ON CONFLICT (pathway_id, event_date, status) DO NOTHING""", [batch_id, now, provider_id])


def _merge_clock(cur, out: MergeResult, *, kind, provider_id, batch_id, now) -> None:
    """Clock starts (a new or restarted RTT period) and clock stops."""
    p = {"provider": provider_id, "batch": batch_id, "now": now}
    if kind == "starts":
        select = _select(clock_state="CASE WHEN clock_state = 'non_rtt' THEN 'non_rtt' ELSE 'open' END",
                         clock_stop="NULL::date", clock_stop_status="''",
                         rtt_status="coalesce(rtt_status, '10')", status="'on_list'")
        conflict = """
            rtt_start = EXCLUDED.rtt_start, rtt_status = EXCLUDED.rtt_status, clock_state = EXCLUDED.clock_state,
            clock_stop = NULL, clock_stop_status = '',
            queue_date = coalesce(waitinglist_pathway.queue_date, EXCLUDED.rtt_start),
            status = 'on_list', import_batch_id = EXCLUDED.import_batch_id, updated_at = EXCLUDED.updated_at
        WHERE waitinglist_pathway.status <> 'removed'
          AND (waitinglist_pathway.rtt_start IS NULL OR EXCLUDED.rtt_start > waitinglist_pathway.rtt_start)"""
    else:
        select = _select(clock_state="CASE WHEN rtt_status = '33' THEN 'nullified' ELSE 'stopped' END",
                         clock_stop="rtt_end", clock_stop_status="rtt_status", rtt_status="rtt_status",
                         status="'closed'")
        conflict = """
            rtt_status = EXCLUDED.rtt_status, clock_state = EXCLUDED.clock_state, clock_stop = EXCLUDED.clock_stop,
            clock_stop_status = EXCLUDED.clock_stop_status,
            rtt_start = coalesce(waitinglist_pathway.rtt_start, EXCLUDED.rtt_start),
            status = CASE WHEN waitinglist_pathway.status = 'removed' THEN 'removed' ELSE 'closed' END,
            import_batch_id = EXCLUDED.import_batch_id, updated_at = EXCLUDED.updated_at
        WHERE waitinglist_pathway.clock_stop IS DISTINCT FROM EXCLUDED.clock_stop
           OR waitinglist_pathway.clock_stop_status IS DISTINCT FROM EXCLUDED.clock_stop_status
           OR waitinglist_pathway.status = 'on_list'"""
    cur.execute(f"""
        WITH up AS (
            INSERT INTO waitinglist_pathway ({INSERT_COLUMNS})
            SELECT {select} FROM wlmds_src
            ON CONFLICT (provider_id, ppid, ppid_issuer) DO UPDATE SET {conflict}
            RETURNING (xmax = 0) AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up""", p)
    out.pathways_created, out.pathways_updated = cur.fetchone()
    out.pathways_unchanged = out.rows_loaded - out.pathways_created - out.pathways_updated
    _insert_start_events(cur, provider_id=provider_id, batch_id=batch_id, now=now)
    if kind == "stops":
        cur.execute("""
            INSERT INTO waitinglist_clockevent (pathway_id, event_date, status, source, source_system,
                                                import_batch_id, recorded_at)
            SELECT w.id, s.rtt_end, s.rtt_status, 'import', 'wlmds', %s, %s
            FROM wlmds_src s JOIN waitinglist_pathway w
              ON w.provider_id = %s AND w.ppid = s.ppid AND w.ppid_issuer = s.ppid_issuer
            ON CONFLICT (pathway_id, event_date, status) DO NOTHING""", [batch_id, now, provider_id])
