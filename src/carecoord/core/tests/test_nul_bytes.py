"""NUL characters in input are refused with a 400 naming where they were, never a database error."""

import pytest

pytestmark = pytest.mark.django_db


def test_nul_in_a_query_parameter_is_a_400_naming_it(wlm_client):
    r = wlm_client.get("/waiting-list/", {"provider": "R\x00A"})
    assert r.status_code == 400 and "query parameter 'provider'" in r.content.decode()


def test_nul_in_an_api_json_body_is_a_problem_response(client):
    r = client.post("/api/v1/waiting-list/ptl", data='{"x": "a\\u0000b"}', content_type="application/json")
    assert r.status_code == 400
    assert r["Content-Type"] == "application/problem+json" and "JSON body" in r.json()["detail"]


def test_nul_in_a_form_field_is_a_400(wlm_client):
    r = wlm_client.post("/waiting-list/views/", {"name": "mine\x00"})
    assert r.status_code == 400 and "form field 'name'" in r.content.decode()


def test_ordinary_requests_pass(wlm_client):
    assert wlm_client.get("/waiting-list/", {"provider": "RAA"}).status_code == 200
