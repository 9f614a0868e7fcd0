"""SCC latency: from a reading posted to the change shown on an open board.

A real HTTP server (Django's threaded WSGI server) serves the app; an SSE client holds the board's
stream open (`/coordination/stream/`, exactly what the browser's EventSource does). Each round posts
one provider's readings through `POST /api/v1/coordination/readings` (token, ingest; the server's scorer
thread rescores OPEL),
waits for the stream's `change` event, then fetches the board fragment (what htmx swaps in) and checks
the new value is in it. Latency = post start to fragment received. Baseline in the same run: the
API post's own round trip. The stream checks for changes every `SCC_STREAM_INTERVAL` seconds (0.5).

    python -m bench.scc_latency [--rounds N]
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
from datetime import UTC, datetime, timedelta

from bench import _django
from bench._harness import write_result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    _django.setup()
    import requests
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.test import Client

    from carecoord.coordination.models import OpelScore, Reading
    from carecoord.core.models import ApiToken, Organisation, OrganisationKind, Role, RoleAssignment, User
    from carecoord.core.services.api_tokens import issue

    class Quiet(WSGIRequestHandler):
        def log_message(self, *a):  # no request lines on the console
            pass

    settings.ALLOWED_HOSTS = ["*"]
    icb, _ = Organisation.objects.get_or_create(ods_code="QLAT", defaults={"name": "Latency ICB",
                                                                           "kind": OrganisationKind.ICB})
    trust, _ = Organisation.objects.get_or_create(ods_code="RLAT", defaults={
        "name": "Latency Trust", "kind": OrganisationKind.NHS_TRUST, "parent": icb})
    user, _ = User.objects.get_or_create(username="bench-scc-latency", defaults={"is_persona": False})
    RoleAssignment.objects.update_or_create(user=user, organisation=icb, defaults={"roles": [Role.SCC_OPERATOR]})
    ApiToken.objects.filter(organisation=trust, name="latency").update(revoked_at=datetime.now(UTC))
    token = issue(name="latency", organisation=trust, roles=[Role.ORG_ADMIN], created_by=user)[1]

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    browser = Client()
    browser.force_login(user)
    cookies = {settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value}

    events: queue.Queue = queue.Queue()

    def listen():
        last = None
        while True:
            headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last} if last else {})}
            with requests.get(f"{base}/coordination/stream/", cookies=cookies, stream=True, timeout=60,
                              headers=headers) as r:
                kind = None
                for line in r.iter_lines(chunk_size=1, decode_unicode=True):  # byte by byte: no buffering
                    if line.startswith("id: "):
                        last = line[4:]
                    elif line.startswith("event: "):
                        kind = line[7:]
                    elif line == "" and kind:
                        events.put((kind, time.perf_counter()))
                        kind = None

    probe = requests.get(f"{base}/coordination/", cookies=cookies, timeout=10, allow_redirects=False)
    if probe.status_code != 200:
        raise SystemExit(f"the board answered {probe.status_code}: {probe.text[:300]}")
    threading.Thread(target=listen, daemon=True).start()
    assert events.get(timeout=10)[0] == "hello"
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=args.rounds)
    latencies, posts, misses = [], [], 0
    api = requests.Session()
    for k in range(args.rounds):
        while not events.empty():
            events.get_nowait()
        value = 30.0 + k + 0.25  # unique on the board
        at = (start + timedelta(minutes=15 * k)).isoformat()
        body = {"readings": [{"metric": "ambulance_handover_mean_minutes", "time": at, "value": value}]}
        t0 = time.perf_counter()
        r = api.post(f"{base}/api/v1/coordination/readings", json=body, timeout=30,
                     headers={"Authorization": f"Bearer {token}"})
        posts.append(time.perf_counter() - t0)
        r.raise_for_status()
        while True:
            kind, _at = events.get(timeout=15)
            if kind == "change":
                break
        board = requests.get(f"{base}/coordination/", cookies=cookies, headers={"HX-Request": "true"}, timeout=30)
        t1 = time.perf_counter()
        if f"{value:.1f}" not in board.text and f"{value}" not in board.text:
            misses += 1
        latencies.append(t1 - t0)
        time.sleep(0.2)
    server.shutdown()
    Reading.objects.filter(organisation=trust).delete()
    OpelScore.objects.filter(organisation__in=[trust, icb]).delete()

    def pct(xs, q):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(len(xs) * q))]

    figures = {
        "rounds": args.rounds, "stream_check_interval_s": getattr(settings, "SCC_STREAM_INTERVAL", 0.5),
        "latency_p50_ms": round(pct(latencies, 0.5) * 1000), "latency_p95_ms": round(pct(latencies, 0.95) * 1000),
        "latency_max_ms": round(max(latencies) * 1000),
        "baseline_post_p50_ms": round(pct(posts, 0.5) * 1000), "baseline_post_p95_ms": round(pct(posts, 0.95) * 1000),
        "board_missing_the_new_value": misses,
        "target_met": pct(latencies, 0.95) < 2.0 and misses == 0,
    }
    write_result("scc_latency", figures, targets={"latency_p95_ms": 2000},
                 notes="Real HTTP (threaded WSGI server) with an SSE client on the board's stream; latency is from "
                       "the reading's POST to the board fragment holding the new value.")


if __name__ == "__main__":
    main()
