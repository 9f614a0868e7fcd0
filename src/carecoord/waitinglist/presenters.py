"""Display values for the PTL and pathway pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from carecoord.core import formatting
from carecoord.waitinglist import rtt
from carecoord.waitinglist.models import ClockState, ListType, Pathway

PRIORITY_TAG = {"P1a": "red", "P1b": "red", "P2": "orange", "P3": "yellow", "P4": "blue", "P5": "grey", "P6": "grey"}


def weeks_waited(days: int | None) -> int | None:
    """The one "weeks waited" every surface shows or returns (page, pathway page, API, CSV/XLSX, the
    `ptl export` command): the national band of RTT guidance v5.0 §10.1.7, `max(1, ceil(days/7))`,
    where band k means ">k-1 to k weeks" and 105 means ">104 weeks" (0-7 days is 1; 126 is 18;
    127 is 19; 365 is 53). None when there is no running clock, or it starts after the census."""
    if days is None or days < 0:
        return None
    return rtt.week_band(days)


def weeks_label(band: int | None) -> str:
    if band is None:
        return "–"
    return ">104" if band > 104 else str(band)


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
        """The §10.1.7 band (see `weeks_waited`)."""
        d = self.days
        if d is None:
            return "Unknown" if self.p.clock_state == ClockState.UNKNOWN else "–"
        return weeks_label(weeks_waited(d))

    @property
    def days_label(self) -> str:
        d = self.days
        if d is None or d < 0:
            return ""
        return f"{d:,} day{'s' if d != 1 else ''}"

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
    def breach_52(self) -> str | None:
        """The first day over 52 weeks (days > 364), only while the clock runs: a stopped clock or an
        unknown start never breaches."""
        if self.p.rtt_start is None or self.p.clock_state != ClockState.OPEN:
            return None
        return formatting.date_uk(rtt.breach_date(self.p.rtt_start, 52))

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
            ("Weeks waited", r.weeks + (f" ({r.days_label})" if r.days_label else "")),
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
