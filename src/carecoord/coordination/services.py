"""SCC services: ingest readings (idempotent upsert, queued for the OPEL scorer in `scorer`), the
system's score from its providers' scores, alerts, and the board's state. The scoring itself is the
pure kernel `coordination.opel`."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from carecoord.coordination import opel
from carecoord.coordination.models import OpelScore
from carecoord.core.db import server_cursor
from carecoord.core.models import PROVIDER_KINDS, AuditLog, Organisation
from carecoord.core.services.audit import Auditor

HISTORY = timedelta(days=2)
# The metrics the board and the sitrep show for each provider, with their column headings.
KEY_METRICS = [
    ("ambulance_handover_mean_minutes", "Handover (mean min)"),
    ("ed_4h_performance_pct", "ED 4-hour %"),
    ("majors_resus_occupancy_pct", "Majors occupancy %"),
    ("ga_bed_occupancy_pct", "G&A occupancy %"),
]
# The latest reading of each (organisation, metric) at or before a time and within HISTORY: one index
# probe per series. Parameters: organisation ids, metric keys, time, time - HISTORY.
LATEST_READINGS_SQL = """
    SELECT o.id, m.key, r.at, r.value
    FROM unnest(%s::bigint[]) o(id) CROSS JOIN unnest(%s::varchar[]) m(key)
    CROSS JOIN LATERAL (SELECT at, value FROM coordination_reading
                        WHERE organisation_id = o.id AND metric = m.key AND at <= %s AND at > %s
                        ORDER BY at DESC LIMIT 1) r"""


class ReadingError(ValueError):
    """A batch item is unusable; `errors` lists (index, field, reason) for every bad item."""

    def __init__(self, errors: list[tuple[int, str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"readings[{i}].{f}: {r}" for i, f, r in errors[:20]))


def current_edition() -> opel.Edition:
    """The edition in use: CARECOORD_OPEL_EDITION (a shipped edition's name or an edition file's path),
    else the latest shipped. Scores are stored under the edition's own name (its `edition` field),
    not the setting, so moving the file does not split a history."""
    return edition(getattr(settings, "CARECOORD_OPEL_EDITION", None) or _latest_shipped())


@functools.lru_cache(maxsize=1)
def _latest_shipped() -> str:
    return opel.available_editions()[-1]["name"]


@functools.lru_cache(maxsize=8)
def edition(source: str) -> opel.Edition:
    """Parsed and validated once per process (editions are files shipped with a release)."""
    return opel.load_edition(source)


@dataclass(frozen=True)
class Item:
    metric: str
    at: datetime
    value: float


def score_stale_after() -> timedelta:
    """An OPEL score older than this (CARECOORD_OPEL_SCORE_STALE_MINUTES, 60) is not current: it starts
    no action or alert, and the system score and the board count its provider as unscored (stale)."""
    return timedelta(minutes=settings.CARECOORD_OPEL_SCORE_STALE_MINUTES)


READINGS_BEGIN = datetime(2000, 1, 1, tzinfo=UTC)  # nothing earlier is a reading (a typo or a default date)


def reading_time_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The latest and earliest reading times accepted: at most CARECOORD_READING_FUTURE_MINUTES (5) after
    now (a reading from the future would start live escalation), and not before
    READINGS_BEGIN (2000-01-01 UTC) nor older than CARECOORD_READING_MAX_AGE_DAYS (if set)."""
    now = now or timezone.now()
    latest = now + timedelta(minutes=settings.CARECOORD_READING_FUTURE_MINUTES)
    earliest = READINGS_BEGIN
    max_age = settings.CARECOORD_READING_MAX_AGE_DAYS
    if max_age:
        earliest = max(earliest, now - timedelta(days=max_age))
    return latest, earliest


def clean(items: list[dict]) -> list[Item]:
    """Validate a batch: every item needs metric (text), time (ISO 8601 with offset, not in the future nor
    unreasonably old: `reading_time_bounds`) and a finite value."""
    out, errors = [], []
    latest, earliest = reading_time_bounds()
    future = settings.CARECOORD_READING_FUTURE_MINUTES
    if not isinstance(items, list) or not items:
        raise ReadingError([(0, "readings", "send a non-empty list of readings")])
    for i, raw in enumerate(items):
        if not isinstance(raw, dict):
            errors.append((i, "item", "must be an object with metric, time and value"))
            continue
        metric = raw.get("metric")
        if not isinstance(metric, str) or not metric.strip() or len(metric) > 64:
            errors.append((i, "metric", "a metric key (text, up to 64 characters) is required"))
            continue
        try:
            at = raw["time"] if isinstance(raw.get("time"), datetime) else datetime.fromisoformat(str(raw.get("time")))
        except (ValueError, KeyError):
            errors.append((i, "time", "must be an ISO 8601 date-time, e.g. 2026-01-12T09:15:00+00:00"))
            continue
        if at.tzinfo is None:
            errors.append((i, "time", "needs a UTC offset (e.g. +00:00) so the reading time is unambiguous"))
            continue
        if at > latest:  # compared as aware datetimes: no conversion, so year 9999 cannot overflow here
            errors.append((i, "time", f"is in the future (more than {future:g} minutes after now)"))
            continue
        if at < earliest:
            errors.append((i, "time", f"is too old (before {earliest:%Y-%m-%d %H:%M} UTC)"))
            continue
        value = raw.get("value")
        try:
            ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(float(value))
        except OverflowError:  # an integer too large for a float (e.g. 10**400)
            ok = False
        if not ok:
            errors.append((i, "value", "must be a finite number"))
            continue
        out.append(Item(metric.strip(), at, float(value)))
    if errors:
        raise ReadingError(errors)
    return out


def ingest(organisation: Organisation, items: list[dict], *, source: str = "api",
           auditor: Auditor | None = None) -> dict:
    """Upsert a batch of readings for one provider (all-or-nothing); a repeated (metric, time)
    replaces the earlier value, within the batch too (the last one wins). Each reading time with a new or changed value is queued for the
    OPEL scorer (`coordination.scorer`) in the same statement; the scorer rescores the provider and
    its system there and raises alerts. With `auditor`, the batch's audit row is written by the same
    statement."""
    from carecoord.coordination import scorer

    rows = clean(items)
    audited, audit_params = "", {}
    if auditor is not None:
        audit, audit_params = auditor.insert_sql(
            AuditLog.Action.IMPORT, "coordination.readings", object_id=organisation.pk,
            summary_sql=f"'{len(rows)} readings (' || (SELECT count(*) FROM stored) || ' new or changed)'")
        audited = f", audited AS ({audit})"
    with server_cursor() as cur:  # the three arrays go to the server as they are
        # One statement, atomic on its own: the batch arrives as three arrays, and the reading times
        # whose values changed are queued, and the batch audited, in the same statement (one round
        # trip, no transaction block).
        cur.execute("""
            WITH stored AS (
                INSERT INTO coordination_reading (organisation_id, metric, at, value, source, received_at)
                SELECT DISTINCT ON (b.metric, b.at) %(org)s, b.metric, b.at, b.value, %(source)s, %(now)s
                FROM unnest(%(metrics)s::varchar[], %(times)s::timestamptz[], %(values)s::float8[])
                    WITH ORDINALITY AS b(metric, at, value, pos)
                ORDER BY b.metric, b.at, b.pos DESC  -- a repeat in the batch: the last one wins
                ON CONFLICT (organisation_id, metric, at) DO UPDATE SET value = EXCLUDED.value,
                    source = EXCLUDED.source, received_at = EXCLUDED.received_at
                WHERE coordination_reading.value IS DISTINCT FROM EXCLUDED.value
                RETURNING at),
            queued AS (
                INSERT INTO coordination_scorequeue (organisation_id, at, queued_at, claimed_at)
                SELECT DISTINCT %(org)s, at, %(now)s, NULL::timestamptz FROM stored
                ON CONFLICT (organisation_id, at) DO UPDATE SET queued_at = EXCLUDED.queued_at, claimed_at = NULL
                RETURNING 1)""" + audited + """
            SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM queued)""",
                    {"org": organisation.pk, "source": source, "now": timezone.now(),
                     "metrics": [r.metric for r in rows], "times": [r.at for r in rows],
                     "values": [r.value for r in rows], **audit_params})
        changed, queued = cur.fetchone()
    if queued:
        scorer.after_ingest()
    return {"received": len(rows), "changed": changed, "unchanged": len(rows) - changed, "queued": queued}


def evaluate_alerts(provider: Organisation, latest: dict[str, tuple[datetime, float]], rules: list) -> list:
    """Raise an alert for each of `rules` that the provider's latest values (`latest`: metric ->
    (time, value), with "opel_level" for its new OPEL level) breach, unless one is already open for
    that rule and provider; send it through the notifier."""
    from carecoord.coordination.models import Alert
    from carecoord.core.notify import Channel, Message, get_notifier

    raised = []
    for rule in rules:
        if rule.metric not in latest:
            continue
        at, value = latest[rule.metric]
        if not rule.breached(value) or Alert.objects.filter(rule=rule, organisation=provider,
                                                             acknowledged_at__isnull=True).exists():
            continue
        alert = Alert.objects.create(rule=rule, organisation=provider, at=at, value=value)
        raised.append(alert)
        if rule.notify:
            get_notifier().send(Message(channel=Channel.STAFF, to=rule.notify, template="scc-alert",
                                        personalisation={"provider": provider.ods_code, "metric": rule.metric,
                                                         "value": value, "threshold": rule.threshold,
                                                         "at": at.isoformat()},
                                        reference=f"scc-alert:{alert.pk}"))
    return raised


def acknowledge(alert, *, by, auditor) -> None:
    from carecoord.core.services.audit import snapshot as snap

    if alert.acknowledged_at is not None:
        return
    before = snap(alert)
    alert.acknowledged_by, alert.acknowledged_at = by, timezone.now()
    alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
    auditor.update(alert, before, summary="alert acknowledged")


def providers_of(system: Organisation) -> list[Organisation]:
    kids = list(Organisation.objects.filter(parent=system, kind__in=PROVIDER_KINDS).order_by("ods_code")
                .only("id", "ods_code", "name", "kind", "parent_id"))
    return kids or ([system] if system.kind in PROVIDER_KINDS else [])


def rescore_system(system: Organisation, at: datetime) -> OpelScore:
    """Combine every provider's latest score at or before `at` into the system's score; a provider whose
    latest score is older than `score_stale_after()` counts as unscored (stale). One index
    probe per provider (LATERAL … LIMIT 1), so the cost does not grow with the score history."""
    ed = current_edition()
    ed_name = ed.name
    with connection.cursor() as cur:
        cur.execute("""
            SELECT o.ods_code, s.summary, s.at < %s
            FROM core_organisation o
            CROSS JOIN LATERAL (SELECT at, explanation - 'parameters' AS summary  -- the per-parameter detail is not needed
                                FROM coordination_opelscore
                                WHERE organisation_id = o.id AND at <= %s AND edition = %s AND NOT is_system
                                ORDER BY at DESC LIMIT 1) s
            WHERE o.parent_id = %s AND o.kind = ANY(%s)""",
                    [at - score_stale_after(), at, ed_name, system.pk, list(PROVIDER_KINDS)])
        rows = cur.fetchall()
    results, blank = {}, {}
    for code, v, stale in rows:
        summary = json.loads(v) if isinstance(v, str) else v
        if stale:  # its latest score is too old to count: unscored at `at`, with the worst case of nothing known
            pillar = summary.get("pillar")
            if pillar not in blank:
                blank[pillar] = opel.score_provider(ed, {}, at, pillar=pillar)["score_if_missing_worst"]
            summary = {**summary, "score": None, "level": None, "provisional": True,
                       "score_if_missing_worst": blank[pillar], "stale": True}
        results[code] = summary
    res = opel.score_system(ed, results)
    return _store(system, at, ed_name, res, is_system=True)


def _store(org: Organisation, at: datetime, ed: str, res: dict, *, is_system: bool) -> OpelScore:
    score, _ = OpelScore.objects.update_or_create(
        organisation=org, at=at, edition=ed,
        defaults={"is_system": is_system, "score": res.get("score"), "level": res.get("level"),
                  "explanation": res, "computed_at": timezone.now()})
    return score


def provisional_note(score: OpelScore | None) -> str:
    """"" for a definite level; else why the level is provisional: what it could be if everything
    missing were at its worst (the kernel's `provisional` and `level_if_missing_worst`)."""
    ex = (score.explanation or {}) if score is not None else {}
    if score is None or not score.level or not ex.get("provisional"):
        return ""
    worst = ex.get("level_if_missing_worst")
    if "parameters_total" in ex:
        missing = f"{ex.get('parameters_missing', len(ex.get('missing', [])))} of {ex['parameters_total']} parameters missing"
    else:
        missing = f"{ex.get('providers_total', 0) - ex.get('providers_scored', 0)} of {ex.get('providers_total', 0)} providers unscored"
    could = f"up to OPEL {worst}, " if worst and worst != score.level else ""
    return f"provisional ({could}{missing})"


@dataclass
class ProviderState:
    organisation: Organisation
    score: OpelScore | None
    previous_level: int | None
    latest: dict[str, tuple[float, datetime]]
    history: list[tuple[datetime, int | None]]
    stale: bool = False  # its latest score is older than score_stale_after(): no definite level now

    @property
    def provisional(self) -> str:
        return "" if self.stale else provisional_note(self.score)

    def level_text(self) -> str:
        """The provider's level as text (sitrep): "OPEL 2", "OPEL 1 provisional (...)", "stale", or "–"."""
        if self.stale:
            return "stale"
        if not (self.score and self.score.level):
            return "–"
        return f"OPEL {self.score.level}" + (f" {self.provisional}" if self.provisional else "")

    def sparkline(self, n: int = 48, width: int = 96, height: int = 24) -> dict | None:
        """SVG polyline points of the OPEL level over the last `n` scores, and a text alternative."""
        levels = [lvl for _, lvl in self.history[-n:] if lvl]
        if len(levels) < 2:
            return None
        step = width / (len(levels) - 1)
        points = " ".join(f"{i * step:.1f},{height - 2 - (lvl - 1) * (height - 4) / 3:.1f}"
                          for i, lvl in enumerate(levels))
        hours = (self.history[-1][0] - self.history[-min(n, len(self.history))][0]).total_seconds() / 3600
        return {"points": points, "width": width, "height": height,
                "label": f"OPEL level over the last {hours:.0f} hours: from {levels[0]} to {levels[-1]}, "
                         f"highest {max(levels)}"}


def board_state(system: Organisation, at: datetime | None = None) -> dict:
    """Each provider's latest OPEL level, score and key metrics (`KEY_METRICS`); the system's level; the
    last hour's changes."""
    at = at or timezone.now()
    provs = providers_of(system)
    states = []
    changes = []
    latest_of: dict[int, dict[str, tuple[float, datetime]]] = {p.pk: {} for p in provs}
    with connection.cursor() as cur:
        cur.execute(LATEST_READINGS_SQL, [list(latest_of), [k for k, _ in KEY_METRICS], at, at - HISTORY])
        for org_id, metric, t, value in cur.fetchall():
            latest_of[org_id][metric] = (value, t)
    for p in provs:
        scores = list(OpelScore.objects.filter(organisation=p, at__lte=at).order_by("-at")[:96])
        current = scores[0] if scores else None
        prev = next((s.level for s in scores[1:] if s.at <= at - timedelta(hours=1)), None)
        if current and prev is not None and current.level != prev:
            changes.append((p, prev, current.level))
        states.append(ProviderState(p, current, prev, latest_of[p.pk], [(s.at, s.level) for s in reversed(scores)],
                                    stale=current is not None and current.at < at - score_stale_after()))
    system_score = OpelScore.objects.filter(organisation=system, is_system=True, at__lte=at).order_by("-at").first()
    from carecoord.coordination.models import Alert

    alerts = list(Alert.objects.filter(rule__system=system, acknowledged_at__isnull=True)
                  .select_related("rule", "organisation").order_by("-raised_at")[:20])
    # Like a provider's, a system score older than score_stale_after() is no current level (its providers
    # stopped posting, or the scorer stopped): shown as stale, with when it was last scored.
    system_stale = system_score is not None and system_score.at < at - score_stale_after()
    return {"system": system, "system_score": system_score, "providers": states, "changes": changes, "at": at,
            "alerts": alerts, "system_stale": system_stale,
            "system_provisional": "" if system_stale else provisional_note(system_score)}


class CsvError(ValueError):
    """A readings CSV refused as a whole; `errors` names every bad row and field."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors[:20]))


def ingest_csv(text: str, allowed: dict[str, Organisation], *, source: str = "csv") -> dict:
    """A sitrep as CSV (provider, metric, time, value): every row checked before any is loaded, then each
    provider's readings go through `ingest` in one transaction. `allowed` maps the ODS codes the caller
    may load for to their organisations."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    missing = {"provider", "metric", "time", "value"} - {h.strip().lower() for h in reader.fieldnames or []}
    if missing:
        raise CsvError([f"Missing column{'s' if len(missing) > 1 else ''}: {', '.join(sorted(missing))}"])
    errors, batches = [], {}  # code -> (row numbers, items)
    for n, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        code = row["provider"].upper()
        if code not in allowed:
            errors.append(f"Row {n}, provider: {code or 'blank'} is not a provider you may load for")
            continue
        try:
            value = float(row["value"])
        except ValueError:
            errors.append(f"Row {n}, value: {row['value']!r} is not a number")
            continue
        rows, items = batches.setdefault(code, ([], []))
        rows.append(n)
        items.append({"metric": row["metric"], "time": row["time"], "value": value})
    for rows, items in batches.values():  # every provider's rows are checked before any is loaded
        try:
            clean(items)
        except ReadingError as exc:
            errors += [f"Row {rows[i]}, {field}: {reason}" for i, field, reason in exc.errors]
    if not errors and not batches:
        errors.append("The file has no readings")
    if errors:
        raise CsvError(errors)
    done = {"providers": len(batches), "received": 0, "changed": 0}
    with transaction.atomic():
        for code, (_rows, items) in batches.items():
            out = ingest(allowed[code], items, source=source)
            done["received"] += out["received"]
            done["changed"] += out["changed"]
    return done
