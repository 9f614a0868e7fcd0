"""The system-wide PTL: an ICB with patient-level grants sees its providers' merged list, and the same
patient on two providers' lists for one treatment function is flagged (reference §4.2 T21)."""

import pytest

from carecoord.core.models import DataSharingGrant, Role
from carecoord.testing.factories import pathway_at, patient_at, user_with_roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(icb, trust, other_trust):
    for grantor in (trust, other_trust):
        DataSharingGrant.objects.create(grantor=grantor, grantee=icb, scope=DataSharingGrant.Scope.PATIENT,
                                        purpose="system PTL")
    shared = patient_at(trust)
    a = pathway_at(trust, shared, tfc="110")
    b = pathway_at(other_trust, shared, tfc="110")
    c = pathway_at(other_trust, shared, tfc="130")
    d = pathway_at(trust, patient_at(trust), tfc="110")
    return a, b, c, d


def test_icb_with_grants_sees_the_merged_list_with_duplicates_flagged(client, icb, world):
    a, b, c, d = world
    client.force_login(user_with_roles(icb, Role.HUB_COORDINATOR))
    body = client.get("/waiting-list/").content.decode()
    assert all(p.ppid in body for p in world)
    assert body.count("Also on another provider") == 2  # a and b; not c (other TFC), not d
    only = client.get("/waiting-list/", {"duplicates": "only"}).content.decode()
    assert a.ppid in only and b.ppid in only and c.ppid not in only and d.ppid not in only


def test_without_a_grant_an_icb_sees_no_patients(client, icb, world):
    DataSharingGrant.objects.all().delete()
    client.force_login(user_with_roles(icb, Role.HUB_COORDINATOR))
    body = client.get("/waiting-list/").content.decode()
    assert not any(p.ppid in body for p in world)


def test_a_trust_sees_only_its_own_list(client, trust, world):
    a, b, c, d = world
    client.force_login(user_with_roles(trust, Role.WAITING_LIST_MANAGER))
    body = client.get("/waiting-list/").content.decode()
    assert a.ppid in body and d.ppid in body and b.ppid not in body and c.ppid not in body


def test_a_trust_is_not_told_about_another_providers_list(client, trust, world):
    client.force_login(user_with_roles(trust, Role.WAITING_LIST_MANAGER))
    assert "Also on another provider" not in client.get("/waiting-list/").content.decode()
