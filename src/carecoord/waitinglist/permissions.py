"""Waiting-list permissions (django-rules predicates), registered when the app is ready."""

import rules

from carecoord.core.models import Role
from carecoord.core.permissions import has_role

PTL_ROLES = has_role(Role.WAITING_LIST_MANAGER, Role.SCHEDULER, Role.CLINICIAN, Role.VALIDATOR,
                     Role.HUB_COORDINATOR)

# Who may change a pathway at its provider (the services check these on the pathway's provider too).
PRIORITY_ROLES = frozenset({Role.CLINICIAN})
REMOVE_ROLES = frozenset({Role.CLINICIAN})
TCI_ROLES = frozenset({Role.WAITING_LIST_MANAGER, Role.SCHEDULER})

rules.add_perm("waitinglist.view_ptl", PTL_ROLES)
rules.add_perm("waitinglist.view_pathway", PTL_ROLES)
rules.add_perm("waitinglist.export_ptl", has_role(Role.WAITING_LIST_MANAGER, Role.SCHEDULER, Role.HUB_COORDINATOR))
rules.add_perm("waitinglist.set_priority", has_role(*PRIORITY_ROLES))
rules.add_perm("waitinglist.remove", has_role(*REMOVE_ROLES))
rules.add_perm("waitinglist.record_tci", has_role(*TCI_ROLES))
rules.add_perm("waitinglist.add_note", has_role(Role.WAITING_LIST_MANAGER, Role.SCHEDULER, Role.CLINICIAN,
                                                Role.VALIDATOR))
rules.add_perm("waitinglist.import", has_role(Role.WAITING_LIST_MANAGER, Role.ORG_ADMIN))
rules.add_perm("waitinglist.manage_profiles", has_role(Role.WAITING_LIST_MANAGER, Role.ORG_ADMIN))
rules.add_perm("waitinglist.view_reports", has_role(Role.WAITING_LIST_MANAGER, Role.ANALYST, Role.CLINICIAN,
                                                    Role.SCHEDULER, Role.HUB_COORDINATOR))
