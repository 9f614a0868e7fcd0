"""The validation dashboard's figures: teams' overdue tasks, digital response rates and answers, the
effect of removals on the list and its 18-week share, and the CSV that carries the same figures."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from carecoord.core.models import Role
from carecoord.core.services.audit import Auditor
from carecoord.testing.factories import pathway_at, patient_at, user_with_roles
from carecoord.validation import dashboard, digital, workflows
from carecoord.validation.models import ValidationTask

pytestmark = pytest.mark.django_db


def _p(trust, days_waited, **kw):
    return pathway_at(trust, patient_at(trust), rtt_start=timezone.localdate() - timedelta(days=days_waited), **kw)


def test_effect_counts_removed_pathways_as_if_still_waiting(trust):
    today = timezone.localdate()
    _p(trust, 126)  # within 18 weeks: 126 days is the last day inside (RTT summary convention)
    _p(trust, 127)
    _p(trust, 30)
    gone = [_p(trust, 400), _p(trust, 10)]
    clinician = user_with_roles(trust, Role.CLINICIAN)
    for g in gone:
        workflows.record_decision(g, clinician=clinician, decision="remove", removal_reason="no_longer_required",
                                  rationale="confirmed with patient", auditor=Auditor(clinician, organisation=trust))
    e = dashboard.effect(trust, today)
    assert e["list_now"] == 3 and e["pct_within_18_now"] == round(100 * 2 / 3, 1)
    assert e["removed_by_validation"] == 2 and e["removed_over_52_weeks"] == 1
    assert e["list_without_validation"] == 5 and e["pct_within_18_without_validation"] == 60.0
    weeks = dashboard.removals_by_week(trust, today)
    assert sum(r["removals"] for r in weeks) == 2 and {r["reason"] for r in weeks} == {"no_longer_required"}


def test_teams_overdue_uses_the_configured_targets(trust, settings):
    settings.VALIDATION_TASK_TARGET_DAYS = {"clinical": 3}
    p = _p(trust, 50)
    old = workflows.escalate(p, reason="check", auditor=Auditor.system("t"))
    ValidationTask.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=4))
    workflows.escalate(_p(trust, 60), reason="check", auditor=Auditor.system("t"))
    clinical = next(t for t in dashboard.teams(trust, timezone.localdate()) if t["team"] == "clinical")
    assert clinical == {**clinical, "open": 2, "overdue": 1, "target_days": 3}


def test_digital_response_rates_by_batch(trust):
    for _ in range(4):
        pt = patient_at(trust)
        pt.consent_sms, pt.phone = True, "07700900123"
        pt.save()
        pathway_at(trust, pt, clinical_priority="P4", rtt_start=timezone.localdate() - timedelta(days=200))
    user = user_with_roles(trust, Role.VALIDATOR)
    batch = digital.create_batch(trust, name="P4", cohort=digital.Cohort(), by=user,
                                 auditor=Auditor(user, organisation=trust))
    digital.send(batch, auditor=Auditor(user, organisation=trust))
    m1, m2 = batch.messages.order_by("pk")[:2]
    batch.messages.update(verified_at=timezone.now())  # both confirmed their date of birth
    digital.respond(m1, "still_need", "")
    digital.respond(m2, "had_elsewhere", "private hospital")
    d = dashboard.digital(trust)
    assert d["total"]["sent"] == 4 and d["total"]["answered"] == 2 and d["total"]["response_rate"] == 50.0
    assert d["total"]["answer_had_elsewhere"] == 1 and d["batches"][0]["response_rate"] == 50.0


def test_dashboard_page_and_csv(client, trust):
    _p(trust, 200)
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    page = client.get("/validation/dashboard/").content.decode()
    assert 'id="teams"' in page and 'id="effect"' in page and "No digital validation batches" in page
    # Every column of the effect table has a header with text (the first, for the rows' labels, hidden).
    effect = page[page.index('id="effect"'):page.index("</table>", page.index('id="effect"'))]
    assert '<th scope="col" class="nhsuk-table__header"></th>' not in effect
    assert '<span class="nhsuk-u-visually-hidden">Scenario</span>' in effect
    r = client.get("/validation/dashboard/", {"format": "csv"})
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    assert rows[0] == ["section", "item", "measure", "value"]
    assert ["list", "all", "pathways_on_list", "1"] in rows
    assert ["effect", "all", "list_now", "1"] in rows
    assert any(r[0] == "team" and r[1] == "clinical" for r in rows)


def test_a_trust_sees_only_its_own_runs_not_system_wide_totals(client, trust, other_trust):
    from carecoord.validation import runner

    for _ in range(3):
        _p(other_trust, 100, rtt_status="21")
    _p(trust, 100, rtt_status="21")
    own = runner.run(organisation=trust)
    system_wide = runner.run()
    assert system_wide.findings_by_rule["T8"] == 4
    data = dashboard.build(trust)
    assert [r.pk for r in data["runs"]] == [own.pk]
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    rows = client.get("/validation/dashboard/", {"format": "csv"}).content.decode().splitlines()
    runs = [r for r in rows if r.startswith("run,")]
    assert runs and all(r.split(",")[1].startswith(own.started_at.isoformat()[:19]) for r in runs)
    assert "run," + system_wide.started_at.isoformat() + ",T8,4" not in rows


def test_an_icb_sees_its_trusts_runs_each_named_but_no_system_wide_totals(client, trust, other_trust, icb):
    """An ICB sees its trusts' aggregate figures: their runs are on its dashboard (it showed none, since
    runs are stored per provider), each named by its provider; a trust still sees only its own."""
    from carecoord.validation import runner

    _p(trust, 100, rtt_status="21")
    _p(other_trust, 100, rtt_status="21")
    ours, theirs = runner.run(organisation=trust), runner.run(organisation=other_trust)
    system_wide = runner.run()
    assert [r.pk for r in dashboard.build(icb)["runs"]] == [ours.pk, theirs.pk]
    assert system_wide.pk not in [r.pk for r in dashboard.build(icb)["runs"]]
    assert [r.pk for r in dashboard.build(trust)["runs"]] == [ours.pk]
    client.force_login(user_with_roles(icb, Role.VALIDATOR))
    page = client.get("/validation/dashboard/").content.decode()
    assert trust.name in page and other_trust.name in page and f'"run": "{trust.ods_code} ' in page
    rows = list(csv.reader(io.StringIO(client.get("/validation/dashboard/", {"format": "csv"}).content.decode())))
    assert {r[1].split()[-1] for r in rows if r[0] == "run"} == {trust.ods_code, other_trust.ods_code}
