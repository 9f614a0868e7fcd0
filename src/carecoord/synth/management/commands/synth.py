"""`carecoord synth --seed N --scale demo|large|national`: a believable synthetic health system."""

from __future__ import annotations

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from carecoord.core.progress import progress_bar
from carecoord.synth import services
from carecoord.synth.registry import SCALES


class Command(BaseCommand):
    help = "Generate a synthetic health system (deterministic for a seed and --as-of date)"

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="?", choices=["feed"],
                            help="feed: write synthetic SCC readings (a day of history; --live keeps going)")
        parser.add_argument("--live", action="store_true", help="with feed: keep writing every --interval seconds")
        parser.add_argument("--interval", type=float, default=5.0)
        parser.add_argument("--hours", type=int, default=24, help="with feed: hours of history to write first")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--scale", choices=list(SCALES), default="demo")
        parser.add_argument("--as-of", type=date.fromisoformat, default=None,
                            help="the 'today' of the synthetic data (default: today)")
        parser.add_argument("--if-empty", action="store_true",
                            help="do nothing (exit 0) if the database already holds a health system")
        parser.add_argument("--emit-wlmds", metavar="DIR",
                            help="write the waiting lists already generated as WLMDS CSV files into DIR and stop")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, **opts):
        if opts.get("action") == "feed":
            from carecoord.synth import feed

            n = feed.backfill(hours=opts["hours"], seed=opts["seed"])
            self.stderr.write(f"{n} readings written for the last {opts['hours']} hours")
            if opts["live"]:
                self.stderr.write(f"Live: writing the current quarter-hour every {opts['interval']} s (Ctrl-C stops)")
                try:
                    feed.live(interval=opts["interval"], seed=opts["seed"])
                except KeyboardInterrupt:
                    pass
            if opts["format"] == "json":
                self.stdout.write(json.dumps({"readings": n}))
            return
        if opts.get("emit_wlmds"):
            from pathlib import Path

            from carecoord.synth.wlmds_emit import emit

            files = emit(Path(opts["emit_wlmds"]), opts["as_of"] or timezone.localdate())
            if not files:
                raise CommandError("no waiting lists to write: run `carecoord synth` first")
            if opts["format"] == "json":
                self.stdout.write(json.dumps({"files": [str(f) for f in files]}))
            else:
                self.stdout.write(f"{len(files)} WLMDS files written to {opts['emit_wlmds']}")
            return
        if opts["if_empty"] and not services.database_is_empty():
            self.stderr.write("The database already holds a health system: nothing to do.")
            return
        as_of = opts["as_of"] or timezone.localdate()
        scale = SCALES[opts["scale"]]
        with progress_bar(f"Synthetic health system ({scale.name})", total=scale.patients) as advance:
            def progress(n=0, description=None, **kw):
                advance(n, description=description)

            try:
                report = services.generate(seed=opts["seed"], scale=opts["scale"], as_of=as_of, progress=progress)
            except services.SynthError as exc:
                raise CommandError(str(exc)) from exc
        if opts["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2))
        else:
            for name, out in report["steps"].items():
                self.stdout.write(f"{name:15} {out}")
