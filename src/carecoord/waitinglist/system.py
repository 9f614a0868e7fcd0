"""The system-wide PTL: the merged list an ICB or hub sees across the providers that granted it
patient-level access, and the "possible duplicate or transfer" check.

Scope is always `Organisation.patient_scope_ids()` (the organisation itself plus active
patient-level `DataSharingGrant`s): an ICB without a grant sees no patients; a trust sees only its
own list and is never told about another provider's. The duplicate check is one set-based query
over the pathways in scope (reference §4.2 T21: the same patient on two providers' lists for the
same treatment function is a duplicate referral or a mutual-aid transfer that was not closed).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, OuterRef

from carecoord.core.models import Organisation
from carecoord.waitinglist.models import Pathway, PathwayStatus

DUPLICATE_LABEL = "Possible duplicate or transfer"


def visible_providers(organisation: Organisation | None, scope_ids: list[int]) -> list[Organisation]:
    """The providers whose lists a user acting for `organisation` (patient scope `scope_ids`) sees, by name."""
    if organisation is None:
        return []
    ids = scope_ids
    if len(ids) < 2:
        return [organisation]
    has_list = Exists(Pathway.objects.filter(provider_id=OuterRef("pk")))
    return list(Organisation.objects.filter(has_list, pk__in=ids).order_by("name"))


@dataclass(frozen=True)
class DuplicateGroup:
    tfc: str
    providers: tuple[str, ...]  # ODS codes, sorted
    patients: int


_GROUPS_SQL = f"""
WITH on_two AS (
    SELECT patient_id, tfc, array_agg(DISTINCT provider_id ORDER BY provider_id) AS providers
    FROM {Pathway._meta.db_table}
    WHERE status = %s AND provider_id = ANY(%s)
    GROUP BY patient_id, tfc
    HAVING count(DISTINCT provider_id) > 1
)
SELECT tfc, providers, count(*) AS patients FROM on_two
GROUP BY tfc, providers
ORDER BY patients DESC, tfc, providers
"""


def duplicate_groups(scope_ids: list[int]) -> list[DuplicateGroup]:
    """Patients on more than one visible provider's list for the same treatment function, counted
    per treatment function and set of providers (aggregate: no patient identifiers)."""
    if len(scope_ids) < 2:
        return []
    with connection.cursor() as cur:
        cur.execute(_GROUPS_SQL, [PathwayStatus.ON_LIST, list(scope_ids)])
        rows = cur.fetchall()
    codes = dict(Organisation.objects.filter(pk__in=scope_ids).values_list("pk", "ods_code"))
    return [DuplicateGroup(tfc, tuple(sorted(codes[p] for p in providers)), n) for tfc, providers, n in rows]


@dataclass(frozen=True)
class DuplicateSummary:
    patients: int
    groups: list[DuplicateGroup]

    @property
    def shown(self) -> list[DuplicateGroup]:
        return self.groups[:10]


def duplicate_summary(scope_ids: list[int]) -> DuplicateSummary | None:
    """For a system view (several organisations in scope): how many patients are possibly duplicated or
    transferred, and where."""
    if len(scope_ids) < 2:
        return None
    groups = duplicate_groups(scope_ids)
    return DuplicateSummary(sum(g.patients for g in groups), groups)
