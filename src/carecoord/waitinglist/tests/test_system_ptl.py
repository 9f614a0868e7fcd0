"""The system-wide PTL: an ICB or hub with patient-level grants sees its providers' merged list with a
provider column and filter, and the same patient on two providers' lists for one treatment function is
flagged "possible duplicate or transfer" (reference §4.2 T21)."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from carecoord.core.models import DataSharingGrant, Role
from carecoord.testing.factories import OrganisationFactory, pathway_at, patient_at, user_with_roles
from carecoord.waitinglist import system

pytestmark = pytest.mark.django_db
BADGE = "Possible duplicate or transfer</strong>"


def _grant(grantor, grantee, scope=DataSharingGrant.Scope.PATIENT, **kw):
    return DataSharingGrant.objects.create(grantor=grantor, grantee=grantee, scope=scope, purpose="system PTL", **kw)


@pytest.fixture
def world(icb, trust, other_trust):
    for grantor in (trust, other_trust):
        _grant(grantor, icb)
    shared = patient_at(trust)
    a = pathway_at(trust, shared, tfc="110")
    b = pathway_at(other_trust, shared, tfc="110")
    c = pathway_at(other_trust, shared, tfc="130")
    d = pathway_at(trust, patient_at(trust), tfc="110")
    return a, b, c, d


@pytest.fixture
def icb_client(client, icb):
    client.force_login(user_with_roles(icb, Role.HUB_COORDINATOR))
    return client


def _body(client, **params):
    r = client.get("/waiting-list/", params)
    assert r.status_code == 200
    return r.content.decode()


def _flagged_rows(body):
    """PPIDs of the table rows that carry the badge."""
    rows = body.split('<tr class="nhsuk-table__row">')[1:]
    return {row.split("</a>")[0].rsplit(">", 1)[1] for row in rows if BADGE in row}


def test_icb_with_grants_sees_the_merged_list_with_duplicates_flagged(icb_client, world):
    a, b, c, d = world
    body = _body(icb_client)
    assert all(p.ppid in body for p in world)
    assert ">RAA<" in body and ">RBB<" in body  # the provider column
    assert _flagged_rows(body) == {a.ppid, b.ppid}  # same TFC at two providers; not c (other TFC), not d
    only = _body(icb_client, duplicates="only")
    assert a.ppid in only and b.ppid in only and c.ppid not in only and d.ppid not in only


def test_the_provider_filter_offers_the_visible_providers(icb_client, world, trust, other_trust):
    a, b, c, d = world
    body = _body(icb_client)
    assert f"{trust.name} (RAA)" in body and f"{other_trust.name} (RBB)" in body and "All providers" in body
    theirs = _body(icb_client, provider="RBB")
    assert b.ppid in theirs and c.ppid in theirs and a.ppid not in theirs and d.ppid not in theirs
    assert _flagged_rows(theirs) == {b.ppid}  # still flagged: the other list is visible, just filtered out
    bad = _body(icb_client, provider="RZZ")
    assert "There is a problem" in bad and not any(p.ppid in bad for p in world)


def test_the_duplicate_summary_counts_patients_by_treatment_function_and_providers(icb, world, icb_client):
    groups = system.duplicate_groups(icb.patient_scope_ids())
    assert groups == [system.DuplicateGroup("110", ("RAA", "RBB"), 1)]
    body = _body(icb_client, duplicates="only")
    assert 'id="duplicate-summary"' in body and "1 patient on more than one provider" in body
    assert 'id="duplicate-summary"' not in _body(icb_client)  # the GROUP BY runs only when asked for


def test_a_patient_on_three_lists_is_one_group(icb, trust, other_trust, world):
    third = OrganisationFactory(ods_code="RCC", name="Gamma Hospitals NHS Trust", parent=icb)
    _grant(third, icb)
    a = world[0]
    pathway_at(third, a.patient, tfc="110")
    assert system.duplicate_groups(icb.patient_scope_ids()) == [system.DuplicateGroup("110", ("RAA", "RBB", "RCC"), 1)]


def test_a_list_entry_that_has_left_the_list_is_not_a_duplicate(icb_client, world):
    a, b, c, d = world
    b.status = "removed"
    b.save()
    assert _flagged_rows(_body(icb_client)) == set()


def test_without_a_grant_an_icb_sees_no_patients(icb_client, world):
    DataSharingGrant.objects.all().delete()
    body = _body(icb_client)
    assert not any(p.ppid in body for p in world)
    assert 'id="system-list"' not in body


@pytest.mark.parametrize("grant", ["aggregate", "expired"])
def test_an_aggregate_or_expired_grant_shows_no_patients(client, icb, trust, other_trust, grant):
    p = pathway_at(trust, patient_at(trust))
    if grant == "aggregate":
        _grant(trust, icb, scope=DataSharingGrant.Scope.AGGREGATE)
    else:
        _grant(trust, icb, starts_on=timezone.localdate() - timedelta(days=30),
               ends_on=timezone.localdate() - timedelta(days=1))
    client.force_login(user_with_roles(icb, Role.HUB_COORDINATOR))
    assert p.ppid not in _body(client)


def test_a_trust_sees_only_its_own_list(client, trust, world):
    a, b, c, d = world
    client.force_login(user_with_roles(trust, Role.WAITING_LIST_MANAGER))
    body = _body(client)
    assert a.ppid in body and d.ppid in body and b.ppid not in body and c.ppid not in body


def test_a_trust_is_not_told_about_another_providers_list(client, trust, world):
    client.force_login(user_with_roles(trust, Role.WAITING_LIST_MANAGER))
    body = _body(client)
    assert BADGE not in body and 'id="system-list"' not in body
    assert not any(p.ppid in _body(client, duplicates="only") for p in world)
    assert system.duplicate_groups(trust.patient_scope_ids()) == []


def test_a_hub_sees_only_the_providers_that_granted_it(client, icb, trust, other_trust, world):
    a, b, c, d = world
    hub = OrganisationFactory(ods_code="HUB1", name="Elective hub", parent=icb)
    _grant(trust, hub)
    client.force_login(user_with_roles(hub, Role.HUB_COORDINATOR))
    body = _body(client)
    assert a.ppid in body and d.ppid in body and b.ppid not in body and c.ppid not in body
    assert _flagged_rows(body) == set()  # b's list is not visible to the hub, so a is not flagged


def test_api_flags_and_filters_duplicates(icb_client, world):
    a, b, c, d = world
    r = icb_client.get("/api/v1/waiting-list/ptl")
    assert r.status_code == 200
    flags = {row["ppid"]: (row["provider"], row["possible_duplicate"]) for row in r.json()["results"]}
    assert flags == {a.ppid: ("RAA", True), b.ppid: ("RBB", True), c.ppid: ("RBB", False), d.ppid: ("RAA", False)}
    only = icb_client.get("/api/v1/waiting-list/ptl", {"duplicates": "only"}).json()["results"]
    assert {row["ppid"] for row in only} == {a.ppid, b.ppid}


def test_system_export_carries_provider_and_duplicate_columns(icb_client, client, trust, world):
    a, b, c, d = world
    r = icb_client.get("/waiting-list/export.csv")
    rows = {row["ppid"]: row for row in csv.DictReader(io.StringIO(r.content.decode()))}
    assert {p: (rows[p]["provider"], rows[p]["possible_duplicate"]) for p in rows} == {
        a.ppid: ("RAA", "yes"), b.ppid: ("RBB", "yes"), c.ppid: ("RBB", ""), d.ppid: ("RAA", "")}
    client.force_login(user_with_roles(trust, Role.WAITING_LIST_MANAGER))
    header = client.get("/waiting-list/export.csv").content.decode().splitlines()[0]
    assert "possible_duplicate" not in header


def test_the_possible_duplicates_filter_shows_its_exact_count(icb_client, world, monkeypatch):
    """PostgreSQL overestimates the possible-duplicates filter badly (on the demo: "about 24,681" for
    144 rows, with hundreds of empty pages), so that filter is always counted exactly; other large
    lists keep the estimate."""
    from carecoord.waitinglist import ptl

    monkeypatch.setattr(ptl, "planner_estimate", lambda qs: 1_000_000)
    body = _body(icb_client, duplicates="only")
    assert "2 open pathways match" in body and "About 2 " not in body
    assert icb_client.get("/api/v1/waiting-list/ptl", {"duplicates": "only"}).json()["count"] == 2
    assert "About 1,000,000 open pathways match" in _body(icb_client)


def test_a_trusts_own_list_refuses_the_duplicates_filter_instead_of_showing_nothing(client, trust, world):
    """One provider's list has nothing to compare with: "possible duplicates only" on it is an error
    naming why, not an empty list that reads as "no duplicates"."""
    client.force_login(user_with_roles(trust, Role.WAITING_LIST_MANAGER))
    body = _body(client, duplicates="only")
    assert "There is a problem" in body and "system-wide list only" in body
    assert "0 open pathways match" not in body
    assert 'href="#id_duplicates"' in body and 'id="id_duplicates"' in body  # the summary links to the field
    # The API refuses it too (it built the form without the providers in view, so it answered an empty page).
    r = client.get("/api/v1/waiting-list/ptl", {"duplicates": "only"})
    assert r.status_code == 422 and "system-wide list only" in r.json()["detail"]
