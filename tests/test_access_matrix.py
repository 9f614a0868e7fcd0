"""The access matrix: every registered page and API route x every role x own/other organisation.

Apps register their routes in `carecoord/<app>/tests/access.py` (see carecoord.testing.access)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import carecoord
from carecoord.core.models import Role
from carecoord.testing import access
from carecoord.testing.factories import OrganisationFactory, patient_at, user_with_roles

for mod in pkgutil.iter_modules(carecoord.__path__):
    try:
        importlib.import_module(f"carecoord.{mod.name}.tests.access")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"carecoord.{mod.name}.tests", f"carecoord.{mod.name}.tests.access"):
            raise

ROUTES = access.routes()


@pytest.fixture
def scenario(db):
    own = OrganisationFactory(ods_code="ROWN", name="Own Trust")
    other = OrganisationFactory(ods_code="ROTH", name="Other Trust")
    s = {
        "own": own, "other": other,
        "own_patient": patient_at(own, family_name="Ownpatient"),
        "other_patient": patient_at(other, family_name="Zzotherpatient"),
    }
    for route in ROUTES:
        if route.setup:
            route.setup(s)
    return s


def _request(client, route, url, s):
    data = route.data(s) if route.data else None
    method = getattr(client, route.method)
    return method(url, data=data) if data is not None else method(url)


def _leaks(response, s) -> list[str]:
    body = response.content
    p = s["other_patient"]
    return [v for v in (p.nhs_number, p.family_name) if v and v.encode() in body]


def test_every_app_registered_routes():
    names = {r.name for r in ROUTES}
    assert {"core:home", "core:patient_detail", "api:me"} <= names


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
@pytest.mark.parametrize("role", Role.values)
def test_role_access(client, scenario, route, role):
    user = user_with_roles(scenario["own"], role)
    client.force_login(user)
    response = _request(client, route, route.url(scenario), scenario)
    if role in route.allowed:
        assert response.status_code < 400, f"{role} should reach {route.name}: {response.status_code}"
    else:
        assert response.status_code in (403, 404), f"{role} must not reach {route.name}: {response.status_code}"
    assert not _leaks(response, scenario), f"{route.name} showed another organisation's patient to {role}"
    if route.other_url:
        response = _request(client, route, route.other_url(scenario), scenario)
        assert response.status_code in (403, 404), f"{route.name} served another organisation's object to {role}"
        assert not _leaks(response, scenario)


@pytest.mark.parametrize("route", [r for r in ROUTES if not r.api], ids=lambda r: r.name)
def test_anonymous_is_sent_to_login(client, scenario, route):
    response = _request(client, route, route.url(scenario), scenario)
    assert response.status_code == 302 and "/auth/login/" in response["Location"]


@pytest.mark.parametrize("route", [r for r in ROUTES if r.api], ids=lambda r: r.name)
def test_api_without_credentials_is_401(client, scenario, route):
    assert _request(client, route, route.url(scenario), scenario).status_code == 401
