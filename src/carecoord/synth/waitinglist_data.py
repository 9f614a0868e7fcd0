"""Synthetic waiting lists: pathways with clock-event histories, calibrated to England's RTT
figures, with data-quality defects injected at known rates.

Calibration (approximate, from NHS England's monthly RTT statistics as summarised in
`shared/reference/waiting-list.md` §1.6): about 60% of incomplete pathways within 18 weeks (59.8% in
March 2025, 61.8% in November 2025) and around 1–2% over 52 weeks. Open clocks' waits are drawn
from a mixture: 60% uniform over 0–126 days, the rest 126 days plus an exponential tail (mean 70
days), which gives about 1.3% over 52 weeks. Treatment-function shares are rounded from the
published mix (trauma and orthopaedics, ophthalmology, gynaecology and ENT the largest lists).

Every pathway's clock fields come from the RTT kernel (`waitinglist.rtt.compute_frame`) run over
its generated events, so pathway rows, periods and events always agree. Histories exercise every
status code: first activity, subsequent activity, transfers, each stop code, first-appointment DNAs
with rebooking, active monitoring then a decision to treat, separate-condition referrals, and the
non-RTT codes.

Defects (what validation must find) are injected at the rates in `DEFECT_RATES`, and the labelled
pathways are written to `<data dir>/synth/defects.parquet` (pathway id, defect) for precision and
recall measurements.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
from django.conf import settings
from django.utils import timezone

from carecoord.core.models import OrganisationKind
from carecoord.synth.registry import SynthContext, step
from carecoord.waitinglist import rtt

PATHWAYS_PER_PATIENT = 1.25  # demo 37,500; large 750,000; national 7.5 million (England's order)

TFC_SHARES = {
    "110": 11, "130": 9, "502": 8, "120": 7, "100": 6, "101": 5, "330": 5, "320": 5, "301": 4, "140": 4,
    "340": 3, "400": 3, "410": 2, "160": 2, "150": 1, "170": 1, "430": 1, "300": 3,
}
SURGICAL = {"110", "130", "502", "120", "100", "101", "140", "160", "150", "170"}
PROCEDURES = {"110": ["W371", "W401", "W421", "W811"], "130": ["C751", "C712"], "502": ["Q073", "Q181"],
              "120": ["F341", "E201"], "100": ["T201", "J183"], "101": ["M651", "M451"], "140": ["F091"],
              "160": ["S062"], "150": ["V253"], "170": ["K401"]}

# (weight, [(days after referral, status), ...]) for histories; the open clock's wait is set by
# the referral date, so offsets are kept short relative to waits.
SHAPES: list[tuple[float, list[tuple[int, str]]]] = [
    (38, [(12, "10"), (40, "20")]),          # waiting, seen once
    (16, []),                                 # referral received, nothing yet
    (6, [(9, "10"), (30, "21")]),             # transferred to another provider (clock continues there)
    (5, [(14, "33"), (21, "10")]),            # first-appointment DNA, rebooked: new clock
    (4, [(8, "10"), (20, "32"), (50, "91"), (60, "11")]),  # active monitoring then decision to treat
    (2, [(8, "10"), (25, "31"), (70, "11")]),
    (2, [(6, "10"), (30, "30"), (100, "12"), (104, "20")]),  # treated, then a separate condition
    (1, [(3, "92"), (15, "10")]),             # GP diagnostics before referral
    (1, [(10, "10"), (20, "99")]),            # not yet known
    # completed / non-RTT pathways (kept off the PTL as closed)
    (6, [(10, "10"), (60, "30"), (61, "90")]),
    (2, [(10, "10"), (40, "34")]),
    (1, [(10, "10"), (40, "35")]),
    (0.5, [(10, "10"), (40, "36")]),
    (1.5, [(12, "33")]),                      # nullified by a first-appointment DNA, not rebooked
    (1, [(10, "98")]),                        # not consultant-led
    (1, [(10, "10"), (30, "31")]),            # active monitoring, still monitoring
    (1, [(10, "10"), (30, "32")]),
]
DEFECT_RATES = {  # share of pathways; rule codes refer to reference §4
    "T3_unknown_clock_start": 0.002,
    "T5_duplicate": 0.005,
    "T6_stop_but_open": 0.004,
    "T7_non_rtt_on_ptl": 0.003,
    "T13_tci_before_start": 0.001,
    "T21_other_provider": 0.002,
}


def _defects_path() -> Path:
    return Path(settings.DATA_DIR) / "synth" / "defects.parquet"


def _histories(rng, n: int, first_id: int, referral: np.ndarray) -> pl.DataFrame:
    weights = np.array([w for w, _ in SHAPES], float)
    shape = rng.choice(len(SHAPES), size=n, p=weights / weights.sum())
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    parts = []
    for k, (_, evs) in enumerate(SHAPES):
        sel = np.flatnonzero(shape == k)
        for off, code in evs:
            parts.append(pl.DataFrame({"pathway_id": ids[sel], "event_date": referral[sel] + np.timedelta64(off, "D"),
                                       "status": np.full(len(sel), code)}))
    if not parts:
        return pl.DataFrame(schema={"pathway_id": pl.Int64, "event_date": pl.Date, "status": pl.Utf8})
    return pl.concat(parts).with_columns(pl.col("event_date").cast(pl.Date))


def _chunk(ctx: SynthContext, rng, *, first_id: int, patient_ids: np.ndarray, provider_ids: np.ndarray,
           issuer_codes: np.ndarray, site_for: dict[int, int | None]) -> tuple[pl.DataFrame, pl.DataFrame,
                                                                          pl.DataFrame, pl.DataFrame]:
    n = len(patient_ids)
    today = np.datetime64(ctx.today)
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    days = np.where(rng.random(n) < 0.60, rng.integers(0, 127, n), 126 + rng.exponential(70, n)).astype(np.int64)
    days = np.minimum(days, 1200)
    referral = today - days.astype("timedelta64[D]")
    events = _histories(rng, n, first_id, referral)
    # Histories must not run past the census: drop future events (a short wait has had less activity).
    events = events.filter(pl.col("event_date") <= pl.lit(ctx.today))
    pw = pl.DataFrame({"pathway_id": ids, "referral_received": referral.astype("datetime64[D]")}).with_columns(
        pl.col("referral_received").cast(pl.Date))
    clock, periods = rtt.compute_frame(events, pw, with_periods=True)
    clock = clock.sort("pathway_id")

    tfcs = np.array(list(TFC_SHARES))
    w = np.array(list(TFC_SHARES.values()), float)
    tfc = tfcs[rng.choice(len(tfcs), size=n, p=w / w.sum())]
    surgical = np.isin(tfc, list(SURGICAL))
    admitted = surgical & (rng.random(n) < 0.55)
    planned = ~admitted & (rng.random(n) < 0.02)
    list_type = np.where(admitted, "admitted", np.where(planned, "planned", "non_admitted"))
    wlt = np.where(admitted, "IRTT", np.where(planned, "PTLO", "ORTT"))
    prio_codes = np.array(["P1a", "P1b", "P2", "P3", "P4", "P5", "P6", ""])
    prio = np.where(admitted, prio_codes[rng.choice(8, size=n, p=[0.002, 0.008, 0.12, 0.38, 0.44, 0.01, 0.02, 0.02])],
                    "")
    rank = pl.Series(prio).replace_strict({"P1a": 1, "P1b": 2, "P2": 3, "P3": 4, "P4": 5, "P5": 6, "P6": 7, "": 99},
                                          return_dtype=pl.Int16).to_numpy()
    alt = rng.random(n) < 0.5
    first = pl.Series(tfc).replace_strict({t: ps[0] for t, ps in PROCEDURES.items()}, default="").to_numpy()
    second = pl.Series(tfc).replace_strict({t: ps[-1] for t, ps in PROCEDURES.items()}, default="").to_numpy()
    proc = np.where(alt, second, first)
    proc = np.where(admitted, proc, "")
    dta = np.where(admitted, referral + (days * rng.uniform(0.2, 0.6, n)).astype("timedelta64[D]"),
                   np.datetime64("NaT"))
    has_tci = admitted & (rng.random(n) < 0.18)
    tci = np.where(has_tci, today + rng.integers(3, 60, n).astype("timedelta64[D]"), np.datetime64("NaT"))
    poa = np.where(admitted, rng.choice(np.array(["not_started", "booked", "fit", "unfit", "expired"]), size=n,
                                        p=[0.35, 0.15, 0.4, 0.03, 0.07]), "not_started")
    poa_date = np.where(np.isin(poa, ["fit", "unfit", "expired"]), today - rng.integers(5, 200, n).astype(
        "timedelta64[D]"), np.datetime64("NaT"))
    consultant = np.char.add("C", np.char.zfill(rng.integers(1, 60, n).astype(str), 7))
    provider_codes = issuer_codes
    ppid = np.char.add(np.char.add(provider_codes.astype(str), "-"), np.char.zfill(ids.astype(str), 10))

    c = clock.to_dict(as_series=True)
    open_ = c["clock_open"].to_numpy()
    non_rtt = c["non_rtt"].to_numpy()
    clock_state = np.where(open_, "open", np.where(non_rtt, "non_rtt",
                                                   np.where(c["nullified"].to_numpy(), "nullified",
                                                            np.where(c["rtt_start"].is_null().to_numpy(), "unknown",
                                                                     "stopped"))))
    status = np.where(open_, "on_list", "closed")
    frame = pl.DataFrame({
        "id": ids, "provider_id": provider_ids, "patient_id": patient_ids,
        "site_id": pl.Series(provider_ids).replace_strict(site_for, default=None, return_dtype=pl.Int64),
        "ppid": ppid, "ppid_issuer": provider_codes, "ubrn": "", "local_patient_id": np.char.add(
            "MRN", np.char.zfill(patient_ids.astype(str), 8)),
        "referral_received": pw["referral_received"],
        "source_of_referral": "03", "referrer_code": "", "commissioner_code": "",
        "tfc": tfc, "main_specialty": tfc, "consultant_code": consultant,
        "priority_type": np.where(rng.random(n) < 0.1, "2", "1"),
        "rtt_start": c["rtt_start"], "rtt_status": c["latest_status"].fill_null(""),
        "clock_state": clock_state, "clock_stop": c["clock_stop"],
        "clock_stop_status": c["clock_stop_status"].fill_null(""), "queue_date": c["queue_date"],
        "waiting_list_type": wlt, "list_type": list_type, "clinical_priority": prio, "priority_rank": rank,
        "intended_procedure": proc, "intended_management": np.where(admitted, np.where(rng.random(n) < 0.7, "2", "1"),
                                                                      ""),
        "dta_date": dta.astype("datetime64[D]"), "tci_date": tci.astype("datetime64[D]"),
        "poa_status": poa, "poa_date": poa_date.astype("datetime64[D]"),
        "status": status, "census_date": ctx.today,
    })
    frame = frame.with_columns(
        pl.col("referral_received").cast(pl.Date), pl.col("dta_date").cast(pl.Date), pl.col("tci_date").cast(pl.Date),
        pl.col("poa_date").cast(pl.Date),
        poa_valid_until=pl.when(pl.col("poa_status") == "fit").then(pl.col("poa_date") + pl.duration(days=180)),
        asa_grade=pl.when(pl.col("list_type") == "admitted").then(pl.lit(1) + (pl.col("id") % 3)).cast(pl.Int16),
        willing_to_travel=pl.when(pl.col("id") % 5 == 0).then(pl.lit(True)),
        row_hash=pl.lit(""), last_validated_by=pl.lit(""),
        created_at=pl.lit(timezone.now()), updated_at=pl.lit(timezone.now()),
    )
    frame, events, defects = _inject_defects(rng, frame, events, ctx)
    ev = events.with_columns(source=pl.lit("synth"), source_system=pl.lit("synthetic PAS"),
                             recorded_at=pl.lit(timezone.now()))
    per = periods.select("pathway_id", "start", "stop", stop_status=pl.col("stop_status").fill_null(""),
                         nullified=pl.col("nullified"))
    return frame, ev, per, defects


def _inject_defects(rng, frame: pl.DataFrame, events: pl.DataFrame, ctx) -> tuple[pl.DataFrame, pl.DataFrame,
                                                                              pl.DataFrame]:
    n = frame.height
    on_list = frame["status"].to_numpy() == "on_list"
    candidates = np.flatnonzero(on_list)
    rng.shuffle(candidates)
    take, labels, pos = {}, [], 0
    for name, rate in DEFECT_RATES.items():
        k = int(round(rate * n))
        take[name] = candidates[pos:pos + k]
        pos += k
    ids = frame["id"].to_numpy()
    today = ctx.today
    # T3: unknown clock start on an open pathway.
    t3 = ids[take["T3_unknown_clock_start"]]
    # T6: a first-definitive-treatment event recorded, pathway still open on the list.
    t6 = ids[take["T6_stop_but_open"]]
    extra = pl.DataFrame({"pathway_id": t6, "event_date": [today - timedelta(days=1)] * len(t6),
                          "status": ["30"] * len(t6)}, schema={"pathway_id": pl.Int64, "event_date": pl.Date,
                                                               "status": pl.Utf8})
    # T7: a non-RTT status on a pathway that sits on the RTT PTL.
    t7 = ids[take["T7_non_rtt_on_ptl"]]
    # T13: a TCI earlier than the clock start.
    t13 = ids[take["T13_tci_before_start"]]
    frame = frame.with_columns(
        rtt_start=pl.when(pl.col("id").is_in(t3)).then(None).otherwise(pl.col("rtt_start")),
        clock_state=pl.when(pl.col("id").is_in(t3)).then(pl.lit("unknown")).otherwise(pl.col("clock_state")),
        rtt_status=pl.when(pl.col("id").is_in(t7)).then(pl.lit("98")).otherwise(pl.col("rtt_status")),
        tci_date=pl.when(pl.col("id").is_in(t13)).then(pl.col("rtt_start") - pl.duration(days=10))
        .otherwise(pl.col("tci_date")),
    )
    events = pl.concat([events, extra]).unique(["pathway_id", "event_date", "status"], keep="first",
                                                    maintain_order=True)
    # T5: a duplicate of an open pathway (same patient, provider and treatment function; new PPID).
    src = frame.filter(pl.col("id").is_in(ids[take["T5_duplicate"]]))
    dup_ids = np.arange(int(ids.max()) + 1, int(ids.max()) + 1 + src.height, dtype=np.int64)
    dups = src.with_columns(id=pl.Series(dup_ids), ppid=pl.col("ppid") + "D")
    # T21: the same patient on another provider's list of the system for the same treatment function
    # (a duplicate referral, or a transfer not closed at the first provider).
    sibling = ctx.shared.get("sibling_provider", {})
    src = frame.filter(pl.col("id").is_in(ids[take["T21_other_provider"]])
                       & pl.col("provider_id").is_in(list(sibling)))
    start = int(dup_ids.max()) + 1 if len(dup_ids) else int(ids.max()) + 1
    other_ids = np.arange(start, start + src.height, dtype=np.int64)
    moved = src["provider_id"].replace_strict({k: v[0] for k, v in sibling.items()}, return_dtype=pl.Int64)
    code = src["provider_id"].replace_strict({k: v[1] for k, v in sibling.items()}, return_dtype=pl.String)
    others = src.with_columns(
        id=pl.Series(other_ids), provider_id=moved, ppid_issuer=code,
        site_id=moved.replace_strict({k: v[2] for k, v in sibling.items()}, default=None, return_dtype=pl.Int64),
        ppid=code + "-" + pl.Series(other_ids).cast(pl.String).str.zfill(10))
    frame = pl.concat([frame, dups, others])
    chosen_by = {"T5_duplicate": dup_ids, "T21_other_provider": other_ids}
    for name in DEFECT_RATES:
        chosen = chosen_by.get(name, ids[take[name]])
        labels.append(pl.DataFrame({"pathway_id": chosen, "defect": [name] * len(chosen)},
                                   schema={"pathway_id": pl.Int64, "defect": pl.Utf8}))
    return frame, events, pl.concat(labels)


def _identify_at_other_providers(ctx: SynthContext, frame: pl.DataFrame, defects: pl.DataFrame) -> None:
    """A patient put on a second provider's list (T21) is registered there too, as a PAS would."""
    ids = defects.filter(pl.col("defect") == "T21_other_provider")["pathway_id"]
    rows = frame.filter(pl.col("id").is_in(ids.implode())).select("patient_id", "provider_id").unique().rows()
    if rows:
        with ctx.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO core_patientidentifier (patient_id, organisation_id, local_id) "
                "VALUES (%s, %s, 'MRN' || lpad(%s::text, 8, '0')) ON CONFLICT DO NOTHING",
                [(patient, org, patient) for patient, org in rows])


@step(40, "waiting lists", "Pathways, RTT periods and clock events per provider, with injected data defects")
def waiting_lists(ctx: SynthContext) -> dict:
    rng = ctx.rng("waiting_lists")
    providers = ctx.shared["providers"]
    home = ctx.shared["patient_home"]
    from carecoord.core.models import Site

    site_for = {}
    for s in Site.objects.filter(organisation__in=providers).order_by("organisation_id", "id"):
        site_for.setdefault(s.organisation_id, s.pk)
    # Each provider's neighbour in its system (for T21: a patient on two providers' lists).
    ctx.shared["sibling_provider"] = {
        a.pk: (b.pk, b.ods_code, site_for.get(b.pk))
        for _, ps, _, _ in ctx.shared["structure"] if len(ps) > 1 for a, b in zip(ps, ps[1:] + ps[:1], strict=True)}
    provider_pk = np.array([p.pk for p in providers], dtype=np.int64)
    provider_code = np.array([p.ods_code for p in providers])
    is_weight = np.array([0.3 if p.kind == OrganisationKind.INDEPENDENT_SECTOR else 1.0 for p in providers])
    total = int(len(home) * PATHWAYS_PER_PATIENT)
    chunk = ctx.scale.chunk
    next_id, written, events_written, defects_all = 1, 0, 0, []
    with ctx.conn.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM waitinglist_pathway")
        next_id = cur.fetchone()[0]
    while written < total:
        n = min(chunk, total - written)
        patient_idx = rng.integers(0, len(home), n)
        keep = rng.random(n) < is_weight[home[patient_idx]]
        patient_idx = patient_idx[keep]
        org_idx = home[patient_idx]
        frame, events, periods, defects = _chunk(
            ctx, rng, first_id=next_id, patient_ids=(patient_idx + 1).astype(np.int64),
            provider_ids=provider_pk[org_idx], issuer_codes=provider_code[org_idx], site_for=site_for)
        ctx.copy_frame("waitinglist_pathway", frame)
        _identify_at_other_providers(ctx, frame, defects)
        ctx.copy_frame("waitinglist_clockevent", events)
        ctx.copy_frame("waitinglist_rttperiod", periods)
        defects_all.append(defects)
        next_id = int(frame["id"].max()) + 1
        written += n
        events_written += events.height
        ctx.progress(n)
    ctx.reset_sequence("waitinglist_pathway")
    ctx.reset_sequence("waitinglist_clockevent")
    ctx.reset_sequence("waitinglist_rttperiod")
    labels = pl.concat(defects_all) if defects_all else pl.DataFrame()
    path = _defects_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    labels.write_parquet(path)
    counts = labels.group_by("defect").len().sort("defect").to_dicts() if labels.height else []
    with ctx.conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM waitinglist_pathway WHERE status = 'on_list'")
        on_list = cur.fetchone()[0]
    ctx.shared["defects_path"] = str(path)
    return {"pathways": next_id - 1, "on_list": on_list, "clock_events": events_written,
            "defects": {d["defect"]: d["len"] for d in counts}}
