"""Start escalation actions when OPEL levels are scored, and work them (audited)."""

from __future__ import annotations

import json
from pathlib import Path

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
    own = ActionCard.objects.filter(system=system, active=True)
    if own.exists():
        return list(own)
    ensure_default_cards()
    return list(ActionCard.objects.filter(system__isnull=True, active=True))


def start_actions(system, scores) -> list[EscalationAction]:
    """A provider at level N starts the acute pillar's cards at N; the system at N starts the
    system cards at N (Integrated OPEL framework 2024–26; reference rule R4). An action already live
    for that card and organisation is not started twice."""
    started = []
    cards = None
    for s in scores:
        if not s or not s.level:
            continue
        cards = cards if cards is not None else cards_for(system)
        pillar = Pillar.SYSTEM if s.is_system else Pillar.ACUTE
        for card in (c for c in cards if c.level == s.level and c.pillar == pillar):
            live = EscalationAction.objects.filter(card=card, organisation=s.organisation).exclude(
                status=EscalationAction.Status.DONE).exists()
            if not live:
                action = EscalationAction.objects.create(card=card, system=system, organisation=s.organisation,
                                                         level=s.level, triggered_at=timezone.now())
                Auditor.system("escalation", organisation=system).create(
                    action, summary=f"{s.organisation.ods_code} at OPEL {s.level}: {card.title}"[:300])
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
