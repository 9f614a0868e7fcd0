"""`carecoord ptl export --provider ODS --census YYYY-MM-DD --format csv|json`: the open pathways."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from carecoord.core import csvsafe
from carecoord.core.commands import iso_date, organisation
from carecoord.core.models import AuditLog
from carecoord.core.services.audit import Auditor
from carecoord.waitinglist import rtt
from carecoord.waitinglist.models import Pathway
from carecoord.waitinglist.presenters import weeks_waited

COLUMNS = ("patient_pathway_identifier", "issuer", "provider", "treatment_function", "list_type", "rtt_period_start",
           "days_waited", "weeks_waited", "priority", "queue_order_date", "tci_date")


class Command(BaseCommand):
    help = "Export the open pathways of a provider's PTL at a census date"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        e = sub.add_parser("export", help="write the PTL to standard output")
        e.add_argument("--provider", required=True)
        e.add_argument("--census", required=True, help="census date YYYY-MM-DD")
        e.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args, **opts):
        census = iso_date(opts["census"], "--census")
        org = organisation(opts["provider"])
        qs = (Pathway.objects.filter(provider=org, status="on_list", clock_state="open", rtt_start__lte=census)
              .order_by("priority_rank", "queue_date", "id")
              .values_list("ppid", "ppid_issuer", "tfc", "list_type", "rtt_start", "clinical_priority", "queue_date",
                           "tci_date"))
        rows = []
        for ppid, issuer, tfc, list_type, start, prio, queue, tci in qs.iterator(chunk_size=20_000):
            days = rtt.days_waited(start, census)
            rows.append((ppid, issuer, org.ods_code, tfc, list_type, start.isoformat(), days, weeks_waited(days),
                         prio, queue.isoformat() if queue else "", tci.isoformat() if tci else ""))
        Auditor.system("cli:ptl-export", organisation=org).event(
            AuditLog.Action.EXPORT, "waitinglist.ptl", object_id=org.pk,
            summary=f"PTL export (command line) of {len(rows)} pathways at {census.isoformat()}")
        if opts["format"] == "json":
            self.stdout.write(json.dumps([dict(zip(COLUMNS, r, strict=True)) for r in rows]))
        else:
            w = csvsafe.writer(self.stdout, lineterminator="\n")
            w.writerow(COLUMNS)
            w.writerows(rows)
