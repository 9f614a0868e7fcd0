"""The `carecoord` command: one entry point for people and scripts.

`carecoord db ...` manages the embedded PostgreSQL without loading Django. Everything else is a
Django management command (`carecoord help` lists them), with a few friendlier names:

    carecoord serve [--with-worker]      the web server
    carecoord worker                      the background worker
    carecoord check --format json         database, migrations, worker, static assets
    carecoord orgs list|add               organisations
    carecoord synth --seed N --scale S    the synthetic health system
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ALIASES = {
    "check": "carecoord_check",
    "import": "import_data",
    "django-check": "check",
}


def _data_dir() -> Path:
    root = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("CARECOORD_DATA_DIR", root / "var")).resolve()


def _db(argv: list[str]) -> int:
    from carecoord.core import embedded_db

    parser = argparse.ArgumentParser(prog="carecoord db", description="Manage the database")
    sub = parser.add_subparsers(dest="action", required=True)
    st = sub.add_parser("status", help="is the embedded server initialised and running?")
    st.add_argument("--format", choices=["text", "json"], default="text")
    sub.add_parser("start", help="start (or reuse) the embedded server")
    sub.add_parser("stop", help="stop the embedded server cleanly")
    sub.add_parser("url", help="print the database URL in use")
    b = sub.add_parser("backup", help="pg_dump the database to FILE (custom format)")
    b.add_argument("file", type=Path)
    r = sub.add_parser("restore", help="pg_restore FILE into the database")
    r.add_argument("file", type=Path)
    args = parser.parse_args(argv)

    pgdata = _data_dir() / "pgdata"
    external = os.environ.get("DATABASE_URL")
    if args.action == "status":
        info = {"external": bool(external)} if external else embedded_db.status(pgdata)
        if args.format == "json":
            print(json.dumps(info))
        else:
            for k, v in info.items():
                print(f"{k}: {v}")
        return 0
    if args.action in ("start", "stop") and external:
        print("DATABASE_URL is set: carecoord does not manage that server", file=sys.stderr)
        return 1
    if args.action == "start":
        print(embedded_db.ensure_running(pgdata))
        return 0
    if args.action == "stop":
        stopped = embedded_db.stop(pgdata)
        print("stopped" if stopped else "not running", file=sys.stderr)
        return 0
    url = external or embedded_db.ensure_running(pgdata)
    if args.action == "url":
        print(url)
        return 0
    try:
        if args.action == "backup":
            embedded_db.backup(url, args.file)
            print(f"backed up to {args.file}", file=sys.stderr)
        else:
            if not args.file.exists():
                print(f"no such file: {args.file}", file=sys.stderr)
                return 1
            embedded_db.restore(url, args.file)
            print(f"restored from {args.file}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - report, do not trace back at the user
        print(f"{args.action} failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _opel(argv: list[str]) -> int:
    """OPEL scoring offline: no Django, no database (the pure kernel in coordination.opel)."""
    from carecoord.coordination import opel

    parser = argparse.ArgumentParser(prog="carecoord opel", description="OPEL framework scoring, offline")
    sub = parser.add_subparsers(dest="action", required=True)
    sc = sub.add_parser("score", help="score a readings CSV (columns provider, metric, time, value)")
    sc.add_argument("--readings", required=True, help="CSV file of readings")
    sc.add_argument("--edition", default=None, help="shipped edition name or a JSON file (default: the newest shipped)")
    sc.add_argument("--systems", help="optional CSV mapping provider,system (default: one system)")
    sc.add_argument("--explain", action="store_true", help="include each parameter's band and reason")
    sc.add_argument("--format", choices=["json", "text"], default="text")
    ed = sub.add_parser("editions", help="list the framework editions shipped")
    ed.add_argument("--format", choices=["json", "text"], default="text")
    args = parser.parse_args(argv)
    if args.action == "editions":
        eds = opel.available_editions()
        if args.format == "json":
            print(json.dumps(eds))
        else:
            for e in eds:
                print(f"{e['name']}: {e['title']} (edition {e['edition']}, version {e['version']})")
        return 0
    edition = args.edition or opel.available_editions()[-1]["name"]
    systems = None
    try:
        if args.systems:
            import csv

            with open(args.systems, newline="") as fh:
                systems = {row["provider"]: row["system"] for row in csv.DictReader(fh)}
        if not Path(args.readings).exists():
            raise ValueError(f"{args.readings}: no such file")
        out = opel.score_table(edition, args.readings, systems=systems, explain=args.explain)
    except (opel.EditionError, ValueError, KeyError) as exc:
        print(f"carecoord opel score: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(out, default=str))
    else:
        for res in out["results"]:
            levels = ", ".join(f"{p} OPEL {r.get('level')} ({r.get('score')})" for p, r in res["providers"].items())
            system = ", ".join(f"{s} OPEL {r.get('level')}" for s, r in res["systems"].items())
            print(f"{res['at']}: {levels}; system: {system}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "db":
        return _db(argv[1:])
    if argv and argv[0] == "opel":
        return _opel(argv[1:])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carecoord.config.settings.dev")
    if argv and argv[0] in ALIASES:
        argv[0] = ALIASES[argv[0]]
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["carecoord", *argv])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
