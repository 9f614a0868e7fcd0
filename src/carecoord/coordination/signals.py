"""Signals other apps react to (escalation starts action cards when levels are scored)."""

from django.dispatch import Signal

# sent after OPEL scores are stored; kwargs: system (Organisation), scores (list[OpelScore])
opel_scored = Signal()
