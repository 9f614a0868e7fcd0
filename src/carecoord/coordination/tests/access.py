"""SCC routes in the access matrix (aggregate operational data: the board is per system)."""

from carecoord.core.models import Role
from carecoord.testing.access import Route, register

BOARD = frozenset({Role.SCC_OPERATOR, Role.ANALYST})

register(Route("coordination:board", lambda s: "/coordination/", BOARD))
register(Route("coordination:alert_rules", lambda s: "/coordination/alert-rules/", BOARD))
register(Route("coordination:upload", lambda s: "/coordination/upload/", frozenset({Role.SCC_OPERATOR, Role.ORG_ADMIN}),
               patient_level=False))
