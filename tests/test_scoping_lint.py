"""Views and API modules must reach patient-level data only through organisation-scoped
querysets. This test fails when a view or API module calls `<PatientLevelModel>.objects`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.apps import apps

SRC = Path(__file__).resolve().parents[1] / "src" / "carecoord"

# Models holding patient-level data. Each app adds its own by setting `patient_level = True`
# on the model class; these core ones are listed explicitly.
CORE_PATIENT_MODELS = {"Patient", "PatientIdentifier"}


def patient_level_models() -> set[str]:
    names = set(CORE_PATIENT_MODELS)
    for model in apps.get_models():
        if getattr(model, "patient_level", False):
            names.add(model.__name__)
    return names


def view_modules() -> list[Path]:
    files = []
    for pattern in ("*/views.py", "*/*_views.py", "*/views/*.py", "*/api.py", "*/api/*.py"):
        files.extend(SRC.glob(pattern))
    return sorted(files)


def offending_calls(path: Path, models: set[str]) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr == "objects" and isinstance(node.value, ast.Name)
                and node.value.id in models):
            found.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value.id}.objects")
    return found


@pytest.mark.django_db(databases=[])
def test_views_do_not_query_patient_level_models_directly():
    models = patient_level_models()
    problems = [c for f in view_modules() for c in offending_calls(f, models)]
    assert not problems, "use organisation-scoped querysets instead:\n" + "\n".join(problems)


def test_the_lint_catches_a_direct_query(tmp_path, monkeypatch):
    import sys

    module = sys.modules[__name__]
    fake_src = tmp_path / "carecoord"
    (fake_src / "demo").mkdir(parents=True)
    (fake_src / "demo" / "views.py").write_text("def v(request):\n    return Patient.objects.all()\n")
    monkeypatch.setattr(module, "SRC", fake_src)
    assert module.offending_calls(fake_src / "demo" / "views.py", {"Patient"}) == ["demo/views.py:2 Patient.objects"]
