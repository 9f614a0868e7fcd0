"""SCC ingest: readings per second through `POST /api/v1/coordination/readings`, scored.

200 providers in one system, 40 metrics each (the edition's parameters plus local metrics), one
batch per provider per reading time, posted with each provider's own token through the full Django
stack (in-process WSGI client: routing, token check, validation, upsert, queueing, audit) by
`--clients` processes side by side, as a server's worker processes would take them (2 on 2 cores).
Each process runs its OPEL scorer thread as the server does. The clock stops only when every
provider and the system are scored at every reading time (the queue is empty and the system score
counts all 200 providers), so the figure is readings ingested *and scored* per second.

Before the clock starts, a day of earlier readings is loaded (`--history-hours`), so the scorer's
queries run against a table of steady-state size rather than an empty one.

Baseline in the same run: COPY of the same readings straight into the table. The bench organisations
are kept (the audit log refers to them); their readings and scores are deleted afterwards.

Three timed runs (later reading times each) and the median is reported, with every run's figure.

    python -m bench.scc_ingest [--times N] [--clients N] [--history-hours H] [--repeats N]
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import time
from datetime import UTC, datetime, timedelta

from bench import _django
from bench._harness import peak_rss_mb, timer, write_result

PROVIDERS, METRICS = 200, 40
START = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)


def _post(tokens: list[str], keys: list[str], times: list[str], seed: int, go, out) -> None:
    """One server process: post each of its providers' batches for every reading time, then finish
    its scorer's work (as a server that keeps running would, a moment later)."""
    try:
        _django.setup()
        out.put(_post_all(tokens, keys, times, seed, go))
    except BaseException as exc:  # noqa: BLE001 - report to the parent instead of leaving it waiting
        out.put(f"{type(exc).__name__}: {exc}")


def _post_all(tokens, keys, times, seed, go) -> tuple[list[float], float]:
    import numpy as np
    from django.test import Client

    from carecoord.coordination import scorer

    rng = np.random.default_rng(seed)
    client = Client(SERVER_NAME="localhost")
    client.get("/")  # warm the URL resolver and middleware outside the clock
    latencies = []
    go.wait()
    cpu0 = time.process_time()
    for at in times:
        for token in tokens:
            body = {"readings": [{"metric": m, "time": at, "value": float(v)}
                                 for m, v in zip(keys, rng.uniform(0, 100, len(keys)), strict=True)]}
            t0 = time.perf_counter()
            r = client.post("/api/v1/coordination/readings", data=json.dumps(body), content_type="application/json",
                            headers={"Authorization": f"Bearer {token}"})
            latencies.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.content
    scorer.shutdown()  # the scorer thread finishes what it claimed
    scorer.flush()
    return latencies, time.process_time() - cpu0


def _copy(rows, columns: str) -> float:
    from django.db import connection

    buf = io.StringIO()
    for r in rows:
        buf.write(",".join(str(v) for v in r) + "\n")
    with timer() as t, connection.cursor() as cur:
        with cur.cursor.copy(f"COPY coordination_reading ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buf.getvalue())
    return t.seconds


def _postgres_cpu() -> float | None:
    """CPU seconds used so far by the local database server and its ended backends (None if remote)."""
    import os

    from django.db import connection

    try:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            backend = cur.fetchone()[0]
        with open(f"/proc/{backend}/stat") as fh:
            postmaster = int(fh.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{postmaster}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _timed_run(tokens, keys, times, clients, orgs, icb) -> dict:
    """One timed run: `clients` posting processes, each its share of the providers, for `times`."""
    from django.db import connections

    from carecoord.coordination.models import OpelScore, ScoreQueue

    ctx = mp.get_context("spawn")  # a fresh interpreter each, as a server's workers (fork would inherit locks)
    go, out = ctx.Event(), ctx.Queue()
    stamps = [at.isoformat() for at in times]
    procs = [ctx.Process(target=_post, args=(tokens[c::clients], keys, stamps, c, go, out)) for c in range(clients)]
    for p in procs:
        p.start()
    time.sleep(8)  # let each process start Django and its client
    db_cpu0 = _postgres_cpu()
    connections.close_all()
    with timer() as t:
        go.set()
        results = [out.get(timeout=600) for _ in procs]
        failed = [r for r in results if isinstance(r, str)]
        if failed:
            raise SystemExit(f"a posting process failed: {failed[0]}")
        for p in procs:
            p.join()
        assert not ScoreQueue.objects.exists(), "the posting processes left readings unscored"
    db_cpu1 = _postgres_cpu()
    provider_scores = OpelScore.objects.filter(organisation__in=orgs, at__in=times).count()
    system = {s.at: s.explanation["providers_scored"] for s in OpelScore.objects.filter(organisation=icb, at__in=times)}
    assert provider_scores == PROVIDERS * len(times), provider_scores
    assert all(system.get(at) == PROVIDERS for at in times), system
    return {"seconds": t.seconds, "latencies": [x for r, _ in results for x in r],
            "server_cpu": round(sum(c for _, c in results), 2),
            "database_cpu": round(db_cpu1 - db_cpu0, 2) if db_cpu0 is not None and db_cpu1 is not None else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--times", type=int, default=8, help="reading times (15 minutes apart)")
    ap.add_argument("--clients", type=int, default=2, help="posting processes (server workers)")
    ap.add_argument("--history-hours", type=int, default=24, help="earlier readings loaded first")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs (the median is reported)")
    args = ap.parse_args()
    _django.setup()
    from django.db import connection, connections

    from carecoord.coordination import opel
    from carecoord.coordination.models import OpelScore, Reading, ScoreQueue
    from carecoord.core.models import ApiToken, Organisation, OrganisationKind, Role, User
    from carecoord.core.services.api_tokens import issue

    admin, _ = User.objects.get_or_create(username="bench-scc", defaults={"is_persona": False})
    icb, _ = Organisation.objects.get_or_create(ods_code="QBENCH", defaults={"name": "Bench ICB",
                                                                             "kind": OrganisationKind.ICB})
    orgs, tokens = [], []
    for i in range(PROVIDERS):
        org, _ = Organisation.objects.get_or_create(ods_code=f"RB{i:03d}", defaults={
            "name": f"Bench Trust {i}", "kind": OrganisationKind.NHS_TRUST, "parent": icb})
        orgs.append(org)
        ApiToken.objects.filter(organisation=org, name="bench").update(revoked_at=datetime.now(UTC))
        tokens.append(issue(name="bench", organisation=org, roles=[Role.ORG_ADMIN], created_by=admin)[1])
    ed = opel.load_edition(opel.available_editions()[-1]["name"])
    keys = [p.key for p in ed.parameters] + [f"local_metric_{k}" for k in range(METRICS - len(ed.parameters))]
    Reading.objects.filter(organisation__in=orgs).delete()
    OpelScore.objects.filter(organisation__in=[*orgs, icb]).delete()
    ScoreQueue.objects.all().delete()
    history = [(o.pk, m, (START - timedelta(minutes=15 * k)).isoformat(), 50.0, "bench", START.isoformat())
               for k in range(1, args.history_hours * 4 + 1) for o in orgs for m in keys]
    _copy(history, "organisation_id, metric, at, value, source, received_at")
    with connection.cursor() as cur:
        cur.execute("ANALYZE coordination_reading")
    connections.close_all()  # the posting processes open their own

    runs = []
    for r in range(args.repeats):
        times = [START + timedelta(minutes=15 * (r * args.times + k)) for k in range(args.times)]
        runs.append(_timed_run(tokens, keys, times, args.clients, orgs, icb))
    median = sorted(runs, key=lambda x: x["seconds"])[len(runs) // 2]
    n = PROVIDERS * len(keys) * args.times
    Reading.objects.filter(organisation__in=orgs, at__gte=START).delete()
    OpelScore.objects.filter(organisation__in=[*orgs, icb]).delete()
    times = [START + timedelta(minutes=15 * k) for k in range(args.times)]
    # Baseline: COPY of the same number of rows into the table
    copy_seconds = _copy([(o.pk, m, at.isoformat(), 1.0, "bench", at.isoformat()) for at in times for o in orgs
                          for m in keys], "organisation_id, metric, at, value, source, received_at")
    Reading.objects.filter(organisation__in=orgs).delete()
    lat = sorted(median["latencies"])
    figures = {
        "providers": PROVIDERS, "metrics": len(keys), "reading_times": args.times, "readings": n,
        "clients": args.clients, "history_rows": len(history),
        "repeats": args.repeats, "readings_per_second_each_run": [round(n / x["seconds"]) for x in runs],
        "seconds": round(median["seconds"], 2), "readings_per_second": round(n / median["seconds"]),
        "batch_p50_ms": round(lat[len(lat) // 2] * 1000, 1), "batch_p95_ms": round(lat[int(len(lat) * 0.95)] * 1000, 1),
        "baseline_copy_seconds": round(copy_seconds, 3), "baseline_copy_rows_per_second": round(n / copy_seconds),
        "ratio_vs_copy": round(median["seconds"] / copy_seconds, 1), "peak_rss_mb": peak_rss_mb(),
        "server_cpu_seconds": median["server_cpu"], "database_cpu_seconds": median["database_cpu"],
    }
    write_result("scc_ingest", figures, targets={"readings_per_second": 10_000},
                 notes=f"One batch of 40 readings per provider per reading time from {args.clients} posting "
                       "processes through the in-process WSGI client (no network); the clock stops when every "
                       "provider and the system are scored at every reading time.")


if __name__ == "__main__":
    main()
