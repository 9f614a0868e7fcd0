"""Import actions: a WLMDS file into the waiting list, and mapping profiles.

`import_wlmds` streams the file through the kernel (`wlmds.clean`) in chunks into private staging
tables, then merges everything in ONE transaction (`loader.merge`), writing the batch, its
rejections and its audit row. A failure or a killed process leaves the waiting list as it was.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from carecoord.core.models import AuditLog, ClinicalPriority, Organisation, RttStatus, WaitingListType
from carecoord.core.services.audit import Auditor, snapshot
from carecoord.integration import loader, wlmds
from carecoord.integration.models import ImportBatch, ImportMode, MappingProfile

log = logging.getLogger(__name__)

CHUNK_ROWS = 250_000
MODES = tuple(ImportMode.values)
JSON_KEYS = ("rows_read", "rows_loaded", "rows_rejected", "pathways_created", "pathways_updated",
             "pathways_unchanged", "report")


class ImportFileError(ValueError):
    """The file as a whole is unusable (empty, not CSV, wrong columns, bad options): nothing is read."""


class ImportRefused(ValueError):
    """The import was refused (e.g. an older census than the latest loaded): nothing was loaded."""

    def __init__(self, message: str, batch: ImportBatch | None = None):
        super().__init__(message)
        self.batch = batch


def codes() -> wlmds.Codes:
    """The valid code sets, from the reference tables."""
    return wlmds.Codes(
        rtt_statuses=frozenset(RttStatus.objects.values_list("code", flat=True)),
        waiting_list_types=frozenset(WaitingListType.objects.values_list("code", flat=True)),
        stop_statuses=frozenset(RttStatus.objects.filter(
            clock_effect__in=[RttStatus.ClockEffect.STOP, RttStatus.ClockEffect.STOP_NULLIFY]
        ).values_list("code", flat=True)),
        clinical_priorities=frozenset(ClinicalPriority.objects.values_list("code", flat=True)),
    )


def batch_kind(kind: str) -> str:
    return f"wlmds-{kind}"


def report_path(batch: ImportBatch) -> str:
    return reverse("integration:report", args=[batch.pk])


def outcome(batch: ImportBatch) -> dict:
    """The import's JSON contract (CLI --format json and the API)."""
    return {
        "rows_read": batch.rows_read, "rows_loaded": batch.rows_loaded, "rows_rejected": batch.rows_rejected,
        "pathways_created": batch.pathways_created, "pathways_updated": batch.pathways_updated,
        "pathways_unchanged": batch.pathways_unchanged, "report": report_path(batch),
    }


def latest_census(provider: Organisation) -> date | None:
    return (ImportBatch.objects.filter(provider=provider, kind=batch_kind("open"), status=ImportBatch.Status.LOADED)
            .exclude(census_date=None).order_by("-census_date").values_list("census_date", flat=True).first())


def inspect(path: str | Path, *, kind: str, profile: MappingProfile | None = None) -> wlmds.Mapping:
    """Check the file's header before anything is read; ImportFileError says what is wrong."""
    if kind not in wlmds.KINDS:
        raise ImportFileError(f"kind must be one of {', '.join(wlmds.KINDS)}")
    try:
        header = wlmds.read_header(path, delimiter=profile.delimiter if profile else ",")
        return wlmds.map_header(header, kind, profile.columns if profile else None)
    except wlmds.HeaderError as exc:
        raise ImportFileError(str(exc)) from exc
    except OSError as exc:
        raise ImportFileError(f"cannot read the file ({type(exc).__name__})") from exc


def _cleaned(frames, *, kind: str, provider: str, codes: wlmds.Codes, date_format: str):
    """Each raw chunk cleaned (the census week is the first readable one's) and written as COPY text:
    (cleaned, rows CSV, rejections CSV)."""
    census = None
    for raw in frames:
        cleaned = wlmds.clean(raw, kind=kind, provider=provider, codes=codes, census=census, date_format=date_format,
                              check_duplicates=False)
        census = census or cleaned.census
        yield (cleaned, loader.to_csv(cleaned.frame, loader.STAGE_COLUMNS),
               loader.to_csv(cleaned.rejections, loader.REJECTION_COLUMNS))


def scan(path: Path) -> wlmds.FileScan:
    """Count the rows and settle the file's encoding in one pass (ImportFileError if it is neither
    UTF-8 nor Windows-1252)."""
    try:
        return wlmds.scan_file(path)
    except wlmds.HeaderError as exc:
        raise ImportFileError(str(exc)) from exc


def check_census(census: date) -> None:
    """A census week must be a Sunday and not beyond today + CARECOORD_IMPORT_CENSUS_FUTURE_DAYS:
    a mistyped far-future week would otherwise load and then refuse every later week as older."""
    problem = wlmds.census_problem(census, today=timezone.localdate(),
                                   future_days=settings.CARECOORD_IMPORT_CENSUS_FUTURE_DAYS)
    if problem:
        raise ImportFileError(problem)


def _unreadable(path: Path, *, delimiter: str, encoding: str) -> ImportFileError:
    """Explain a file Polars could not parse, naming the row when one has too many fields."""
    ragged = wlmds.ragged_row(path, delimiter=delimiter, encoding=encoding)
    if ragged:
        row, fields, width = ragged
        return ImportFileError(f"row {row:,} (line {row + 1:,} of the file) has {fields} fields, the header has "
                               f"{width}: check for an unquoted {delimiter!r} in a value")
    return ImportFileError("the file is not a well-formed CSV (an unclosed quote, or a row with more fields than "
                           "the header)")


@dataclass
class Progress:
    """Optional callbacks: start(total rows), advance(rows), phase(message); step(message) names the
    merge's stages and runs inside its transaction (a terminal may show it; nothing may be written
    to the database from it)."""

    start: Callable[[int], None] = lambda total: None
    advance: Callable[[int], None] = lambda n: None
    phase: Callable[[str], None] = lambda message: None
    step: Callable[[str], None] = lambda message: None


def import_wlmds(path: str | Path, *, provider: Organisation, auditor: Auditor, kind: str = "open",
                 mode: str = ImportMode.ALL_OR_NOTHING, profile: MappingProfile | None = None,
                 filename: str | None = None, user=None, progress: Progress | None = None,
                 chunk_rows: int = CHUNK_ROWS, sha256: str = "") -> ImportBatch:
    """Import one WLMDS file for `provider`. Returns the batch (status loaded or rejected).

    Raises ImportFileError before creating a batch when the file as a whole is unusable, and
    ImportRefused (with the batch) when the census is older than the latest loaded."""
    path = Path(path)
    progress = progress or Progress()
    if mode not in MODES:
        raise ImportFileError(f"mode must be one of {', '.join(MODES)}")
    if profile is not None and profile.organisation_id != provider.pk:
        raise ImportFileError("that mapping profile belongs to another organisation")
    mapping = inspect(path, kind=kind, profile=profile)
    date_format = profile.date_format if profile else "auto"
    delimiter = profile.delimiter if profile else ","
    facts = scan(path)
    total = facts.rows
    progress.start(total)

    batch = ImportBatch.objects.create(
        provider=provider, kind=batch_kind(kind), filename=(filename or path.name)[:255], sha256=sha256,
        profile_name=profile.name if profile else "", mode=mode, started_by=user if getattr(user, "pk", None) else None,
        system_job=auditor.system_job[:100])
    valid = codes()
    staging = loader.Staging(batch.pk)
    source, transcoded = path, None
    try:
        if facts.encoding != wlmds.UTF8:
            # Polars reads UTF-8 only: a Windows-1252 file is re-encoded (losslessly, streamed) first.
            progress.phase("Converting the file from Windows-1252 to UTF-8")
            fd, name = tempfile.mkstemp(suffix=".csv", dir=upload_dir())
            os.close(fd)
            transcoded = source = Path(name)
            wlmds.transcode(path, transcoded, facts.encoding)
        staging.create()
        census, rows_read = None, 0
        latest = latest_census(provider) if kind == "open" else None
        frames = wlmds.read_frame(source, mapping, delimiter=delimiter).collect_batches(chunk_size=chunk_rows)
        chunks = _cleaned(frames, kind=kind, provider=provider.ods_code, codes=valid, date_format=date_format)
        # Reading and cleaning run one chunk ahead in a thread, so Polars works on the next chunk while
        # PostgreSQL parses this one's COPY (closing() stops the thread however the loop ends).
        try:
            with closing(loader.ahead(chunks)) as cleaned_chunks:
                for cleaned, rows_csv, rejections_csv in cleaned_chunks:
                    if census is None and cleaned.census is not None:
                        census = cleaned.census
                        check_census(census)
                        if latest and census < latest:
                            raise ImportRefused(
                                f"the census week {census:%d/%m/%Y} is older than the latest loaded for "
                                f"{provider.ods_code} ({latest:%d/%m/%Y}); load the newest week only")
                    staging.copy_rows(rows_csv)
                    staging.copy_rejections(rejections_csv)
                    rows_read += cleaned.rows_read
                    progress.advance(cleaned.rows_read)
        except pl.exceptions.PolarsError as exc:
            raise _unreadable(source, delimiter=delimiter, encoding=wlmds.UTF8) from exc
        if kind == "open" and census is None and rows_read:
            raise ImportFileError("no row has a readable Week_Ending_Date, so the census week is unknown")
        progress.phase("Merging into the waiting list")
        with transaction.atomic():
            loader.lock_provider(provider.pk)
            latest = latest_census(provider) if kind == "open" else None
            if latest and census and census < latest:
                raise ImportRefused(f"the census week {census:%d/%m/%Y} is older than the latest loaded for "
                                    f"{provider.ods_code} ({latest:%d/%m/%Y}); load the newest week only")
            result = loader.merge(staging, kind=kind, provider_id=provider.pk, mode=mode, step=progress.step)
            before = snapshot(batch)
            batch.census_date = census
            batch.rows_read = rows_read
            batch.rows_loaded = result.rows_loaded
            batch.rows_rejected = result.rows_rejected
            batch.pathways_created = result.pathways_created
            batch.pathways_updated = result.pathways_updated
            batch.pathways_unchanged = result.pathways_unchanged
            batch.pathways_closed = result.pathways_closed
            batch.finished_at = timezone.now()
            if result.loaded:
                batch.status = ImportBatch.Status.LOADED
                batch.message = (f"Loaded {result.rows_loaded:,} of {rows_read:,} rows"
                                 + (f"; {result.rows_rejected:,} rejected" if result.rows_rejected else ""))
            else:
                batch.status = ImportBatch.Status.REJECTED
                batch.rows_loaded = 0
                batch.message = (f"{result.rows_rejected:,} of {rows_read:,} rows rejected, so nothing was loaded "
                                 "(all-or-nothing)")
            batch.save()
            auditor.update(batch, before, summary=f"WLMDS {kind} import: {batch.message}")
            auditor.event(AuditLog.Action.IMPORT, "waitinglist.pathway", object_id=f"batch:{batch.pk}",
                          summary=f"{batch.pathways_created} created, {batch.pathways_updated} updated, "
                                  f"{batch.pathways_unchanged} unchanged, {batch.pathways_closed} closed",
                          after={"batch": batch.pk, "provider": provider.ods_code, "census": census})
    except ImportRefused as exc:
        # Refused before (or without) merging: the file's rows were counted, none was loaded.
        _finish(batch, ImportBatch.Status.REJECTED, str(exc), rows_read=total)
        exc.batch = batch
        raise
    except ImportFileError as exc:
        _finish(batch, ImportBatch.Status.FAILED, str(exc))
        raise
    except Exception as exc:
        log.error("import batch %s failed: %s", batch.pk, type(exc).__name__)
        _finish(batch, ImportBatch.Status.FAILED, f"Failed unexpectedly ({type(exc).__name__}); nothing was loaded")
        raise
    finally:
        if transcoded is not None:
            transcoded.unlink(missing_ok=True)
        try:
            staging.drop()
        except Exception:  # noqa: BLE001 - the connection may be unusable after a failure
            log.warning("could not drop staging tables for batch %s", batch.pk)
    return batch


def _finish(batch: ImportBatch, status: str, message: str, **fields) -> None:
    ImportBatch.objects.filter(pk=batch.pk).update(status=status, message=message[:300], finished_at=timezone.now(),
                                                   **fields)
    batch.refresh_from_db()


@transaction.atomic
def correct_census(batch: ImportBatch, census: date, *, auditor: Auditor) -> int:
    """Set a loaded open-pathways batch's census week to `census` (a Sunday, not in the future), and
    the census stamp of the pathways that batch last changed: the recovery when a wrong week loaded
    and now refuses every older one. Returns the pathways restamped. Audited."""
    if batch.kind != batch_kind("open") or batch.status != ImportBatch.Status.LOADED:
        raise ImportFileError("only a loaded open-pathways import has a census week to correct")
    check_census(census)
    loader.lock_provider(batch.provider_id)
    before, old = snapshot(batch), batch.census_date
    batch.census_date = census
    batch.save(update_fields=["census_date"])
    from carecoord.waitinglist.models import Pathway

    restamped = Pathway.objects.filter(import_batch=batch, census_date=old).update(census_date=census)
    auditor.update(batch, before, summary=f"census week corrected from {old} to {census}; "
                                          f"{restamped} pathways restamped")
    return restamped


# ---------------------------------------------------------------- mapping profiles


class ProfileError(ValueError):
    pass


def _clean_columns(columns: dict) -> dict:
    known = {k.casefold(): k for k in wlmds.FIELDS}
    out = {}
    for field, source in (columns or {}).items():
        if field.casefold() not in known:
            raise ProfileError(f"{field!r} is not a WLMDS field")
        source = (source or "").strip()
        if source:
            out[known[field.casefold()]] = source
    if not out:
        raise ProfileError("map at least one WLMDS field to a column of your extract")
    return out


@transaction.atomic
def save_profile(*, organisation: Organisation, name: str, columns: dict, date_format: str = "auto",
                 delimiter: str = ",", auditor: Auditor, profile: MappingProfile | None = None) -> MappingProfile:
    name = (name or "").strip()
    if not name:
        raise ProfileError("give the profile a name")
    if date_format not in ("auto", "YYYY-MM-DD", "DD/MM/YYYY"):
        raise ProfileError("date format must be auto, YYYY-MM-DD or DD/MM/YYYY")
    if len(delimiter or "") != 1:
        raise ProfileError("the delimiter must be one character")
    columns = _clean_columns(columns)
    clash = MappingProfile.objects.filter(organisation=organisation, name=name)
    if profile is not None:
        clash = clash.exclude(pk=profile.pk)
    if clash.exists():
        raise ProfileError(f"there is already a profile called {name!r}")
    if profile is None:
        profile = MappingProfile.objects.create(organisation=organisation, name=name, columns=columns,
                                                date_format=date_format, delimiter=delimiter)
        auditor.create(profile, summary=f"mapping profile {name}")
        return profile
    if profile.organisation_id != organisation.pk:
        raise ProfileError("that profile belongs to another organisation")
    before = snapshot(profile)
    profile.name, profile.columns, profile.date_format, profile.delimiter = name, columns, date_format, delimiter
    profile.updated_at = timezone.now()
    profile.save()
    auditor.update(profile, before, summary=f"mapping profile {name}")
    return profile


# ---------------------------------------------------------------- uploads


def upload_dir() -> Path:
    from django.conf import settings

    path = Path(settings.DATA_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_upload(uploaded) -> tuple[Path, str]:
    """Write an uploaded file to the imports directory (streamed), returning its path and SHA-256."""
    import hashlib
    import uuid

    digest = hashlib.sha256()
    path = upload_dir() / f"{uuid.uuid4().hex}.csv"
    with open(path, "wb") as out:
        for chunk in uploaded.chunks():
            digest.update(chunk)
            out.write(chunk)
    return path, digest.hexdigest()


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()
