"""Display values for the PTL and pathway pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from carecoord.core import formatting
from carecoord.waitinglist.models import ClockState, ListType, Pathway

PRIORITY_TAG = {"P1a": "red", "P1b": "red", "P2": "orange", "P3": "yellow", "P4": "blue", "P5": "grey", "P6": "grey"}


def week_band(days: int) -> int:
    """RTT guidance s10.1.7: band k means >k-1 to k weeks; 0-7 days is band 1."""
    return max(1, -(-days // 7))


@dataclass
class PathwayRow:
    p: Pathway
    census: date
    possible_duplicate: bool = False

    @property
    def days(self) -> int | None:
        if self.p.rtt_start is None or self.p.clock_state != ClockState.OPEN:
            return None
        return (self.census - self.p.rtt_start).days

    @property
    def weeks(self) -> str:
        d = self.days
        if d is None:
            return "Unknown" if self.p.clock_state == ClockState.UNKNOWN else "–"
        return str(d // 7)

    @property
    def weeks_tag(self) -> str:
        d = self.days
        if d is None:
            return "grey"
        if d > 364:
            return "red"
        if d > 126:
            return "orange"
        return "green"

    @property
    def priority(self) -> str:
        return self.p.clinical_priority or "Not set"

    @property
    def priority_tag(self) -> str:
        return PRIORITY_TAG.get(self.p.clinical_priority, "white")

    @property
    def breach_52(self) -> str:
        if self.p.rtt_start is None:
            return ""
        return formatting.date_uk(self.p.rtt_start + timedelta(days=365))

    @property
    def list_type(self) -> str:
        return ListType(self.p.list_type).label if self.p.list_type else ""


@dataclass
class PathwayPresenter:
    p: Pathway
    census: date

    @property
    def row(self) -> PathwayRow:
        return PathwayRow(self.p, self.census)

    def summary_rows(self) -> list[dict]:
        p, r = self.p, self.row
        rows = [
            ("Provider", p.provider.name),
            ("Patient pathway identifier", f"{p.ppid} (issuer {p.ppid_issuer})"),
            ("Treatment function", p.tfc),
            ("Consultant", p.consultant_code or "Not recorded"),
            ("List", r.list_type + (f" ({p.waiting_list_type})" if p.waiting_list_type else "")),
            ("Clock", ClockState(p.clock_state).label),
            ("RTT period start", formatting.date_uk(p.rtt_start) or "Unknown"),
            ("Weeks waited", r.weeks),
            ("Breaches 52 weeks on", r.breach_52 or "–"),
            ("Queue-order date", formatting.date_uk(p.queue_date) or "–"),
            ("Clinical priority", r.priority),
            ("Intended procedure", p.intended_procedure or "Not recorded"),
            ("Decision to admit", formatting.date_uk(p.dta_date) or "–"),
            ("TCI date", formatting.date_uk(p.tci_date) or "Not booked"),
            ("Pre-operative assessment", p.get_poa_status_display()),
            ("Last validated", formatting.date_uk(p.last_validated_on) or "Never"),
        ]
        return [{"key": {"text": k}, "value": {"text": v}} for k, v in rows]
