"""Waiting-list routes in the access matrix."""

from carecoord.core.models import Role
from carecoord.testing.access import Route, register
from carecoord.testing.factories import pathway_at

PTL = frozenset({Role.WAITING_LIST_MANAGER, Role.SCHEDULER, Role.CLINICIAN, Role.VALIDATOR, Role.HUB_COORDINATOR})
EXPORT = frozenset({Role.WAITING_LIST_MANAGER, Role.SCHEDULER, Role.HUB_COORDINATOR})


def _setup(s):
    if "own_pathway" not in s:
        s["own_pathway"] = pathway_at(s["own"], s["own_patient"])
        s["other_pathway"] = pathway_at(s["other"], s["other_patient"])


register(Route("waitinglist:ptl", lambda s: "/waiting-list/", PTL, setup=_setup))
register(Route("waitinglist:ptl_export", lambda s: "/waiting-list/export.csv", EXPORT, setup=_setup))
register(Route("waitinglist:pathway", lambda s: f"/waiting-list/pathways/{s['own_pathway'].pk}/", PTL, setup=_setup,
               other_url=lambda s: f"/waiting-list/pathways/{s['other_pathway'].pk}/"))
register(Route("waitinglist:add_note", lambda s: f"/waiting-list/pathways/{s['own_pathway'].pk}/notes/",
               frozenset({Role.WAITING_LIST_MANAGER, Role.SCHEDULER, Role.CLINICIAN, Role.VALIDATOR}),
               method="post", data=lambda s: {"text": "called patient"}, setup=_setup,
               other_url=lambda s: f"/waiting-list/pathways/{s['other_pathway'].pk}/notes/"))
register(Route("waitinglist:set_priority", lambda s: f"/waiting-list/pathways/{s['own_pathway'].pk}/priority/",
               frozenset({Role.CLINICIAN}), method="post", data=lambda s: {"priority": "P3", "reason": "reviewed"},
               setup=_setup, other_url=lambda s: f"/waiting-list/pathways/{s['other_pathway'].pk}/priority/"))
register(Route("api:waitinglist_ptl", lambda s: "/api/v1/waiting-list/ptl", PTL, api=True, setup=_setup))
register(Route("api:waitinglist_pathway", lambda s: f"/api/v1/waiting-list/pathways/{s['own_pathway'].pk}", PTL,
               api=True, setup=_setup, other_url=lambda s: f"/api/v1/waiting-list/pathways/{s['other_pathway'].pk}"))

REPORTS = frozenset({Role.WAITING_LIST_MANAGER, Role.ANALYST, Role.CLINICIAN, Role.SCHEDULER, Role.HUB_COORDINATOR})
register(Route("waitinglist:rtt_report", lambda s: "/waiting-list/reports/rtt/", REPORTS, setup=_setup))
register(Route("waitinglist:rtt_report_csv", lambda s: "/waiting-list/reports/rtt.csv", REPORTS, setup=_setup))
register(Route("api:waitinglist_patient_fhir", lambda s: f"/api/v1/waiting-list/patients/{s['own_patient'].pk}/fhir",
               PTL, api=True, setup=_setup,
               other_url=lambda s: f"/api/v1/waiting-list/patients/{s['other_patient'].pk}/fhir"))
