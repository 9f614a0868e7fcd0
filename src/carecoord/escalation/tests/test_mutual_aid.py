"""Mutual aid: a provider asks, a neighbour offers, the SCC agrees; the state machine refuses the
wrong steps with clear errors; every step is audited."""

import pytest

from carecoord.core.models import AuditLog, Role
from carecoord.core.services.audit import Auditor
from carecoord.escalation import mutual_aid
from carecoord.escalation.models import MutualAidRequest
from carecoord.testing.factories import OrganisationFactory, user_with_roles

pytestmark = pytest.mark.django_db


def test_request_offer_agree_end_to_end_in_pages(client, trust, other_trust, icb):
    asker = user_with_roles(trust, Role.SCC_OPERATOR)
    client.force_login(asker)
    bad = client.post("/coordination/escalation/mutual-aid/", {"kind": "beds", "quantity": "4", "detail": ""})
    assert bad.status_code == 400 and "Describe what is needed" in bad.content.decode()
    client.post("/coordination/escalation/mutual-aid/", {"kind": "beds", "quantity": "4", "detail": "4 G&A beds tonight"})
    req = MutualAidRequest.objects.get()
    assert req.system == icb and req.status == "requested"
    neighbour = user_with_roles(other_trust, Role.ORG_ADMIN)
    client.force_login(neighbour)
    client.post(f"/coordination/escalation/mutual-aid/{req.pk}/", {"step": "offer", "detail": "2 beds on ward 7"})
    offer = req.offers.get()
    scc = user_with_roles(icb, Role.SCC_OPERATOR)
    client.force_login(scc)
    page = client.get("/coordination/escalation/mutual-aid/").content.decode()
    assert "Agree the offer from" in page
    for junk in ("abc", "", "²", str(2**64)):  # not an offer: named, not a 500
        r = client.post(f"/coordination/escalation/mutual-aid/{req.pk}/", {"step": "agree", "offer": junk},
                        follow=True)
        assert r.status_code in (200, 400) and "choose an offer to agree" in r.content.decode().lower()
    client.post(f"/coordination/escalation/mutual-aid/{req.pk}/", {"step": "agree", "offer": offer.pk})
    req.refresh_from_db()
    assert req.status == "agreed" and req.agreed_offer == offer and req.decided_by == scc
    assert AuditLog.objects.filter(object_type="escalation.mutualaidrequest").count() == 2
    assert AuditLog.objects.filter(object_type="escalation.mutualaidoffer").count() == 1


def test_state_machine_refuses_wrong_steps(trust, other_trust, icb):
    a = Auditor.system("test", organisation=icb)
    req = mutual_aid.request_aid(requester=trust, kind="divert", detail="divert for 2 hours", quantity=2,
                                 by=user_with_roles(trust, Role.SCC_OPERATOR), auditor=a)
    with pytest.raises(mutual_aid.MutualAidError, match="itself"):
        mutual_aid.offer(req, provider=trust, detail="x", by=user_with_roles(trust, Role.ORG_ADMIN), auditor=a)
    stranger = OrganisationFactory(ods_code="RZZ", name="Elsewhere")
    with pytest.raises(mutual_aid.MutualAidError, match="same system"):
        mutual_aid.offer(req, provider=stranger, detail="x", by=user_with_roles(stranger, Role.ORG_ADMIN), auditor=a)
    with pytest.raises(mutual_aid.MutualAidError, match="coordination centre"):
        mutual_aid.decide(req, agree_offer=None, note="no", by=user_with_roles(trust, Role.SCC_OPERATOR), auditor=a)
    scc = user_with_roles(icb, Role.SCC_OPERATOR)
    with pytest.raises(mutual_aid.MutualAidError, match="why"):
        mutual_aid.decide(req, agree_offer=None, note="", by=scc, auditor=a)
    mutual_aid.decide(req, agree_offer=None, note="capacity restored", by=scc, auditor=a)
    with pytest.raises(mutual_aid.MutualAidError, match="no more offers"):
        mutual_aid.offer(req, provider=other_trust, detail="x", by=user_with_roles(other_trust, Role.ORG_ADMIN),
                         auditor=a)


def test_people_without_a_role_see_nothing(client, trust):
    client.force_login(user_with_roles(trust, Role.WAITING_LIST_MANAGER))
    assert client.get("/coordination/escalation/mutual-aid/").status_code == 403


def test_repatriation_names_a_patient_seen_only_by_the_two_trusts(client, trust, other_trust, icb):
    from carecoord.testing.factories import patient_at

    third = OrganisationFactory(ods_code="RCC", name="Gamma Hospitals NHS Trust", parent=icb)
    ours = patient_at(trust, family_name="Repatriate")
    theirs = patient_at(other_trust, family_name="Elsewhere")
    client.force_login(user_with_roles(trust, Role.SCC_OPERATOR))
    url = "/coordination/escalation/mutual-aid/"
    form = {"kind": "repatriation", "quantity": "1", "detail": "Stepdown bed nearer home", "home_provider": "RBB"}
    bad = client.post(url, {**form, "nhs_number": theirs.nhs_number})
    assert bad.status_code == 400 and "No patient with that NHS number is known" in bad.content.decode()
    bad = client.post(url, {**form, "nhs_number": ours.nhs_number, "home_provider": ""})
    assert bad.status_code == 400 and "home trust" in bad.content.decode()
    # the error is on the home-trust field (linked from the summary), not on the NHS number
    assert 'href="#id_home_provider"' in bad.content.decode() and 'href="#id_nhs_number"' not in bad.content.decode()
    client.post(url, {**form, "nhs_number": ours.nhs_number})
    req = MutualAidRequest.objects.get()
    assert req.patient == ours and req.home_provider == other_trust
    assert "Repatriate" in client.get(url).content.decode()  # the requesting trust
    client.force_login(user_with_roles(other_trust, Role.ORG_ADMIN))
    assert "Repatriate" in client.get(url).content.decode()  # the home trust
    assert AuditLog.objects.filter(action="view", object_type="core.patient", object_id=str(ours.pk)).count() == 2
    client.force_login(user_with_roles(third, Role.ORG_ADMIN))
    page = client.get(url).content.decode()
    assert "Repatriate" not in page and "shown to the requesting and home trusts only" in page
    client.force_login(user_with_roles(icb, Role.SCC_OPERATOR))
    assert ours.nhs_number not in client.get(url).content.decode()
