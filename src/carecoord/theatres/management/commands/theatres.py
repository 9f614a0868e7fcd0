"""`carecoord theatres plan --provider ODS --from YYYY-MM-DD --weeks N (1-8) [--seconds S] [--seed K] --format json`
(assisted list filling; books nothing) and `carecoord theatres sessions --provider ODS --from D --weeks N (1-26)`
(generate planned sessions from the weekly templates)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from carecoord.core.commands import iso_date, organisation
from carecoord.core.models import AuditLog
from carecoord.core.services.audit import Auditor
from carecoord.theatres import services
from carecoord.theatres.forms import GenerateForm, PlanForm


class Command(BaseCommand):
    help = "Theatre scheduling: suggested list filling and session generation"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        p = sub.add_parser("plan", help="suggest bookings for a provider's planned lists (books nothing)")
        p.add_argument("--provider", required=True)
        p.add_argument("--from", dest="start", required=True)
        p.add_argument("--weeks", type=int, default=4)
        p.add_argument("--seconds", type=float, default=20.0)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--format", choices=["json", "text"], default="text")
        mt = sub.add_parser("metrics", help="utilisation, overruns, cancellations and priority compliance")
        mt.add_argument("--provider", required=True)
        mt.add_argument("--from", dest="start", required=True)
        mt.add_argument("--to", dest="end", required=True)
        mt.add_argument("--format", choices=["json", "text"], default="text")
        g = sub.add_parser("sessions", help="create planned sessions from the weekly templates")
        g.add_argument("--provider", required=True)
        g.add_argument("--from", dest="start", required=True)
        g.add_argument("--weeks", type=int, default=6)
        lv = sub.add_parser("leave", help="import consultant leave from CSV (all or nothing)")
        lv.add_argument("path", help="CSV with consultant_code, starts_on, ends_on[, kind]")
        lv.add_argument("--provider", required=True)
        lv.add_argument("--format", choices=["json", "text"], default="text")

    def handle(self, *args, **opts):
        org = organisation(opts["provider"])
        if opts["action"] == "leave":
            return self._leave(org, opts)
        start = iso_date(opts["start"], "--from")
        if opts["action"] == "metrics":
            end = iso_date(opts["end"], "--to")
            if end < start:
                raise CommandError("--to must not be before --from")
            out = services.metrics_for(org, start, end)
            if opts["format"] == "json":
                self.stdout.write(json.dumps(out))
            else:
                self.stdout.write(f"{out['lists']} lists, {out['cases']} cases: capped utilisation "
                                  f"{out['capped_utilisation']}, overrun rate {out['overrun_rate']['value']}")
            return
        # The same bounds as the pages: the forms decide, and their errors name the option.
        if opts["action"] == "sessions":
            self._check(GenerateForm, {"start": start, "weeks": opts["weeks"]})
            n = services.generate_sessions(org, start, opts["weeks"])
            self.stdout.write(f"{n} sessions created")
            return
        seconds = self._check(PlanForm, {"start": start, "weeks": opts["weeks"], "seconds": opts["seconds"],
                                         "seed": opts["seed"]})["seconds"]
        result, data = services.plan_for_provider(org, start, opts["weeks"], seconds=seconds, seed=opts["seed"])
        out = services.plan_json(result, data)
        Auditor.system("cli:theatres-plan", organisation=org).event(
            AuditLog.Action.VIEW, "theatres.plan", object_id=org.pk,
            summary=f"plan {start} +{opts['weeks']}w: {len(out['suggested_bookings'])} suggestions")
        if not out["lists"]:
            self.stderr.write(services.NO_LISTS)
        if opts["format"] == "json":
            self.stdout.write(json.dumps(out))
        else:
            self.stdout.write(f"{len(out['suggested_bookings'])} suggested bookings on {len(out['lists'])} lists, "
                              f"booked utilisation {out['booked_utilisation']:.0%} ({out['status']}, "
                              f"{out['seconds']} s)")

    @staticmethod
    def _check(form_class, data):
        form = form_class(data)
        if not form.is_valid():
            flags = {"start": "--from", "weeks": "--weeks", "seconds": "--seconds", "seed": "--seed"}
            raise CommandError("; ".join(f"{flags.get(k, k)}: {' '.join(v)}" for k, v in form.errors.items()))
        return form.cleaned_data

    def _leave(self, org, opts):
        from pathlib import Path

        path = Path(opts["path"])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        result = services.import_leave(org, text, auditor=Auditor.system("theatres leave import", org))
        if opts["format"] == "json":
            self.stdout.write(json.dumps(result.as_dict()))
        else:
            for e in result.errors:
                self.stderr.write(e)
            self.stdout.write(f"{result.rows_read} rows: {result.created} leave periods added, "
                              f"{result.duplicates} already held; {len(result.clashes)} bookings fall in the new "
                              "leave and need moving")
        if result.errors:
            raise CommandError(f"{len(result.errors)} problems: nothing was loaded")
