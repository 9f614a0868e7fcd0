"""`carecoord check --format json`: database, migrations, worker and static assets."""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib.staticfiles import finders
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

REQUIRED_ASSETS = [
    "vendor/nhsuk/nhsuk-frontend.min.css",
    "vendor/nhsuk/nhsuk-frontend.min.js",
    "vendor/htmx/htmx.min.js",
    "vendor/vega/vega-embed.min.js",
]


def run_checks() -> dict:
    report: dict = {}
    try:
        with connection.cursor() as cur:
            cur.execute("SHOW server_version")
            version = cur.fetchone()[0]
        report["database"] = {"ok": True, "vendor": connection.vendor, "server_version": version}
    except Exception as exc:  # noqa: BLE001
        report["database"] = {"ok": False, "error": type(exc).__name__}
        report["migrations"] = {"ok": False, "error": "database unavailable"}
        report["worker"] = {"ok": False, "error": "database unavailable"}
    if report["database"]["ok"]:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        report["migrations"] = {"ok": not pending, "pending": [f"{m.app_label}.{m.name}" for m, _ in pending]}
        from carecoord.core.models import WorkerHeartbeat

        try:
            cutoff = timezone.now() - timedelta(seconds=30)
            live = WorkerHeartbeat.objects.filter(last_seen__gte=cutoff).count()
            report["worker"] = {"ok": live > 0, "live_workers": live}
        except Exception as exc:  # noqa: BLE001 - table missing before migrate
            report["worker"] = {"ok": False, "error": type(exc).__name__}
    missing = [a for a in REQUIRED_ASSETS if not finders.find(a)]
    report["static_assets"] = {"ok": not missing, "missing": missing}
    report["ok"] = all(v["ok"] for v in report.values() if isinstance(v, dict))
    return report


class Command(BaseCommand):
    help = "Check the database, migrations, worker and static assets"

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, **options):
        report = run_checks()
        if options["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2))
        else:
            for name, item in report.items():
                if isinstance(item, dict):
                    mark = "ok" if item["ok"] else "NOT OK"
                    detail = {k: v for k, v in item.items() if k != "ok"}
                    self.stdout.write(f"{name:15} {mark:7} {detail}")
        if not report["ok"]:
            raise CommandError("one or more checks failed", returncode=1)
