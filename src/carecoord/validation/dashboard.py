"""The validation dashboard's figures, for the page and its CSV (one place, so they always agree).

- runs: findings by rule per run (chart), recent runs, open findings by rule and severity;
- coverage: pathways on the list, % validated in the last 12 weeks, due for revalidation (what T19
  counts: RTT lists only);
- teams: open tasks per team, how many are overdue (older than the team's target in
  ``settings.VALIDATION_TASK_TARGET_DAYS``, configuration because the reference gives no national
  figure) and how many pathways are due for revalidation;
- removals by reason, and removals after validation by week;
- digital validation: per batch and overall, messages sent, answered, response rate, answers,
  reminders, letters, locked links;
- effect: the list size and the share within 18 weeks (days ≤ 126, as the RTT summary counts it)
  now, and as they would be today had the pathways removed through validation stayed on the list.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from carecoord.core.models import Organisation
from carecoord.validation.models import (
    DigitalBatch,
    DigitalMessage,
    DigitalResponse,
    Team,
    scoped_findings,
    scoped_runs,
    scoped_tasks,
)
from carecoord.waitinglist.models import scoped_pathways
from carecoord.waitinglist.rules import technical


def target_days() -> dict[str, int]:
    """Per team, from settings; a team not configured gets 10 days."""
    return {t.value: 10 for t in Team} | getattr(settings, "VALIDATION_TASK_TARGET_DAYS", {})


def overdue_cutoff(team: str, today: date) -> datetime:
    """A team's task is overdue when it was opened before this moment (midnight, the target's days ago)."""
    return datetime.combine(today - timedelta(days=target_days()[team]), time.min, timezone.get_current_timezone())


def _pct(n: int, d: int) -> float | None:
    return round(100 * n / d, 1) if d else None


def build(organisation: Organisation, today: date | None = None) -> dict:
    today = today or timezone.localdate()
    twelve = today - timedelta(weeks=12)
    # An ICB sees its trusts' runs (aggregate figures), each named by its provider.
    runs = list(scoped_runs(organisation, aggregate=True).filter(status="done").select_related("organisation")
                .order_by("-started_at")[:20])[::-1]
    open_by = sorted(scoped_findings(organisation).open().values("rule", "severity").annotate(n=Count("id"))
                     .order_by(), key=lambda r: (int(r["rule"][1:]) if r["rule"][1:].isdigit() else 99, r["severity"]))
    pathways = scoped_pathways(organisation)
    on_list = pathways.filter(status="on_list")
    # Due for revalidation counts exactly what rule T19 flags: RTT lists (admitted, non-admitted) only,
    # waited over 12 weeks and not validated in the last 12.
    due_q = (Q(list_type__in=technical.RTT_LISTS, rtt_start__lt=twelve)
             & (Q(last_validated_on__isnull=True) | Q(last_validated_on__lt=twelve)))
    stats = on_list.aggregate(total=Count("id"), recent=Count("id", filter=Q(last_validated_on__gte=twelve)),
                              due=Count("id", filter=due_q))
    removals = list(pathways.filter(status="removed", removal__isnull=False).values("removal__reason")
                    .annotate(n=Count("id")).order_by("-n"))
    return {
        "today": today, "runs": runs, "open_by": open_by, "stats": stats,
        "pct_recent": _pct(stats["recent"], stats["total"]), "removals": removals,
        "teams": teams(organisation, today), "digital": digital(organisation),
        "effect": effect(organisation, today), "removals_by_week": removals_by_week(organisation, today),
    }


def teams(organisation: Organisation, today: date) -> list[dict]:
    """Per team: open tasks, tasks open past the team's target, open findings routed to the team and,
    of those, pathways due for revalidation (rule T19: waited over 12 weeks, not validated in 12).
    Two queries whatever the number of teams."""
    targets = target_days()
    cutoff = {t.value: overdue_cutoff(t.value, today) for t in Team}
    counts = scoped_tasks(organisation).open().aggregate(**{
        f"{t.value}_{k}": Count("id", filter=Q(team=t.value) & q) for t in Team for k, q in (
            ("open", Q()), ("overdue", Q(created_at__lt=cutoff[t.value])))})
    findings = {team: (n, due) for team, n, due in scoped_findings(organisation).open().values_list("team")
                .annotate(n=Count("id"), due=Count("id", filter=Q(rule="T19"))).order_by()}
    return [{"team": t.value, "label": t.label, "target_days": targets[t.value], "has_tasks": t == Team.CLINICAL,
             "open": counts[f"{t.value}_open"], "overdue": counts[f"{t.value}_overdue"],
             "findings": findings.get(t.value, (0, 0))[0], "revalidation": findings.get(t.value, (0, 0))[1]}
            for t in Team]


def digital(organisation: Organisation) -> dict:
    """Sent, answered, reminders, letters, locked links and each answer: overall and for the 20 latest
    sent batches (one query for the batches' figures)."""
    per_answer = {f"answer_{a}": Count("id", filter=Q(response=a)) for a, _ in DigitalResponse.choices}
    base = dict(sent=Count("id", filter=Q(sent_at__isnull=False)),
                answered=Count("id", filter=Q(responded_at__isnull=False)),
                reminders=Count("id", filter=Q(reminder_sent_at__isnull=False)),
                letters=Count("id", filter=Q(letter_sent_at__isnull=False)),
                locked=Count("id", filter=Q(locked_at__isnull=False)), **per_answer)
    messages = DigitalMessage.objects.filter(batch__organisation=organisation)
    total = messages.aggregate(**base)
    recent = list(DigitalBatch.objects.filter(organisation=organisation, status=DigitalBatch.Status.SENT)
                  .order_by("-created_at")[:20])
    figures = {row.pop("batch"): row for row in messages.filter(batch__in=recent).values("batch")
               .annotate(**base).order_by()}
    empty = dict.fromkeys(base, 0)
    batches = [{"batch": b, **figures.get(b.pk, empty),
                "response_rate": _pct(figures.get(b.pk, empty)["answered"], figures.get(b.pk, empty)["sent"])}
               for b in recent]
    return {"total": {**total, "response_rate": _pct(total["answered"], total["sent"])}, "batches": batches,
            "answers": list(DigitalResponse.choices)}


def effect(organisation: Organisation, today: date) -> dict:
    """The list and its 18-week share now, and had the pathways removed through validation stayed."""
    pathways = scoped_pathways(organisation)
    now = pathways.filter(status="on_list", clock_state="open", rtt_start__isnull=False, rtt_start__lte=today)
    removed = pathways.filter(status="removed", removal__isnull=False, rtt_start__isnull=False,
                              rtt_start__lte=today)
    within = today - timedelta(days=126)
    a = now.aggregate(total=Count("id"), within=Count("id", filter=Q(rtt_start__gte=within)))
    r = removed.aggregate(total=Count("id"), within=Count("id", filter=Q(rtt_start__gte=within)),
                          over_52=Count("id", filter=Q(rtt_start__lt=today - timedelta(weeks=52))))
    with_removed = a["total"] + r["total"]
    return {"list_now": a["total"], "pct_within_18_now": _pct(a["within"], a["total"]),
            "removed_by_validation": r["total"], "removed_over_52_weeks": r["over_52"],
            "list_without_validation": with_removed,
            "pct_within_18_without_validation": _pct(a["within"] + r["within"], with_removed)}


def removals_by_week(organisation: Organisation, today: date, weeks: int = 12) -> list[dict]:
    from django.db.models.functions import TruncWeek

    start = today - timedelta(weeks=weeks)
    rows = (scoped_pathways(organisation).filter(status="removed", removal__decided_on__gte=start)
            .annotate(week=TruncWeek("removal__decided_on")).values("week", "removal__reason")
            .annotate(n=Count("id")).order_by("week"))
    return [{"week": r["week"].isoformat() if hasattr(r["week"], "isoformat") else str(r["week"]),
             "reason": r["removal__reason"], "removals": r["n"]} for r in rows]


def csv_rows(data: dict):
    """(section, item, measure, value) rows: one tidy CSV for the whole dashboard."""
    s = data["stats"]
    yield ("list", "all", "pathways_on_list", s["total"])
    yield ("list", "all", "validated_last_12_weeks", s["recent"])
    yield ("list", "all", "pct_validated_last_12_weeks", data["pct_recent"])
    yield ("list", "all", "due_for_revalidation", s["due"])
    for r in data["open_by"]:
        yield ("open_findings", r["rule"], r["severity"], r["n"])
    for r in data["runs"]:
        for rule, n in r.findings_by_rule.items():
            yield ("run", f"{r.started_at.isoformat()} {r.organisation.ods_code}", rule, n)
    for t in data["teams"]:
        for k in ("open", "overdue", "findings", "revalidation"):
            yield ("team", t["team"], k, t[k])
    for r in data["removals"]:
        yield ("removals", r["removal__reason"], "pathways", r["n"])
    for r in data["removals_by_week"]:
        yield ("removals_by_week", r["week"], r["reason"], r["removals"])
    d = data["digital"]
    for k, v in d["total"].items():
        yield ("digital", "all", k, v)
    for b in d["batches"]:
        for k in ("sent", "answered", "response_rate", "reminders", "letters", "locked"):
            yield ("digital_batch", b["batch"].name, k, b[k])
    for k, v in data["effect"].items():
        yield ("effect", "all", k, v)
