import pytest

from carecoord.core.models import DataSharingGrant, Role
from carecoord.testing.factories import patient_at, user_with_roles


@pytest.mark.django_db
def test_patients_are_scoped_to_the_organisation(trust, other_trust, patient, other_patient):
    assert list(trust.patients) == [patient]
    assert list(other_trust.patients) == [other_patient]


@pytest.mark.django_db
def test_a_patient_known_to_two_trusts_is_visible_to_both(trust, other_trust, patient):
    from carecoord.core.models import PatientIdentifier

    PatientIdentifier.objects.create(patient=patient, organisation=other_trust, local_id="B1")
    assert patient in other_trust.patients
    assert trust.patients.count() == 1


@pytest.mark.django_db
def test_patient_grant_extends_scope(icb, trust, patient):
    assert patient not in icb.patients
    DataSharingGrant.objects.create(grantor=trust, grantee=icb, scope="patient", purpose="system PTL")
    assert patient in icb.patients


@pytest.mark.django_db
def test_aggregate_grant_does_not_reveal_patients(icb, trust, patient):
    hub = patient_at  # noqa: F841 - readability
    DataSharingGrant.objects.create(grantor=trust, grantee=icb, scope="aggregate", purpose="figures")
    assert patient not in icb.patients
    assert trust.pk in icb.aggregate_scope_ids()


@pytest.mark.django_db
def test_other_organisations_patient_page_is_not_found(client, trust, other_patient):
    user = user_with_roles(trust, Role.CLINICIAN)
    client.force_login(user)
    assert client.get(f"/patients/{other_patient.pk}/").status_code == 404


@pytest.mark.django_db
def test_role_without_patient_access_is_forbidden(client, trust, patient):
    user = user_with_roles(trust, Role.SCC_OPERATOR)
    client.force_login(user)
    response = client.get(f"/patients/{patient.pk}/")
    assert response.status_code == 403
    assert patient.family_name.encode() not in response.content
