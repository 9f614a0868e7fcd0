"""Administrative and clinical validation: nothing leaves the list without a clinician's recorded
decision; patients' answers route to clinicians; every act updates the last-validated date."""

import pytest
from django.utils import timezone

from carecoord.core.models import Role
from carecoord.core.services.audit import Auditor
from carecoord.testing.factories import pathway_at, patient_at, user_with_roles
from carecoord.validation import workflows
from carecoord.validation.models import ClinicalDecision, ValidationTask
from carecoord.waitinglist.models import ClockEvent, Pathway
from carecoord.waitinglist.services import ClinicalDecisionRequired

pytestmark = pytest.mark.django_db


@pytest.fixture
def p(trust):
    return pathway_at(trust, patient_at(trust))


def test_patient_no_longer_needing_care_creates_a_clinical_task_not_a_removal(trust, p):
    validator = user_with_roles(trust, Role.VALIDATOR)
    workflows.record_contact(p, by=validator, method="phone", outcome="no_longer_required", notes="",
                             auditor=Auditor(validator, organisation=trust))
    p.refresh_from_db()
    assert p.status == "on_list" and p.last_validated_on == timezone.localdate()
    assert ValidationTask.objects.get(pathway=p).team == "clinical"


def test_a_non_clinician_cannot_decide_or_remove(trust, p):
    wlm = user_with_roles(trust, Role.WAITING_LIST_MANAGER)
    with pytest.raises(ClinicalDecisionRequired):
        workflows.record_decision(p, clinician=wlm, decision="remove", removal_reason="no_longer_required",
                                  rationale="patient said so", auditor=Auditor(wlm, organisation=trust))
    p.refresh_from_db()
    assert p.status == "on_list" and not ClinicalDecision.objects.exists()


def test_clinician_removal_records_the_decision_stops_the_clock_and_closes_the_task(trust, p):
    clin = user_with_roles(trust, Role.CLINICIAN)
    workflows.escalate(p, reason="review", auditor=Auditor(clin, organisation=trust))
    workflows.record_decision(p, clinician=clin, decision="remove", removal_reason="treated_elsewhere",
                              rationale="had surgery privately in March", auditor=Auditor(clin, organisation=trust))
    p = Pathway.objects.get(pk=p.pk)
    assert p.status == "removed" and p.removal.decided_by == clin
    assert ClockEvent.objects.filter(pathway=p, source="validation").exists()
    assert ValidationTask.objects.get(pathway=p).status == "done"


def test_keep_with_a_new_priority(trust, p):
    clin = user_with_roles(trust, Role.CLINICIAN)
    workflows.record_decision(p, clinician=clin, decision="keep", priority="P2", rationale="worse symptoms",
                              auditor=Auditor(clin, organisation=trust))
    p.refresh_from_db()
    assert p.status == "on_list" and p.clinical_priority == "P2"


def test_pages_enforce_the_clinical_decision(client, trust, p):
    wlm = user_with_roles(trust, Role.WAITING_LIST_MANAGER)
    client.force_login(wlm)
    page = client.get(f"/validation/pathways/{p.pk}/").content.decode()
    assert "Record a contact" in page and "Clinical decision" not in page
    r = client.post(f"/validation/pathways/{p.pk}/", {"action": "decision", "d-decision": "remove",
                                                        "d-removal_reason": "duplicate", "d-rationale": "dup"})
    assert r.status_code == 403
    p.refresh_from_db()
    assert p.status == "on_list"
    clin = user_with_roles(trust, Role.CLINICIAN)
    client.force_login(clin)
    bad = client.post(f"/validation/pathways/{p.pk}/", {"action": "decision", "d-decision": "remove",
                                                          "d-rationale": "dup"})
    assert bad.status_code == 400 and "Choose why the patient is being removed" in bad.content.decode()
    ok = client.post(f"/validation/pathways/{p.pk}/", {"action": "decision", "d-decision": "remove",
                                                         "d-removal_reason": "duplicate", "d-rationale": "dup of 123"})
    assert ok.status_code == 302
    p.refresh_from_db()
    assert p.status == "removed"


def test_another_organisations_pathway_is_404(client, trust, other_trust):
    theirs = pathway_at(other_trust, patient_at(other_trust))
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    assert client.get(f"/validation/pathways/{theirs.pk}/").status_code == 404


def test_dashboard_counts(client, trust, p):
    from carecoord.validation import runner

    p.rtt_status = "21"
    p.save()
    runner.run(organisation=trust)
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    r = client.get("/validation/dashboard/")
    body = r.content.decode()
    assert r.status_code == 200 and "T8" in body and "runs-spec" in body
    import re

    cards = dict(re.findall(r'card__description">([^<]+)</p><p class="nhsuk-heading-l[^"]*">([^<]+)</p>', body))
    assert cards["Pathways on the list"] == "1"
    assert cards["Due for revalidation (RTT lists, rule T19)"] == "1"  # waited 100 days, never validated
    assert cards["Validated in the last 12 weeks"] == "0.0%"


def test_tasks_page_filters_sorts_and_acts_in_bulk(client, trust, other_trust):
    from datetime import timedelta

    validator = user_with_roles(trust, Role.VALIDATOR)
    early = pathway_at(trust, patient_at(trust), rtt_start=timezone.localdate() - timedelta(days=300))
    late = pathway_at(trust, patient_at(trust), rtt_start=timezone.localdate() - timedelta(days=30))
    tasks = [ValidationTask.objects.create(pathway=p, team="clinical", kind="clinical", reason="patient unsure",
                                           source="digital:response") for p in (late, early)]
    theirs = pathway_at(other_trust, patient_at(other_trust))
    foreign = ValidationTask.objects.create(pathway=theirs, team="clinical", kind="clinical", reason="x", source="t")
    client.force_login(validator)
    body = client.get("/validation/tasks/", {"sort": "longest_wait"}).content.decode()
    assert body.index(early.ppid) < body.index(late.ppid) and theirs.ppid not in body
    # assign both to me; another organisation's task id in the post is ignored
    r = client.post("/validation/tasks/", {"team": "clinical", "action": "assign",
                                           "task": [str(t.pk) for t in tasks] + [str(foreign.pk)]}, follow=True)
    assert "Assign to me: 2 tasks" in r.content.decode()
    assert ValidationTask.objects.filter(assigned_to=validator).count() == 2
    foreign.refresh_from_db()
    assert foreign.assigned_to is None
    mine = client.get("/validation/tasks/", {"assigned": "me"}).content.decode()
    assert early.ppid in mine and late.ppid in mine
    r = client.post("/validation/tasks/", {"team": "clinical", "action": "delete", "task": [str(tasks[1].pk)]},
                    follow=True)
    assert "Choose what to do" in r.content.decode()


def test_only_clinicians_have_a_task_list_the_other_teams_work_from_findings(client, trust):
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    body = client.get("/validation/tasks/", {"team": "validation"}).content.decode()
    assert "Clinical review tasks" in body and 'name="team" value="clinical"' in body
    assert "/validation/?team=data_quality" in body and 'id="team"' not in body
    dash = client.get("/validation/dashboard/").content.decode()
    assert "/validation/tasks/?team=clinical" in dash and "/validation/tasks/?team=booking" not in dash


def test_bulk_ask_a_clinician_closes_the_other_teams_task_and_opens_one_clinical_task(trust):
    validator = user_with_roles(trust, Role.VALIDATOR)
    p = pathway_at(trust, patient_at(trust))
    task = ValidationTask.objects.create(pathway=p, team="validation", kind="admin", reason="check", source="x")
    n = workflows.bulk(ValidationTask.objects.filter(pk=task.pk), "escalate", user=validator,
                       auditor=Auditor(validator, organisation=trust))
    task.refresh_from_db()
    assert n == 1 and task.status == "done" and task.outcome == "escalated"
    assert ValidationTask.objects.get(pathway=p, team="clinical").status == "open"
    p.refresh_from_db()
    assert p.status == "on_list"


def test_a_team_task_open_past_its_target_is_marked_overdue(client, trust, p, settings):
    from datetime import timedelta

    settings.VALIDATION_TASK_TARGET_DAYS = {"clinical": 2}
    t = workflows.escalate(p, reason="check", auditor=Auditor.system("t"))
    client.force_login(user_with_roles(trust, Role.CLINICIAN))
    assert "Overdue" not in client.get("/validation/tasks/").content.decode()
    ValidationTask.objects.filter(pk=t.pk).update(created_at=timezone.now() - timedelta(days=3))
    assert "Overdue</strong>" in client.get("/validation/tasks/").content.decode()


def test_correcting_data_needs_a_reason_is_audited_and_noted(client, trust, p):
    from carecoord.core.models import AuditLog

    task = ValidationTask.objects.create(pathway=p, team="validation", kind="data", reason="T4", source="finding:T4")
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    url = f"/validation/pathways/{p.pk}/"
    form = {"action": "correct", "x-tfc": p.tfc, "x-consultant_code": "c7654321", "x-intended_procedure": "W37.1",
            "x-referral_received": p.referral_received.isoformat() if p.referral_received else "", "x-dta_date": ""}
    r = client.post(url, {**form, "x-reason": ""})
    assert r.status_code == 400 and "Record why the data is being corrected" in r.content.decode()
    bad = client.post(url, {**form, "x-intended_procedure": "hip", "x-reason": "typo"})
    assert bad.status_code == 400 and "An OPCS-4 code" in bad.content.decode()
    r = client.post(url, {**form, "x-reason": "consultant changed in clinic letter"}, follow=True)
    assert "Corrected:" in r.content.decode()
    p.refresh_from_db()
    task.refresh_from_db()
    assert p.consultant_code == "C7654321" and p.intended_procedure == "W371"
    assert p.last_validated_on == timezone.localdate() and task.status == "done" and task.outcome == "corrected"
    note = p.notes.get()
    assert "consultant changed in clinic letter" in note.text and "C7654321" in note.text
    assert "referral received" not in note.text  # unchanged fields are not mentioned
    log = AuditLog.objects.filter(object_type="waitinglist.pathway", object_id=str(p.pk), action="update",
                                  summary__startswith="data corrected").get()
    assert log.after["consultant_code"] == "C7654321"
    with pytest.raises(workflows.ValidationError):
        workflows.correct(p, {"rtt_start": None}, reason="no", by=None, auditor=Auditor.system("t"))


def test_worklist_filters_by_severity_and_provider_and_sorts(client, trust):
    from datetime import timedelta

    from carecoord.validation import runner

    old = pathway_at(trust, patient_at(trust), rtt_start=timezone.localdate() - timedelta(days=400))
    old.rtt_status = "21"  # T8 (a warning): transferred, still on this list; and T19 (info): revalidation due
    old.save()
    runner.run(organisation=trust)
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    warnings = client.get("/validation/", {"severity": "warning"}).content.decode()
    assert old.ppid in warnings and ">info</strong>" not in warnings
    info = client.get("/validation/", {"severity": "info"}).content.decode()
    assert ">info</strong>" in info and ">warning</strong>" not in info
    assert old.ppid not in client.get("/validation/", {"provider": "RZZ"}).content.decode()
    assert old.ppid in client.get("/validation/", {"provider": "raa", "sort": "newest"}).content.decode()
    bad = client.get("/validation/", {"severity": "fatal", "sort": "random"})
    assert bad.status_code == 400 and "Choose error, warning or info" in bad.content.decode()
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(client.get("/validation/findings.csv", {"severity": "warning"})
                                           .content.decode())))
    assert rows and {r["severity"] for r in rows} == {"warning"} and "T8" in {r["rule"] for r in rows}


@pytest.mark.parametrize("decision,extra", [("move", {"new_list_type": "planned"}), ("keep", {"priority": "P2"}),
                                            ("remove", {"removal_reason": "duplicate"})])
def test_a_decision_on_a_pathway_already_off_the_list_is_refused(trust, p, decision, extra):
    a, b = user_with_roles(trust, Role.CLINICIAN), user_with_roles(trust, Role.CLINICIAN)
    stale = Pathway.objects.get(pk=p.pk)  # clinician B's page, loaded before A removed it
    workflows.record_decision(p, clinician=a, decision="remove", removal_reason="treated_elsewhere",
                              rationale="had it privately", auditor=Auditor(a, organisation=trust))
    with pytest.raises(workflows.ValidationError, match="no longer on the waiting list"):
        workflows.record_decision(stale, clinician=b, decision=decision, rationale="stale page",
                                  auditor=Auditor(b, organisation=trust), **extra)
    p.refresh_from_db()
    assert p.list_type == "admitted" and p.clinical_priority != "P2"
    assert ClinicalDecision.objects.filter(pathway=p).count() == 1


def test_contacts_corrections_and_reviews_on_a_removed_pathway_are_refused_on_the_page(client, trust, p):
    clin = user_with_roles(trust, Role.CLINICIAN, Role.VALIDATOR)
    workflows.record_decision(p, clinician=clin, decision="remove", removal_reason="duplicate", rationale="dup",
                              auditor=Auditor(clin, organisation=trust))
    client.force_login(clin)
    url = f"/validation/pathways/{p.pk}/"
    for data in ({"action": "decision", "d-decision": "move", "d-new_list_type": "planned", "d-rationale": "x"},
                 {"action": "contact", "c-method": "phone", "c-outcome": "remain_proceed"},
                 {"action": "correct", "x-tfc": "130", "x-reason": "typo"},
                 {"action": "escalate"}):
        r = client.post(url, data)
        assert r.status_code == 400 and "no longer on the waiting list" in r.content.decode(), data["action"]
    p.refresh_from_db()
    assert p.list_type == "admitted" and p.tfc == "110"
    assert not p.contact_attempts.exists() and not ValidationTask.objects.filter(status="open").exists()


@pytest.mark.parametrize("field,value,message", [
    ("x-tfc", "ABC", "not a treatment function code"),
    ("x-tfc", "999", "not a treatment function code"),
    ("x-referral_received", "2099-01-01", "today or in the past"),
    ("x-dta_date", "1800-01-01", "placeholder date"),
    ("x-dta_date", "9999-12-31", "placeholder date"),
    ("x-referral_received", "1940-01-01", "after the patient"),
])
def test_a_correction_follows_the_importers_rules(client, trust, p, field, value, message):
    p.patient.birth_date = __import__("datetime").date(1950, 5, 1)
    p.patient.save()
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    data = {"action": "correct", "x-tfc": "110", "x-reason": "typo", field: value}
    r = client.post(f"/validation/pathways/{p.pk}/", data)
    assert r.status_code == 400 and message in r.content.decode()
    p.refresh_from_db()
    assert p.tfc == "110" and p.last_validated_on is None


def test_a_correction_to_a_known_code_and_past_dates_is_accepted(client, trust, p):
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    today = timezone.localdate()
    r = client.post(f"/validation/pathways/{p.pk}/", {"action": "correct", "x-tfc": "130", "x-reason": "typo",
                                                      "x-referral_received": today.isoformat()})
    assert r.status_code == 302
    p.refresh_from_db()
    assert p.tfc == "130" and p.referral_received == today


def test_a_pathways_own_unlisted_code_does_not_block_correcting_its_other_fields(client, trust):
    """The importer takes any 3-character code; the correction form checks a code only when it changes."""
    odd = pathway_at(trust, patient_at(trust), tfc="X01")
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    r = client.post(f"/validation/pathways/{odd.pk}/", {"action": "correct", "x-tfc": "x01", "x-reason": "typo",
                                                        "x-consultant_code": "C7654321"})
    assert r.status_code == 302
    odd.refresh_from_db()
    assert (odd.tfc, odd.consultant_code) == ("X01", "C7654321")
    r = client.post(f"/validation/pathways/{odd.pk}/", {"action": "correct", "x-tfc": "X02", "x-reason": "typo"})
    assert r.status_code == 400 and "not a treatment function code" in r.content.decode()


def test_the_migration_resolves_duplicate_open_tasks_safely(trust, p):
    import importlib

    from django.apps import apps
    from django.db import connection

    from carecoord.core.models import AuditLog

    mig = importlib.import_module("carecoord.validation.migrations.0002_one_open_task_per_pathway_team")
    validator = user_with_roles(trust, Role.VALIDATOR)
    with connection.cursor() as cur:  # as before the constraint (rolled back with the test)
        cur.execute("DROP INDEX one_open_task_per_pathway_team")
    first, second, third = (ValidationTask.objects.create(pathway=p, team="clinical", kind="clinical", reason=r,
                                                          source="escalation") for r in ("a", "b", "c"))
    ValidationTask.objects.filter(pk=third.pk).update(assigned_to=validator)
    other_team = ValidationTask.objects.create(pathway=p, team="validation", kind="admin", reason="d", source="x")
    with connection.schema_editor() as editor:
        mig.resolve_duplicates(apps, editor)
    assert set(ValidationTask.objects.filter(status="open").values_list("pk", flat=True)) == {first.pk,
                                                                                               other_team.pk}
    assert ValidationTask.objects.get(pk=first.pk).assigned_to == validator  # the assignee is kept
    assert set(ValidationTask.objects.filter(outcome="duplicate").values_list("pk", flat=True)) == {second.pk,
                                                                                                     third.pk}
    assert AuditLog.objects.filter(system_job=mig.JOB, object_type="validation.validationtask").count() == 3
