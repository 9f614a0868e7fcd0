"""Core API: health, the current identity, organisations."""

from __future__ import annotations

from django.db import connection
from ninja import Router, Schema

from carecoord.core.models import Organisation

router = Router(tags=["core"])


class HealthOut(Schema):
    status: str
    database: str


@router.get("/health", auth=None, response=HealthOut, summary="Liveness and database check")
def health(request):
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        db = "ok"
    except Exception:  # noqa: BLE001 - health must answer, not raise
        db = "unavailable"
    return {"status": "ok" if db == "ok" else "degraded", "database": db}


class OrganisationOut(Schema):
    ods_code: str
    name: str
    kind: str
    parent: str | None


class WhoAmIOut(Schema):
    principal: str
    organisation: OrganisationOut | None
    roles: list[str]


def _org_out(o: Organisation | None):
    if o is None:
        return None
    return {"ods_code": o.ods_code, "name": o.name, "kind": o.kind,
            "parent": o.parent.ods_code if o.parent_id else None}


@router.get("/me", response=WhoAmIOut, summary="Who the request is authenticated as")
def me(request):
    org = getattr(request, "organisation", None)
    return {"principal": getattr(request.auth, "username", "unknown"), "organisation": _org_out(org),
            "roles": sorted(getattr(request, "roles", set()))}


@router.get("/organisations", response=list[OrganisationOut], summary="Organisations (no patient data)")
def organisations(request, kind: str | None = None):
    qs = Organisation.objects.select_related("parent").filter(active=True)
    if kind:
        qs = qs.filter(kind=kind)
    return [_org_out(o) for o in qs]
