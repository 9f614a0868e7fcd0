"""OPEL (Operational Pressures Escalation Levels) scoring kernel. Pure Python: no Django.

A framework *edition* is versioned configuration (JSON, see editions/README.md): parameters with
direction, pillar, aggregation kind, band thresholds and points; score -> level cut-offs (levels 1-4);
and the rule that combines provider scores into a system score. Nothing national is hard-coded here.

Rules (each one is tested):

Bands
    Band 1 has no threshold; band n (n >= 2) applies once the value is beyond the band-n threshold in
    the worse direction. ``threshold_rule`` says what "beyond" means: ``strictly_worse`` (default: a
    value exactly on a threshold stays in the better band, as in "within 15 minutes") or
    ``at_or_worse`` (a value on the threshold falls in the worse band).
Levels
    level = the first cut-off whose ``max_score`` is >= the score (fixture: <=11 -> 1, <=22 -> 2,
    <=33 -> 3, <=44 -> 4). Levels are 1-4 only.
Freshness (a reading that fails these is MISSING, never scored as zero)
    snapshot, since_midnight, last_hour: stale when older than the parameter's
    ``stale_after_minutes`` (else the edition's, default 60). A reading exactly that old is fresh.
    since_midnight: a reading from before local midnight is MISSING (the running total reset).
    yesterday: the figure for yesterday is the latest reading published since local midnight
    today; before today's publication it is MISSING. No minute-based staleness.
    Readings later than the scoring time are ignored. Naive times are local times in the edition's
    time zone.
Aggregation (``aggregate``; what value stands for a metric at time ``at``)
    snapshot: the latest reading at or before ``at``.
    since_midnight: the latest reading at or after local midnight (a reading stamped 00:00 belongs
    to the new day) and at or before ``at``; none before the first reading of the day.
    last_hour: flow ``interval`` (default; each reading counts events since the previous reading):
    the sum of readings in (at - 60 min, at]; none if there is none. Flow ``rolling`` (each reading is
    already a last-hour total, as in "(Last Hour)" feeds): the latest reading. A feed must report
    zero explicitly: no reading is not zero.
    yesterday: the latest reading published today (local date of ``at``).
Provider score
    score = sum of points of the parameters with a fresh reading; it is a floor, because a missing
    parameter can only add points. ``score_if_missing_worst`` adds each missing parameter's maximum
    points. The level is *provisional* when a parameter is missing and the missing parameters could
    change the level (level(score) != level(score_if_missing_worst)). With no fresh reading at all,
    score and level are None (and provisional).
System score (rule ``weighted_mean``, per pillar)
    score = sum(weight * provider score) / sum(weight) over providers with a score, rounded to 3 dp;
    the level comes from the rounded score. ``score_if_missing_worst`` uses every provider's
    ``score_if_missing_worst`` (the pillar maximum for a provider with no score) over all weights.
    Provisional when any provider has no score or the level could change. Weights: the ``weights``
    argument, else the edition's ``system.weights``, else equal. They need not sum to 1.
    Pillars combine by ``pillar_rule`` ``worst_pillar``: the overall level is the highest pillar
    level (placeholder; the framework's method is unconfirmed).
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from functools import cached_property
from itertools import accumulate
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EDITIONS_DIR = Path(__file__).with_name("editions")
FORMAT_VERSION = 1
PILLARS = ("acute", "community", "mental_health", "nhs_111")
DIRECTIONS = ("higher_is_worse", "lower_is_worse")
AGGREGATIONS = ("snapshot", "since_midnight", "last_hour", "yesterday")
FLOWS = ("interval", "rolling")
THRESHOLD_RULES = ("strictly_worse", "at_or_worse")
SYSTEM_RULES = ("weighted_mean",)
PILLAR_RULES = ("worst_pillar",)
OK, MISSING = "OK", "MISSING"
LAST_HOUR_SECONDS = 3600


class EditionError(ValueError):
    """An edition file or dict is invalid; the message names each field and the reason."""


class Reading(NamedTuple):
    value: float
    time: datetime


# --------------------------------------------------------------------------------------------------
# Editions
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    band: int
    threshold: float | None
    points: float
    confirmed: bool
    source: str


@dataclass(frozen=True)
class Parameter:
    key: str
    number: int | None
    name: str
    definition: str
    unit: str
    direction: str
    pillar: str
    aggregation: str
    flow: str
    stale_after_minutes: float | None
    confirmed: bool
    source: str
    bands: tuple[Band, ...]

    @property
    def max_points(self) -> float:
        return self.bands[-1].points

    @cached_property
    def signed_thresholds(self) -> tuple[float, ...]:
        """Thresholds of bands 2..n on an ascending 'worse' axis (negated when lower is worse)."""
        sign = 1 if self.direction == "higher_is_worse" else -1
        return tuple(sign * b.threshold for b in self.bands[1:])


@dataclass(frozen=True)
class Edition:
    name: str
    version: str
    title: str
    tz: ZoneInfo
    stale_after_minutes: float
    threshold_rule: str
    cutoffs: tuple[float, ...]  # max_score of levels 1..4
    levels_confirmed: bool
    system: Mapping[str, Any]
    parameters: tuple[Parameter, ...]
    raw: Mapping[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @cached_property
    def _by_pillar(self) -> dict[str, tuple[Parameter, ...]]:
        return {k: tuple(p for p in self.parameters if p.pillar == k) for k in PILLARS}

    @cached_property
    def pillars(self) -> tuple[str, ...]:
        return tuple(k for k in PILLARS if self._by_pillar[k])

    def parameters_for(self, pillar: str) -> tuple[Parameter, ...]:
        return self._by_pillar.get(pillar, ())

    def max_score(self, pillar: str) -> float:
        return sum(p.max_points for p in self.parameters_for(pillar))

    def confirmed(self, pillar: str) -> bool:
        """True only if the cut-offs, the parameters and every band of the pillar are confirmed."""
        params = self.parameters_for(pillar)
        return self.levels_confirmed and all(p.confirmed and all(b.confirmed for b in p.bands) for p in params)

    def level_for(self, score: float | None) -> int | None:
        if score is None:
            return None
        i = bisect_left(self.cutoffs, score)
        if i >= len(self.cutoffs):
            raise ValueError(f"score {score} is above the top cut-off {self.cutoffs[-1]}")
        return i + 1

    def pillar_of(self, pillar: str | None) -> str:
        if pillar is None:
            if len(self.pillars) != 1:
                raise ValueError(f"edition {self.ref} covers pillars {self.pillars}: pass pillar=")
            return self.pillars[0]
        if pillar not in self.pillars:
            raise ValueError(f"edition {self.ref} has no parameters for pillar {pillar!r}")
        return pillar


def available_editions() -> list[dict]:
    """The shipped editions: [{"name", "edition", "version", "title", "path"}], by name."""
    out = []
    for path in sorted(EDITIONS_DIR.glob("*.json")):
        ed = load_edition(path)
        out.append({"name": path.stem, "edition": ed.name, "version": ed.version, "title": ed.title,
                    "path": str(path)})
    return out


def load_edition(source: Edition | Mapping | str | Path) -> Edition:
    """Load and validate an edition from a dict, a JSON file path or a shipped edition's name.

    Raises EditionError naming every bad field ("parameters[2].bands[3].threshold: ...").
    """
    if isinstance(source, Edition):
        return source
    if isinstance(source, Mapping):
        return _build(source)
    path = Path(source)
    if not path.suffix and (EDITIONS_DIR / f"{path.name}.json").exists():
        path = EDITIONS_DIR / f"{path.name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        shipped = ", ".join(p.stem for p in sorted(EDITIONS_DIR.glob("*.json")))
        raise EditionError(f"{source}: no such edition file or shipped edition (shipped: {shipped})") from None
    except json.JSONDecodeError as exc:
        raise EditionError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, Mapping):
        raise EditionError(f"{path}: the top level must be a JSON object")
    return _build(data)


class _Checker:
    """Collects validation errors as 'field.path: reason'."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, path: str, reason: str) -> None:
        self.errors.append(f"{path}: {reason}")

    def keys(self, obj: Mapping, path: str, required: set[str], optional: set[str]) -> None:
        for k in sorted(required - obj.keys()):
            self.fail(f"{path}.{k}" if path else k, "is required")
        for k in sorted(obj.keys() - required - optional - {"note"}):
            self.fail(f"{path}.{k}" if path else k, "is not a known field")

    def take(self, obj: Mapping, key: str, path: str, kind: str, choices: tuple | None = None):
        """obj[key] if present and of the right kind, else None (after recording why)."""
        where = f"{path}.{key}" if path else key
        if key not in obj:
            return None
        v = obj[key]
        ok = {
            "str": isinstance(v, str) and v.strip() != "",
            "bool": isinstance(v, bool),
            "int": isinstance(v, int) and not isinstance(v, bool),
            "number": isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
            "dict": isinstance(v, Mapping),
            "list": isinstance(v, list),
        }[kind]
        if not ok:
            what = {"str": "a non-empty string", "number": "a finite number", "dict": "an object",
                    "list": "a list", "int": "an integer", "bool": "true or false"}[kind]
            self.fail(where, f"must be {what}, got {v!r}")
            return None
        if choices is not None and v not in choices:
            self.fail(where, f"must be one of {', '.join(choices)}, got {v!r}")
            return None
        return v


def _build(d: Mapping) -> Edition:
    c = _Checker()
    c.keys(d, "", {"format_version", "edition", "version", "title", "sources", "levels", "system", "parameters"},
           {"timezone", "stale_after_minutes", "threshold_rule"})
    if c.take(d, "format_version", "", "int") not in (None, FORMAT_VERSION):
        c.fail("format_version", f"must be {FORMAT_VERSION}, got {d['format_version']!r}")
    name, version, title = (c.take(d, k, "", "str") for k in ("edition", "version", "title"))
    if name and len(name) > 80:
        c.fail("edition", "must be at most 80 characters (scores are stored under the edition's name)")
    tz_name = c.take(d, "timezone", "", "str") if "timezone" in d else "Europe/London"
    try:
        tz = ZoneInfo(tz_name) if tz_name else None
    except (ZoneInfoNotFoundError, ValueError):
        c.fail("timezone", f"unknown time zone {tz_name!r}")
        tz = None
    stale = c.take(d, "stale_after_minutes", "", "number") if "stale_after_minutes" in d else 60
    if stale is not None and stale <= 0:
        c.fail("stale_after_minutes", "must be greater than 0")
    rule = c.take(d, "threshold_rule", "", "str", THRESHOLD_RULES) if "threshold_rule" in d else "strictly_worse"

    sources = c.take(d, "sources", "", "dict") or {}
    if "sources" in d and not sources:
        c.fail("sources", "must list at least one source")
    for sid, s in sources.items():
        if not isinstance(s, Mapping):
            c.fail(f"sources.{sid}", "must be an object with a citation")
            continue
        c.keys(s, f"sources.{sid}", {"citation"}, {"url"})
        c.take(s, "citation", f"sources.{sid}", "str")

    def cited(obj: Mapping, path: str) -> tuple[bool, str]:
        confirmed = c.take(obj, "confirmed", path, "bool")
        src = c.take(obj, "source", path, "str")
        if src is not None and sources and src not in sources:
            c.fail(f"{path}.source", f"{src!r} is not one of the edition's sources")
        return bool(confirmed), src or ""

    cutoffs: list[float] = []
    levels = c.take(d, "levels", "", "dict") or {}
    levels_confirmed = False
    if levels:
        c.keys(levels, "levels", {"cutoffs", "confirmed", "source"}, set())
        levels_confirmed, _ = cited(levels, "levels")
        rows = c.take(levels, "cutoffs", "levels", "list") or []
        if "cutoffs" in levels and [r.get("level") if isinstance(r, Mapping) else None for r in rows] != [1, 2, 3, 4]:
            c.fail("levels.cutoffs", "must list levels 1, 2, 3 and 4 in order (OPEL has four levels)")
        for i, row in enumerate(rows):
            if isinstance(row, Mapping):
                c.keys(row, f"levels.cutoffs[{i}]", {"level", "max_score"}, set())
                v = c.take(row, "max_score", f"levels.cutoffs[{i}]", "number")
                if v is not None:
                    if cutoffs and v <= cutoffs[-1]:
                        c.fail(f"levels.cutoffs[{i}].max_score", f"must be greater than the previous cut-off {cutoffs[-1]}")
                    cutoffs.append(v)

    system = c.take(d, "system", "", "dict") or {}
    if system:
        c.keys(system, "system", {"rule", "weight_basis", "confirmed", "source"}, {"weights", "pillar_rule"})
        c.take(system, "rule", "system", "str", SYSTEM_RULES)
        c.take(system, "weight_basis", "system", "str")
        c.take(system, "pillar_rule", "system", "str", PILLAR_RULES)
        cited(system, "system")
        for pid, w in (c.take(system, "weights", "system", "dict") or {}).items():
            if not (isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w > 0):
                c.fail(f"system.weights.{pid}", f"must be a number greater than 0, got {w!r}")

    params: list[Parameter] = []
    rows = c.take(d, "parameters", "", "list")
    if rows is not None and not rows:
        c.fail("parameters", "must list at least one parameter")
    seen: set[str] = set()
    for i, p in enumerate(rows or []):
        path = f"parameters[{i}]"
        if not isinstance(p, Mapping):
            c.fail(path, "must be an object")
            continue
        c.keys(p, path, {"key", "name", "definition", "unit", "direction", "pillar", "aggregation", "confirmed",
                         "source", "bands"}, {"number", "flow", "stale_after_minutes"})
        key = c.take(p, "key", path, "str")
        if key in seen:
            c.fail(f"{path}.key", f"duplicate key {key!r}")
        seen.add(key)
        direction = c.take(p, "direction", path, "str", DIRECTIONS)
        agg = c.take(p, "aggregation", path, "str", AGGREGATIONS)
        flow = c.take(p, "flow", path, "str", FLOWS) if "flow" in p else "interval"
        if "flow" in p and agg != "last_hour":
            c.fail(f"{path}.flow", "only applies to aggregation last_hour")
        c.take(p, "number", path, "int")
        p_stale = c.take(p, "stale_after_minutes", path, "number")
        if p_stale is not None and p_stale <= 0:
            c.fail(f"{path}.stale_after_minutes", "must be greater than 0")
        p_conf, p_src = cited(p, path)
        bands: list[Band] = []
        band_rows = c.take(p, "bands", path, "list") or []
        if "bands" in p and len(band_rows) < 2:
            c.fail(f"{path}.bands", "must list at least two bands")
        for j, b in enumerate(band_rows):
            bpath = f"{path}.bands[{j}]"
            if not isinstance(b, Mapping):
                c.fail(bpath, "must be an object")
                continue
            c.keys(b, bpath, {"band", "points", "confirmed", "source"} | ({"threshold"} if j else set()), set())
            if j == 0 and "threshold" in b:
                c.fail(f"{bpath}.threshold", "band 1 is the baseline and has no threshold")
            if c.take(b, "band", bpath, "int") not in (None, j + 1):
                c.fail(f"{bpath}.band", f"must be {j + 1} (bands are numbered 1, 2, ... in order)")
            thr = c.take(b, "threshold", bpath, "number") if j else None
            pts = c.take(b, "points", bpath, "number")
            if pts is not None and pts < 0:
                c.fail(f"{bpath}.points", "must not be negative")
            if pts is not None and bands and pts < bands[-1].points:
                c.fail(f"{bpath}.points", f"must not be fewer than band {j}'s {bands[-1].points} points")
            if thr is not None and len(bands) > 1 and direction and bands[-1].threshold is not None:
                prev = bands[-1].threshold
                if direction == "higher_is_worse" and thr <= prev:
                    c.fail(f"{bpath}.threshold", f"must be greater than band {j}'s threshold {prev} (higher is worse)")
                if direction == "lower_is_worse" and thr >= prev:
                    c.fail(f"{bpath}.threshold", f"must be less than band {j}'s threshold {prev} (lower is worse)")
            b_conf, b_src = cited(b, bpath)
            if pts is not None and (thr is not None or j == 0):
                bands.append(Band(j + 1, thr, pts, b_conf, b_src))
        if key and direction and agg and len(bands) == len(band_rows) >= 2:
            params.append(Parameter(
                key=key, number=p.get("number"), name=p.get("name", ""), definition=p.get("definition", ""),
                unit=p.get("unit", ""), direction=direction, pillar=c.take(p, "pillar", path, "str", PILLARS) or "",
                aggregation=agg, flow=flow or "interval", stale_after_minutes=p_stale, confirmed=p_conf,
                source=p_src, bands=tuple(bands)))
        else:
            c.take(p, "pillar", path, "str", PILLARS)
        for k in ("name", "definition", "unit"):
            c.take(p, k, path, "str")

    if len(cutoffs) == 4 and not c.errors:
        for pillar in PILLARS:
            top = sum(p.max_points for p in params if p.pillar == pillar)
            if top > cutoffs[-1]:
                c.fail("levels.cutoffs[3].max_score",
                       f"{cutoffs[-1]} is below the highest possible {pillar} score {top}")
    if c.errors:
        label = d.get("edition") if isinstance(d.get("edition"), str) else "edition"
        raise EditionError(f"invalid OPEL edition {label!r}:\n  " + "\n  ".join(c.errors))
    return Edition(name=name, version=version, title=title, tz=tz, stale_after_minutes=stale, threshold_rule=rule,
                   cutoffs=tuple(cutoffs), levels_confirmed=levels_confirmed, system=system,
                   parameters=tuple(params), raw=d)


# --------------------------------------------------------------------------------------------------
# Time and aggregation
# --------------------------------------------------------------------------------------------------


class _Clock(NamedTuple):
    at_ts: float
    midnight_ts: float  # local midnight starting the day of `at`
    tz: ZoneInfo


def _aware(t: datetime | str, tz: ZoneInfo) -> datetime:
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    if not isinstance(t, datetime):
        raise TypeError(f"expected a datetime or ISO string, got {t!r}")
    return t.replace(tzinfo=tz) if t.tzinfo is None else t


def _clock(at: datetime | str, tz: ZoneInfo) -> _Clock:
    local = _aware(at, tz).astimezone(tz)
    midnight = datetime.combine(local.date(), time(0), tzinfo=tz)
    return _Clock(local.timestamp(), midnight.timestamp(), tz)


def _iso(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat()


def _pick(kind: str, flow: str, times: list[float], values: list[float], prefix: list[float] | None,
          clock: _Clock) -> tuple[float, float] | None:
    """(value, time) that stands for a metric at clock.at_ts, from readings sorted by time.

    Day rules (midnight reset, yesterday's figure) are applied later by _day_reason so that the
    explanation can say why a reading was not used.
    """
    i = bisect_right(times, clock.at_ts) - 1
    if i < 0:
        return None
    if kind == "last_hour" and flow == "interval":
        j = bisect_right(times, clock.at_ts - LAST_HOUR_SECONDS)
        if j > i:
            return None
        total = prefix[i + 1] - prefix[j] if prefix is not None else math.fsum(values[j:i + 1])
        return total, times[i]
    return values[i], times[i]


def _day_reason(kind: str, ts: float, clock: _Clock) -> str | None:
    if ts >= clock.midnight_ts:
        return None
    if kind == "since_midnight":
        return "no reading since local midnight (the running total resets at midnight)"
    if kind == "yesterday":
        return "yesterday's figure has not been published today"
    return None


def aggregate(kind: str, values_with_times: Iterable[tuple[float, datetime | str]], at: datetime | str, *,
              tz: str | ZoneInfo = "Europe/London", flow: str = "interval") -> Reading | None:
    """The value that stands for a metric at ``at``, by aggregation kind (rules in the module doc).

    ``values_with_times``: (value, time) pairs in any order; None/NaN values are ignored. Returns
    Reading(value, time of the latest reading used, in ``tz``) or None when nothing qualifies.
    Staleness is not applied here (score_provider applies it).
    """
    if kind not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation kind {kind!r} (one of {', '.join(AGGREGATIONS)})")
    if flow not in FLOWS:
        raise ValueError(f"unknown flow {flow!r} (one of {', '.join(FLOWS)})")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    clock = _clock(at, zone)
    pairs = sorted((_aware(t, zone).timestamp(), float(v)) for v, t in values_with_times
                   if v is not None and not math.isnan(float(v)))
    picked = _pick(kind, flow, [t for t, _ in pairs], [v for _, v in pairs], None, clock)
    if picked is None or _day_reason(kind, picked[1], clock):
        return None
    return Reading(picked[0], datetime.fromtimestamp(picked[1], zone))


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------


def _assess(ed: Edition, p: Parameter, picked: tuple[float, float] | None, clock: _Clock):
    """-> (reason or None, value, time, band index or None)."""
    if picked is None:
        return ("no reading in the last hour" if p.aggregation == "last_hour" else "no reading"), None, None, None
    value, ts = picked
    if value is None or not math.isfinite(value):
        return "no value", value, ts, None
    if ts > clock.at_ts:
        return "reading is later than the scoring time", value, ts, None
    reason = _day_reason(p.aggregation, ts, clock)
    if reason is None and p.aggregation != "yesterday":
        limit = p.stale_after_minutes or ed.stale_after_minutes
        age = (clock.at_ts - ts) / 60
        if age > limit:
            reason = f"stale: latest reading is {age:g} min old (limit {limit:g} min)"
    if reason:
        return reason, value, ts, None
    signed = value if p.direction == "higher_is_worse" else -value
    find = bisect_right if ed.threshold_rule == "at_or_worse" else bisect_left
    return None, value, ts, find(p.signed_thresholds, signed)


_WORDS = {  # (direction, rule) -> (beyond, not beyond)
    ("higher_is_worse", "strictly_worse"): ("above", "not above"),
    ("higher_is_worse", "at_or_worse"): ("at or above", "below"),
    ("lower_is_worse", "strictly_worse"): ("below", "not below"),
    ("lower_is_worse", "at_or_worse"): ("at or below", "above"),
}


def _entry(ed: Edition, p: Parameter, assessed, clock: _Clock) -> dict:
    reason, value, ts, idx = assessed
    band = p.bands[idx] if idx is not None else None
    out = {"key": p.key, "name": p.name, "unit": p.unit, "aggregation": p.aggregation,
           "status": OK if band else MISSING, "reason": reason, "value": value,
           "time": _iso(ts, clock.tz) if ts is not None else None,
           "band": band.band if band else None, "points": band.points if band else None,
           "max_points": p.max_points, "confirmed": band.confirmed if band else None,
           "source": band.source if band else None}
    if band:
        beyond, not_beyond = _WORDS[(p.direction, ed.threshold_rule)]
        parts = [f"{beyond} {band.threshold:g} (band {band.band})"] if band.threshold is not None else []
        if band.band < len(p.bands):
            nxt = p.bands[band.band]
            parts.append(f"{not_beyond} {nxt.threshold:g} (band {nxt.band})")
        out["explanation"] = f"{value:g} {p.unit}: {', '.join(parts)} -> {band.points:g} points"
    else:
        out["explanation"] = f"MISSING: {reason}"
    return out


def _provider(ed: Edition, pillar: str, params: tuple[Parameter, ...], assessed: list, clock: _Clock,
              detail: bool) -> dict:
    points = {p.key: (p.bands[a[3]].points if a[3] is not None else None) for p, a in zip(params, assessed, strict=True)}
    missing = [p for p in params if points[p.key] is None]
    scored = [v for v in points.values() if v is not None]
    score = sum(scored) if scored else None
    worst = (score or 0) + sum(p.max_points for p in missing)
    level, level_worst = ed.level_for(score), ed.level_for(worst)
    out = {"edition": ed.ref, "at": _iso(clock.at_ts, clock.tz), "pillar": pillar, "score": score, "level": level,
           "provisional": bool(missing) and level != level_worst,
           "score_if_missing_worst": worst, "level_if_missing_worst": level_worst,
           "parameters_total": len(params), "parameters_scored": len(scored), "parameters_missing": len(missing),
           "missing": [p.key for p in missing], "confirmed": ed.confirmed(pillar)}
    if detail:
        out["parameters"] = [_entry(ed, p, a, clock) for p, a in zip(params, assessed, strict=True)]
    else:
        out["points"] = points
    return out


def score_provider(edition: Edition | Mapping | str | Path, readings: Mapping[str, Any], at: datetime | str, *,
                   pillar: str | None = None) -> dict:
    """Score one provider at ``at`` from the latest (already aggregated) value of each parameter.

    ``readings``: {parameter key: Reading | (value, time) | {"value": v, "time": t} | None}. Keys the
    edition does not know are listed under "unknown_metrics". ``pillar`` defaults to the edition's
    only pillar. Returns a JSON-serialisable dict: score, level, provisional, score_if_missing_worst,
    level_if_missing_worst, parameters_total/scored/missing, missing (keys), confirmed, and
    "parameters": one entry per parameter (value, time, band, points, status OK/MISSING, reason,
    explanation).
    """
    ed = load_edition(edition)
    pillar = ed.pillar_of(pillar)
    clock = _clock(at, ed.tz)
    params = ed.parameters_for(pillar)
    assessed = []
    for p in params:
        r = readings.get(p.key)
        if isinstance(r, Mapping):
            r = (r.get("value"), r.get("time"))
        picked = None
        if r is not None and r[1] is not None:
            picked = (None if r[0] is None else float(r[0]), _aware(r[1], ed.tz).timestamp())
        assessed.append(_assess(ed, p, picked, clock))
    out = _provider(ed, pillar, params, assessed, clock, detail=True)
    out["unknown_metrics"] = sorted(set(readings) - {p.key for p in params})
    return out


def score_system(edition: Edition | Mapping | str | Path, provider_results: Mapping[str, Mapping],
                 weights: Mapping[str, float] | None = None) -> dict:
    """Combine provider results {provider id: score_provider result} into a system score and level.

    Returns a JSON-serialisable dict: score, level, provisional, score_if_missing_worst,
    level_if_missing_worst, providers_total, providers_scored, providers_unscored (ids), rule,
    weight_basis, weights_from ("argument" | "edition" | "equal"), confirmed, and "pillars":
    {pillar: {score, level, ..., "providers": [{provider, score, level, provisional, weight, share,
    contribution}]}}.
    """
    ed = load_edition(edition)
    sysconf = ed.system
    if weights is not None:
        source = "argument"
    elif sysconf.get("weights"):
        weights, source = sysconf["weights"], "edition"
    else:
        source = "equal"
    by_pillar: dict[str, list[tuple[str, Mapping, float]]] = {}
    for pid, res in provider_results.items():
        if weights is None:
            w = 1.0
        elif pid not in weights:
            raise ValueError(f"no weight for provider {pid!r} (weights from {source})")
        else:
            w = weights[pid]
        if not (isinstance(w, int | float) and math.isfinite(w) and w > 0):
            raise ValueError(f"weight for provider {pid!r} must be a number greater than 0, got {w!r}")
        by_pillar.setdefault(res["pillar"], []).append((pid, res, float(w)))

    pillars = {}
    for pillar, rows in by_pillar.items():
        scored_w = sum(w for _, r, w in rows if r["score"] is not None)
        total_w = sum(w for _, _, w in rows)
        score = (round(sum(w * r["score"] for _, r, w in rows if r["score"] is not None) / scored_w, 3)
                 if scored_w else None)
        worst = round(sum(w * r["score_if_missing_worst"] for _, r, w in rows) / total_w, 3)
        level, level_worst = ed.level_for(score), ed.level_for(worst)
        unscored = [pid for pid, r, _ in rows if r["score"] is None]
        pillars[pillar] = {
            "score": score, "level": level, "provisional": bool(unscored) or level != level_worst,
            "score_if_missing_worst": worst, "level_if_missing_worst": level_worst,
            "providers_total": len(rows), "providers_scored": len(rows) - len(unscored),
            "providers_unscored": unscored,
            "providers": [{"provider": pid, "score": r["score"], "level": r["level"],
                           "provisional": r["provisional"], "weight": w,
                           "share": round(w / scored_w, 6) if r["score"] is not None else None,
                           "contribution": round(w * r["score"] / scored_w, 3) if r["score"] is not None else None}
                          for pid, r, w in rows],
        }
    # worst_pillar: the pillar with the highest level (then score) sets the overall figure.
    rank = sorted(pillars, key=lambda k: (pillars[k]["level"] or 0, pillars[k]["score"] or 0), reverse=True)
    top = pillars[rank[0]] if rank else {"score": None, "level": None}
    return {
        "edition": ed.ref, "rule": sysconf.get("rule"), "weight_basis": sysconf.get("weight_basis"),
        "weights_from": source, "pillar_rule": sysconf.get("pillar_rule", "worst_pillar"),
        "confirmed": bool(sysconf.get("confirmed")) and all(ed.confirmed(k) for k in pillars),
        "score": top["score"], "level": top["level"], "worst_pillar": rank[0] if rank else None,
        "provisional": any(v["provisional"] for v in pillars.values()) or not rank,
        "score_if_missing_worst": max((v["score_if_missing_worst"] for v in pillars.values()), default=None),
        "level_if_missing_worst": max((v["level_if_missing_worst"] for v in pillars.values()), default=None),
        "providers_total": sum(v["providers_total"] for v in pillars.values()),
        "providers_scored": sum(v["providers_scored"] for v in pillars.values()),
        "providers_unscored": [p for v in pillars.values() for p in v["providers_unscored"]],
        "pillars": pillars,
    }


# --------------------------------------------------------------------------------------------------
# Batch: a long table of readings (provider, metric, time, value)
# --------------------------------------------------------------------------------------------------


class ReadingIndex:
    """Readings per (provider, metric), sorted by time with prefix sums: O(log n) look-ups at any time.

    Build once with ``ReadingIndex.from_table`` and score any time with ``score_at``.
    """

    def __init__(self, series: dict[tuple[str, str], tuple[list[float], list[float], list[float]]],
                 providers: list[str], times: list[float], unknown_metrics: list[str]):
        self.series, self.providers, self.times, self.unknown_metrics = series, providers, times, unknown_metrics

    @classmethod
    def from_table(cls, table: Any, edition: Edition | Mapping | str | Path) -> ReadingIndex:
        """``table``: a polars DataFrame, a CSV path, or rows (list of dicts) with columns provider,
        metric, time (ISO string or datetime; naive = edition local time), value. Null/NaN values are
        dropped; a repeated (provider, metric, time) keeps the last row."""
        import polars as pl

        ed = load_edition(edition)
        if isinstance(table, str | Path):
            df = pl.read_csv(table, schema_overrides={"provider": pl.Utf8, "metric": pl.Utf8, "time": pl.Utf8})
        elif isinstance(table, pl.DataFrame):
            df = table
        else:
            df = pl.DataFrame(list(table))
        absent = [c for c in ("provider", "metric", "time", "value") if c not in df.columns]
        if absent:
            raise ValueError(f"readings table lacks column(s) {', '.join(absent)} "
                             "(needs provider, metric, time, value)")
        df = df.select(pl.col("provider").cast(pl.Utf8), pl.col("metric").cast(pl.Utf8),
                       pl.col("time"), pl.col("value").cast(pl.Float64))
        times = df.get_column("time").unique().to_list()
        epoch = {t: _aware(t, ed.tz).timestamp() for t in times if t is not None}
        df = (df.with_columns(pl.col("time").replace_strict(epoch, default=None, return_dtype=pl.Float64).alias("t"))
                .filter(pl.col("t").is_not_null() & pl.col("value").is_not_null() & pl.col("value").is_not_nan())
                .unique(subset=["provider", "metric", "t"], keep="last", maintain_order=True))
        known = {p.key for p in ed.parameters}
        unknown = sorted(set(df.get_column("metric").unique().to_list()) - known)
        providers = sorted(df.get_column("provider").unique().to_list())
        grouped = (df.filter(pl.col("metric").is_in(known)).sort("provider", "metric", "t")
                     .group_by("provider", "metric", maintain_order=True).agg("t", "value"))
        series = {(prov, metric): (ts, vals, list(accumulate(vals, initial=0.0)))
                  for prov, metric, ts, vals in grouped.iter_rows()}
        return cls(series, providers, sorted(df.get_column("t").unique().to_list()), unknown)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, datetime, float]],
                  edition: Edition | Mapping | str | Path) -> ReadingIndex:
        """The same index from (provider, metric, aware datetime, value) rows, unique per (provider,
        metric, time), as a database query returns them: no DataFrame, for scoring a few thousand
        readings many times a second."""
        ed = load_edition(edition)
        known = {p.key for p in ed.parameters}
        grouped: dict[tuple[str, str], list[tuple[float, float]]] = {}
        providers, times, unknown = set(), set(), set()
        for prov, metric, at, value in rows:
            if value is None or math.isnan(value):
                continue
            ts = _aware(at, ed.tz).timestamp()
            providers.add(prov)
            times.add(ts)
            if metric in known:
                grouped.setdefault((prov, metric), []).append((ts, value))
            else:
                unknown.add(metric)
        series = {}
        for key, pairs in grouped.items():
            pairs.sort()
            ts = [t for t, _ in pairs]
            vals = [v for _, v in pairs]
            series[key] = (ts, vals, list(accumulate(vals, initial=0.0)))
        return cls(series, sorted(providers), sorted(times), sorted(unknown))


def score_at(edition: Edition | Mapping | str | Path, index: ReadingIndex, at: datetime | str | float, *,
             systems: Mapping[str, str] | None = None, weights: Mapping[str, float] | None = None,
             pillars: Mapping[str, str] | None = None, explain: bool = False) -> dict:
    """Every provider's and system's score at one time. ``at``: datetime, ISO string or epoch seconds.

    ``systems``: {provider: system id} (default: everyone in one system called "system"; providers
    listed here with no readings are scored as all-missing). ``pillars``: {provider: pillar} (default:
    the edition's only pillar). Returns {"at", "providers": {id: result}, "systems": {id: result}};
    without ``explain`` provider results carry "points" {key: points or None} instead of full
    explanations and system results leave out the per-provider breakdown.
    """
    ed = load_edition(edition)
    clock = _clock(datetime.fromtimestamp(at, ed.tz) if isinstance(at, int | float) else at, ed.tz)
    members = dict(systems) if systems is not None else {p: "system" for p in index.providers}
    orphans = sorted(set(index.providers) - members.keys())
    if orphans:
        raise ValueError(f"providers with no system: {', '.join(orphans)}")
    providers: dict[str, dict] = {}
    for prov in sorted(members):
        pillar = ed.pillar_of(pillars.get(prov) if pillars else None)
        params = ed.parameters_for(pillar)
        assessed = []
        for p in params:
            s = index.series.get((prov, p.key))
            assessed.append(_assess(ed, p, _pick(p.aggregation, p.flow, *s, clock) if s else None, clock))
        providers[prov] = _provider(ed, pillar, params, assessed, clock, detail=explain)
    out_systems = {}
    for sid in sorted(set(members.values())):
        res = score_system(ed, {p: providers[p] for p in members if members[p] == sid}, weights)
        if not explain:
            res = {k: v for k, v in res.items() if k != "pillars"}
        out_systems[sid] = res
    return {"at": _iso(clock.at_ts, ed.tz), "providers": providers, "systems": out_systems}


def score_table(edition: Edition | Mapping | str | Path, table: Any, *, systems: Mapping[str, str] | None = None,
                weights: Mapping[str, float] | None = None, pillars: Mapping[str, str] | None = None,
                times: Iterable[datetime | str] | None = None, explain: bool = False) -> dict:
    """Score a long readings table at every reading time (or at ``times``), for the CLI
    ``carecoord opel score --readings FILE.csv --format json``. JSON-serialisable:

    {"edition": {"edition", "version", "title", "confirmed"}, "timezone", "unknown_metrics": [...],
     "results": [score_at(...) for each time, ascending]}
    """
    ed = load_edition(edition)
    index = ReadingIndex.from_table(table, ed)
    when = list(times) if times is not None else index.times
    return {
        "edition": {"edition": ed.name, "version": ed.version, "title": ed.title,
                    "confirmed": all(ed.confirmed(p) for p in ed.pillars)},
        "timezone": ed.tz.key,
        "unknown_metrics": index.unknown_metrics,
        "results": [score_at(ed, index, t, systems=systems, weights=weights, pillars=pillars, explain=explain)
                    for t in when],
    }
