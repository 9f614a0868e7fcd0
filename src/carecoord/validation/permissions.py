"""Validation permissions (django-rules predicates), registered when the app is ready."""

import rules

from carecoord.core.models import Role
from carecoord.core.permissions import has_role

WORKLIST_ROLES = has_role(Role.VALIDATOR, Role.WAITING_LIST_MANAGER, Role.CLINICIAN, Role.SCHEDULER)

rules.add_perm("validation.view_worklist", WORKLIST_ROLES)
rules.add_perm("validation.run", has_role(Role.VALIDATOR, Role.WAITING_LIST_MANAGER))
rules.add_perm("validation.record_contact", has_role(Role.VALIDATOR, Role.WAITING_LIST_MANAGER, Role.SCHEDULER,
                                                     Role.CLINICIAN))
rules.add_perm("validation.decide", has_role(Role.CLINICIAN))
