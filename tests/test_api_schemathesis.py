"""Property-based API testing with schemathesis: generated requests against every operation of
the OpenAPI schema, authenticated as a provider's token, must never produce a server error and
must answer with the status codes and bodies the schema documents."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from carecoord.config.wsgi import application
from carecoord.core.models import Role
from carecoord.core.services import api_tokens
from carecoord.testing.factories import OrganisationFactory, patient_at, user_with_roles

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture(autouse=True)
def keep_connection_open():
    """Like Django's test client: requests must not close the test transaction's connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db):
    org = OrganisationFactory(ods_code="RSCH", name="Schema Trust")
    patient_at(org)
    admin = user_with_roles(org, Role.ORG_ADMIN)
    _, key = api_tokens.issue(name="schemathesis", organisation=org,
                              roles=[Role.WAITING_LIST_MANAGER, Role.SCC_OPERATOR, Role.SCHEDULER],
                              created_by=admin)
    return key


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_api_has_no_server_errors(case, token):
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    case.validate_response(response, checks=[not_a_server_error])
