"""Validation routes in the access matrix."""

from carecoord.core.models import Role
from carecoord.testing.access import Route, register

WORKLIST = frozenset({Role.VALIDATOR, Role.WAITING_LIST_MANAGER, Role.CLINICIAN, Role.SCHEDULER})

register(Route("validation:worklist", lambda s: "/validation/", WORKLIST))
register(Route("validation:worklist_csv", lambda s: "/validation/findings.csv", WORKLIST))
register(Route("validation:run", lambda s: "/validation/run/", frozenset({Role.VALIDATOR, Role.WAITING_LIST_MANAGER}),
               method="post", data=lambda s: {}))
