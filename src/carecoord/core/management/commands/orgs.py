"""`carecoord orgs list|add`: list or register organisations."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from carecoord.core.models import Organisation, OrganisationKind
from carecoord.core.services import organisations


class Command(BaseCommand):
    help = "List or register organisations"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ls = sub.add_parser("list", help="list organisations")
        ls.add_argument("--format", choices=["text", "json"], default="text")
        ls.add_argument("--kind", choices=OrganisationKind.values)
        add = sub.add_parser("add", help="register an organisation (idempotent)")
        add.add_argument("--ods", required=True)
        add.add_argument("--name", required=True)
        add.add_argument("--kind", required=True, choices=OrganisationKind.values)
        add.add_argument("--parent")
        add.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, **opts):
        if opts["action"] == "list":
            qs = Organisation.objects.select_related("parent").order_by("ods_code")
            if opts.get("kind"):
                qs = qs.filter(kind=opts["kind"])
            rows = [{"ods_code": o.ods_code, "name": o.name, "kind": o.kind,
                     "parent": o.parent.ods_code if o.parent_id else None} for o in qs]
            if opts["format"] == "json":
                self.stdout.write(json.dumps(rows, indent=2))
            else:
                for r in rows:
                    self.stdout.write(f"{r['ods_code']:8} {r['kind']:20} {r['name']}  (parent: {r['parent'] or '-'})")
            return
        try:
            org, created = organisations.register(ods_code=opts["ods"], name=opts["name"], kind=opts["kind"],
                                                  parent_ods=opts.get("parent"))
        except organisations.OrganisationError as exc:
            raise CommandError(str(exc)) from exc
        out = {"ods_code": org.ods_code, "name": org.name, "kind": org.kind,
               "parent": org.parent.ods_code if org.parent_id else None, "created": created}
        if opts["format"] == "json":
            self.stdout.write(json.dumps(out))
        else:
            self.stdout.write(f"{'Registered' if created else 'Already registered'} {org}")
