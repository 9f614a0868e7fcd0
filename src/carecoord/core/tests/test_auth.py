import pytest
from django.conf import settings
from django.contrib.auth.hashers import identify_hasher, make_password
from django.test import override_settings

from carecoord.core.models import AuditLog, Role, RoleAssignment, User
from carecoord.testing.factories import user_with_roles


def test_argon2_is_the_production_hasher():
    from carecoord.config.settings import base

    assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    with override_settings(PASSWORD_HASHERS=base.PASSWORD_HASHERS):
        assert identify_hasher(make_password("a long password 1")).algorithm == "argon2"


@pytest.mark.django_db
def test_login_logout_and_audit(client, trust):
    user = user_with_roles(trust, Role.ANALYST, username="ana")
    response = client.post("/auth/login/", {"username": "ana", "password": "correct horse battery"})
    assert response.status_code == 302
    assert AuditLog.objects.filter(action="login", actor=user).exists()
    response = client.post("/auth/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # back to login


@pytest.mark.django_db
def test_lockout_after_repeated_failures(client, trust):
    user_with_roles(trust, Role.ANALYST, username="ana")
    for _ in range(settings.LOGIN_MAX_FAILURES):
        r = client.post("/auth/login/", {"username": "ana", "password": "wrong"})
        assert r.status_code == 200
    # Now even the right password is refused, with a clear message.
    r = client.post("/auth/login/", {"username": "ana", "password": "correct horse battery"})
    assert r.status_code == 200
    assert b"Your account is locked" in r.content
    assert User.objects.get(username="ana").locked_until is not None


@pytest.mark.django_db
def test_unauthenticated_pages_redirect_to_login(client):
    r = client.get("/jobs/")
    assert r.status_code == 302 and r["Location"].startswith("/auth/login/?next=/jobs/")


@pytest.mark.django_db
def test_open_redirect_is_refused(client, trust):
    user_with_roles(trust, Role.ANALYST, username="ana")
    r = client.post("/auth/login/?next=https://evil.example/", {"username": "ana", "password": "correct horse battery"})
    assert r["Location"] == "/"


@pytest.mark.django_db
def test_persona_login_only_in_demo_mode(client, trust):
    persona = user_with_roles(trust, Role.SCHEDULER, username="sched", is_persona=True)
    with override_settings(DEMO_MODE=False):
        assert client.get("/auth/personas/").status_code == 404
        assert client.post("/auth/personas/", {"persona": persona.pk}).status_code == 404
    r = client.post("/auth/personas/", {"persona": persona.pk})
    assert r.status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_a_persona_at_two_organisations_acts_for_the_one_chosen(client, trust, other_trust, icb):
    persona = user_with_roles(trust, Role.WAITING_LIST_MANAGER, username="multi", is_persona=True)
    RoleAssignment.objects.create(user=persona, organisation=other_trust, roles=[Role.WAITING_LIST_MANAGER])
    rows = client.get("/auth/personas/").content.decode()
    assert rows.count(f'name="persona" value="{persona.pk}"') == 2
    for org in (trust, other_trust, trust):
        client.post("/auth/personas/", {"persona": persona.pk, "organisation": org.pk})
        assert client.get("/").wsgi_request.organisation == org
        client.post("/auth/logout/")
    for bad in ("x", icb.pk):  # not a number, or an organisation the persona holds no role at: ignored
        client.post("/auth/personas/", {"persona": persona.pk, "organisation": bad})
        assert client.get("/").wsgi_request.organisation in (trust, other_trust)
        client.post("/auth/logout/")


@pytest.mark.django_db
def test_non_persona_cannot_be_used_for_persona_login(client, trust):
    real = user_with_roles(trust, Role.ORG_ADMIN)
    r = client.post("/auth/personas/", {"persona": real.pk})
    assert r.status_code == 302 and client.get("/").status_code == 302


def _prod_settings(monkeypatch, public_url: str):
    """Production settings read afresh (base.py, which reads the environment, keeps its values: the
    public address is set on it as base.py would read it)."""
    import importlib

    from carecoord.config.settings import base

    monkeypatch.setenv("CARECOORD_SECRET_KEY", "x" * 50)
    monkeypatch.setattr(base, "CARECOORD_PUBLIC_URL", public_url)
    return importlib.reload(importlib.import_module("carecoord.config.settings.prod"))


def test_production_settings_never_enable_demo(monkeypatch):
    monkeypatch.setenv("CARECOORD_DEMO", "1")
    prod = _prod_settings(monkeypatch, "https://carecoord.example.nhs.uk")
    assert prod.DEMO_MODE is False
    assert prod.SESSION_COOKIE_SECURE and prod.CSRF_COOKIE_SECURE and prod.SECURE_HSTS_SECONDS > 0


@pytest.mark.parametrize("value", ["", "carecoord.example.nhs.uk"])
def test_production_settings_refuse_to_start_without_the_public_address(monkeypatch, value):
    # Without it the worker's letters would link to 127.0.0.1: it has no request to take an address from.
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="CARECOORD_PUBLIC_URL must be set in production"):
        _prod_settings(monkeypatch, value)


@pytest.mark.django_db
def test_security_headers(client):
    r = client.get("/auth/login/")
    assert "default-src 'self'" in r["Content-Security-Policy"]
    assert r["X-Frame-Options"] == "DENY"
    assert r["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_a_refused_request_logs_one_line_without_a_traceback(client, trust):
    """Django logs a 403 with the exception's traceback; the server log keeps the one-line warning only
    (a client's refusal is not a server fault, and tracebacks bury real errors)."""
    import logging

    client.force_login(user_with_roles(trust, Role.SCC_OPERATOR))
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append((record, self.format(record)))

    handler = Keep()
    logging.getLogger().addHandler(handler)
    try:
        assert client.get("/waiting-list/").status_code == 403
    finally:
        logging.getLogger().removeHandler(handler)
    forbidden = [(r, text) for r, text in records if r.name == "django.request"]
    assert forbidden and all("Traceback" not in text and r.exc_info is None for r, text in forbidden)
    assert "Forbidden" in forbidden[0][1]
