import pytest

from carecoord.core.models import Role
from carecoord.testing.factories import user_with_roles


@pytest.mark.django_db
def test_home_shows_the_current_organisation_and_roles(wlm_client, trust):
    r = wlm_client.get("/")
    assert r.status_code == 200
    assert trust.name.encode() in r.content
    assert b"Waiting-list manager" in r.content


@pytest.mark.django_db
def test_switch_organisation(client, trust, other_trust):
    from carecoord.core.models import RoleAssignment

    user = user_with_roles(trust, Role.ANALYST)
    RoleAssignment.objects.create(user=user, organisation=other_trust, roles=[Role.CLINICIAN])
    client.force_login(user)
    assert b"Alpha Hospitals" in client.get("/").content
    r = client.post("/organisation/switch/", {"organisation": other_trust.pk})
    assert r.status_code == 302
    page = client.get("/").content
    assert b"Beta Hospitals" in page and b"Clinician" in page


@pytest.mark.django_db
def test_cannot_switch_to_an_organisation_without_a_role(client, trust, other_trust):
    user = user_with_roles(trust, Role.ANALYST)
    client.force_login(user)
    r = client.post("/organisation/switch/", {"organisation": other_trust.pk})
    assert r.status_code == 200  # form error, stays put
    assert b"Alpha Hospitals" in client.get("/").content


@pytest.mark.django_db
def test_styled_404_page(wlm_client):
    r = wlm_client.get("/no-such-page/")
    assert r.status_code == 404
    assert b"Page not found" in r.content and b"nhsuk-header" in r.content


@pytest.mark.django_db
def test_user_with_no_roles_is_told_so(client):
    from carecoord.testing.factories import UserFactory

    client.force_login(UserFactory())
    r = client.get("/")
    assert r.status_code == 403 and b"do not have a role" in r.content
