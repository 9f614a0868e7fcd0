"""`carecoord validate run [--provider ODS] --format json` and
`carecoord validate findings --rule T5 [--provider ODS] --format csv`."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from carecoord.core import csvsafe
from carecoord.core.commands import iso_date, organisation
from carecoord.core.models import AuditLog, Organisation
from carecoord.core.services.audit import Auditor
from carecoord.validation import runner
from carecoord.validation.models import Finding
from carecoord.waitinglist.rules import technical


def _org(code: str | None) -> Organisation | None:
    return organisation(code) if code else None


class Command(BaseCommand):
    help = "Technical validation of the waiting list (rules T1–T21)"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        r = sub.add_parser("run", help="run the rules and record findings")
        r.add_argument("--provider", help="one provider's ODS code (default: every provider)")
        r.add_argument("--census", help="census date YYYY-MM-DD (default today)")
        r.add_argument("--rule", action="append", help="only this rule (repeatable)")
        r.add_argument("--format", choices=["json", "text"], default="text")
        f = sub.add_parser("findings", help="list the open findings of a rule")
        f.add_argument("--rule", required=True)
        f.add_argument("--provider")
        f.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args, **opts):
        if opts["action"] == "run":
            return self._run(opts)
        return self._findings(opts)

    def _run(self, opts):
        census = None
        if opts.get("census"):
            census = iso_date(opts["census"], "--census")
        rules = opts.get("rule")
        unknown = [r for r in rules or [] if r not in technical.RULES]
        if unknown:
            raise CommandError(f"unknown rule {', '.join(unknown)}; rules are T1 to T21")
        run = runner.run(organisation=_org(opts.get("provider")), census=census, trigger="cli", rules=rules)
        if opts["format"] == "json":
            self.stdout.write(json.dumps({"run_id": run.pk, "pathways_checked": run.pathways_checked,
                                          "findings_by_rule": run.findings_by_rule, "seconds": run.seconds}))
        else:
            total = sum(run.findings_by_rule.values())
            self.stdout.write(f"Run {run.pk}: {run.pathways_checked:,} pathways checked, {total:,} findings "
                              f"({run.opened:,} new, {run.closed:,} closed) in {run.seconds:.1f} s")

    def _findings(self, opts):
        rule = opts["rule"].strip().upper()
        if rule not in technical.RULES:
            raise CommandError(f"unknown rule {rule!r}; rules are T1 to T21")
        org = _org(opts.get("provider"))
        qs = Finding.objects.open().filter(rule=rule)
        if org is not None:
            qs = qs.filter(pathway__provider=org)
        rows = list(qs.order_by("pathway__provider__ods_code", "pathway__ppid").values_list(
            "pathway__ppid", "pathway__ppid_issuer", "pathway__provider__ods_code", "rule", "severity", "detail"))
        Auditor.system("cli:validate-findings", organisation=org).event(
            AuditLog.Action.EXPORT, "validation.findings", object_id=rule, summary=f"{len(rows)} open {rule} findings")
        cols = ["patient_pathway_identifier", "issuer", "provider", "rule", "severity", "detail"]
        if opts["format"] == "json":
            self.stdout.write(json.dumps([dict(zip(cols, r, strict=True)) for r in rows]))
        else:
            w = csvsafe.writer(self.stdout, lineterminator="\n")
            w.writerow(cols)
            w.writerows(rows)
