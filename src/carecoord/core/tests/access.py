"""Core routes in the access matrix."""

from carecoord.core.models import Role
from carecoord.core.permissions import PATIENT_ROLES  # noqa: F401 - documents the source of the set
from carecoord.testing.access import Route, register

ALL = frozenset(Role.values)
PATIENT = frozenset({Role.WAITING_LIST_MANAGER, Role.SCHEDULER, Role.CLINICIAN, Role.VALIDATOR,
                     Role.HUB_COORDINATOR, Role.DISCHARGE_COORDINATOR})

register(Route("core:home", lambda s: "/", ALL, patient_level=False))
register(Route("core:jobs", lambda s: "/jobs/", ALL, patient_level=False))
register(Route("core:switch_organisation", lambda s: "/organisation/switch/", ALL, patient_level=False))
register(Route("core:patient_detail", lambda s: f"/patients/{s['own_patient'].pk}/", PATIENT,
               other_url=lambda s: f"/patients/{s['other_patient'].pk}/"))
register(Route("api:me", lambda s: "/api/v1/me", ALL, api=True, patient_level=False))
register(Route("api:organisations", lambda s: "/api/v1/organisations", ALL, api=True, patient_level=False))
