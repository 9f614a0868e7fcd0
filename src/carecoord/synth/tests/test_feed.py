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
    events_trust = OrganisationFactory(ods_code="RBB", parent=icb)
    monday = datetime(2026, 11, 23, 15, 0, tzinfo=ZoneInfo("Europe/London"))
    n = feed.backfill(hours=2, now=monday)
    # 9 quarter-hours: the first trust posts 4 readings; the second posts events (its handover, 4-hour and
    # G&A readings are derived from them) and its majors occupancy as a reading
    synth = Reading.objects.filter(source="synth").count()
    assert synth == 9 * (len(feed.BASE) + 1)
    derived = Reading.objects.filter(organisation=events_trust, source="derived")
    assert n == synth + derived.count()
    for metric in ("ambulance_handover_mean_minutes", "ed_4h_performance_pct", "ga_bed_occupancy_pct"):
        assert derived.filter(metric=metric).count() == 9, metric
    assert OpelScore.objects.filter(organisation=events_trust).count() == 9
    scores = OpelScore.objects.filter(organisation=first).order_by("at")
    assert scores.count() == 9 and all(s.level for s in scores)
    handover = Reading.objects.filter(organisation=first, metric="ambulance_handover_mean_minutes").order_by("-at")[0]
    assert handover.value > 40  # the bad day


def test_synth_feed_command(capsys):
    icb = OrganisationFactory(ods_code="QAA", kind=OrganisationKind.ICB)
    OrganisationFactory(ods_code="RAA", parent=icb)
    call_command("synth", "feed", "--hours", "1", "--format", "json")
    assert '"readings": 20' in capsys.readouterr().out
