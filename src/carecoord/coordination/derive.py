"""Metrics derived from event-level feeds (pure kernel, no Django): ambulance handovers, ED
attendances and bed states in, the SCC's readings out, at 15-minute reading times.

Definitions (reference scc-flow.md §2): the handover clock runs from arrival at hospital to completed
clinical handover; the ED clock from arrival to departure (admitted, transferred or discharged). The
formulas are the reference's proposals (§2.3, marked [P]/[U] there), so the points it leaves open are
configuration (`DeriveConfig`): whether exactly 240 minutes counts as within 4 hours, the thresholds
counted, and what "hours lost" counts (the excess over a threshold, by default 15 minutes).

Aggregation kinds follow the readings they feed: "since midnight" (local midnight, Europe/London)
figures cover events completed between midnight and the reading time; "last hour" counts the hour to
the reading time; snapshots (queue, patients in the department, bed occupancy) are the state at the
reading time. A figure with nothing to count is left out (shown as missing), never reported as zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Handover:
    id: str
    arrived_at: datetime
    handed_over_at: datetime | None = None

    def minutes(self) -> float | None:
        if self.handed_over_at is None:
            return None
        return (self.handed_over_at - self.arrived_at).total_seconds() / 60


@dataclass(frozen=True)
class Attendance:
    id: str
    arrived_at: datetime
    departed_at: datetime | None = None

    def minutes(self) -> float | None:
        if self.departed_at is None:
            return None
        return (self.departed_at - self.arrived_at).total_seconds() / 60


@dataclass(frozen=True)
class Beds:
    at: datetime
    ga_open: int
    ga_occupied: int
    escalation_open: int = 0


@dataclass(frozen=True)
class DeriveConfig:
    four_hours: float = 240.0
    four_hour_boundary_within: bool = True  # exactly 240 minutes counts as within [U]
    twelve_hours: float = 720.0
    handover_thresholds: tuple[int, ...] = (15, 30, 45, 60)
    hours_lost_over: int = 15  # AACE reports both 15 and 60 [U which]
    timezone: str = "Europe/London"
    slot_minutes: int = 15
    extra: dict = field(default_factory=dict)


def midnight(t: datetime, cfg: DeriveConfig) -> datetime:
    local = t.astimezone(ZoneInfo(cfg.timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def slot_end(t: datetime, cfg: DeriveConfig = DeriveConfig()) -> datetime:
    """The reading time an event at `t` first counts in: the next :00/:15/:30/:45 at or after it."""
    step = cfg.slot_minutes * 60
    epoch = int(t.timestamp())
    end = -(-epoch // step) * step
    return datetime.fromtimestamp(end, tz=t.tzinfo)


def slots_between(start: datetime, end: datetime, cfg: DeriveConfig = DeriveConfig()) -> list[datetime]:
    out, t = [], slot_end(start, cfg)
    while t <= end:
        out.append(t)
        t += timedelta(minutes=cfg.slot_minutes)
    return out


def _pct(n: int, d: int) -> float | None:
    return round(100.0 * n / d, 2) if d else None


def metrics_at(t: datetime, handovers: Iterable[Handover] = (), attendances: Iterable[Attendance] = (),
               beds: Sequence[Beds] = (), cfg: DeriveConfig = DeriveConfig()) -> dict[str, float]:
    """Every derivable metric at reading time `t` (only those with something to count)."""
    m0 = midnight(t, cfg)
    out: dict[str, float | None] = {}

    handovers = list(handovers)
    done = [h for h in handovers if h.handed_over_at is not None and m0 <= h.handed_over_at <= t]
    minutes = [h.minutes() for h in done]
    if minutes:
        out["ambulance_handover_mean_minutes"] = round(sum(minutes) / len(minutes), 2)
        out["ambulance_handovers_since_midnight"] = len(minutes)
        for threshold in cfg.handover_thresholds:
            out[f"ambulance_handovers_over_{threshold}_since_midnight"] = sum(1 for m in minutes if m > threshold)
        out[f"ambulance_hours_lost_over_{cfg.hours_lost_over}_since_midnight"] = round(
            sum(max(0.0, m - cfg.hours_lost_over) for m in minutes) / 60, 2)
    if handovers:
        out["ambulance_handovers_last_hour"] = sum(
            1 for h in handovers if h.handed_over_at is not None and t - timedelta(hours=1) < h.handed_over_at <= t)
        out["ambulance_queue"] = sum(1 for h in handovers if h.arrived_at <= t and (
            h.handed_over_at is None or h.handed_over_at > t))

    attendances = list(attendances)
    left = [a for a in attendances if a.departed_at is not None and m0 <= a.departed_at <= t]
    if left:
        los = [a.minutes() for a in left]
        within = sum(1 for m in los if (m <= cfg.four_hours if cfg.four_hour_boundary_within else m < cfg.four_hours))
        out["ed_4h_performance_pct"] = _pct(within, len(los))
        out["ed_over_12h_pct"] = _pct(sum(1 for m in los if m > cfg.twelve_hours), len(los))
        out["ed_departures_since_midnight"] = len(los)
    if attendances:
        out["ed_attendances_since_midnight"] = sum(1 for a in attendances if m0 <= a.arrived_at <= t)
        here = [a for a in attendances if a.arrived_at <= t and (a.departed_at is None or a.departed_at > t)]
        out["ed_patients_in_department"] = len(here)
        out["ed_patients_over_12h_now"] = sum(
            1 for a in here if (t - a.arrived_at).total_seconds() / 60 > cfg.twelve_hours)

    latest = max((b for b in beds if b.at <= t), key=lambda b: b.at, default=None)
    if latest is not None and latest.ga_open > 0:
        out["ga_bed_occupancy_pct"] = _pct(latest.ga_occupied, latest.ga_open)
        out["escalation_beds_pct"] = _pct(latest.escalation_open, latest.ga_open)
    return {k: float(v) for k, v in out.items() if v is not None}
