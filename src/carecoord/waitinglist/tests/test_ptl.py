import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from carecoord.core.models import AuditLog, Role
from carecoord.testing.factories import pathway_at, user_with_roles

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def ptl(trust, other_trust):
    rows = {
        "p2_old": pathway_at(trust, clinical_priority="P2", priority_rank=3, rtt_start=TODAY - timedelta(days=400),
                             queue_date=TODAY - timedelta(days=400)),
        "p2_new": pathway_at(trust, clinical_priority="P2", priority_rank=3, rtt_start=TODAY - timedelta(days=20),
                             queue_date=TODAY - timedelta(days=20)),
        "p4_oldest": pathway_at(trust, clinical_priority="P4", priority_rank=5, rtt_start=TODAY - timedelta(days=700),
                                queue_date=TODAY - timedelta(days=700), tfc="130"),
        "stopped": pathway_at(trust, clock_state="stopped", rtt_start=TODAY - timedelta(days=50)),
        "other": pathway_at(other_trust, clinical_priority="P2", priority_rank=3),
    }
    return rows


def test_ptl_is_treat_in_turn_and_scoped(wlm_client, ptl):
    r = wlm_client.get("/waiting-list/")
    assert r.status_code == 200
    body = r.content.decode()
    order = [body.index(ptl[k].ppid) for k in ("p2_old", "p2_new", "p4_oldest")]
    assert order == sorted(order), "priority first, then queue-order date"
    assert ptl["other"].ppid not in body
    assert ptl["stopped"].ppid not in body
    assert AuditLog.objects.filter(object_type="waitinglist.ptl", action="view").exists()


@pytest.mark.parametrize(("query", "expected"), [
    ("band=52-65", ["p2_old"]),
    ("band=104%2B", []),
    ("band=78-104", ["p4_oldest"]),
    ("band=0-18", ["p2_new"]),
    ("tfc=130", ["p4_oldest"]),
    ("priority=P2", ["p2_old", "p2_new"]),
    ("sort=wait", ["p4_oldest", "p2_old", "p2_new"]),
])
def test_ptl_filters(wlm_client, ptl, query, expected):
    body = wlm_client.get(f"/waiting-list/?{query}").content.decode()
    found = sorted((k for k in ("p2_old", "p2_new", "p4_oldest") if ptl[k].ppid in body),
                   key=lambda k: body.index(ptl[k].ppid))
    assert found == expected


def test_bad_filter_is_a_clear_error_not_a_crash(wlm_client, ptl):
    r = wlm_client.get("/waiting-list/?band=forever&breach_before=31-31-2026")
    assert r.status_code == 200
    assert b"There is a problem" in r.content


def test_export_csv_has_contract_columns(wlm_client, ptl):
    r = wlm_client.get("/waiting-list/export.csv?priority=P2")
    assert r.status_code == 200 and r["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert [row["ppid"] for row in rows] == [ptl["p2_old"].ppid, ptl["p2_new"].ppid]
    assert rows[0]["days_waited"] == "400" and rows[0]["weeks_waited"] == "58"  # band 58: >57 to 58 weeks (§10.1.7)
    assert AuditLog.objects.filter(action="export").exists()


def test_export_xlsx(wlm_client, ptl):
    from openpyxl import load_workbook

    r = wlm_client.get("/waiting-list/export.xlsx")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws.max_row == 4  # header + 3 open pathways


def test_saved_views(wlm_client, ptl):
    r = wlm_client.post("/waiting-list/views/", {"name": "Long P2s", "query": "priority=P2&band=52-65"})
    assert r.status_code == 302
    page = wlm_client.get("/waiting-list/").content.decode()
    assert "Long P2s" in page and "priority=P2&amp;band=52-65" in page


def test_clinician_sets_priority_with_history(client, trust, ptl):
    clinician = user_with_roles(trust, Role.CLINICIAN)
    client.force_login(clinician)
    p = ptl["p4_oldest"]
    r = client.post(f"/waiting-list/pathways/{p.pk}/priority/", {"priority": "P2", "reason": "pain worse"})
    assert r.status_code == 302
    p.refresh_from_db()
    assert (p.clinical_priority, p.priority_rank) == ("P2", 3)
    review = p.priority_reviews.get()
    assert (review.from_code, review.to_code, review.reviewed_by) == ("P4", "P2", clinician)
    page = client.get(f"/waiting-list/pathways/{p.pk}/").content.decode()
    assert "pain worse" in page


def test_unknown_priority_and_missing_reason_are_form_errors(client, trust, ptl):
    client.force_login(user_with_roles(trust, Role.CLINICIAN))
    p = ptl["p2_new"]
    r = client.post(f"/waiting-list/pathways/{p.pk}/priority/", {"priority": "P9", "reason": ""})
    assert r.status_code == 400 and b"There is a problem" in r.content


def test_non_clinician_cannot_set_priority_or_remove(wlm_client, ptl):
    p = ptl["p2_new"]
    assert wlm_client.post(f"/waiting-list/pathways/{p.pk}/priority/", {"priority": "P2", "reason": "x"}).status_code == 403
    assert wlm_client.post(f"/waiting-list/pathways/{p.pk}/remove/",
                           {"reason": "no_longer_required", "rationale": "x", "confirm": "on"}).status_code == 403


def test_tci_in_the_past_is_refused(wlm_client, ptl):
    p = ptl["p2_new"]
    r = wlm_client.post(f"/waiting-list/pathways/{p.pk}/tci/", {"tci_date": (TODAY - timedelta(days=1)).isoformat()})
    assert r.status_code == 400 and b"in the past" in r.content
    r = wlm_client.post(f"/waiting-list/pathways/{p.pk}/tci/", {"tci_date": (TODAY + timedelta(days=9)).isoformat()})
    assert r.status_code == 302
    p.refresh_from_db()
    assert p.tci_date == TODAY + timedelta(days=9)


def test_viewing_a_pathway_is_audited(wlm_client, ptl, wlm):
    p = ptl["p2_new"]
    assert wlm_client.get(f"/waiting-list/pathways/{p.pk}/").status_code == 200
    assert AuditLog.objects.filter(action="view", object_type="waitinglist.pathway", object_id=str(p.pk),
                                   actor=wlm).exists()
