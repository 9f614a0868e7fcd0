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


@pytest.mark.django_db
@pytest.mark.parametrize("state, bar, label", [
    ("running", True, "Progress: 11 of 13 (84%)"),
    ("failed", True, "Progress when it stopped: 11 of 13 (84%)"),
    ("succeeded", False, None),
])
def test_job_page_progress_bar_follows_the_state(wlm_client, trust, state, bar, label):
    """A succeeded job whose last progress report was 11 of 13 shows no part-filled bar."""
    from carecoord.core.models import Job

    job = Job.objects.create(kind="theatre_plan", title="Assisted scheduling", organisation=trust, state=state,
                             progress_done=11, progress_total=13, message="Done" if state == "succeeded" else "")
    page = wlm_client.get(f"/jobs/{job.pk}/").content.decode()
    assert ('id="job-progress"' in page) is bar
    if label:
        assert label in page
    else:
        assert "84%" not in page
    listing = wlm_client.get("/jobs/").content.decode()
    assert ("Complete" in listing) is (state == "succeeded")


@pytest.mark.parametrize(("text", "expected"), [("12", 12), (" 7 ", 7), ("", None), (None, None), ("-1", None),
                                                ("²", None), ("١٢", None), ("1e3", None), (str(2**63), None),
                                                (str(2**63 - 1), 2**63 - 1)])
def test_a_posted_id_is_a_bigint_or_nothing(text, expected):
    from carecoord.core.forms import posted_id

    assert posted_id(text) == expected
