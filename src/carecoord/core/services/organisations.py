"""Organisation actions."""

from __future__ import annotations

import re

from django.db import transaction

from carecoord.core.models import Organisation, OrganisationKind
from carecoord.core.services.audit import Auditor

ODS_RE = re.compile(r"^[A-Z0-9]{3,12}$")


class OrganisationError(ValueError):
    pass


@transaction.atomic
def register(*, ods_code: str, name: str, kind: str, parent_ods: str | None = None,
             auditor: Auditor | None = None, **extra) -> tuple[Organisation, bool]:
    """Register an organisation; idempotent: the same ODS code with the same details changes nothing."""
    ods_code = (ods_code or "").strip().upper()
    if not ODS_RE.match(ods_code):
        raise OrganisationError(f"ODS code {ods_code!r} must be 3 to 12 letters or digits")
    if kind not in OrganisationKind.values:
        raise OrganisationError(f"kind {kind!r} must be one of {', '.join(OrganisationKind.values)}")
    if not name.strip():
        raise OrganisationError("name must not be empty")
    parent = None
    if parent_ods:
        parent = Organisation.objects.filter(ods_code=parent_ods.strip().upper()).first()
        if parent is None:
            raise OrganisationError(f"parent organisation {parent_ods!r} is not registered")
    auditor = auditor or Auditor.system("orgs-add")
    existing = Organisation.objects.select_for_update().filter(ods_code=ods_code).first()
    if existing is None:
        org = Organisation.objects.create(ods_code=ods_code, name=name.strip(), kind=kind, parent=parent, **extra)
        auditor.create(org)
        return org, True
    from carecoord.core.services.audit import snapshot

    before = snapshot(existing)
    changed = False
    for field, value in {"name": name.strip(), "kind": kind, "parent": parent, **extra}.items():
        if getattr(existing, field) != value:
            setattr(existing, field, value)
            changed = True
    if changed:
        existing.save()
        auditor.update(existing, before)
    return existing, False
