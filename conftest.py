"""Project-wide pytest fixtures (the repo root conftest, seen by src/ and tests/)."""

from __future__ import annotations

import pytest
from hypothesis import settings as hypothesis_settings

from carecoord.core.models import OrganisationKind, Role
from carecoord.testing.factories import OrganisationFactory, patient_at, user_with_roles

# Property tests check behaviour, not speed: no per-example deadline (Hypothesis' default of 200 ms
# failed a correct test on a busy CI machine). Speed is measured in bench/.
hypothesis_settings.register_profile("carecoord", deadline=None)
hypothesis_settings.load_profile("carecoord")


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Transactional tests end by flushing every table, which also wipes the reference data that
    migrations load (treatment functions, RTT statuses...). Put it back before any test that uses the
    database and finds it missing."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None and not {"db", "transactional_db", "live_server"} & set(request.fixturenames):
        return
    request.getfixturevalue("_django_db_helper")
    from django.test.testcases import DatabaseOperationForbidden

    from carecoord.core.models import RttStatus

    try:
        present = RttStatus.objects.exists()
    except DatabaseOperationForbidden:  # a test that declares it uses no database
        return
    if not present:
        import importlib

        from django.apps import apps

        importlib.import_module("carecoord.core.migrations.0002_audit_immutable_and_reference_data").load(apps, None)


@pytest.fixture
def icb(db):
    return OrganisationFactory(ods_code="QAA", name="Test ICB", kind=OrganisationKind.ICB)


@pytest.fixture
def trust(icb):
    return OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust", parent=icb)


@pytest.fixture
def other_trust(icb):
    return OrganisationFactory(ods_code="RBB", name="Beta Hospitals NHS Trust", parent=icb)


@pytest.fixture
def wlm(trust):
    return user_with_roles(trust, Role.WAITING_LIST_MANAGER)


@pytest.fixture
def wlm_client(client, wlm):
    client.force_login(wlm)
    return client


@pytest.fixture
def patient(trust):
    return patient_at(trust)


@pytest.fixture
def other_patient(other_trust):
    return patient_at(other_trust)
