"""Permissions as django-rules predicates over the roles a user holds at an organisation.

Check with ``request.user.has_perm(PERM, request.organisation)``; views use the
``permission_required`` decorator below. Roles are per organisation, never global.
"""

from __future__ import annotations

import functools

import rules
from django.core.exceptions import PermissionDenied

from carecoord.core.models import Role


def has_role(*roles: str):
    wanted = frozenset(roles)

    @rules.predicate(name=f"has_role({','.join(sorted(wanted))})")
    def predicate(user, organisation) -> bool:
        if organisation is None or not user.is_authenticated:
            return False
        return bool(user.roles_at(organisation) & wanted)

    return predicate


ANY_ROLE = has_role(*Role.values)
PATIENT_ROLES = has_role(
    Role.WAITING_LIST_MANAGER, Role.SCHEDULER, Role.CLINICIAN, Role.VALIDATOR, Role.HUB_COORDINATOR,
    Role.DISCHARGE_COORDINATOR,
)

rules.add_perm("core.view_home", ANY_ROLE)
rules.add_perm("core.view_patient", PATIENT_ROLES)
rules.add_perm("core.view_jobs", ANY_ROLE)
rules.add_perm("core.manage_organisation", has_role(Role.ORG_ADMIN))
rules.add_perm("core.manage_api_tokens", has_role(Role.ORG_ADMIN))


def permission_required(perm: str):
    """View decorator: the user must hold `perm` at the current organisation (403 otherwise)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.has_perm(perm, getattr(request, "organisation", None)):
                raise PermissionDenied(perm)
            return view(request, *args, **kwargs)

        wrapped.required_permission = perm
        return wrapped

    return decorator
