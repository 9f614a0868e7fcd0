"""Display values for core pages."""

from __future__ import annotations

from dataclasses import dataclass

from carecoord.core import formatting
from carecoord.core.models import Job, Patient


@dataclass
class JobPresenter:
    job: Job

    TAG = {"queued": "grey", "running": "blue", "succeeded": "green", "failed": "red"}

    @property
    def tag_colour(self) -> str:
        return self.TAG.get(self.job.state, "grey")

    @property
    def show_progress_bar(self) -> bool:
        """A bar while the job is queued or running, and where a failed job stopped. A succeeded job has
        none: its last progress report (say 11 of 13, when the last steps had nothing to count) would
        read as unfinished work next to "Succeeded"."""
        return self.job.percent is not None and self.job.state != "succeeded"

    @property
    def progress_label(self) -> str:
        return "Progress when it stopped" if self.job.state == "failed" else "Progress"

    @property
    def progress_text(self) -> str:
        j = self.job
        if j.state == "succeeded":
            return "Complete"
        if j.progress_total:
            return f"{formatting.number(j.progress_done)} of {formatting.number(j.progress_total)} ({j.percent}%)"
        if j.progress_done:
            return f"{formatting.number(j.progress_done)} done"
        return ""


@dataclass
class PatientPresenter:
    patient: Patient

    def summary_rows(self) -> list[dict]:
        p = self.patient
        rows = [
            ("Name", p.display_name or "Not recorded"),
            ("NHS number", formatting.nhs_number(p.nhs_number) or "Not recorded"),
            ("Date of birth", formatting.date_uk(p.birth_date) or "Not recorded"),
            ("Sex", p.get_sex_display()),
            ("Postcode district", p.postcode_district or "Not recorded"),
            ("Contact by", ", ".join(x for x, ok in (("SMS", p.consent_sms), ("email", p.consent_email),
                                                    ("letter", p.prefers_letter or True)) if ok)),
            ("Vulnerable", "Yes" if p.vulnerable else "No"),
        ]
        return [{"key": {"text": k}, "value": {"text": v}} for k, v in rows]
