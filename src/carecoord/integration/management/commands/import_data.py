"""`carecoord import wlmds PATH --provider ODS [--profile NAME] [--kind open|starts|stops]
[--mode all-or-nothing|good-rows] [--format json]`

A rich progress bar goes to standard error; with --format json standard output carries exactly
{"rows_read", "rows_loaded", "rows_rejected", "pathways_created", "pathways_updated",
"pathways_unchanged", "report"}. Exit status 0 when loaded, 1 when rejected, refused or unusable."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from carecoord.core.commands import iso_date
from carecoord.core.models import Organisation
from carecoord.core.progress import progress_bar
from carecoord.core.services.audit import Auditor
from carecoord.integration import services
from carecoord.integration.models import ImportMode, MappingProfile


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a usage error, not a traceback, otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


class Command(BaseCommand):
    help = "Import data files (WLMDS open pathways, clock starts, clock stops)"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="format_name", required=True)
        w = sub.add_parser("wlmds", help="a WLMDS CSV file")
        w.add_argument("path", type=Path)
        w.add_argument("--provider", required=True, help="the provider's ODS code")
        w.add_argument("--profile", help="a saved column-mapping profile of the provider")
        w.add_argument("--kind", choices=["open", "starts", "stops"], default="open")
        w.add_argument("--mode", choices=ImportMode.values, default=ImportMode.ALL_OR_NOTHING)
        w.add_argument("--format", choices=["text", "json"], default="text")
        w.add_argument("--chunk-rows", type=positive_int, default=services.CHUNK_ROWS, help="rows per chunk (memory)")
        w.add_argument("--no-validate", action="store_true",
                       help="skip the validation run that follows a loaded import (e.g. when loading several files)")
        c = sub.add_parser("correct-census", help="correct the census week of a loaded open-pathways import "
                                                  "(when a wrong week loaded and refuses older ones)")
        c.add_argument("batch", type=int, help="the import's number (/imports/<number>/)")
        c.add_argument("--census", required=True, help="the right week ending (a Sunday), as YYYY-MM-DD")

    def handle(self, *args, **opts):
        if opts["format_name"] == "correct-census":
            return self.correct_census(opts)
        path: Path = opts["path"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}", returncode=1)
        provider = Organisation.objects.filter(ods_code=opts["provider"].strip().upper()).first()
        if provider is None:
            raise CommandError(f"no organisation with ODS code {opts['provider']!r} (see `carecoord orgs list`)",
                               returncode=1)
        profile = None
        if opts.get("profile"):
            profile = MappingProfile.objects.filter(organisation=provider, name=opts["profile"]).first()
            if profile is None:
                names = ", ".join(MappingProfile.objects.filter(organisation=provider).values_list("name", flat=True))
                raise CommandError(f"no mapping profile {opts['profile']!r} for {provider.ods_code}"
                                   + (f" (profiles: {names})" if names else " (it has none)"), returncode=1)
        auditor = Auditor.system(f"cli:import:{getpass.getuser()}"[:100], organisation=provider)
        with progress_bar(f"Importing {path.name}") as advance:
            progress = services.Progress(start=lambda total: advance(0, total=total), advance=advance,
                                         phase=lambda m: advance(0, description=m),
                                         step=lambda m: advance(0, description=m))
            try:
                batch = services.import_wlmds(path, provider=provider, auditor=auditor, kind=opts["kind"],
                                              mode=opts["mode"], profile=profile, progress=progress,
                                              chunk_rows=opts["chunk_rows"], sha256=services.file_sha256(path))
            except services.ImportFileError as exc:
                raise CommandError(f"the file cannot be imported: {exc}", returncode=1) from exc
            except services.ImportRefused as exc:
                if opts["format"] == "json" and exc.batch is not None:
                    self.stdout.write(json.dumps(services.outcome(exc.batch)))
                raise CommandError(f"refused: {exc}", returncode=1) from exc
        result = services.outcome(batch)
        if opts["format"] == "json":
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(f"{batch.message}. Pathways: {batch.pathways_created:,} created, "
                              f"{batch.pathways_updated:,} updated, {batch.pathways_unchanged:,} unchanged, "
                              f"{batch.pathways_closed:,} closed. Report: {result['report']}")
        if batch.status != batch.Status.LOADED:
            raise CommandError(batch.message, returncode=1)
        if not opts.get("no_validate"):
            from carecoord.validation import runner

            run = runner.run(organisation=provider, trigger="import")
            self.stderr.write(f"Validation: {run.pathways_checked:,} pathways checked, "
                              f"{sum(run.findings_by_rule.values()):,} findings ({run.opened:,} new, "
                              f"{run.closed:,} closed)")

    def correct_census(self, opts) -> None:
        from carecoord.integration.models import ImportBatch

        batch = ImportBatch.objects.select_related("provider").filter(pk=opts["batch"]).first()
        if batch is None:
            raise CommandError(f"no import {opts['batch']}", returncode=1)
        old = batch.census_date
        auditor = Auditor.system(f"cli:import:{getpass.getuser()}"[:100], organisation=batch.provider)
        try:
            n = services.correct_census(batch, iso_date(opts["census"], "--census"), auditor=auditor)
        except services.ImportFileError as exc:
            raise CommandError(f"cannot correct import {batch.pk}: {exc}", returncode=1) from exc
        self.stdout.write(f"Import {batch.pk} ({batch.provider.ods_code}): census week {old} -> {opts['census']}; "
                          f"{n:,} pathways restamped. Import the right file for that week again to check it.")
