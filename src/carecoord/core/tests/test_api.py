import pytest

from carecoord.core.models import ApiToken, Role
from carecoord.core.services import api_tokens


@pytest.mark.django_db
def test_health_needs_no_auth(client):
    r = client.get("/api/v1/health")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
def test_token_auth_and_hashed_at_rest(client, trust, wlm):
    token, key = api_tokens.issue(name="PAS nightly", organisation=trust, roles=[Role.WAITING_LIST_MANAGER],
                                  created_by=wlm)
    stored = ApiToken.objects.get(pk=token.pk)
    assert key not in (stored.key_hash, stored.prefix) and stored.key_hash == ApiToken.hash_key(key)
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    assert r.json()["organisation"]["ods_code"] == trust.ods_code
    assert r.json()["roles"] == ["waiting_list_manager"]


@pytest.mark.django_db
def test_bad_revoked_and_missing_tokens_are_401(client, trust, wlm):
    token, key = api_tokens.issue(name="x", organisation=trust, roles=[], created_by=wlm)
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer cc_nope_nope"}).status_code == 401
    api_tokens.revoke(token, by=wlm)
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401 and r["Content-Type"] == "application/problem+json"


@pytest.mark.django_db
def test_a_post_without_a_valid_token_is_401_not_a_csrf_failure(trust, wlm):
    """A provider's nightly job POSTing with an expired or revoked token must be told so (401), not
    "CSRF check Failed"; a logged-in browser session posting without its CSRF token is still refused."""
    from django.test import Client

    token, key = api_tokens.issue(name="nightly", organisation=trust, roles=[Role.WAITING_LIST_MANAGER],
                                  created_by=wlm)
    api_tokens.revoke(token, by=wlm)
    client = Client(enforce_csrf_checks=True)
    for headers in ({}, {"Authorization": "Bearer cc_bad_bad"}, {"Authorization": f"Bearer {key}"}):
        r = client.post("/api/v1/imports/", {"provider": trust.ods_code}, headers=headers)
        assert r.status_code == 401, (headers, r.content)
        assert r["Content-Type"] == "application/problem+json"
        assert r["WWW-Authenticate"].startswith("Bearer")
    client.force_login(wlm)
    r = client.post("/api/v1/imports/", {"provider": trust.ods_code})
    assert r.status_code == 403 and "CSRF" in r.content.decode()


@pytest.mark.django_db
def test_expired_tokens_and_wrong_secrets_are_401_and_an_organisationless_token_works(client, trust, wlm):
    from datetime import timedelta

    from django.utils import timezone

    token, key = api_tokens.issue(name="x", organisation=trust, roles=[Role.WAITING_LIST_MANAGER], created_by=wlm)
    forged = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")  # the right prefix, the wrong secret
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(days=1))
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    _, bare = api_tokens.issue(name="system client", organisation=None, roles=[], created_by=wlm)
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {bare}"})
    assert r.status_code == 200 and r.json()["organisation"] is None


@pytest.mark.django_db
def test_session_auth_works_for_the_browser(wlm_client, trust):
    r = wlm_client.get("/api/v1/me")
    assert r.status_code == 200 and r.json()["organisation"]["ods_code"] == trust.ods_code


@pytest.mark.django_db
def test_openapi_schema_is_served(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.json()["info"]["title"] == "carecoord API"
