"""The Auditor: the one way audit rows are written.

Every service action and every view of a patient record writes an `AuditLog` row through an
Auditor. An Auditor must know who acted: a user or a named system job. It refuses otherwise.
Snapshots never include fields listed in EXCLUDED_FIELDS (secrets).
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable

from django.db import models
from django.utils import timezone

from carecoord.core.middleware import current_request_id
from carecoord.core.models import AuditLog, Organisation

EXCLUDED_FIELDS = {"password", "key_hash", "token_hash"}


class AnonymousAuditError(RuntimeError):
    """Raised when an audit row would have no actor and no system job."""


def _jsonable(value):
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict:
    data = {}
    for f in obj._meta.concrete_fields:
        if f.name in EXCLUDED_FIELDS or (fields is not None and f.name not in fields):
            continue
        data[f.attname] = _jsonable(getattr(obj, f.attname))
    return data


def object_type(obj_or_label) -> str:
    if isinstance(obj_or_label, str):
        return obj_or_label
    return obj_or_label._meta.label_lower


class Auditor:
    def __init__(self, actor=None, *, system_job: str = "", organisation: Organisation | None = None,
                 request_id: str | None = None):
        if actor is not None and not getattr(actor, "is_authenticated", False):
            actor = None
        if actor is None and not system_job:
            raise AnonymousAuditError("an audit row needs an actor or a system job")
        self.actor = actor
        self.system_job = system_job
        self.organisation = organisation
        self.request_id = request_id or current_request_id() or ""

    @classmethod
    def from_request(cls, request) -> Auditor:
        return cls(request.user, organisation=getattr(request, "organisation", None),
                   request_id=getattr(request, "request_id", None))

    @classmethod
    def system(cls, job: str, organisation: Organisation | None = None) -> Auditor:
        return cls(None, system_job=job, organisation=organisation)

    def _write(self, action, obj, *, before=None, after=None, summary="", object_id=None) -> AuditLog:
        return AuditLog.objects.create(
            actor=self.actor, system_job=self.system_job, action=action,
            object_type=object_type(obj),
            object_id=str(object_id if object_id is not None else getattr(obj, "pk", "") or ""),
            organisation=self.organisation, request_id=self.request_id or "",
            before=before, after=after, summary=summary[:300],
        )

    def insert_sql(self, action: str, label: str, *, object_id, summary_sql: str) -> tuple[str, dict]:
        """This auditor's row as an INSERT to run inside the statement that makes the change (a
        data-modifying CTE), so the change and its audit row are one statement: both or neither, in one
        round trip. `summary_sql` is an SQL text expression (it may read the statement's other CTEs);
        the parameters are named `audit_*`."""
        return ("""INSERT INTO core_auditlog (at, actor_id, system_job, action, object_type, object_id, organisation_id,
                                             request_id, summary)
                   SELECT %(audit_at)s, %(audit_actor)s, %(audit_job)s, %(audit_action)s, %(audit_type)s,
                          %(audit_object)s, %(audit_org)s, %(audit_request)s, left(""" + summary_sql + """, 300)""",
                {"audit_at": timezone.now(), "audit_actor": getattr(self.actor, "pk", None), "audit_job": self.system_job,
                 "audit_action": action, "audit_type": label, "audit_object": str(object_id),
                 "audit_org": getattr(self.organisation, "pk", None), "audit_request": self.request_id or ""})

    def create(self, obj, summary: str = "") -> AuditLog:
        return self._write(AuditLog.Action.CREATE, obj, after=snapshot(obj), summary=summary)

    def update(self, obj, before: dict, summary: str = "") -> AuditLog:
        after = snapshot(obj)
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        return self._write(AuditLog.Action.UPDATE, obj, before={k: before.get(k) for k in changed},
                           after=changed, summary=summary)

    def delete(self, obj, summary: str = "") -> AuditLog:
        if obj.pk is None:
            raise ValueError("audit a delete before the row is deleted")
        return self._write(AuditLog.Action.DELETE, obj, before=snapshot(obj), summary=summary)

    def view(self, obj, summary: str = "") -> AuditLog:
        return self._write(AuditLog.Action.VIEW, obj, summary=summary)

    def event(self, action: str, obj, *, object_id=None, summary: str = "", after: dict | None = None) -> AuditLog:
        """Any other action (export, import, login...) on an object or a named thing."""
        return self._write(action, obj, object_id=object_id, summary=summary, after=_jsonable(after))

    def bulk(self, action: str, label: str, ids: Iterable, summary: str = "") -> int:
        rows = [
            AuditLog(actor=self.actor, system_job=self.system_job, action=action, object_type=label,
                     object_id=str(i), organisation=self.organisation, request_id=self.request_id or "",
                     summary=summary[:300])
            for i in ids
        ]
        AuditLog.objects.bulk_create(rows, batch_size=5000)
        return len(rows)
