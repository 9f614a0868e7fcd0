"""factory_boy factories for the core models."""

from __future__ import annotations

import factory

from carecoord.core import nhs_number
from carecoord.core.models import (
    Organisation,
    OrganisationKind,
    Patient,
    PatientIdentifier,
    Role,
    RoleAssignment,
    Site,
    User,
)


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("ods_code",)

    ods_code = factory.Sequence(lambda n: f"R{n:03d}")
    name = factory.Sequence(lambda n: f"Test Trust {n} NHS Trust")
    kind = OrganisationKind.NHS_TRUST


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    organisation = factory.SubFactory(OrganisationFactory)
    ods_code = factory.Sequence(lambda n: f"S{n:04d}")
    name = factory.Sequence(lambda n: f"Site {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.Sequence(lambda n: f"User {n}")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class RoleAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoleAssignment

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    roles = factory.LazyFunction(lambda: [Role.WAITING_LIST_MANAGER])


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    nhs_number = factory.Sequence(lambda n: nhs_number.generate_test_numbers(1, start=500_000 + n)[0])
    given_name = "Alex"
    family_name = factory.Sequence(lambda n: f"Testpatient{n}")
    birth_date = factory.Faker("date_of_birth", minimum_age=18, maximum_age=90)
    sex = "2"
    consent_sms = True


class PatientIdentifierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientIdentifier

    patient = factory.SubFactory(PatientFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    local_id = factory.Sequence(lambda n: f"MRN{n:08d}")


def user_with_roles(organisation: Organisation, *roles: str, **kwargs) -> User:
    user = UserFactory(**kwargs)
    RoleAssignment.objects.create(user=user, organisation=organisation, roles=list(roles))
    return user


def patient_at(organisation: Organisation, **kwargs) -> Patient:
    patient = PatientFactory(**kwargs)
    PatientIdentifier.objects.create(patient=patient, organisation=organisation,
                                     local_id=f"MRN{patient.pk:08d}")
    return patient


def pathway_at(organisation: Organisation, patient: Patient | None = None, **kwargs):
    """A waiting-list pathway on `organisation`'s PTL (open clock) for tests."""
    from datetime import timedelta

    from django.utils import timezone

    from carecoord.waitinglist.models import Pathway

    patient = patient or patient_at(organisation)
    n = Pathway.objects.count() + 1
    start = kwargs.pop("rtt_start", timezone.localdate() - timedelta(days=100))
    defaults = {
        "ppid": f"PPID{organisation.pk:03d}{n:08d}", "ppid_issuer": organisation.ods_code, "tfc": "110",
        "rtt_start": start, "queue_date": start, "rtt_status": "20", "clock_state": "open",
        "list_type": "admitted", "waiting_list_type": "IRTT", "referral_received": start,
        "consultant_code": "C1234567",
    }
    defaults.update(kwargs)
    return Pathway.objects.create(provider=organisation, patient=patient, **defaults)
