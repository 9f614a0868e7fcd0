"""The OPEL scorer: scores providers whose readings changed, in bulk, off the request path.

Ingest stores a batch of readings and, in the same statement, queues (provider, reading time) in
`ScoreQueue`. The scorer claims queued rows, and for each reading time scores every claimed provider
at once (one query for the readings the kernel needs, the pure kernel, one upsert), then rescoring
each system touched (in a burst, once its last queued provider is scored: `_system_due`), starting
escalation actions and raising alerts; then it deletes its claims.

How it runs (`CARECOORD_SCC_SCORING`):

``background`` (default)
    Each process that ingests runs one scorer thread, woken when an ingest commits; it waits
    `BATCH_WINDOW` seconds so a burst of providers' posts is scored together. `carecoord worker`
    runs the same thread as a sweep, so rows left by a process that stopped are still scored.
    Several processes share the queue safely: a claim is taken with SKIP LOCKED, and a claim older
    than `STALE_CLAIM` (its scorer died) is taken over.
``inline``
    Scored before ingest returns, in the caller's transaction (tests, like the immediate task backend).

Scripts that ingest and then exit (the synthetic feed) call `flush()` so nothing is left queued.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from datetime import datetime, timedelta

import psycopg
from django.conf import settings
from django.db import close_old_connections, connection, models, transaction
from django.utils import timezone

from carecoord.coordination import opel
from carecoord.coordination.models import OpelScore
from carecoord.core.db import server_cursor
from carecoord.core.models import PROVIDER_KINDS, Organisation

log = logging.getLogger(__name__)
BATCH_WINDOW = 0.1  # seconds to gather a burst before scoring it
SWEEP_SECONDS = 5.0  # a sleeping scorer looks at the queue this often anyway
STALE_CLAIM = timedelta(minutes=1)
SYSTEM_COALESCE = timedelta(seconds=1)  # in a burst, a system is rescored at most this often until its last provider
CLAIM_LIMIT = 5000
LOCK_CLASS = 7301  # advisory lock namespace: one lock per system while it is scored


def mode() -> str:
    return getattr(settings, "CARECOORD_SCC_SCORING", "background")


# --------------------------------------------------------------------------------------------------
# Claiming and scoring


def _claim(limit: int) -> tuple[datetime, list[tuple[int, int, datetime]]]:
    from carecoord.coordination.services import READINGS_BEGIN, reading_time_bounds

    now = timezone.now()
    latest, _ = reading_time_bounds(now)  # an age limit does not drop what was queued: only the impossible
    earliest = READINGS_BEGIN
    with connection.cursor() as cur:
        # Rows whose time ingest would refuse now (left from before the check, e.g. year 10000, which
        # Python cannot even read back) are dropped with an error logged, so they cannot block the queue.
        cur.execute("DELETE FROM coordination_scorequeue WHERE at > %s OR at < %s RETURNING organisation_id",
                    [latest, earliest])
        if dropped := cur.fetchall():
            log.error("OPEL scorer dropped %d queued reading times outside the accepted range (providers %s)",
                      len(dropped), sorted({o for (o,) in dropped})[:20])
        cur.execute("""
            UPDATE coordination_scorequeue q SET claimed_at = %s
            WHERE q.id IN (SELECT id FROM coordination_scorequeue
                           WHERE claimed_at IS NULL OR claimed_at < %s
                           ORDER BY at LIMIT %s FOR UPDATE SKIP LOCKED)
            RETURNING q.id, q.organisation_id, q.at""", [now, now - STALE_CLAIM, limit])
        return now, cur.fetchall()


def _release(claim: datetime, ids: list[int]) -> None:
    """Delete the rows scored; a row posted to again since the claim (claim cleared) stays queued."""
    with connection.cursor() as cur:
        cur.execute("DELETE FROM coordination_scorequeue WHERE id = ANY(%s) AND claimed_at = %s", [ids, claim])


def drain_once(limit: int = CLAIM_LIMIT) -> int:
    """Claim up to `limit` queued (provider, time) rows, score them and release them. Returns how many."""
    with transaction.atomic():
        claim, rows = _claim(limit)
    if not rows:
        return 0
    by_time: dict[datetime, set[int]] = defaultdict(set)
    for _, org_id, at in rows:
        by_time[at].add(org_id)
    orgs = Organisation.objects.in_bulk({o for _, o, _ in rows})
    with transaction.atomic():
        parents = Organisation.objects.in_bulk({o.parent_id for o in orgs.values() if o.parent_id})
        _lock_systems(sorted({o.parent_id or o.pk for o in orgs.values()}))
        retry: set[datetime] = set()
        for at in sorted(by_time):
            ids = sorted(by_time[at])
            try:
                with transaction.atomic():  # a savepoint: one bad reading time cannot block the others
                    score_providers([orgs[i] for i in ids if i in orgs], at, parents, claim=claim)
            except Exception as exc:  # noqa: BLE001 - a transient failure is retried; any other is quarantined
                if _transient(exc):
                    log.warning("OPEL scoring of providers %s at %s met %s; retried once the claim is stale",
                                ids[:20], at.isoformat(), type(exc.__cause__ or exc).__name__)
                    retry.add(at)
                    continue
                log.error("OPEL scoring of providers %s at %s failed (%s); their queue rows are dropped",
                          ids[:20], at.isoformat(), type(exc).__name__)
                _rescore_systems_after_failure([orgs[i] for i in ids if i in orgs], at, parents)
        # Rows left claimed are taken again after STALE_CLAIM: a pause before the retry.
        _release(claim, [i for i, _, at in rows if at not in retry])
    return len(rows)


# Failures that say nothing about the readings: another transaction was in the way. Their rows are
# scored again; any other failure is logged and its rows dropped, so a bad row cannot block the queue.
TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure, psycopg.errors.LockNotAvailable)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT) or isinstance(exc.__cause__, TRANSIENT)


def _lock_systems(ids: list[int]) -> None:
    """Scorers in several processes score a system one at a time (until the transaction ends): each
    system score then sees every provider score committed before it, so the last one counts them all,
    and escalation actions and alerts are not started twice. Taken in id order: no deadlocks."""
    with connection.cursor() as cur:
        for i in ids:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, i])


def flush() -> int:
    """Score everything queued now, in this thread (scripts call it before they exit)."""
    total = 0
    while n := drain_once():
        total += n
    return total


def score_providers(providers: list[Organisation], at: datetime, parents: dict[int, Organisation], *,
                    claim: datetime | None = None) -> list[OpelScore]:
    """Score `providers` at `at` (any systems), then each of their systems (`_system_due`: `claim` is this
    drain's claim time, which its queue rows carry); start escalation actions and raise alerts (`parents`: the providers'
    systems by id). Scores replace any earlier score for that time and edition. Called by
    `drain_once`, which holds the systems' locks."""
    from carecoord.coordination import services
    from carecoord.coordination.signals import opel_scored

    targets = [p for p in providers if p.kind in PROVIDER_KINDS]
    if not targets:
        return []
    ed = services.current_edition()
    ed_name = ed.name
    codes = {p.pk: p.ods_code for p in targets}
    index = opel.ReadingIndex.from_rows(((codes[o], m, t, v) for o, m, t, v in _kernel_readings(ed, list(codes), at)),
                                        ed)
    system_of = {p.ods_code: (parents.get(p.parent_id) or p).ods_code for p in targets}
    result = opel.score_at(ed, index, at, systems=system_of, explain=True)
    stored = _store(targets, at, ed_name, result["providers"])
    per_system: dict[int, list[OpelScore]] = defaultdict(list)
    for s in stored:
        per_system[s.organisation.parent_id or s.organisation.pk].append(s)
    current = _current([s.organisation_id for s in stored] + list(per_system), at, ed_name)
    for sys_id, scores in per_system.items():
        system = parents.get(sys_id) or scores[0].organisation
        if system.kind not in PROVIDER_KINDS and _system_due(system.pk, at, ed_name, claim):
            scores = [*scores, services.rescore_system(system, at)]
        live = [s for s in scores if s.organisation_id in current]
        if live:  # a backfilled or superseded score is stored, but starts no action
            opel_scored.send(sender=OpelScore, system=system, scores=live)
    _alerts([p for p in targets if p.pk in current], at, [s for s in stored if s.organisation_id in current], parents)
    return stored


def _system_due(system_id: int, at: datetime, ed_name: str, claim: datetime | None) -> bool:
    """Whether to rescore the system at `at` in this drain. At each quarter-hour every provider posts
    within a second or two, and a drain that rescored the system each time would combine all of its
    providers' scores a dozen times for one reading time. So the rescore waits when both: the system
    was scored at `at` less than `SYSTEM_COALESCE` ago, and more of its providers' rows for `at` are
    still queued (unclaimed, posted again since this drain's claim, or claimed by a live scorer). The
    drain that scores those rows takes this system's lock after this one commits, so it sees these
    scores and rescores the system itself; the drain that finds no more rows queued always rescores.
    So the last system score still counts every provider, and in a burst it lags by at most
    `SYSTEM_COALESCE` (plus a drain)."""
    now = timezone.now()
    with connection.cursor() as cur:
        cur.execute("""
            SELECT EXISTS (SELECT 1 FROM coordination_opelscore
                           WHERE organisation_id = %s AND at = %s AND edition = %s AND computed_at >= %s)
               AND EXISTS (SELECT 1 FROM coordination_scorequeue q JOIN core_organisation o ON o.id = q.organisation_id
                           WHERE q.at = %s AND o.parent_id = %s
                             AND (q.claimed_at IS NULL OR (q.claimed_at IS DISTINCT FROM %s AND q.claimed_at >= %s)))""",
                    [system_id, at, ed_name, now - SYSTEM_COALESCE, at, system_id, claim, now - STALE_CLAIM])
        return not cur.fetchone()[0]


def _rescore_systems_after_failure(providers: list[Organisation], at: datetime, parents: dict[int, Organisation]) -> None:
    """A reading time whose providers could not be scored still rescores their systems: an earlier drain
    may have left the system's rescore to this one (`_system_due`)."""
    from carecoord.coordination import services

    for sys_id in sorted({p.parent_id for p in providers if p.parent_id}):
        system = parents.get(sys_id)
        if system is None or system.kind in PROVIDER_KINDS:
            continue
        try:
            with transaction.atomic():
                services.rescore_system(system, at)
        except Exception as exc:  # noqa: BLE001 - logged; the next post for this time rescores it
            log.error("OPEL rescoring of system %s at %s failed (%s)", system.ods_code, at.isoformat(),
                      type(exc).__name__)


def _current(org_ids: list[int], at: datetime, ed_name: str) -> set[int]:
    """Those of `org_ids` for which a score at `at` is their current one: `at` is within the staleness
    limit of now (`services.score_stale_after`) and no later score exists. Only current scores start
    escalation actions and raise alerts; a backfill or a correction of history is rescored quietly."""
    from carecoord.coordination import services

    if not org_ids or at < timezone.now() - services.score_stale_after():
        return set()
    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT organisation_id FROM coordination_opelscore "
                    "WHERE organisation_id = ANY(%s) AND edition = %s AND at > %s", [org_ids, ed_name, at])
        newer = {o for (o,) in cur.fetchall()}
    return set(org_ids) - newer


def _store(targets: list[Organisation], at: datetime, ed_name: str, results: dict[str, dict]) -> list[OpelScore]:
    """Upsert the providers' scores in one statement. Sent with server-side parameters: the
    explanations (a few kB of JSON each) go to the server as they are, not quoted in Python."""
    by_code = {p.ods_code: p for p in targets}
    now = timezone.now()
    codes = list(results)
    with server_cursor() as cur:
        cur.execute("""
            INSERT INTO coordination_opelscore (organisation_id, at, edition, is_system, score, level, explanation,
                                                computed_at)
            SELECT t.org, %s, %s, false, t.score, t.level, t.explanation::jsonb, %s
            FROM unnest(%s::bigint[], %s::float8[], %s::smallint[], %s::text[]) AS t(org, score, level, explanation)
            ON CONFLICT (organisation_id, at, edition) DO UPDATE SET is_system = false, score = EXCLUDED.score,
                level = EXCLUDED.level, explanation = EXCLUDED.explanation, computed_at = EXCLUDED.computed_at
            RETURNING id, organisation_id""",
                    [at, ed_name, now, [by_code[c].pk for c in codes], [results[c].get("score") for c in codes],
                     [results[c].get("level") for c in codes], [json.dumps(results[c]) for c in codes]])
        ids = {org: pk for pk, org in cur.fetchall()}
    return [OpelScore(pk=ids[by_code[c].pk], organisation=by_code[c], at=at, edition=ed_name, is_system=False,
                      score=results[c].get("score"), level=results[c].get("level"), explanation=results[c],
                      computed_at=now) for c in codes]


def _kernel_readings(ed: opel.Edition, org_ids: list[int], at: datetime) -> list[tuple]:
    """Exactly the readings the kernel needs at `at`: the latest reading of every scored series (at
    most `HISTORY` old, for the explanation of a stale one), plus every reading in the last hour of
    the series summed over it (last-hour interval flows)."""
    from carecoord.coordination.services import HISTORY, LATEST_READINGS_SQL

    keys = [p.key for p in ed.parameters]
    flows = [p.key for p in ed.parameters if p.aggregation == "last_hour" and p.flow == "interval"]
    with connection.cursor() as cur:
        cur.execute(LATEST_READINGS_SQL + """
            UNION
            SELECT organisation_id, metric, at, value FROM coordination_reading
            WHERE organisation_id = ANY(%s) AND metric = ANY(%s::varchar[]) AND at <= %s AND at > %s""",
                    [org_ids, keys, at, at - HISTORY, org_ids, flows, at, at - timedelta(seconds=opel.LAST_HOUR_SECONDS)])
        return cur.fetchall()


def _alerts(providers: list[Organisation], at: datetime, scores: list[OpelScore],
            parents: dict[int, Organisation]) -> None:
    """Alerts for the rules of these providers' systems: the readings at `at` and the new OPEL levels."""
    from carecoord.coordination.models import AlertRule
    from carecoord.coordination.services import evaluate_alerts

    systems = {p.parent_id or p.pk for p in providers}
    rules = list(AlertRule.objects.filter(system_id__in=systems, active=True).filter(
        models.Q(provider__isnull=True) | models.Q(provider__in=providers)))
    if not rules:
        return
    latest: dict[int, dict[str, tuple[datetime, float]]] = defaultdict(dict)
    metrics = {r.metric for r in rules} - {"opel_level"}
    if metrics:
        with connection.cursor() as cur:
            cur.execute("SELECT organisation_id, metric, value FROM coordination_reading WHERE organisation_id = ANY(%s)"
                        " AND at = %s AND metric = ANY(%s::varchar[])", [[p.pk for p in providers], at, list(metrics)])
            for org_id, metric, value in cur.fetchall():
                latest[org_id][metric] = (at, value)
    for s in scores:
        if s.level is not None:
            latest[s.organisation_id]["opel_level"] = (at, float(s.level))
    for p in providers:
        mine = [r for r in rules if r.system_id == (p.parent_id or p.pk) and r.provider_id in (None, p.pk)]
        if mine and latest.get(p.pk):
            evaluate_alerts(p, latest[p.pk], mine)


# --------------------------------------------------------------------------------------------------
# The background thread


class _Runner:
    def __init__(self) -> None:
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.stop: threading.Event | None = None

    def ensure(self, stop: threading.Event | None = None) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.stop = stop or threading.Event()
                self.thread = threading.Thread(target=self.loop, name="opel-scorer", daemon=True)
                self.thread.start()

    def loop(self) -> None:
        while not self.stop.is_set():
            if self.wake.wait(SWEEP_SECONDS):
                self.stop.wait(BATCH_WINDOW)  # let the rest of a burst arrive
            self.wake.clear()
            try:
                flush()
            except Exception as exc:  # noqa: BLE001 - the scorer must survive; claims are retried
                log.error("OPEL scoring failed: %s", type(exc).__name__)
            finally:
                close_old_connections()
        connection.close()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop this process's scorer thread (tests; a worker's stop event does the same)."""
        with self.lock:
            thread, stop = self.thread, self.stop
        if thread is not None and stop is not None:
            stop.set()
            self.wake.set()
            thread.join(timeout)


_runner = _Runner()


def wake() -> None:
    """Called when an ingest commits: make sure this process's scorer runs, and nudge it."""
    _runner.ensure()
    _runner.wake.set()


def shutdown() -> None:
    """Stop this process's scorer thread once its current batch is scored (tests, scripts)."""
    _runner.shutdown()


def run_in_background(stop: threading.Event) -> None:
    """`carecoord worker`: keep a scorer sweeping the queue until `stop` is set."""
    _runner.ensure(stop)


def after_ingest() -> None:
    """Ingest calls this once its readings and queue rows are written."""
    if mode() == "inline":
        flush()
    else:
        transaction.on_commit(wake)
