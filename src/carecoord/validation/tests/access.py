"""Validation routes in the access matrix."""

from carecoord.core.models import Role
from carecoord.testing.access import Route, register
from carecoord.testing.factories import pathway_at

WORKLIST = frozenset({Role.VALIDATOR, Role.WAITING_LIST_MANAGER, Role.CLINICIAN, Role.SCHEDULER})

register(Route("validation:worklist", lambda s: "/validation/", WORKLIST))
register(Route("validation:worklist_csv", lambda s: "/validation/findings.csv", WORKLIST))
register(Route("validation:run", lambda s: "/validation/run/", frozenset({Role.VALIDATOR, Role.WAITING_LIST_MANAGER}),
               method="post", data=lambda s: {}))


def _setup(s):
    if "own_pathway" not in s:
        s["own_pathway"] = pathway_at(s["own"], s["own_patient"])
        s["other_pathway"] = pathway_at(s["other"], s["other_patient"])


register(Route("validation:tasks", lambda s: "/validation/tasks/", WORKLIST))
register(Route("validation:pathway", lambda s: f"/validation/pathways/{s['own_pathway'].pk}/", WORKLIST, setup=_setup,
               other_url=lambda s: f"/validation/pathways/{s['other_pathway'].pk}/"))
register(Route("validation:dashboard", lambda s: "/validation/dashboard/", WORKLIST))
register(Route("validation:digital_batches", lambda s: "/validation/digital/", WORKLIST))
