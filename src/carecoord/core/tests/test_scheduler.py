"""The worker's daily schedule: due once the local time has passed, run once per day however many
workers check, a failure recorded without stopping the rest."""

from datetime import datetime

import pytest
from django.utils import timezone

from carecoord.core import scheduler
from carecoord.core.models import ScheduledRun

pytestmark = pytest.mark.django_db
CALLS = []


def record(now):
    CALLS.append(now)
    return "recorded"


def boom(now):
    raise RuntimeError("no")


@pytest.fixture
def sched(settings):
    CALLS.clear()
    settings.SCHEDULE = {
        "validation-nightly": {"at": None},
        "digital-validation-chase": {"at": None},
        "test-job": {"at": "02:00", "call": "carecoord.core.tests.test_scheduler.record"},
        "broken": {"at": "03:00", "call": "carecoord.core.tests.test_scheduler.boom"},
    }


def _at(h, m, day=1):
    return timezone.make_aware(datetime(2026, 12, day, h, m))


def test_runs_once_a_day_after_its_time(sched):
    assert scheduler.run_due(_at(1, 59)) == {}
    assert scheduler.run_due(_at(2, 0)) == {"test-job": "recorded"}
    assert scheduler.run_due(_at(2, 30)) == {}  # a second check, or a second worker, does nothing
    assert scheduler.run_due(_at(2, 0, day=2)) == {"test-job": "recorded"}
    assert len(CALLS) == 2 and ScheduledRun.objects.count() == 2


def test_a_failure_is_recorded_and_the_rest_still_run(sched):
    ran = scheduler.run_due(_at(4, 0))
    assert ran == {"test-job": "recorded", "broken": "failed: RuntimeError"}
    assert ScheduledRun.objects.get(name="broken").outcome == "failed: RuntimeError"


def test_nightly_validation_queues_a_run_per_provider(trust, other_trust, django_capture_on_commit_callbacks):
    from carecoord.testing.factories import pathway_at, patient_at
    from carecoord.validation import tasks
    from carecoord.validation.models import ValidationRun

    pathway_at(trust, patient_at(trust))
    pathway_at(other_trust, patient_at(other_trust))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.nightly() == "2 validation runs queued"
    assert sorted(ValidationRun.objects.values_list("organisation__ods_code", "trigger")) == [
        ("RAA", "nightly"), ("RBB", "nightly")]
