"""The daily situation report (sitrep) for a system: levels, key metrics, escalation actions and open
alerts, as data (for the HTML page) and as a PDF (fpdf2, core fonts: no system libraries)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from carecoord.coordination import services as scc
from carecoord.coordination.services import KEY_METRICS
from carecoord.escalation.models import EscalationAction


def build(system, day: date | None = None) -> dict:
    day = day or timezone.localdate()
    tz = timezone.get_current_timezone()
    end = datetime.combine(day, time.max, tz)
    state = scc.board_state(system, at=min(end, timezone.now()))
    start = datetime.combine(day, time.min, tz)
    actions = list(EscalationAction.objects.filter(system=system, triggered_at__gte=start,
                                                   triggered_at__lt=start + timedelta(days=1))
                   .select_related("card", "organisation").order_by("-level", "triggered_at"))
    return {"system": system, "day": day, "state": state, "actions": actions, "metrics": KEY_METRICS,
            "generated_at": timezone.localtime()}


def pdf(report: dict) -> bytes:
    from fpdf import FPDF

    from carecoord.core.letters import latin as _latin

    doc = FPDF(orientation="landscape", format="A4")
    doc.set_title(_latin(f"Situation report {report['system'].name} {report['day']:%d %B %Y}"))
    doc.add_page()
    doc.set_font("helvetica", "B", 16)
    doc.cell(0, 10, _latin(f"Situation report - {report['system'].name}"), new_x="LMARGIN", new_y="NEXT")
    doc.set_font("helvetica", "", 10)
    sys_score, state = report["state"]["system_score"], report["state"]
    if state.get("system_stale"):
        level = f"stale (last scored {timezone.localtime(sys_score.at):%d/%m/%Y %H:%M})"
    else:
        level = (f"{sys_score.level}" if sys_score and sys_score.level else "not scored") + (
            f" {state['system_provisional']}" if state.get("system_provisional") else "")
    doc.cell(0, 6, _latin(f"{report['day']:%A %d %B %Y}. Generated {report['generated_at']:%d/%m/%Y %H:%M}. "
                          f"System OPEL {level}."), new_x="LMARGIN", new_y="NEXT")
    doc.ln(3)
    doc.set_font("helvetica", "B", 12)
    doc.cell(0, 8, "Providers", new_x="LMARGIN", new_y="NEXT")
    widths = [70, 18, 18] + [40] * len(report["metrics"])
    headers = ["Provider", "OPEL", "Score"] + [label for _, label in report["metrics"]]
    doc.set_font("helvetica", "B", 9)
    for w, h in zip(widths, headers, strict=True):
        doc.cell(w, 7, _latin(h), border=1)
    doc.ln()
    doc.set_font("helvetica", "", 9)
    for p in report["state"]["providers"]:
        cells = [p.organisation.name[:40], "stale" if p.stale else str(p.score.level if p.score and p.score.level else "-")
                 + ("*" if p.provisional else ""),
                 f"{p.score.score:.1f}" if p.score and p.score.score is not None else "-"]
        cells += [f"{p.latest[k][0]:.1f}" if k in p.latest else "-" for k, _ in report["metrics"]]
        for w, c in zip(widths, cells, strict=True):
            doc.cell(w, 7, _latin(c), border=1)
        doc.ln()
    notes = [f"{p.organisation.ods_code}: {p.provisional}" for p in report["state"]["providers"] if p.provisional]
    if notes:
        doc.multi_cell(0, 6, _latin("* Provisional: " + "; ".join(notes)), new_x="LMARGIN", new_y="NEXT")
    doc.ln(3)
    doc.set_font("helvetica", "B", 12)
    doc.cell(0, 8, "Escalation actions", new_x="LMARGIN", new_y="NEXT")
    doc.set_font("helvetica", "", 9)
    if not report["actions"]:
        doc.cell(0, 6, "None today.", new_x="LMARGIN", new_y="NEXT")
    for a in report["actions"]:
        doc.multi_cell(0, 6, _latin(f"OPEL {a.level} {a.organisation.ods_code}: {a.card.title} - "
                                    f"{a.get_status_display()}{(' - ' + a.notes.splitlines()[-1]) if a.notes else ''}"),
                       new_x="LMARGIN", new_y="NEXT")
    alerts = report["state"]["alerts"]
    doc.ln(2)
    doc.set_font("helvetica", "B", 12)
    doc.cell(0, 8, "Open alerts", new_x="LMARGIN", new_y="NEXT")
    doc.set_font("helvetica", "", 9)
    if not alerts:
        doc.cell(0, 6, "None.", new_x="LMARGIN", new_y="NEXT")
    for al in alerts:
        doc.cell(0, 6, _latin(f"{al.organisation.ods_code}: {al.rule.metric} {al.value:.1f} "
                              f"({al.rule.get_direction_display().lower()} {al.rule.threshold})"),
                 new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def produce_due(now=None) -> str:
    """Run by the worker's scheduler on every check: produce each scheduled sitrep whose time has passed
    today (once, whichever worker gets there first), keep the PDF under $CARECOORD_DATA_DIR/sitreps/ and
    tell the listed staff through the notifier."""
    from django.conf import settings
    from django.db import IntegrityError, transaction

    from carecoord.core.notify import Channel, Message, get_notifier
    from carecoord.escalation.models import SitrepRun, SitrepSchedule

    now = timezone.localtime(now)
    made = 0
    due = SitrepSchedule.objects.filter(at__lte=now.time()).exclude(runs__day=now.date()).select_related("system")
    for entry in due:
        path = settings.DATA_DIR / "sitreps" / f"{entry.system.ods_code}-{now:%Y-%m-%d}-{entry.at:%H%M}.pdf"
        try:
            with transaction.atomic():
                SitrepRun.objects.create(schedule=entry, day=now.date(), path=str(path))
        except IntegrityError:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pdf(build(entry.system, now.date())))
        notifier = get_notifier()
        for to in [x.strip() for x in entry.notify.split(",") if x.strip()]:
            notifier.send(Message(channel=Channel.STAFF, to=to, template="sitrep-ready",
                                  personalisation={"system": entry.system.name, "day": now.date().isoformat(),
                                                   "time": entry.at.strftime("%H:%M"), "file": path.name},
                                  reference=f"sitrep:{entry.system.ods_code}:{now:%Y%m%d}{entry.at:%H%M}"))
        made += 1
    return f"{made} sitreps produced"
