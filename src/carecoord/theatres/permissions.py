"""Theatre permissions (django-rules), registered when the app is ready."""

import rules

from carecoord.core.models import Role
from carecoord.core.permissions import has_role

rules.add_perm("theatres.view", has_role(Role.SCHEDULER, Role.CLINICIAN, Role.WAITING_LIST_MANAGER))
rules.add_perm("theatres.book", has_role(Role.SCHEDULER))
