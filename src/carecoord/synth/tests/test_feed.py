"""The synthetic SCC feed: a day of readings, scored, with a bad day that escalates."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from carecoord.coordination.models import OpelScore, Reading
from carecoord.core.models import OrganisationKind
from carecoord.synth import feed
from carecoord.testing.factories import OrganisationFactory

pytestmark = pytest.mark.django_db


def test_backfill_writes_scored_readings_and_mondays_are_worse(settings):
    icb = OrganisationFactory(ods_code="QAA", kind=OrganisationKind.ICB)
    first = OrganisationFactory(ods_code="RAA", parent=icb)
    OrganisationFactory(ods_code="RBB", parent=icb)
    monday = datetime(2026, 11, 23, 15, 0, tzinfo=ZoneInfo("Europe/London"))
    n = feed.backfill(hours=2, now=monday)
    assert n == 9 * 2 * len(feed.BASE)  # 9 quarter-hours x 2 providers x 4 metrics
    assert Reading.objects.filter(source="synth").count() == n
    scores = OpelScore.objects.filter(organisation=first).order_by("at")
    assert scores.count() == 9 and all(s.level for s in scores)
    handover = Reading.objects.filter(organisation=first, metric="ambulance_handover_mean_minutes").order_by("-at")[0]
    assert handover.value > 40  # the bad day


def test_synth_feed_command(capsys):
    icb = OrganisationFactory(ods_code="QAA", kind=OrganisationKind.ICB)
    OrganisationFactory(ods_code="RAA", parent=icb)
    call_command("synth", "feed", "--hours", "1", "--format", "json")
    assert '"readings": 20' in capsys.readouterr().out
