from datetime import date

import pytest
from django.db import connection, transaction

from carecoord.core import nhs_number
from carecoord.core.models import Organisation, Patient, Role, User
from carecoord.synth import services

AS_OF = date(2026, 11, 22)


class _Rollback(Exception):
    pass


def _snapshot() -> dict:
    with connection.cursor() as cur:
        cur.execute("SELECT ods_code, name, kind FROM core_organisation ORDER BY ods_code")
        orgs = cur.fetchall()
        cur.execute("SELECT md5(string_agg(concat_ws('|', id, nhs_number, given_name, family_name, birth_date, sex,"
                    " postcode_district, consent_sms, vulnerable), ',' ORDER BY id)) FROM core_patient")
        patients = cur.fetchone()[0]
        cur.execute("SELECT md5(string_agg(concat_ws('|', i.patient_id, o.ods_code, i.local_id), ',' ORDER BY"
                    " i.patient_id)) FROM core_patientidentifier i JOIN core_organisation o ON o.id = i.organisation_id")
        idents = cur.fetchone()[0]
    return {"orgs": orgs, "patients": patients, "identifiers": idents}


def _generate_and_snapshot(seed: int) -> dict:
    try:
        with transaction.atomic():
            services.generate(seed=seed, scale="demo", as_of=AS_OF, only=["organisations", "personas", "patients"])
            snap = _snapshot()
            raise _Rollback
    except _Rollback:
        return snap


@pytest.mark.django_db
def test_same_seed_same_rows_different_seed_different_rows():
    a = _generate_and_snapshot(11)
    b = _generate_and_snapshot(11)
    c = _generate_and_snapshot(12)
    assert a == b
    assert a["patients"] != c["patients"]


@pytest.mark.django_db
def test_demo_health_system_shape():
    report = services.generate(seed=3, scale="demo", as_of=AS_OF, only=["organisations", "personas", "patients"])
    assert report["steps"]["patients"]["patients"] == 30_000
    kinds = set(Organisation.objects.values_list("kind", flat=True))
    assert kinds >= {"icb", "nhs_trust", "independent_sector", "elective_hub", "region"}
    # Every role has a persona.
    roles = {r for roles in User.objects.filter(is_persona=True).values_list("role_assignments__roles", flat=True)
             for r in (roles or [])}
    assert roles == set(Role.values)
    # NHS numbers are valid and all in the synthetic 9xx range; every patient is known to a provider.
    sample = list(Patient.objects.order_by("?").values_list("nhs_number", flat=True)[:500])
    assert all(nhs_number.is_valid(n) and n.startswith("9") for n in sample)
    assert Patient.objects.filter(identifiers__isnull=True).count() == 0
    # The sequence continues after COPY with explicit ids.
    assert Patient.objects.create(given_name="New").pk == 30_001


@pytest.mark.django_db
def test_refuses_a_database_that_already_holds_a_health_system(trust):
    with pytest.raises(services.SynthError, match="already holds"):
        services.generate(seed=1, scale="demo", as_of=AS_OF)


@pytest.mark.django_db
def test_coordination_centre_has_sitrep_times_and_an_operator_on_shift():
    from django.utils import timezone

    from carecoord.escalation import hours
    from carecoord.escalation.models import SitrepSchedule

    services.generate(seed=3, scale="demo", as_of=AS_OF,
                      only=["organisations", "personas", "coordination centre"])
    icb = Organisation.objects.filter(kind="icb").order_by("ods_code").first()
    assert SitrepSchedule.objects.filter(system=icb).count() == 2
    at = timezone.make_aware(timezone.datetime.combine(timezone.localdate(), timezone.datetime.min.time())) \
        + timezone.timedelta(hours=10)
    assert [s.user.username for s in hours.on_shift(icb, at)] == ["scc"]
