"""SCC permissions (django-rules), registered when the app is ready."""

import rules

from carecoord.core.models import Role
from carecoord.core.permissions import has_role

rules.add_perm("coordination.view_board", has_role(Role.SCC_OPERATOR, Role.ANALYST))
rules.add_perm("coordination.submit_readings", has_role(Role.SCC_OPERATOR, Role.ORG_ADMIN))
rules.add_perm("coordination.act", has_role(Role.SCC_OPERATOR))
