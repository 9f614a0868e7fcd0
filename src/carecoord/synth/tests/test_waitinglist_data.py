"""The synthetic waiting lists: clock fields agree with the RTT kernel, every status code appears,
the wait distribution is near England's, and injected defects are labelled."""

from datetime import date

import polars as pl
import pytest
from django.db import connection

from carecoord.synth import services
from carecoord.synth.waitinglist_data import DEFECT_RATES
from carecoord.waitinglist import rtt
from carecoord.waitinglist.models import ClockEvent, Pathway

AS_OF = date(2026, 11, 22)
pytestmark = pytest.mark.django_db


@pytest.fixture
def generated(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    return services.generate(seed=5, scale="demo", as_of=AS_OF)


def test_every_rtt_status_code_appears_in_the_histories(generated):
    seen = set(ClockEvent.objects.values_list("status", flat=True).distinct())
    assert rtt.ALL_STATUSES <= seen


def test_open_pathways_wait_like_englands_list(generated):
    open_ = Pathway.objects.filter(status="on_list", rtt_start__isnull=False)
    days = pl.Series([(AS_OF - d).days for d in open_.values_list("rtt_start", flat=True)])
    assert 20_000 < len(days) < 60_000
    within = (days <= 126).mean()
    over52 = (days > 364).mean()
    assert 0.5 < within < 0.75, within
    assert 0.003 < over52 < 0.04, over52


def test_pathway_clock_fields_match_the_kernel_on_a_sample(generated):
    sample = list(Pathway.objects.filter(status="on_list").exclude(clock_state="unknown")
                  .exclude(rtt_status="98").order_by("id")[:300])
    for p in sample:
        events = list(p.clock_events.exclude(status="30", event_date=date(2026, 11, 21))
                      .values_list("event_date", "status").order_by("event_date", "id"))
        if p.ppid.endswith("D"):
            continue  # injected duplicates carry no history of their own
        r = rtt.compute(events, referral_received=p.referral_received)
        assert r.current is not None and r.current.open
        assert p.rtt_start == r.current.start
        assert p.queue_date == r.queue_date


def test_defects_are_injected_at_their_rates_and_labelled(generated, tmp_path):
    labels = pl.read_parquet(tmp_path / "synth" / "defects.parquet")
    total = Pathway.objects.count()
    counts = dict(labels.group_by("defect").len().iter_rows())
    for name, rate in DEFECT_RATES.items():
        assert counts[name] == pytest.approx(rate * total, rel=0.25), name
    unknown = labels.filter(pl.col("defect") == "T3_unknown_clock_start")["pathway_id"].to_list()
    assert set(Pathway.objects.filter(pk__in=unknown).values_list("clock_state", flat=True)) == {"unknown"}
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM waitinglist_pathway WHERE ppid LIKE '%D'")
        assert cur.fetchone()[0] == counts["T5_duplicate"]


def test_a_hub_sees_its_systems_list_with_patients_on_two_providers_lists(generated, tmp_path):
    """The demo is usable as a system: each provider grants its elective hub patient-level access, and
    the T21 pathways put patients on a second provider's list, where the hub's merged list flags them."""
    from carecoord.core.models import Organisation, OrganisationKind, Patient
    from carecoord.waitinglist import system

    hub = Organisation.objects.filter(kind=OrganisationKind.ELECTIVE_HUB).order_by("ods_code").first()
    scope = hub.patient_scope_ids()
    assert set(scope) == {hub.pk, *Organisation.objects.filter(parent=hub.parent).exclude(pk=hub.pk)
                          .filter(kind__in=[OrganisationKind.NHS_TRUST, OrganisationKind.INDEPENDENT_SECTOR])
                          .values_list("pk", flat=True)}
    labels = pl.read_parquet(tmp_path / "synth" / "defects.parquet")
    moved = Pathway.objects.filter(pk__in=labels.filter(pl.col("defect") == "T21_other_provider")["pathway_id"]
                                   .to_list())
    assert moved.exists()
    for p in moved[:20]:
        first = Pathway.objects.filter(patient=p.patient, tfc=p.tfc, status="on_list").exclude(provider=p.provider)
        assert first.exists() and p.ppid_issuer == p.provider.ods_code
        assert Patient.objects.visible_to(p.provider).filter(pk=p.patient_id).exists()  # registered there too
    in_system = moved.filter(provider_id__in=scope).values("patient").distinct().count()
    summary = system.duplicate_summary(scope)
    assert summary is not None and summary.patients >= in_system > 0


def test_emitted_wlmds_files_import_back_cleanly(generated, tmp_path, capsys):
    import json as _json

    from django.core.management import call_command

    from carecoord.core.models import Organisation
    from carecoord.core.services.audit import Auditor
    from carecoord.integration import services as imports

    out_dir = tmp_path / "wlmds"
    call_command("synth", "--emit-wlmds", str(out_dir), "--as-of", AS_OF.isoformat(), "--format", "json")
    files = [p for p in _json.loads(capsys.readouterr().out)["files"]]
    open_files = sorted(p for p in files if "-open-" in p)
    assert open_files and any("-starts-" in p for p in files) and any("-stops-" in p for p in files)
    first = open_files[0]
    org = Organisation.objects.get(ods_code=first.rsplit("/", 1)[1].split("-open-")[0])
    on_list = Pathway.objects.filter(provider=org, status="on_list").count()
    batch = imports.import_wlmds(first, provider=org, auditor=Auditor.system("test", organisation=org),
                                 mode="good-rows")
    assert batch.rows_read == on_list
    # Every file (open pathways, clock starts, clock stops) imports with no rejection: the injected
    # defects are for validation to find, not rows the importer refuses. Stops carry the status that
    # stopped the clock (30-36), not a later 90/91.
    assert batch.rows_rejected == 0, list(batch.rejections.values_list("field", "reason")[:5])
    for kind in ("starts", "stops"):
        path = first.replace("-open-", f"-{kind}-")
        b = imports.import_wlmds(path, provider=org, auditor=Auditor.system("test", organisation=org), kind=kind,
                                 mode="good-rows")
        assert b.status == "loaded" and b.rows_rejected == 0, (kind, list(
            b.rejections.values_list("field", "value", "reason")[:5]))
        assert b.rows_read > 0, kind
    # The census written is the Sunday that ends AS_OF's week, whatever day --as-of is.
    assert first.endswith(f"-open-{AS_OF.isoformat()}.csv") and AS_OF.weekday() == 6


def test_the_emitted_census_is_the_sunday_ending_the_as_of_week():
    from carecoord.synth.wlmds_emit import week_ending

    assert {week_ending(date(2026, 11, d)) for d in range(23, 30)} == {date(2026, 11, 29)}
    assert week_ending(date(2026, 11, 30)) == date(2026, 12, 6)
