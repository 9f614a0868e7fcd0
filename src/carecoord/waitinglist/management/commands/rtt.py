"""`carecoord rtt summary --provider ODS|--system ODS --census YYYY-MM-DD [--format json|csv|text]`"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from carecoord.core import csvsafe
from carecoord.core.commands import iso_date, organisation
from carecoord.waitinglist import summary

# The JSON contract's figures (keys must not be renamed or removed); CSV adds the unknown-clock-start column.
FIGURES = ("total", "within_18_weeks", "pct_within_18_weeks", "median_weeks", "p92_weeks", "over_52", "over_65",
           "over_78", "over_104")
CSV_FIGURES = (*FIGURES, "unknown_clock_start")


class Command(BaseCommand):
    help = "RTT waiting-time summaries as NHS England's monthly statistics define them"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        s = sub.add_parser("summary", help="incomplete pathways at a census date")
        who = s.add_mutually_exclusive_group(required=True)
        who.add_argument("--provider", help="one provider's ODS code")
        who.add_argument("--system", help="an ICB's (or hub's) ODS code: all the providers it may see")
        s.add_argument("--census", required=True, help="census date YYYY-MM-DD")
        s.add_argument("--format", choices=["json", "csv", "text"], default="text")

    def handle(self, *args, **opts):
        census = iso_date(opts["census"], "--census")
        problem = summary.census_problem(census, timezone.localdate())
        if problem:
            raise CommandError(f"--census: {problem}")
        if opts["provider"]:
            ids = [organisation(opts["provider"], "--provider").pk]
        else:
            ids = organisation(opts["system"], "--system").aggregate_scope_ids()
        out = summary.load(ids, census, since=census).summarise(census)
        fmt = opts["format"]
        if fmt == "json":
            keep = {k: out[k] for k in FIGURES}
            keep["by_treatment_function"] = {k: {f: v[f] for f in CSV_FIGURES}
                                             for k, v in out["by_treatment_function"].items()}
            keep["unknown_clock_start"] = out["unknown_clock_start"]
            keep["census"] = out["census"]
            self.stdout.write(json.dumps(keep))
        elif fmt == "csv":
            w = csvsafe.writer(self.stdout, lineterminator="\n")
            w.writerow(["treatment_function", *CSV_FIGURES])
            w.writerow(["all", *(out[f] for f in CSV_FIGURES)])
            for k, v in out["by_treatment_function"].items():
                w.writerow([k, *(v[f] for f in CSV_FIGURES)])
        else:
            self.stdout.write(text_summary(out, census))


def text_summary(out: dict, census) -> str:
    unknown = f"{out['unknown_clock_start']:,} with an unknown clock start not counted"
    if not out["total"]:
        return f"Census {census:%d/%m/%Y}: no incomplete pathways at this census ({unknown})"
    return (f"Census {census:%d/%m/%Y}: {out['total']:,} incomplete pathways, "
            f"{out['pct_within_18_weeks']}% within 18 weeks, median {out['median_weeks']} weeks, "
            f"92nd percentile {out['p92_weeks']} weeks, {out['over_52']:,} over 52 weeks ({unknown})")
