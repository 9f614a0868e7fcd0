"""Display values for import batches."""

from __future__ import annotations

from carecoord.integration.models import ImportBatch

KIND_LABELS = {"wlmds-open": "Open pathways", "wlmds-starts": "Clock starts", "wlmds-stops": "Clock stops"}
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
    def tag_colour(self) -> str:
        return STATUS_TAGS.get(self.batch.status, "grey")

    @property
    def census(self) -> str:
        return self.batch.census_date.strftime("%d/%m/%Y") if self.batch.census_date else "Not known"

    def summary_rows(self) -> list[dict]:
        b = self.batch
        rows = [
            ("File", b.filename), ("What it holds", self.kind), ("Census week ending", self.census),
            ("If rows are bad", b.get_mode_display()), ("Column mapping", b.profile_name or "Standard WLMDS names"),
            ("Rows read", _n(b.rows_read)), ("Rows loaded", _n(b.rows_loaded)), ("Rows rejected", _n(b.rows_rejected)),
            ("Pathways created", _n(b.pathways_created)), ("Pathways updated", _n(b.pathways_updated)),
            ("Pathways unchanged", _n(b.pathways_unchanged)),
            ("Pathways closed (no longer in the snapshot)", _n(b.pathways_closed)),
        ]
        return [{"key": {"text": k}, "value": {"text": v}} for k, v in rows]
