"""Start escalation actions when OPEL levels are scored, and work them (audited)."""

from __future__ import annotations

import json
from pathlib import Path

from django.db.models import Q
from django.utils import timezone

from carecoord.core.services.audit import Auditor, snapshot
from carecoord.escalation.models import ActionCard, EscalationAction, Pillar

DEFAULTS = Path(__file__).resolve().parent / "default_cards.json"


class ActionError(ValueError):
    pass


def ensure_default_cards() -> None:
    """The default set is loaded by a migration; reload it if it has gone (e.g. a flushed test database)."""
    if ActionCard.objects.filter(system__isnull=True).exists():
        return
    data = json.loads(DEFAULTS.read_text())
    for c in data["cards"]:
        ActionCard.objects.create(system=None, level=c["level"], pillar=c["pillar"], title=c["title"],
                                  detail=c["detail"], source=data["source"][:300], confirmed=False)


def cards_for(system) -> list[ActionCard]:
    """The system's own cards if it has any, else the default set (one query in the usual case)."""
    cards = list(ActionCard.objects.filter(Q(system=system) | Q(system__isnull=True), active=True))
    own = [c for c in cards if c.system_id is not None]
    if own:
        return own
    if not cards:
        ensure_default_cards()
        return list(ActionCard.objects.filter(system__isnull=True, active=True))
    return cards


def start_actions(system, scores) -> list[EscalationAction]:
    """A provider at level N starts the acute pillar's cards at N; the system at N starts the
    system cards at N (Integrated OPEL framework 2024–26; reference rule R4). An action already live
    for that card and organisation is not started twice."""
    scored = [s for s in scores if s and s.level]
    if not scored:
        return []
    cards = cards_for(system)
    wanted = [(s, c) for s in scored for c in cards
              if c.level == s.level and c.pillar == (Pillar.SYSTEM if s.is_system else Pillar.ACUTE)]
    if not wanted:
        return []
    live = set(EscalationAction.objects.filter(card__in={c.pk for _, c in wanted},
                                               organisation__in={s.organisation_id for s, _ in wanted})
               .exclude(status=EscalationAction.Status.DONE).values_list("card_id", "organisation_id"))
    started = []
    for s, card in wanted:
        if (card.pk, s.organisation_id) in live:
            continue
        action = EscalationAction.objects.create(card=card, system=system, organisation=s.organisation,
                                                 level=s.level, triggered_at=timezone.now())
        Auditor.system("escalation", organisation=system).create(
            action, summary=f"{s.organisation.ods_code} at OPEL {s.level}: {card.title}"[:300])
        live.add((card.pk, s.organisation_id))
        started.append(action)
    return started


def on_scored(sender, system, scores, **kwargs) -> None:
    start_actions(system, scores)


def _change(action: EscalationAction, auditor: Auditor, summary: str, **fields) -> EscalationAction:
    before = snapshot(action)
    for k, v in fields.items():
        setattr(action, k, v)
    action.save(update_fields=list(fields))
    auditor.update(action, before, summary=summary)
    return action


def acknowledge(action, *, by, auditor):
    if action.status != EscalationAction.Status.OPEN:
        raise ActionError("only a new action can be acknowledged")
    return _change(action, auditor, "acknowledged", status=EscalationAction.Status.ACKNOWLEDGED, acknowledged_by=by,
                   acknowledged_at=timezone.now(), assigned_to=action.assigned_to or by)


def assign(action, *, to, auditor):
    if action.status == EscalationAction.Status.DONE:
        raise ActionError("this action is already done")
    return _change(action, auditor, f"assigned to {to.username}", assigned_to=to)


def complete(action, *, by, notes: str, auditor):
    if action.status == EscalationAction.Status.DONE:
        raise ActionError("this action is already done")
    if not notes.strip():
        raise ActionError("record what was done")
    stamp = timezone.localtime().strftime("%H:%M")
    text = (action.notes + "\n" if action.notes else "") + f"{stamp} {by.username}: {notes.strip()}"
    return _change(action, auditor, "done", status=EscalationAction.Status.DONE, done_by=by, done_at=timezone.now(),
                   notes=text, acknowledged_at=action.acknowledged_at or timezone.now(),
                   acknowledged_by=action.acknowledged_by or by)
