"""Project-wide pytest fixtures (the repo root conftest, seen by src/ and tests/)."""

from __future__ import annotations

import pytest

from carecoord.core.models import OrganisationKind, Role
from carecoord.testing.factories import OrganisationFactory, patient_at, user_with_roles


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
