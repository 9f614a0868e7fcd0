"""The pathway page and its actions: who may act (the role at the pathway's provider), pathways no
longer on the list, TCI date rules, unique ids on the page, notes (all of them, on the page and the API)."""

from collections import Counter
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from carecoord.core.models import AuditLog, DataSharingGrant, OrganisationKind, Role
from carecoord.core.services.audit import Auditor
from carecoord.testing.factories import OrganisationFactory, pathway_at, user_with_roles
from carecoord.waitinglist import services
from carecoord.waitinglist.models import PathwayNote, PathwayStatus

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


def url(p, action=""):
    return f"/waiting-list/pathways/{p.pk}/" + (f"{action}/" if action else "")


# ---------------------------------------------------------------- a hub acting on another provider's list


@pytest.fixture
def hub_case(db):
    hub = OrganisationFactory(ods_code="HQNS", name="North Surgical Hub", kind=OrganisationKind.ELECTIVE_HUB)
    provider = OrganisationFactory(ods_code="RNT", name="Northern Teaching Hospitals NHS Trust")
    DataSharingGrant.objects.create(grantor=provider, grantee=hub, scope="patient", purpose="hub PTL")
    user = user_with_roles(hub, Role.CLINICIAN, Role.WAITING_LIST_MANAGER)
    pathway = pathway_at(provider, clinical_priority="P4", priority_rank=5)
    return {"hub": hub, "provider": provider, "user": user, "pathway": pathway}


def test_hub_user_sees_the_pathway_but_is_offered_no_provider_decisions(client, hub_case):
    p = hub_case["pathway"]
    client.force_login(hub_case["user"])
    r = client.get(url(p))
    assert r.status_code == 200
    page = r.content.decode()
    assert url(p, "priority") not in page and url(p, "tci") not in page and url(p, "remove") not in page
    assert url(p, "notes") in page  # a note is not a decision


def test_hub_user_cannot_set_priority_record_tci_or_remove_by_posting(client, hub_case):
    p = hub_case["pathway"]
    client.force_login(hub_case["user"])
    name = hub_case["provider"].name
    r = client.post(url(p, "priority"), {"priority": "P2", "reason": "looks urgent"})
    assert r.status_code == 403 and f"You do not have a clinician role at {name}" in r.content.decode()
    r = client.post(url(p, "tci"), {"tci_date": (TODAY + timedelta(days=7)).isoformat()})
    assert r.status_code == 403 and f"role at {name}" in r.content.decode()
    r = client.post(url(p, "remove"), {"reason": "duplicate", "rationale": "seen twice", "confirm": "on"})
    body = r.content.decode()
    assert r.status_code == 403 and f"You do not have a clinician role at {name}" in body
    assert "needs a clinician&#39;s decision" not in body and "page-errors" in body
    p.refresh_from_db()
    assert (p.clinical_priority, p.tci_date, p.status) == ("P4", None, PathwayStatus.ON_LIST)
    assert not p.priority_reviews.exists()
    assert not AuditLog.objects.filter(action="update", object_type="waitinglist.pathway").exists()


def test_services_require_the_role_at_the_provider(hub_case):
    p, user = hub_case["pathway"], hub_case["user"]
    auditor = Auditor(user)
    with pytest.raises(services.ClinicalDecisionRequired, match="clinician role at Northern Teaching"):
        services.set_priority(p, "P2", reason="x", by=user, auditor=auditor)
    with pytest.raises(services.RoleRequired, match="role at Northern Teaching"):
        services.record_tci(p, TODAY + timedelta(days=7), by=user, auditor=auditor)
    with pytest.raises(services.ClinicalDecisionRequired, match="clinician role at Northern Teaching"):
        services.remove_from_list(p, reason="duplicate", decided_by=user, rationale="x", auditor=auditor)


def test_hub_user_cannot_act_through_the_api(client, hub_case):
    p = hub_case["pathway"]
    client.force_login(hub_case["user"])
    r = client.post(f"/api/v1/waiting-list/pathways/{p.pk}/priority", data={"priority": "P2", "reason": "x"},
                    content_type="application/json")
    assert r.status_code == 403 and "clinician role" in r.json()["detail"]
    r = client.post(f"/api/v1/waiting-list/pathways/{p.pk}/tci",
                    data={"tci_date": (TODAY + timedelta(days=7)).isoformat()}, content_type="application/json")
    assert r.status_code == 403
    p.refresh_from_db()
    assert (p.clinical_priority, p.tci_date) == ("P4", None)


def test_provider_clinician_still_decides(client, hub_case):
    p = hub_case["pathway"]
    client.force_login(user_with_roles(hub_case["provider"], Role.CLINICIAN))
    assert client.post(url(p, "priority"), {"priority": "P2", "reason": "pain worse"}).status_code == 302
    p.refresh_from_db()
    assert p.clinical_priority == "P2"


# ---------------------------------------------------------------- ids and labels on the page


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.label_for = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"])
        if tag == "label" and a.get("for"):
            self.label_for.append(a["for"])


def _assert_ids_unique(html: str) -> None:
    parser = _Ids()
    parser.feed(html)
    dupes = [i for i, n in Counter(parser.ids).items() if n > 1]
    assert not dupes, f"ids used more than once: {dupes}"
    shared = [f for f, n in Counter(parser.label_for).items() if n > 1]
    assert not shared, f"labels sharing a for=: {shared}"
    missing = set(parser.label_for) - set(parser.ids)
    assert not missing, f"labels for no element: {missing}"


@pytest.fixture
def everyone_client(client, trust):
    client.force_login(user_with_roles(trust, Role.CLINICIAN, Role.WAITING_LIST_MANAGER))
    return client


def test_every_id_and_label_on_the_page_is_unique(everyone_client, trust):
    p = pathway_at(trust)
    page = everyone_client.get(url(p)).content.decode()
    for action in ("priority", "tci", "notes", "remove"):
        assert url(p, action) in page
    _assert_ids_unique(page)
    assert 'id="priority-reason"' in page and 'id="remove-reason"' in page
    assert 'for="priority-reason"' in page and 'for="remove-reason"' in page
    # With errors shown too (error summaries link to the fields by id).
    r = everyone_client.post(url(p, "remove"), {"reason": "", "rationale": ""})
    assert r.status_code == 400 and 'href="#remove-reason"' in r.content.decode()
    _assert_ids_unique(r.content.decode())


# ---------------------------------------------------------------- pathways no longer on the list


def test_removal_clicked_twice_names_the_problem(client, trust):
    p = pathway_at(trust)
    client.force_login(user_with_roles(trust, Role.CLINICIAN))
    data = {"reason": "duplicate", "rationale": "same referral twice", "confirm": "on"}
    assert client.post(url(p, "remove"), data).status_code == 302
    r = client.post(url(p, "remove"), data)
    body = r.content.decode()
    assert r.status_code == 400
    assert "nhsuk-error-summary" in body and "There is a problem" in body
    assert f"This pathway is no longer on the waiting list (removed on {TODAY.day} {TODAY:%B %Y})" in body
    assert p.__class__.objects.get(pk=p.pk).status == PathwayStatus.REMOVED


def test_tci_on_a_closed_pathway_names_the_problem(wlm_client, trust):
    p = pathway_at(trust, status=PathwayStatus.CLOSED)
    page = wlm_client.get(url(p)).content.decode()
    assert url(p, "tci") not in page
    r = wlm_client.post(url(p, "tci"), {"tci_date": (TODAY + timedelta(days=7)).isoformat()})
    body = r.content.decode()
    assert r.status_code == 400 and "nhsuk-error-summary" in body
    assert "This pathway is no longer on the waiting list (closed" in body
    p.refresh_from_db()
    assert p.tci_date is None


def test_priority_cannot_be_set_on_a_closed_pathway(client, trust):
    clinician = user_with_roles(trust, Role.CLINICIAN)
    p = pathway_at(trust, status=PathwayStatus.CLOSED, clinical_priority="P4", priority_rank=5)
    with pytest.raises(services.WaitingListError, match="no longer on the waiting list"):
        services.set_priority(p, "P2", reason="x", by=clinician, auditor=Auditor(clinician))
    client.force_login(clinician)
    page = client.get(url(p)).content.decode()
    assert url(p, "priority") not in page and url(p, "remove") not in page
    r = client.post(url(p, "priority"), {"priority": "P2", "reason": "x"})
    assert r.status_code == 400 and "no longer on the waiting list" in r.content.decode()
    p.refresh_from_db()
    assert p.clinical_priority == "P4" and not p.priority_reviews.exists()


def test_a_pathway_that_leaves_the_list_while_the_form_is_posted_still_shows_the_error(client, trust,
                                                                                        monkeypatch):
    """The service's own check (on the locked row) is named at the top of the page too."""
    p = pathway_at(trust)
    client.force_login(user_with_roles(trust, Role.CLINICIAN))
    real, calls = services.refusal, []

    def refusal_before_the_race(*args):  # the first check passes; the pathway leaves the list just after
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(services, "refusal", refusal_before_the_race)
    p.__class__.objects.filter(pk=p.pk).update(status=PathwayStatus.CLOSED)
    r = client.post(url(p, "priority"), {"priority": "P2", "reason": "x"})
    body = r.content.decode()
    assert r.status_code == 400 and 'id="page-errors"' in body and "no longer on the waiting list" in body


# ---------------------------------------------------------------- TCI dates


@pytest.mark.parametrize(("tci", "message"), [
    (date(9999, 12, 31), "Enter a real TCI date: 31 December 9999 is a placeholder"),
    (date(2999, 12, 31), "Enter a real TCI date: 31 December 2999 is a placeholder"),
    (date(1, 1, 1), "Enter a real TCI date: 1 January 0001 is a placeholder"),
    (TODAY + timedelta(days=6 * 366), "Enter a TCI date within 5 years of today"),
    (TODAY - timedelta(days=1), "Enter a TCI date from today onwards"),
])
def test_tci_dates_the_importer_would_reject_are_refused(trust, wlm, tci, message):
    p = pathway_at(trust)
    with pytest.raises(services.WaitingListError) as exc:
        services.record_tci(p, tci, by=wlm, auditor=Auditor(wlm))
    assert str(exc.value).startswith(message)
    assert "01/01/1" not in str(exc.value)


def test_tci_cannot_precede_clock_start_or_decision_to_admit(trust, wlm):
    soon = TODAY + timedelta(days=10)
    p = pathway_at(trust, rtt_start=soon)
    with pytest.raises(services.WaitingListError, match="on or after the RTT clock start"):
        services.record_tci(p, TODAY + timedelta(days=5), by=wlm, auditor=Auditor(wlm))
    p = pathway_at(trust, dta_date=soon)
    with pytest.raises(services.WaitingListError, match="on or after the decision to admit"):
        services.record_tci(p, TODAY + timedelta(days=5), by=wlm, auditor=Auditor(wlm))
    services.record_tci(p, soon, by=wlm, auditor=Auditor(wlm))
    p.refresh_from_db()
    assert p.tci_date == soon
    assert AuditLog.objects.filter(action="update", object_type="waitinglist.pathway", object_id=str(p.pk),
                                   summary="TCI date recorded").exists()


def test_tci_placeholder_through_the_page_and_api(wlm_client, trust):
    p = pathway_at(trust)
    r = wlm_client.post(url(p, "tci"), {"tci_date": "9999-12-31"})
    assert r.status_code == 400 and "Enter a real TCI date: 31 December 9999 is a placeholder" in r.content.decode()
    r = wlm_client.post(url(p, "tci"), {"tci_date": "0001-01-01"})
    assert r.status_code == 400 and "1 January 0001" in r.content.decode() and "01/01/1" not in r.content.decode()
    r = wlm_client.post(f"/api/v1/waiting-list/pathways/{p.pk}/tci", data={"tci_date": "9999-12-31"},
                        content_type="application/json")
    assert r.status_code == 422 and r.json()["detail"].startswith("Enter a real TCI date")
    p.refresh_from_db()
    assert p.tci_date is None


# ---------------------------------------------------------------- notes


def _notes(p, author, n):
    now = timezone.now()
    PathwayNote.objects.bulk_create(
        PathwayNote(pathway=p, author=author, text=f"note number {i:03d}", created_at=now - timedelta(minutes=n - i))
        for i in range(n))


def test_older_notes_are_reachable(wlm_client, trust, wlm):
    p = pathway_at(trust)
    _notes(p, wlm, 55)
    page = wlm_client.get(url(p)).content.decode()
    assert "note number 054" in page and "note number 004" not in page
    assert "Show all 55 notes" in page and "?notes=all" in page
    page = wlm_client.get(url(p) + "?notes=all").content.decode()
    assert "note number 000" in page and "note number 054" in page and "Show all" not in page
    assert AuditLog.objects.filter(action="view", object_type="waitinglist.pathway", object_id=str(p.pk),
                                   summary="pathway page with all 55 notes").exists()


def test_few_notes_have_no_show_all_link(wlm_client, trust, wlm):
    p = pathway_at(trust)
    _notes(p, wlm, 3)
    page = wlm_client.get(url(p)).content.decode()
    assert "note number 000" in page and "Show all" not in page


def test_api_pathway_detail_has_its_notes_scoped_and_audited(client, trust, other_trust, wlm):
    p = pathway_at(trust)
    other = pathway_at(other_trust)
    _notes(p, wlm, 2)
    PathwayNote.objects.create(pathway=other, author=wlm, text="not yours")
    client.force_login(wlm)
    r = client.get(f"/api/v1/waiting-list/pathways/{p.pk}")
    assert r.status_code == 200
    notes = r.json()["notes"]
    assert [n["text"] for n in notes] == ["note number 001", "note number 000"]  # newest first
    assert notes[0]["author"] == (wlm.display_name or wlm.username) and notes[0]["created_at"]
    assert AuditLog.objects.filter(action="view", object_type="waitinglist.pathway", object_id=str(p.pk),
                                   actor=wlm).exists()
    assert client.get(f"/api/v1/waiting-list/pathways/{other.pk}").status_code == 404
