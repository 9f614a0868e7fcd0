"""Escalation routes in the access matrix."""

from carecoord.core.models import Role
from carecoord.testing.access import Route, register

register(Route("escalation:log", lambda s: "/coordination/escalation/", frozenset({Role.SCC_OPERATOR, Role.ANALYST})))
register(Route("escalation:sitrep", lambda s: "/coordination/escalation/sitrep/", frozenset({Role.SCC_OPERATOR, Role.ANALYST})))
register(Route("escalation:mutual_aid", lambda s: "/coordination/escalation/mutual-aid/", frozenset({Role.SCC_OPERATOR, Role.ANALYST, Role.ORG_ADMIN, Role.DISCHARGE_COORDINATOR})))
register(Route("escalation:rota", lambda s: "/coordination/escalation/rota/", frozenset({Role.SCC_OPERATOR, Role.ANALYST}),
               patient_level=False))
