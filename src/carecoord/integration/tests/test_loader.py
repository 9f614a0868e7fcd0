"""The import pipeline end to end against PostgreSQL: merge, idempotence, census, isolation,
atomicity, modes, clock starts and stops."""

from __future__ import annotations

from datetime import date
from unittest import mock

import pytest

from carecoord.core.models import AuditLog, Patient, PatientIdentifier
from carecoord.core.services.audit import Auditor
from carecoord.integration import loader, services
from carecoord.integration.models import ImportBatch
from carecoord.integration.tests import wlmds_files as wf
from carecoord.testing.factories import pathway_at
from carecoord.waitinglist.models import ClockEvent, Pathway

pytestmark = pytest.mark.django_db


def run(path, org, **kw):
    return services.import_wlmds(path, provider=org, auditor=Auditor.system("test", organisation=org), **kw)


def snapshot_list():
    return sorted(Pathway.objects.values_list("provider_id", "ppid", "status", "clock_state", "rtt_start", "tci_date",
                                              "census_date", "row_hash", "updated_at"))


def test_open_pathways_load_patients_identifiers_pathways_and_clock_events(trust, tmp_path):
    rows = [wf.open_row(0), wf.open_row(1, Waiting_List_Type="ORTT", REFERRAL_TO_TREATMENT_PERIOD_START_DATE=""),
            wf.open_row(2, Waiting_List_Type="ONON", Procedure_Priority_Code="P2")]
    batch = run(wf.write(tmp_path / "f.csv", rows), trust)
    assert batch.status == "loaded" and batch.census_date == date(2026, 11, 15)
    assert (batch.rows_read, batch.rows_loaded, batch.rows_rejected, batch.pathways_created) == (3, 3, 0, 3)
    p0, p1, p2 = (Pathway.objects.get(ppid=f"PPRAA{i:06d}") for i in range(3))
    assert (p0.list_type, p0.clock_state, p0.waiting_list_type, p0.rtt_start, p0.queue_date) == (
        "admitted", "open", "IRTT", date(2026, 3, 1), date(2026, 3, 1))
    assert (p0.tfc, p0.rtt_status, p0.priority_type, p0.clinical_priority, p0.consultant_code) == (
        "110", "20", "1", "P3", "C1234567")
    assert p0.priority_rank < 99 and p0.dta_date == date(2026, 5, 1) and p0.tci_date is None
    assert p0.census_date == date(2026, 11, 15) and p0.status == "on_list" and len(p0.row_hash) == 32
    assert (p1.list_type, p1.clock_state, p1.rtt_start) == ("non_admitted", "unknown", None)
    assert p2.clock_state == "non_rtt" and p2.list_type == "non_admitted"
    assert p0.patient.nhs_number == wf.NUMBERS[0] and p0.patient.birth_date == date(1960, 2, 3)
    assert PatientIdentifier.objects.get(organisation=trust, local_id="MRNRAA00000").patient == p0.patient
    assert p0.patient in Patient.objects.visible_to(trust)
    ev = list(ClockEvent.objects.filter(pathway=p0).values_list("event_date", "status", "source", "import_batch"))
    assert ev == [(date(2026, 3, 1), "10", "import", batch.pk)]
    assert not ClockEvent.objects.filter(pathway=p1).exists()
    assert not ClockEvent.objects.filter(pathway=p2).exists()  # non-RTT: a start event would read as an open clock
    assert AuditLog.objects.filter(action="import", object_id=f"batch:{batch.pk}").exists()


def test_existing_patient_is_matched_on_nhs_number(trust, tmp_path):
    from carecoord.testing.factories import PatientFactory

    existing = PatientFactory(nhs_number=wf.NUMBERS[0])
    run(wf.open_file(tmp_path, 1), trust)
    assert Pathway.objects.get().patient == existing
    assert Patient.objects.filter(nhs_number=wf.NUMBERS[0]).count() == 1


def test_reimporting_the_same_file_changes_nothing(trust, tmp_path):
    path = wf.open_file(tmp_path, 5)
    run(path, trust)
    before = snapshot_list()
    events = ClockEvent.objects.count()
    second = run(path, trust)
    assert (second.pathways_created, second.pathways_updated, second.pathways_unchanged) == (0, 0, 5)
    assert snapshot_list() == before and ClockEvent.objects.count() == events
    assert Patient.objects.count() == 5 and PatientIdentifier.objects.count() == 5


def test_changed_rows_are_updated_and_queue_date_is_kept(trust, tmp_path):
    run(wf.open_file(tmp_path, 3), trust)
    rows = [wf.open_row(0, TCI_Date="2026-12-10"), wf.open_row(1), wf.open_row(2)]
    batch = run(wf.write(tmp_path / "b.csv", rows), trust)
    assert (batch.pathways_created, batch.pathways_updated, batch.pathways_unchanged) == (0, 1, 2)
    assert Pathway.objects.get(ppid="PPRAA000000").tci_date == date(2026, 12, 10)


def test_later_census_closes_pathways_absent_from_the_newer_snapshot(trust, tmp_path):
    run(wf.open_file(tmp_path, 3), trust)
    rows = [wf.open_row(0, Week_Ending_Date="2026-11-22"), wf.open_row(1, Week_Ending_Date="2026-11-22")]
    batch = run(wf.write(tmp_path / "w2.csv", rows), trust)
    assert batch.pathways_closed == 1 and batch.pathways_unchanged == 2
    assert Pathway.objects.get(ppid="PPRAA000002").status == "closed"
    # The unchanged pathways were not rewritten: they keep the census week that last changed them.
    assert set(Pathway.objects.filter(status="on_list").values_list("census_date", flat=True)) == {date(2026, 11, 15)}
    # It comes back if a later snapshot carries it again.
    rows = [wf.open_row(i, Week_Ending_Date="2026-11-29") for i in range(3)]
    run(wf.write(tmp_path / "w3.csv", rows), trust)
    assert Pathway.objects.get(ppid="PPRAA000002").status == "on_list"


def test_a_snapshot_of_only_new_pathways_still_supersedes_the_old_ones(trust, tmp_path):
    """All-new rows take the plain-INSERT path (no pathway, event or identifier of theirs exists yet);
    census supersession and existing patients must work exactly as on the upsert path."""
    run(wf.open_file(tmp_path, 2), trust)
    rows = [wf.open_row(i, Week_Ending_Date="2026-11-22") for i in range(2, 4)]
    batch = run(wf.write(tmp_path / "new.csv", rows), trust)
    assert (batch.pathways_created, batch.pathways_closed) == (2, 2)
    assert set(Pathway.objects.filter(status="on_list").values_list("ppid", flat=True)) == {"PPRAA000002",
                                                                                             "PPRAA000003"}
    assert ClockEvent.objects.count() == 4 and PatientIdentifier.objects.count() == 4


def test_a_weekly_snapshot_rewrites_only_what_changed(trust, tmp_path):
    """The weekly import costs what changed: unchanged pathways are not touched (not even their
    census week or batch), changed ones are updated, new ones created, absent ones closed."""
    first = run(wf.open_file(tmp_path, 4), trust)
    before = {p.ppid: p for p in Pathway.objects.all()}
    rows = [wf.open_row(0, Week_Ending_Date="2026-11-22"), wf.open_row(1, Week_Ending_Date="2026-11-22"),
            wf.open_row(2, Week_Ending_Date="2026-11-22", TCI_Date="2026-12-20"),
            wf.open_row(7, Week_Ending_Date="2026-11-22")]
    batch = run(wf.write(tmp_path / "w2.csv", rows), trust)
    assert (batch.pathways_created, batch.pathways_updated, batch.pathways_unchanged, batch.pathways_closed) == (
        1, 1, 2, 1)
    after = {p.ppid: p for p in Pathway.objects.all()}
    for ppid in ("PPRAA000000", "PPRAA000001"):
        assert (after[ppid].updated_at, after[ppid].import_batch_id, after[ppid].census_date) == (
            before[ppid].updated_at, first.pk, date(2026, 11, 15))
    changed = after["PPRAA000002"]
    assert (changed.tci_date, changed.import_batch_id, changed.census_date) == (
        date(2026, 12, 20), batch.pk, date(2026, 11, 22))
    assert after["PPRAA000003"].status == "closed" and after["PPRAA000007"].status == "on_list"
    assert ClockEvent.objects.count() == 5


def test_a_corrected_snapshot_for_the_same_week_closes_what_it_no_longer_carries(trust, tmp_path):
    run(wf.open_file(tmp_path, 3), trust)
    batch = run(wf.open_file(tmp_path, 2, name="corrected.csv"), trust)
    assert (batch.pathways_unchanged, batch.pathways_closed) == (2, 1)
    assert Pathway.objects.get(ppid="PPRAA000002").status == "closed"


def _indexes():
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("ANALYZE waitinglist_pathway")  # the bulk decision reads the catalogue's row estimate
        cur.execute("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                    "WHERE indrelid = ANY(%s::regclass[]) ORDER BY 1", [list(loader.BULK_TABLES)])
        return cur.fetchall()


def test_a_load_larger_than_the_list_rebuilds_its_indexes_once(trust, tmp_path, settings):
    """The bulk path (an initial load) drops the plain secondary indexes and builds them after the
    insert: the result is the same list with exactly the same indexes."""
    from carecoord.testing.factories import PatientFactory

    settings.CARECOORD_IMPORT_BULK_ROWS = 2
    known = PatientFactory(nhs_number=wf.NUMBERS[0])  # already a patient elsewhere: matched, not added
    indexes = _indexes()
    assert any("ptl_order" in name for name, _ in indexes)
    steps = []
    with mock.patch.object(loader, "_rebuild", wraps=loader._rebuild) as rebuild:
        batch = run(wf.open_file(tmp_path, 5), trust, progress=services.Progress(step=steps.append))
    assert any("ptl_order" in d for d in rebuild.call_args.args[1])
    assert steps == ["Comparing the file with the waiting list", "Adding new patients and local identifiers",
                     "Writing pathways and clock events", "Building the waiting list's indexes"]
    assert batch.pathways_created == 5 and Pathway.objects.filter(status="on_list").count() == 5
    assert Patient.objects.count() == 5 and Pathway.objects.get(ppid="PPRAA000000").patient == known
    assert sorted(ClockEvent.objects.values_list("pathway__ppid", "status")) == [
        (f"PPRAA{i:06d}", "10") for i in range(5)]
    assert ClockEvent.objects.count() == 5 and PatientIdentifier.objects.count() == 5
    assert _indexes() == indexes
    # A later, smaller load (the list now holds more than it brings) maintains them row by row.
    with mock.patch.object(loader, "_rebuild", wraps=loader._rebuild) as rebuild:
        run(wf.open_file(tmp_path, 3, census="2026-11-22", name="w2.csv"), trust)
    assert rebuild.call_args.args[1] == []




def _schema():
    """The bulk tables' indexes and constraints as the catalogue and Django's introspection see them."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("""
            SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid), condeferrable, condeferred,
                   conindid::regclass::text
            FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) ORDER BY 1, 2""", [list(loader.BULK_TABLES)])
        constraints = cur.fetchall()
        cur.execute("""
            SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid), indisunique, indisprimary, indimmediate,
                   indisvalid, indisready
            FROM pg_index WHERE indrelid = ANY(%s::regclass[]) ORDER BY 1""", [list(loader.BULK_TABLES)])
        indexes = cur.fetchall()
        django = {table: connection.introspection.get_constraints(cur, table) for table in loader.BULK_TABLES}
    return constraints, indexes, django


UNIQUE = ("pathway_identity", "clock_event_once", "unique_local_id")


def _rebuilt_unique(rebuild) -> set:
    return {name for name in UNIQUE for statement in rebuild.call_args.args[1]
            if statement.startswith(f"CREATE UNIQUE INDEX {name} ")}


def test_a_first_bulk_load_builds_its_unique_constraints_after_the_insert(trust, tmp_path, settings):
    """Every row new and nothing to conflict with: the bulk path drops the unique constraints too and
    re-creates them after the insert, as constraints, leaving the schema exactly as Django made it, and
    enforced again."""
    from django.db import IntegrityError, transaction

    settings.CARECOORD_IMPORT_BULK_ROWS = 2
    _indexes()  # analyses the (empty) list, so the load qualifies for the bulk path
    schema = _schema()
    assert {name for name, *_ in schema[1]} >= set(UNIQUE)
    with mock.patch.object(loader, "_rebuild", wraps=loader._rebuild) as rebuild:
        batch = run(wf.open_file(tmp_path, 5), trust)
    assert _rebuilt_unique(rebuild) == set(UNIQUE)
    assert (batch.status, batch.pathways_created) == ("loaded", 5)
    assert ClockEvent.objects.count() == 5 and PatientIdentifier.objects.count() == 5
    assert _schema() == schema
    p = Pathway.objects.get(ppid="PPRAA000000")
    event = ClockEvent.objects.get(pathway=p)
    with pytest.raises(IntegrityError, match="pathway_identity"), transaction.atomic():
        pathway_at(trust, ppid=p.ppid, ppid_issuer=p.ppid_issuer)
    with pytest.raises(IntegrityError, match="clock_event_once"), transaction.atomic():
        ClockEvent.objects.create(pathway=p, event_date=event.event_date, status=event.status, source="import")
    with pytest.raises(IntegrityError, match="unique_local_id"), transaction.atomic():
        PatientIdentifier.objects.create(patient=p.patient, organisation=trust, local_id="MRNRAA00000")


def test_a_first_load_does_not_compare_the_file_with_an_empty_list(trust, tmp_path):
    """A provider with no pathways yet: every row is new, so the merge writes from the staged rows
    without building the comparison table (wlmds_delta); a later load compares as before."""
    from django.db import connection

    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        first = run(wf.open_file(tmp_path, 3), trust)
    assert (first.pathways_created, first.pathways_updated, first.pathways_unchanged) == (3, 0, 0)
    assert not any("CREATE TEMPORARY TABLE wlmds_delta" in sql for sql in statements)
    assert len(Pathway.objects.get(ppid="PPRAA000000").row_hash) == 32
    statements.clear()
    with connection.execute_wrapper(record):
        again = run(wf.open_file(tmp_path, 3), trust)
    assert (again.pathways_created, again.pathways_updated, again.pathways_unchanged) == (0, 0, 3)
    assert any("CREATE TEMPORARY TABLE wlmds_delta" in sql for sql in statements)


def test_a_bulk_load_at_a_provider_with_identifiers_keeps_their_constraint(trust, tmp_path, settings):
    """The provider already has local identifiers (here one the file repeats, for another patient): they
    are added with ON CONFLICT, so their unique constraint stays; the pathways' are still rebuilt."""
    from carecoord.testing.factories import PatientFactory

    settings.CARECOORD_IMPORT_BULK_ROWS = 2
    held = PatientIdentifier.objects.create(patient=PatientFactory(), organisation=trust, local_id="MRNRAA00001")
    _indexes()
    schema = _schema()
    with mock.patch.object(loader, "_rebuild", wraps=loader._rebuild) as rebuild:
        batch = run(wf.open_file(tmp_path, 5), trust)
    assert _rebuilt_unique(rebuild) == {"pathway_identity", "clock_event_once"}
    assert (batch.status, batch.pathways_created) == ("loaded", 5)
    assert PatientIdentifier.objects.get(organisation=trust, local_id="MRNRAA00001").patient_id == held.patient_id
    assert PatientIdentifier.objects.filter(organisation=trust).count() == 5  # 4 added, the held one kept
    assert _schema() == schema


def test_a_bulk_load_that_updates_pathways_keeps_the_unique_constraints(trust, tmp_path, settings):
    """A load large enough for the bulk path that also changes a pathway the provider holds goes through
    ON CONFLICT: the unique constraints stay; only the plain indexes are rebuilt."""
    settings.CARECOORD_IMPORT_BULK_ROWS = 2
    run(wf.open_file(tmp_path, 1), trust)
    _indexes()
    schema = _schema()
    rows = [wf.open_row(0, Week_Ending_Date="2026-11-22", TCI_Date="2026-12-10")] + [
        wf.open_row(i, Week_Ending_Date="2026-11-22") for i in range(1, 6)]
    with mock.patch.object(loader, "_rebuild", wraps=loader._rebuild) as rebuild:
        batch = run(wf.write(tmp_path / "w2.csv", rows), trust)
    assert any("ptl_order" in d for d in rebuild.call_args.args[1]) and _rebuilt_unique(rebuild) == set()
    assert (batch.pathways_created, batch.pathways_updated) == (5, 1)
    assert Pathway.objects.get(ppid="PPRAA000000").tci_date == date(2026, 12, 10)
    assert ClockEvent.objects.count() == 6 and PatientIdentifier.objects.count() == 6
    assert _schema() == schema


def test_a_bulk_load_of_only_new_pathways_rebuilds_the_constraints_and_supersedes(trust, tmp_path, settings):
    """The provider has pathways but the file brings only new ones: no ON CONFLICT is needed, so the
    pathway and clock-event constraints are rebuilt; the pathways the file no longer carries close."""
    settings.CARECOORD_IMPORT_BULK_ROWS = 2
    run(wf.open_file(tmp_path, 1), trust)
    _indexes()
    schema = _schema()
    rows = [wf.open_row(i, Week_Ending_Date="2026-11-22") for i in range(1, 6)]
    with mock.patch.object(loader, "_rebuild", wraps=loader._rebuild) as rebuild:
        batch = run(wf.write(tmp_path / "w2.csv", rows), trust)
    assert _rebuilt_unique(rebuild) == {"pathway_identity", "clock_event_once"}
    assert (batch.pathways_created, batch.pathways_updated, batch.pathways_closed) == (5, 0, 1)
    assert Pathway.objects.get(ppid="PPRAA000000").status == "closed"
    assert _schema() == schema


def test_a_bulk_load_where_the_role_cannot_skip_row_checks_still_loads(trust, tmp_path, settings):
    """On a database where the merge may not turn off the per-row foreign-key triggers (a managed
    server without superuser), their deferred checks are queued on the tables whose indexes the bulk
    path rebuilds; CREATE INDEX refuses such a table, so the checks are run before the rebuild."""
    settings.CARECOORD_IMPORT_BULK_ROWS = 2
    _indexes()
    schema = _schema()
    with mock.patch.object(loader, "_skip_row_fk_triggers", lambda cur: None), \
            mock.patch.object(loader, "_rebuild", wraps=loader._rebuild) as rebuild:
        batch = run(wf.open_file(tmp_path, 5), trust)
    assert any("ptl_order" in d for d in rebuild.call_args.args[1])
    assert (batch.status, batch.pathways_created) == ("loaded", 5)
    assert ClockEvent.objects.count() == 5 and PatientIdentifier.objects.count() == 5
    assert _schema() == schema


def test_a_failed_first_bulk_load_leaves_the_list_its_indexes_and_constraints_as_they_were(trust, tmp_path,
                                                                                          settings):
    """Fails with the indexes and unique constraints dropped (after the insert, or when a duplicate
    breaks their rebuild): the constraints, indexes and list are exactly as they were."""
    from django.db import IntegrityError, connection

    settings.CARECOORD_IMPORT_BULK_ROWS = 2
    indexes = _indexes()
    schema = _schema()
    real = loader._merge_open

    def boom(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("disk full")

    with mock.patch.object(loader, "_merge_open", boom), pytest.raises(RuntimeError):
        run(wf.open_file(tmp_path, 5), trust)
    assert _indexes() == indexes and _schema() == schema
    assert not Pathway.objects.exists() and not ClockEvent.objects.exists() and not PatientIdentifier.objects.exists()

    def duplicate(*args, **kwargs):  # a bug that writes a clock event twice: the rebuild refuses it
        real(*args, **kwargs)
        with connection.cursor() as cur:
            cur.execute("INSERT INTO waitinglist_clockevent (pathway_id, event_date, status, source, source_system, "
                        "recorded_at) SELECT pathway_id, event_date, status, source, source_system, recorded_at "
                        "FROM waitinglist_clockevent LIMIT 1")

    with mock.patch.object(loader, "_merge_open", duplicate), pytest.raises(IntegrityError, match="clock_event_once"):
        run(wf.open_file(tmp_path, 5), trust)
    assert _schema() == schema and not Pathway.objects.exists() and not ClockEvent.objects.exists()
    assert ImportBatch.objects.order_by("-pk").first().status == "failed"


def test_an_older_census_is_refused_and_changes_nothing(trust, tmp_path):
    run(wf.open_file(tmp_path, 2, census="2026-11-22"), trust)
    before = snapshot_list()
    with pytest.raises(services.ImportRefused, match="older than the latest loaded"):
        run(wf.open_file(tmp_path, 3, census="2026-11-15", name="old.csv"), trust)
    assert snapshot_list() == before
    assert ImportBatch.objects.order_by("-pk").first().status == "rejected"


def test_a_provider_file_never_touches_another_provider(trust, other_trust, tmp_path):
    theirs = pathway_at(other_trust, ppid="PPRBB000001", ppid_issuer="RBB")
    run(wf.open_file(tmp_path, 2), trust)  # RAA's snapshot: closes RAA's absent pathways only
    theirs.refresh_from_db()
    assert theirs.status == "on_list"
    # A row claiming another provider is rejected, and nothing of RBB changes.
    rows = [wf.open_row(0), wf.open_row(5, provider="RBB")]
    batch = run(wf.write(tmp_path / "mixed.csv", rows), trust, mode="good-rows")
    assert batch.rows_rejected == 1
    rej = batch.rejections.get()
    assert (rej.row_number, rej.field) == (2, "ORGANISATION_IDENTIFIER_CODE_OF_PROVIDER")
    assert "different provider" in rej.reason
    assert not Pathway.objects.filter(provider=other_trust).exclude(pk=theirs.pk).exists()


def test_the_same_ppid_at_two_providers_are_two_pathways(trust, other_trust, tmp_path):
    run(wf.write(tmp_path / "a.csv", [wf.open_row(0, PATIENT_PATHWAY_IDENTIFIER="SHARED1")]), trust)
    run(wf.write(tmp_path / "b.csv", [wf.open_row(0, provider="RBB", PATIENT_PATHWAY_IDENTIFIER="SHARED1",
                                                  ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER="RAA")]),
        other_trust)
    assert Pathway.objects.filter(ppid="SHARED1").count() == 2
    assert Pathway.objects.get(ppid="SHARED1", provider=trust).status == "on_list"


def test_all_or_nothing_loads_nothing_when_a_row_is_bad(trust, tmp_path):
    run(wf.open_file(tmp_path, 2), trust)
    before = snapshot_list()
    rows = [wf.open_row(0, TCI_Date="2026-12-01"), wf.open_row(1, ACTIVITY_TREATMENT_FUNCTION_CODE="1X"),
            wf.open_row(3)]
    batch = run(wf.write(tmp_path / "bad.csv", rows), trust)
    assert batch.status == "rejected" and batch.rows_loaded == 0 and batch.rows_rejected == 1
    assert snapshot_list() == before
    assert list(batch.rejections.values_list("row_number", "field")) == [(2, "ACTIVITY_TREATMENT_FUNCTION_CODE")]


def test_good_rows_loads_the_good_rows_and_keeps_rejected_pathways_open(trust, tmp_path):
    run(wf.open_file(tmp_path, 3), trust)
    rows = [wf.open_row(0, Week_Ending_Date="2026-11-22"), wf.open_row(1, Week_Ending_Date="2026-11-22",
                                                                       PRIORITY_TYPE_CODE="7"),
            wf.open_row(3, Week_Ending_Date="2026-11-22")]
    batch = run(wf.write(tmp_path / "good.csv", rows), trust, mode="good-rows")
    assert batch.status == "loaded" and (batch.rows_loaded, batch.rows_rejected) == (2, 1)
    assert batch.pathways_created == 1 and batch.pathways_closed == 1  # row 2 absent; row 1 rejected stays open
    assert Pathway.objects.get(ppid="PPRAA000001").status == "on_list"
    assert Pathway.objects.get(ppid="PPRAA000002").status == "closed"


def test_duplicates_across_chunks_are_all_rejected(trust, tmp_path):
    rows = [wf.open_row(0), wf.open_row(1), wf.open_row(2), wf.open_row(0, LOCAL_PATIENT_IDENTIFIER="X")]
    batch = run(wf.write(tmp_path / "dup.csv", rows), trust, mode="good-rows", chunk_rows=2)
    assert batch.rows_rejected == 2
    reasons = list(batch.rejections.values_list("row_number", "reason"))
    assert [r for r, _ in reasons] == [1, 4] and all("rows 1, 4" in why for _, why in reasons)
    assert set(Pathway.objects.values_list("ppid", flat=True)) == {"PPRAA000001", "PPRAA000002"}


def test_a_failure_inside_the_merge_leaves_the_list_exactly_as_it_was(trust, tmp_path):
    run(wf.open_file(tmp_path, 3), trust)
    before, patients, events = snapshot_list(), Patient.objects.count(), ClockEvent.objects.count()
    rows = [wf.open_row(i, Week_Ending_Date="2026-11-22", TCI_Date="2026-12-24") for i in range(2)] + [
        wf.open_row(9, Week_Ending_Date="2026-11-22")]
    real = loader._merge_open

    def boom(*args, **kwargs):
        real(*args, **kwargs)  # everything written ... then the process fails
        raise RuntimeError("disk full")

    with mock.patch.object(loader, "_merge_open", boom), pytest.raises(RuntimeError):
        run(wf.write(tmp_path / "w2.csv", rows), trust)
    assert snapshot_list() == before
    assert (Patient.objects.count(), ClockEvent.objects.count()) == (patients, events)
    failed = ImportBatch.objects.order_by("-pk").first()
    assert failed.status == "failed" and "nothing was loaded" in failed.message
    assert not failed.rejections.exists()


def test_clock_starts_and_stops(trust, tmp_path):
    run(wf.open_file(tmp_path, 2), trust)
    starts = [wf.clock_row("NEW1", 50, "10", start="2026-11-10", tfc="120")]
    b = run(wf.write(tmp_path / "starts.csv", starts), trust, kind="starts")
    assert b.status == "loaded" and b.kind == "wlmds-starts" and b.pathways_created == 1
    new = Pathway.objects.get(ppid="NEW1")
    assert (new.clock_state, new.rtt_start, new.queue_date, new.status) == ("open", date(2026, 11, 10),
                                                                             date(2026, 11, 10), "on_list")
    assert list(new.clock_events.values_list("event_date", "status")) == [(date(2026, 11, 10), "10")]
    again = run(wf.write(tmp_path / "starts.csv", starts), trust, kind="starts")
    assert (again.pathways_created, again.pathways_updated, again.pathways_unchanged) == (0, 0, 1)

    stops = [wf.clock_row("PPRAA000000", 0, "30", end="2026-11-12")]
    b = run(wf.write(tmp_path / "stops.csv", stops), trust, kind="stops")
    assert b.status == "loaded" and b.pathways_updated == 1
    p = Pathway.objects.get(ppid="PPRAA000000")
    assert (p.clock_state, p.clock_stop, p.clock_stop_status, p.rtt_status, p.status) == (
        "stopped", date(2026, 11, 12), "30", "30", "closed")
    assert (date(2026, 11, 12), "30") in set(p.clock_events.values_list("event_date", "status"))
    # A stop with a status that is not a clock stop is rejected.
    bad = [dict(stops[0], REFERRAL_TO_TREATMENT_PERIOD_STATUS="20")]
    b = run(wf.write(tmp_path / "bad-stops.csv", bad), trust, kind="stops")
    assert b.status == "rejected" and "clock-stop status" in b.rejections.get().reason


def test_reading_ahead_keeps_order_raises_the_producers_error_and_stops_when_left():
    assert list(loader.ahead(iter(range(50)))) == list(range(50))

    def failing():
        yield 1
        raise ValueError("row 2: bad quote")

    got = []
    with pytest.raises(ValueError, match="row 2"):
        for item in loader.ahead(failing()):
            got.append(item)
    assert got == [1]

    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    for item in loader.ahead(endless()):
        if item == 3:
            break
    assert len(produced) <= 3 + 2  # the producer stopped a step or two ahead, not running on


@pytest.mark.django_db(transaction=True)
def test_a_bulk_load_that_cannot_have_the_list_at_once_loads_row_by_row(trust, tmp_path, settings):
    """Someone holds the list (here a long read): the bulk load never waits for its locks while holding
    others (so it cannot deadlock); after BULK_LOCK_WAIT it loads row by row, and nothing is lost."""
    import psycopg
    from django.db import connection

    settings.CARECOORD_IMPORT_BULK_ROWS = 2
    _indexes()  # analyses the (empty) list, so the load qualifies for the bulk path
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute("SELECT count(*) FROM waitinglist_pathway")  # holds ACCESS SHARE until it ends
        with mock.patch.object(loader, "BULK_LOCK_WAIT", 0.5), \
                mock.patch.object(loader, "_lock_for_bulk", wraps=loader._lock_for_bulk) as locking, \
                mock.patch.object(loader, "_rebuild", wraps=loader._rebuild) as rebuild:
            batch = run(wf.open_file(tmp_path, 5), trust)
        other.rollback()
    assert locking.call_count == 1 and rebuild.call_args.args[1] == []  # tried, could not, went row by row
    assert batch.status == "loaded" and Pathway.objects.filter(status="on_list").count() == 5
    assert ClockEvent.objects.count() == 5


# ---------------------------------------------------------------- census week, identity, encodings, shape


def test_a_far_future_census_is_refused_and_the_right_week_then_loads(trust, tmp_path, settings):
    """QA: a 2062 typo loaded and then refused every real week as "older than the latest loaded"."""
    settings.CARECOORD_IMPORT_CENSUS_FUTURE_DAYS = 7
    with pytest.raises(services.ImportFileError, match="26/11/2062.*in the future"):
        run(wf.open_file(tmp_path, 2, census="2062-11-26", name="typo.csv"), trust)
    failed = ImportBatch.objects.get()
    assert failed.status == "failed" and "26/11/2062" in failed.message and not Pathway.objects.exists()
    batch = run(wf.open_file(tmp_path, 2, census="2026-11-29"), trust)
    assert batch.status == "loaded" and batch.census_date == date(2026, 11, 29)


def test_a_census_that_is_not_a_sunday_is_refused_for_every_kind(trust, tmp_path):
    with pytest.raises(services.ImportFileError, match="18/11/2026 is a Wednesday"):
        run(wf.open_file(tmp_path, 1, census="2026-11-18"), trust)
    stops = [wf.clock_row("P1", 0, "30", end="2026-11-12", census="2026-11-17")]
    with pytest.raises(services.ImportFileError, match="17/11/2026 is a Tuesday"):
        run(wf.write(tmp_path / "stops.csv", stops), trust, kind="stops")


def test_good_rows_keeps_open_a_rejected_row_whose_issuer_is_lower_case(trust, tmp_path):
    run(wf.open_file(tmp_path, 3), trust)
    rows = [wf.open_row(0, Week_Ending_Date="2026-11-22"),
            wf.open_row(1, Week_Ending_Date="2026-11-22", PRIORITY_TYPE_CODE="7",
                        ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER="raa"),
            wf.open_row(2, Week_Ending_Date="2026-11-22", ORGANISATION_CODE_PATIENT_PATHWAY_IDENTIFIER_ISSUER="raa ")]
    batch = run(wf.write(tmp_path / "lower.csv", rows), trust, mode="good-rows")
    assert (batch.rows_loaded, batch.rows_rejected, batch.pathways_closed, batch.pathways_created) == (2, 1, 0, 0)
    assert set(Pathway.objects.values_list("status", flat=True)) == {"on_list"}
    assert batch.rejections.get().ppid_issuer == "RAA"


def test_a_windows_1252_file_keeps_its_characters(trust, tmp_path):
    from carecoord.integration.models import MappingProfile

    rows = [wf.open_row(0, CONSULTANT_CODE="Café£")]
    text = (tmp_path / "u.csv")
    wf.write(text, rows)
    (tmp_path / "cp.csv").write_bytes(text.read_text(encoding="utf-8").encode("cp1252"))
    batch = run(tmp_path / "cp.csv", trust)
    assert batch.status == "loaded" and Pathway.objects.get().consultant_code == "Café£"
    assert not list(services.upload_dir().glob("*.csv"))  # the UTF-8 copy is removed
    # A Windows-1252 header read through a profile.
    profile = MappingProfile.objects.create(organisation=trust, name="pas", columns={"NHS_NUMBER": "NHS Nº"})
    row = wf.open_row(1, CONSULTANT_CODE="Ño")
    row["NHS Nº"] = row.pop("NHS_NUMBER")
    wf.write(text, [row])
    (tmp_path / "cp2.csv").write_bytes(text.read_text(encoding="utf-8").encode("cp1252"))
    batch = run(tmp_path / "cp2.csv", trust, profile=profile, mode="good-rows")
    assert batch.status == "loaded" and Pathway.objects.get(ppid="PPRAA000001").consultant_code == "Ño"


def test_utf16_and_undecodable_files_are_refused_naming_the_encoding(trust, tmp_path):
    text = wf.write(tmp_path / "u.csv", [wf.open_row(0)]).read_text(encoding="utf-8")
    (tmp_path / "u16.csv").write_bytes(text.encode("utf-16"))
    with pytest.raises(services.ImportFileError, match="UTF-16"):
        run(tmp_path / "u16.csv", trust)
    (tmp_path / "bad.csv").write_bytes(text.encode() + b"PP9,\x81\x8d\n")
    with pytest.raises(services.ImportFileError, match="neither UTF-8 nor Windows-1252"):
        run(tmp_path / "bad.csv", trust)
    assert not ImportBatch.objects.exists()


def test_a_duplicate_whose_other_copy_has_another_bad_field_rejects_both(trust, tmp_path):
    rows = [wf.open_row(0, ACTIVITY_TREATMENT_FUNCTION_CODE="1"), wf.open_row(1), wf.open_row(0)]
    batch = run(wf.write(tmp_path / "dup.csv", rows), trust, mode="good-rows", chunk_rows=2)
    assert (batch.rows_loaded, batch.rows_rejected) == (1, 2)
    dups = batch.rejections.filter(field="PATIENT_PATHWAY_IDENTIFIER").values_list("row_number", "reason")
    assert [r for r, _ in dups] == [1, 3] and all("rows 1, 3" in why for _, why in dups)
    assert list(Pathway.objects.values_list("ppid", flat=True)) == ["PPRAA000001"]


def test_a_row_with_too_many_fields_is_named(trust, tmp_path):
    path = wf.open_file(tmp_path, 3)
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].rstrip("\r\n") + ",extra\r\n"
    path.write_text("".join(lines))
    with pytest.raises(services.ImportFileError, match=r"row 2 \(line 3 of the file\) has 20 fields, the header has 19"):
        run(path, trust)


def test_a_refused_older_census_reports_the_rows_it_read(trust, tmp_path):
    run(wf.open_file(tmp_path, 2, census="2026-11-22"), trust)
    with pytest.raises(services.ImportRefused) as exc:
        run(wf.open_file(tmp_path, 3, census="2026-11-15", name="old.csv"), trust)
    assert (exc.value.batch.rows_read, exc.value.batch.rows_loaded) == (3, 0)


def test_a_clock_stop_before_its_start_is_rejected(trust, tmp_path):
    stops = [wf.clock_row("P1", 0, "30", start="2026-11-13", end="2026-11-12")]
    batch = run(wf.write(tmp_path / "stops.csv", stops), trust, kind="stops")
    assert batch.status == "rejected" and "before the RTT period start date" in batch.rejections.get().reason


def test_a_later_snapshot_never_reopens_the_clock_a_removal_stopped(trust, tmp_path):
    """A clinician removed the pathway (clock stopped by the decision); the PAS still carries it, changed,
    in the next snapshots and in a clock-starts file: the removal and its clock stand, other fields follow."""
    run(wf.open_file(tmp_path, 3), trust)
    Pathway.objects.filter(ppid="PPRAA000000").update(status="removed", clock_state="stopped",
                                                      clock_stop=date(2026, 11, 10), clock_stop_status="34")
    events = set(ClockEvent.objects.filter(pathway__ppid="PPRAA000000").values_list("event_date", "status"))
    rows = [wf.open_row(0, Week_Ending_Date="2026-11-22", TCI_Date="2026-12-10",
                        REFERRAL_TO_TREATMENT_PERIOD_START_DATE="2026-04-01"),
            *(wf.open_row(i, Week_Ending_Date="2026-11-22", TCI_Date="2026-12-10") for i in (1, 2))]
    run(wf.write(tmp_path / "w2.csv", rows), trust)
    p = Pathway.objects.get(ppid="PPRAA000000")
    assert (p.status, p.clock_state, p.clock_stop, p.clock_stop_status, p.rtt_start) == (
        "removed", "stopped", date(2026, 11, 10), "34", date(2026, 3, 1))
    assert p.tci_date == date(2026, 12, 10)
    assert set(p.clock_events.values_list("event_date", "status")) == events
    starts = [wf.clock_row("PPRAA000000", 0, "11", start="2026-11-12", census="2026-11-22")]
    b = run(wf.write(tmp_path / "starts.csv", starts), trust, kind="starts")
    assert (b.pathways_updated, b.pathways_unchanged) == (0, 1)
    p.refresh_from_db()
    assert (p.status, p.clock_state, p.clock_stop, p.rtt_start) == ("removed", "stopped", date(2026, 11, 10),
                                                                     date(2026, 3, 1))
    assert set(p.clock_events.values_list("event_date", "status")) == events


def test_a_first_appointment_dna_in_a_stops_file_is_a_nullified_clock_to_the_kernel_too(trust, tmp_path):
    """A stops row with 33 for a pathway not yet held: the pathway is nullified, and its history holds the
    33 alone (an inferred first activity before it would make the kernel read a later DNA, clock running)."""
    from carecoord.waitinglist import rtt

    stops = [wf.clock_row("DNA1", 60, "33", start="2026-10-01", end="2026-11-02")]
    b = run(wf.write(tmp_path / "stops.csv", stops), trust, kind="stops")
    assert b.status == "loaded" and b.pathways_created == 1
    p = Pathway.objects.get(ppid="DNA1")
    assert (p.clock_state, p.clock_stop_status, p.status) == ("nullified", "33", "closed")
    events = list(p.clock_events.values_list("event_date", "status"))
    assert events == [(date(2026, 11, 2), "33")]
    result = rtt.compute(events, referral_received=date(2026, 10, 1))
    assert result.periods[-1].nullified and not result.periods[-1].open


def test_planned_list_rows_are_on_the_planned_list(trust, tmp_path):
    """A PAS extract's PTLO/PTLI rows land on the planned list (out of RTT scope), and stay there when the
    same extract comes again (a provider's own extract used to turn 189 planned pathways non-admitted)."""
    rows = [wf.open_row(0, Waiting_List_Type="PTLO"), wf.open_row(1, Waiting_List_Type="PTLI"), wf.open_row(2)]
    path = wf.write(tmp_path / "planned.csv", rows)
    run(path, trust)
    assert dict(Pathway.objects.values_list("waiting_list_type", "list_type")) == {
        "PTLO": "planned", "PTLI": "planned", "IRTT": "admitted"}
    again = run(path, trust)
    assert (again.pathways_updated, again.pathways_unchanged) == (0, 3)
