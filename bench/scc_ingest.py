"""SCC ingest: readings per second through `POST /api/v1/coordination/readings`.

200 providers in one system, 40 metrics each (the edition's parameters plus local metrics), one
batch per provider per reading time, posted with each provider's own token through the full Django
stack (in-process WSGI client: routing, token check, validation, upsert, OPEL rescoring of the
provider and the system, audit). Baseline in the same run: COPY of the same readings straight into
the table. The bench organisations are kept (the audit log refers to them); their readings and
scores are deleted afterwards.

    python -m bench.scc_ingest [--times N]
"""

from __future__ import annotations

import argparse
import io
import json
import time
from datetime import UTC, datetime, timedelta

from bench import _django
from bench._harness import peak_rss_mb, timer, write_result

PROVIDERS, METRICS = 200, 40


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--times", type=int, default=3, help="reading times (15 minutes apart)")
    args = ap.parse_args()
    _django.setup()
    import numpy as np
    from django.db import connection
    from django.test import Client

    from carecoord.coordination import opel
    from carecoord.coordination.models import OpelScore, Reading
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
    rng = np.random.default_rng(1)
    start = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
    client = Client(SERVER_NAME="localhost")
    latencies = []
    with timer() as t:
        for k in range(args.times):
            at = (start + timedelta(minutes=15 * k)).isoformat()
            for token in tokens:
                body = {"readings": [{"metric": m, "time": at, "value": float(v)}
                                     for m, v in zip(keys, rng.uniform(0, 100, len(keys)), strict=True)]}
                t0 = time.perf_counter()
                r = client.post("/api/v1/coordination/readings", data=json.dumps(body), content_type="application/json",
                                headers={"Authorization": f"Bearer {token}"})
                latencies.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.content
    n = PROVIDERS * len(keys) * args.times
    Reading.objects.filter(organisation__in=orgs).delete()
    OpelScore.objects.filter(organisation__in=[*orgs, icb]).delete()
    # Baseline: COPY of the same number of rows into the table
    buf = io.StringIO()
    for k in range(args.times):
        at = (start + timedelta(minutes=15 * k)).isoformat()
        for org in orgs:
            for m in keys:
                buf.write(f"{org.pk},{m},{at},1.0,bench,{at}\n")
    with timer() as tb, connection.cursor() as cur:
        with cur.cursor.copy("COPY coordination_reading (organisation_id, metric, at, value, source, received_at) "
                             "FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buf.getvalue())
    Reading.objects.filter(organisation__in=orgs).delete()
    lat = sorted(latencies)
    figures = {
        "providers": PROVIDERS, "metrics": len(keys), "reading_times": args.times, "readings": n,
        "seconds": round(t.seconds, 2), "readings_per_second": round(n / t.seconds),
        "batch_p50_ms": round(lat[len(lat) // 2] * 1000, 1), "batch_p95_ms": round(lat[int(len(lat) * 0.95)] * 1000, 1),
        "baseline_copy_seconds": round(tb.seconds, 3), "baseline_copy_rows_per_second": round(n / tb.seconds),
        "ratio_vs_copy": round(t.seconds / tb.seconds, 1), "peak_rss_mb": peak_rss_mb(),
    }
    write_result("scc_ingest", figures, targets={"readings_per_second": 10_000},
                 notes="One batch of 40 readings per provider per reading time, each rescoring the provider and "
                       "its system, through the in-process WSGI client (no network).")


if __name__ == "__main__":
    main()
