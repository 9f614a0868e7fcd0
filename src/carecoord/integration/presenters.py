"""Display values for import batches."""

from __future__ import annotations

from carecoord.integration.models import ImportBatch

KIND_LABELS = {"wlmds-open": "Open pathways", "wlmds-starts": "Clock starts", "wlmds-stops": "Clock stops",
               "fhir": "FHIR R4 bundle"}
STATUS_TAGS = {"running": "blue", "loaded": "green", "rejected": "red", "failed": "red"}


def _n(value: int) -> str:
    return f"{value:,}"


class BatchPresenter:
    def __init__(self, batch: ImportBatch):
        self.batch = batch

    @property
    def kind(self) -> str:
        return KIND_LABELS.get(self.batch.kind, self.batch.kind)

    @property
    def is_fhir(self) -> bool:
        return self.batch.kind == "fhir"

    @property
    def unit(self) -> str:
        """What the report counts: a CSV file's rows, a FHIR Bundle's entries."""
        return "entry" if self.is_fhir else "row"

    @property
    def units(self) -> str:
        return "entries" if self.is_fhir else "rows"

    @property
    def numbering(self) -> str:
        """How the report numbers rows (as the rejections list them)."""
        if self.is_fhir:
            return ("Entry 0 is the first entry of the bundle: entries are counted from 0, as in the Bundle's "
                    "JSON (Bundle.entry[0]) and in the API's errors. “Bundle” marks a problem with the bundle "
                    "as a whole.")
        return "Row 1 is the first row after the header."

    def row_label(self, row_number: int) -> str:
        return "Bundle" if self.is_fhir and row_number < 0 else str(row_number)

    @property
    def tag_colour(self) -> str:
        return STATUS_TAGS.get(self.batch.status, "grey")

    @property
    def census(self) -> str:
        return self.batch.census_date.strftime("%d/%m/%Y") if self.batch.census_date else "Not known"

    def summary_rows(self) -> list[dict]:
        b = self.batch
        if self.is_fhir:
            rows = [
                ("Source", b.filename), ("What it holds", self.kind),
                ("If entries are bad", "Reject the whole bundle if any entry is bad"),
                ("Entries read", _n(b.rows_read)), ("Waiting-list entries loaded", _n(b.rows_loaded)),
                ("Entries rejected or not applied", _n(b.rows_rejected)),
                ("Pathways created", _n(b.pathways_created)), ("Pathways updated", _n(b.pathways_updated)),
                ("Pathways unchanged", _n(b.pathways_unchanged)),
            ]
        else:
            rows = [
                ("File", b.filename), ("What it holds", self.kind), ("Census week ending", self.census),
                ("If rows are bad", b.get_mode_display()),
                ("Column mapping", b.profile_name or "Standard WLMDS names"),
                ("Rows read", _n(b.rows_read)), ("Rows loaded", _n(b.rows_loaded)),
                ("Rows rejected", _n(b.rows_rejected)),
                ("Pathways created", _n(b.pathways_created)), ("Pathways updated", _n(b.pathways_updated)),
                ("Pathways unchanged", _n(b.pathways_unchanged)),
                ("Pathways closed (no longer in the snapshot)", _n(b.pathways_closed)),
            ]
        return [{"key": {"text": k}, "value": {"text": v}} for k, v in rows]
