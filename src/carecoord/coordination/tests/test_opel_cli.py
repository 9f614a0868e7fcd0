"""`carecoord opel score|editions`: offline scoring from a CSV, no database."""

import json

from carecoord import cli
from carecoord.coordination import opel

ROWS = """provider,metric,time,value
RAA,ambulance_handover_mean_minutes,2026-01-12T09:00:00,45
RAA,ed_4h_performance_pct,2026-01-12T09:00:00,62
RAA,ambulance_handover_mean_minutes,2026-01-12T09:15:00,80
RBB,ambulance_handover_mean_minutes,2026-01-12T09:00:00,12
RBB,bogus_metric,2026-01-12T09:00:00,1
"""


def test_score_prints_provider_and_system_levels_per_reading_time(tmp_path, capsys, monkeypatch):
    path = tmp_path / "r.csv"
    path.write_text(ROWS)
    # No database: the command must not even load Django settings.
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "carecoord.does_not_exist")
    assert cli.main(["opel", "score", "--readings", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["at"][:16] for r in out["results"]] == ["2026-01-12T09:00", "2026-01-12T09:15"]
    first = out["results"][0]
    assert set(first["providers"]) == {"RAA", "RBB"} and set(first["systems"]) == {"system"}
    expected = opel.score_table(opel.available_editions()[-1]["name"], str(path))
    assert out == json.loads(json.dumps(expected, default=str))
    assert out["unknown_metrics"] == ["bogus_metric"]
    # missing parameters are reported as missing, never as zero points
    assert None in first["providers"]["RBB"]["points"].values()


def test_editions_lists_the_shipped_framework(capsys):
    assert cli.main(["opel", "editions", "--format", "json"]) == 0
    names = [e["name"] for e in json.loads(capsys.readouterr().out)]
    assert "nhse-2024-26-bnssg-derived" in names


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    assert cli.main(["opel", "score", "--readings", str(tmp_path / "none.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("provider,metric,value\nRAA,x,1\n")
    assert cli.main(["opel", "score", "--readings", str(bad)]) == 2
    assert "time" in capsys.readouterr().err
    assert cli.main(["opel", "score", "--readings", str(bad), "--edition", "nope"]) == 2
