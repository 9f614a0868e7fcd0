"""Signals other apps react to (theatres cancels a removed patient's bookings), so the waiting list
imports none of them."""

from django.dispatch import Signal

# sent by services.remove_from_list once the pathway is removed, inside the removal's transaction;
# kwargs: pathway (Pathway), removal (Removal), by (the deciding user), auditor (Auditor)
pathway_removed = Signal()
