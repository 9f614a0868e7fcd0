"""The OPEL scorer: queued on ingest, scored in bulk off the request, exactly as the kernel scores
the full history; claims survive a post arriving mid-scoring and a scorer that died."""

import json
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from carecoord.coordination import opel, scorer, services
from carecoord.coordination.models import OpelScore, ScoreQueue
from carecoord.coordination.tests.test_opel import mini

AT = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def readings(at=AT, handover=45.0):
    return [{"metric": "ambulance_handover_mean_minutes", "time": at.isoformat(), "value": handover},
            {"metric": "ed_4h_performance_pct", "time": at.isoformat(), "value": 62}]


@pytest.mark.django_db
def test_scores_from_the_database_equal_the_kernel_on_the_full_history(settings, trust, icb, tmp_path):
    """Two days of 15-minute readings with gaps, across midnight, for every aggregation kind (snapshot,
    since midnight, last-hour sums, yesterday's figure): the scorer reads only what the kernel needs,
    so each stored explanation must equal the kernel's on the whole table."""
    path = tmp_path / ("a-long-directory-name-" * 4) / "mini.json"  # stored by its own name, not its path
    path.parent.mkdir()
    path.write_text(json.dumps(mini()))
    settings.CARECOORD_OPEL_EDITION = str(path)
    rng = np.random.default_rng(7)
    start = datetime(2026, 1, 10, 0, 0, tzinfo=UTC)
    items = []
    for k in range(2 * 96):
        t = start + timedelta(minutes=15 * k)
        for metric, hi in (("occ", 100), ("perf", 100), ("arrivals", 12), ("nctr", 20)):
            if rng.random() < 0.75 and not (metric == "occ" and 30 <= k < 40):  # gaps, and 2.5 h with no occ
                items.append({"metric": metric, "time": t.isoformat(), "value": float(rng.integers(0, hi))})
    out = services.ingest(trust, items, source="test")
    assert out["queued"] > 180 and not ScoreQueue.objects.exists()  # inline mode: scored before returning
    ed = opel.load_edition(path)
    index = opel.ReadingIndex.from_table([{"provider": "RAA", "metric": i["metric"], "time": i["time"],
                                           "value": i["value"]} for i in items], ed)
    stored = {s.at: s for s in OpelScore.objects.filter(organisation=trust)}
    assert len(stored) == len({i["time"] for i in items})
    assert {s.edition for s in stored.values()} == {"test-mini"}  # the edition's own name, not the file's path
    reasons = set()
    for at, score in stored.items():
        expected = opel.score_at(ed, index, at, systems={"RAA": "QAA"}, explain=True)["providers"]["RAA"]
        assert score.explanation == json.loads(json.dumps(expected)), at
        reasons |= {(p["reason"] or "fresh").split(":")[0] for p in expected["parameters"]}
    assert {"fresh", "stale", "no reading in the last hour", "no reading since local midnight (the running total "
            "resets at midnight)"} <= reasons, reasons  # the awkward cases happened
    system = OpelScore.objects.get(organisation=icb, at=max(stored))
    assert system.is_system and system.explanation["providers_scored"] == 1


@pytest.mark.django_db
def test_a_post_during_scoring_keeps_the_row_queued(settings, trust, icb):
    settings.CARECOORD_SCC_SCORING = "background"  # (inside a test transaction nothing wakes a thread)
    services.ingest(trust, readings(handover=45))
    claim, rows = scorer._claim(100)
    assert len(rows) == 1
    services.ingest(trust, readings(handover=95))  # arrives while the first value is being scored
    scorer._release(claim, [i for i, _, _ in rows])
    assert ScoreQueue.objects.filter(organisation=trust, at=AT, claimed_at__isnull=True).exists()
    assert scorer.flush() == 1
    score = OpelScore.objects.get(organisation=trust, at=AT)
    value = next(p["value"] for p in score.explanation["parameters"] if p["key"] == "ambulance_handover_mean_minutes")
    assert value == 95 and not ScoreQueue.objects.exists()


@pytest.mark.django_db
def test_a_dead_scorers_claim_is_taken_over(settings, trust, icb):
    settings.CARECOORD_SCC_SCORING = "background"
    services.ingest(trust, readings())
    scorer._claim(100)  # a scorer claims, then dies
    assert scorer.drain_once() == 0  # a fresh claim is left alone
    ScoreQueue.objects.update(claimed_at=datetime.now(UTC) - scorer.STALE_CLAIM - timedelta(seconds=1))
    assert scorer.drain_once() == 1
    assert OpelScore.objects.filter(organisation__in=[trust, icb], at=AT).count() == 2


@pytest.mark.django_db
def test_reposting_the_same_values_queues_nothing(settings, trust):
    settings.CARECOORD_SCC_SCORING = "background"
    assert services.ingest(trust, readings())["queued"] == 1
    scorer.flush()
    again = services.ingest(trust, readings())
    assert (again["changed"], again["queued"]) == (0, 0) and not ScoreQueue.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_background_scorer_scores_a_committed_post_in_a_burst(settings, trust, other_trust, icb):
    settings.CARECOORD_SCC_SCORING = "background"
    try:
        services.ingest(trust, readings())
        services.ingest(other_trust, readings(handover=90))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (ScoreQueue.objects.exists()
                                               or OpelScore.objects.filter(at=AT).count() < 3):
            time.sleep(0.05)
        system = OpelScore.objects.get(organisation=icb, at=AT)
        assert system.explanation["providers_scored"] == 2 and not ScoreQueue.objects.exists()
    finally:
        scorer.shutdown()


def test_an_unreadable_queued_time_does_not_block_the_queue(settings, trust, icb, caplog):
    """A queue row left from before the time check (year 10000 UTC, which Python cannot read back) is
    dropped with an error logged; everything else is still scored."""
    from django.db import connection

    from carecoord.coordination.models import OpelScore, ScoreQueue

    settings.CARECOORD_SCC_SCORING = "background"
    with connection.cursor() as cur:
        cur.execute("INSERT INTO coordination_scorequeue (organisation_id, at, queued_at) "
                    "VALUES (%s, '9999-12-31T23:00:00-14:00', now())", [trust.pk])
    services.ingest(trust, readings())
    scorer.flush()
    assert OpelScore.objects.filter(organisation=trust, at=AT).exists()
    assert not ScoreQueue.objects.exists()
    assert "outside the accepted range" in caplog.text


def test_a_failing_reading_time_is_logged_and_released(settings, trust, icb, caplog, monkeypatch):
    from carecoord.coordination.models import OpelScore, ScoreQueue

    settings.CARECOORD_SCC_SCORING = "background"
    services.ingest(trust, readings())
    services.ingest(trust, readings(at=AT + timedelta(minutes=15)))
    real = scorer.score_providers

    def boom(providers, at, parents, **kw):
        if at == AT:
            raise ValueError("bad row")
        return real(providers, at, parents, **kw)

    monkeypatch.setattr(scorer, "score_providers", boom)
    scorer.flush()
    assert OpelScore.objects.filter(organisation=trust, at=AT + timedelta(minutes=15)).exists()
    assert not ScoreQueue.objects.exists() and "ValueError" in caplog.text


def _system(icb):
    return OpelScore.objects.get(organisation=icb, at=AT)


@pytest.mark.django_db
def test_in_a_burst_the_system_waits_for_its_last_provider(settings, trust, other_trust, icb):
    """Each drain used to rescore the system; in a burst, a drain that knows more of the system's
    providers are queued for the same time leaves the rescore to the drain that scores them, and that
    last one counts every provider with its latest value."""
    settings.CARECOORD_SCC_SCORING = "background"
    services.ingest(trust, readings(handover=45))
    services.ingest(other_trust, readings(handover=45))
    assert scorer.drain_once(limit=1) == 1
    first = _system(icb)
    assert first.explanation["providers_scored"] == 1  # no system score yet: rescored at once
    services.ingest(trust, readings(handover=95))  # the burst goes on: two rows queued
    assert scorer.drain_once(limit=1) == 1
    assert _system(icb).computed_at == first.computed_at  # another provider is still queued: not rescored
    assert scorer.drain_once(limit=1) == 1
    last = _system(icb)
    assert last.computed_at > first.computed_at and not ScoreQueue.objects.exists()
    assert last.explanation["providers_scored"] == 2
    values = {p["provider"]: p["score"] for p in last.explanation["pillars"]["acute"]["providers"]}
    assert values == {o.ods_code: OpelScore.objects.get(organisation=o, at=AT).score for o in (trust, other_trust)}


@pytest.mark.django_db
def test_the_system_is_rescored_when_its_last_rescore_is_old_or_the_other_claim_is_dead(settings, trust, other_trust,
                                                                                         icb):
    settings.CARECOORD_SCC_SCORING = "background"
    services.ingest(trust, readings())
    services.ingest(other_trust, readings())
    scorer.drain_once(limit=1)
    first = _system(icb)
    services.ingest(trust, readings(handover=95))
    scorer._claim(1)  # a live scorer in another process holds a row: the rescore is left to it
    scorer.drain_once(limit=1)
    assert _system(icb).computed_at == first.computed_at
    ScoreQueue.objects.update(claimed_at=datetime.now(UTC) - scorer.STALE_CLAIM - timedelta(seconds=1))
    assert scorer.drain_once(limit=1) == 1  # that scorer died: its row is taken over, and the system rescored
    assert _system(icb).explanation["providers_scored"] == 2 and not ScoreQueue.objects.exists()
    # A rescore older than SYSTEM_COALESCE is not held back by rows still queued.
    OpelScore.objects.filter(organisation=icb).update(computed_at=datetime.now(UTC) - timedelta(minutes=1))
    services.ingest(trust, readings(handover=20))
    services.ingest(other_trust, readings(handover=20))
    scorer.drain_once(limit=1)
    assert _system(icb).computed_at > datetime.now(UTC) - timedelta(seconds=30)


@pytest.mark.django_db
def test_a_failed_reading_time_still_rescores_its_system(settings, trust, other_trust, icb, monkeypatch, caplog):
    """A drain may have left the system's rescore to the drain of the last queued provider: if that
    provider's scoring fails, the system is rescored anyway."""
    settings.CARECOORD_SCC_SCORING = "background"
    services.ingest(trust, readings())
    services.ingest(other_trust, readings())
    scorer.drain_once(limit=1)
    first = _system(icb)
    monkeypatch.setattr(scorer, "score_providers", lambda *a, **kw: 1 / 0)
    assert scorer.drain_once(limit=1) == 1
    assert _system(icb).computed_at > first.computed_at and "ZeroDivisionError" in caplog.text


@pytest.mark.django_db
def test_a_deadlock_leaves_the_rows_queued_and_they_are_scored_on_the_retry(settings, trust, icb, monkeypatch,
                                                                            caplog):
    """Another transaction in the way (a deadlock, a serialisation failure) says nothing about the
    readings: the rows stay claimed, and are scored once the claim is stale, instead of being dropped."""
    import psycopg
    from django.db import OperationalError

    settings.CARECOORD_SCC_SCORING = "background"
    services.ingest(trust, readings())
    real = scorer.score_providers

    def deadlock(*a, **kw):
        raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected("deadlock detected")

    monkeypatch.setattr(scorer, "score_providers", deadlock)
    assert scorer.drain_once() == 1
    assert ScoreQueue.objects.filter(organisation=trust, at=AT).exists() and "DeadlockDetected" in caplog.text
    monkeypatch.setattr(scorer, "score_providers", real)
    assert scorer.drain_once() == 0  # still claimed: not retried at once
    ScoreQueue.objects.update(claimed_at=datetime.now(UTC) - scorer.STALE_CLAIM - timedelta(seconds=1))
    assert scorer.drain_once() == 1
    assert OpelScore.objects.filter(organisation=trust, at=AT).exists() and not ScoreQueue.objects.exists()
