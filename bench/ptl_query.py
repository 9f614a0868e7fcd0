"""PTL page server time on a 1-million-pathway trust: p50/p95 of the default page and three
filtered pages, measured through the real view (middleware, scoping, audit row, template).

Runs in its own data directory (var/bench-ptl) so the demo database is untouched.

    python -m bench.ptl_query [--pathways N] [--requests R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pathways", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    os.environ.setdefault("CARECOORD_DATA_DIR", str(ROOT / "var" / "bench-ptl"))
    from bench import _django

    _django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from bench._harness import write_result
    from carecoord.core.models import Organisation, Role, RoleAssignment, User

    org, _ = Organisation.objects.get_or_create(ods_code="RBIG", defaults={"name": "Big Trust", "kind": "nhs_trust"})
    have = org.pathways.count()
    if have != args.pathways:
        _load(org, args.pathways)
    user, _ = User.objects.get_or_create(username="bench-wlm")
    RoleAssignment.objects.get_or_create(user=user, organisation=org, defaults={"roles": [Role.WAITING_LIST_MANAGER]})
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    pages = {
        "default": "/waiting-list/",
        "tfc_110": "/waiting-list/?tfc=110",
        "over_52_weeks": "/waiting-list/?band=52-65",
        "p2_no_tci_page_5": "/waiting-list/?priority=P2&tci=none&page=5",
        # Column sorts a manager clicks (not in the target's four pages; measured so their cost is known).
        "sort_longest_wait": "/waiting-list/?sort=wait",
        "sort_tci": "/waiting-list/?sort=tci",
        "sort_consultant": "/waiting-list/?sort=consultant",
    }
    figures = {"pathways": args.pathways, "requests_per_page": args.requests}
    for name, url in pages.items():
        client.get(url)  # warm
        times = []
        for _ in range(args.requests):
            t = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200
        times.sort()
        figures[name] = {"p50_ms": round(statistics.median(times), 1),
                         "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1)}
    # Baseline in the same run: the bare indexed query the page is built on (no count, no template).
    from django.db import connection

    with connection.cursor() as cur:
        times = []
        for _ in range(args.requests):
            t = time.perf_counter()
            cur.execute("SELECT id FROM waitinglist_pathway WHERE provider_id = %s AND status = 'on_list' "
                        "ORDER BY priority_rank, queue_date, id LIMIT 50", [org.pk])
            cur.fetchall()
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    figures["baseline_bare_query_p50_ms"] = round(statistics.median(times), 2)
    figures["default_p95_vs_bare_query_p50"] = round(figures["default"]["p95_ms"] / figures["baseline_bare_query_p50_ms"], 1)
    write_result("ptl_query", figures, targets={"p95_ms": 50})


def _load(org, n: int) -> None:
    """COPY n pathways (and their patients) for `org`, vectorised."""
    from datetime import date, timedelta

    import numpy as np
    import polars as pl
    from django.db import connection, transaction

    from carecoord.core import nhs_number
    from carecoord.synth.registry import SCALES, SynthContext

    rng = np.random.default_rng(5)
    today = date.today()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("DELETE FROM waitinglist_clockevent WHERE pathway_id IN (SELECT id FROM waitinglist_pathway WHERE provider_id=%s)", [org.pk])
            cur.execute("DELETE FROM waitinglist_pathway WHERE provider_id = %s", [org.pk])
            cur.execute("SELECT COALESCE(MAX(id), 0) FROM core_patient")
            base = cur.fetchone()[0]
        connection.ensure_connection()
        ctx = SynthContext(seed=5, scale=SCALES["demo"], conn=connection.connection, today=today)
        chunk = 250_000
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            ids = base + start + 1 + np.arange(m)
            ctx.copy_frame("core_patient", pl.DataFrame({
                "id": ids, "nhs_number": nhs_number.generate_test_numbers(m, start=2_000_000 + base + start),
                "given_name": "Bench", "family_name": "Patient", "sex": "0", "postcode_district": "",
                "phone": "", "email": "", "consent_sms": False, "consent_email": False, "prefers_letter": True,
                "vulnerable": False, "parent_contact": "",
            }).with_columns(pl.lit(today).alias("created_at"), pl.lit(today).alias("updated_at")))
            days = np.minimum(rng.exponential(120, m).astype(int), 900)
            start_dates = np.datetime64(today) - days.astype("timedelta64[D]")
            prio = rng.choice(["P2", "P3", "P4", ""], size=m, p=[0.1, 0.3, 0.4, 0.2])
            rank = np.select([prio == "P2", prio == "P3", prio == "P4"], [3, 4, 5], 99)
            tci_dates = (np.datetime64(today) + rng.integers(1, 60, m).astype("timedelta64[D]")).astype("datetime64[D]")
            tci = pl.Series(tci_dates).set(pl.Series(rng.random(m) >= 0.1), None)
            ctx.copy_frame("waitinglist_pathway", pl.DataFrame({
                "provider_id": org.pk, "patient_id": ids, "ppid": np.char.add("BENCH", (base + start + np.arange(m)).astype(str)),
                "ppid_issuer": "RBIG", "ubrn": "", "local_patient_id": "", "source_of_referral": "",
                "referrer_code": "", "commissioner_code": "", "tfc": rng.choice(["110", "130", "120", "502", "100", "301"], m),
                "main_specialty": "", "consultant_code": rng.choice([f"C{i:07d}" for i in range(40)], m), "priority_type": "1",
                "rtt_start": start_dates.astype("datetime64[D]"), "rtt_status": "20", "clock_state": "open",
                "clock_stop_status": "", "queue_date": start_dates.astype("datetime64[D]"), "waiting_list_type": "IRTT",
                "list_type": "admitted", "clinical_priority": prio, "priority_rank": rank, "intended_procedure": "",
                "intended_management": "", "tci_date": tci, "poa_status": "not_started", "last_validated_by": "",
                "status": "on_list", "row_hash": "",
            }).with_columns(pl.lit(today).alias("created_at"), pl.lit(today).alias("updated_at")))
        ctx.reset_sequence("core_patient")
        ctx.reset_sequence("waitinglist_pathway")
    with connection.cursor() as cur:
        cur.execute("ANALYZE waitinglist_pathway")
    _ = timedelta


if __name__ == "__main__":
    main()
