"""Consultant leave from the rota: CSV import (page and CLI, all or nothing, every bad row named),
manual entry, and the bookings that fall in new leave."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from carecoord.core.models import AuditLog, Role
from carecoord.core.services.audit import Auditor
from carecoord.testing.factories import user_with_roles
from carecoord.theatres import services
from carecoord.theatres.models import ConsultantLeave
from carecoord.theatres.tests.test_lifecycle import lists, scheduler  # noqa: F401 - shared fixtures
from carecoord.theatres.tests.test_services import _ready, setup  # noqa: F401

pytestmark = pytest.mark.django_db


def test_import_is_all_or_nothing_and_names_every_bad_row(trust):
    text = ("consultant_code,starts_on,ends_on,kind\n"
            "C0001100,2026-12-01,2026-12-05,annual\n"
            ",2026-12-01,2026-12-02,study\n"
            "C0002200,31/12/2026,01/12/2026,annual\n"
            "C0003300,2026-13-01,2026-12-02,holiday\n")
    out = services.import_leave(trust, text, auditor=Auditor.system("test"))
    assert out.errors == ["row 3, consultant_code: must be 1 to 12 characters",
                          "row 4, ends_on: before starts_on",
                          "row 5, starts_on: '2026-13-01' is not a date (YYYY-MM-DD or DD/MM/YYYY)",
                          "row 5, kind: 'holiday' is not one of annual, other, rota, study"]
    assert not ConsultantLeave.objects.exists()


def test_missing_columns_are_named(trust):
    out = services.import_leave(trust, "consultant,from,to\nC1,2026-12-01,2026-12-02\n", auditor=Auditor.system("t"))
    assert out.errors and "missing columns consultant_code, starts_on, ends_on" in out.errors[0]


def test_reimport_adds_nothing_and_reports_bookings_in_new_leave(trust, lists, scheduler):  # noqa: F811
    b = services.book(lists[0], _ready(trust), by=scheduler, auditor=Auditor(scheduler))
    d = lists[0].date
    text = f"consultant_code,starts_on,ends_on\n{lists[0].consultant_code},{d:%d/%m/%Y},{d + timedelta(days=1)}\n"
    first = services.import_leave(trust, text, auditor=Auditor.system("t"))
    assert first.created == 1 and first.errors == [] and [c.pk for c in first.clashes] == [b.pk]
    again = services.import_leave(trust, text, auditor=Auditor.system("t"))
    assert again.created == 0 and again.duplicates == 1
    assert ConsultantLeave.objects.get().kind == "annual"
    assert AuditLog.objects.filter(object_type="theatres.consultantleave", action="create").count() == 1


def test_cli(trust, tmp_path, capsys):
    good = tmp_path / "leave.csv"
    good.write_text("consultant_code,starts_on,ends_on,kind\nc0001100,2026-12-01,2026-12-05,study\n")
    call_command("theatres", "leave", str(good), "--provider", "RAA", "--format", "json")
    assert json.loads(capsys.readouterr().out) == {"rows_read": 1, "created": 1, "duplicates": 0, "errors": [],
                                                   "bookings_during_leave": 0}
    assert ConsultantLeave.objects.get().consultant_code == "C0001100"
    bad = tmp_path / "bad.csv"
    bad.write_text("consultant_code,starts_on,ends_on\nC1,yesterday,2026-12-05\n")
    with pytest.raises(CommandError, match="nothing was loaded"):
        call_command("theatres", "leave", str(bad), "--provider", "RAA")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("theatres", "leave", str(tmp_path / "missing.csv"), "--provider", "RAA")


def test_leave_page_add_and_upload(trust, lists, client):  # noqa: F811
    client.force_login(user_with_roles(trust, Role.SCHEDULER))
    d = lists[0].date
    r = client.post("/theatres/leave/", {"action": "add", "l-consultant_code": "c0001100",
                                         "l-starts_on": d.isoformat(), "l-ends_on": d.isoformat(), "l-kind": "study"},
                    follow=True)
    assert "1 leave period added" in r.content.decode() and ConsultantLeave.objects.get().kind == "study"
    bad = client.post("/theatres/leave/", {"action": "add", "l-consultant_code": "C1", "l-starts_on": d.isoformat(),
                                           "l-ends_on": (d - timedelta(days=1)).isoformat(), "l-kind": "study"})
    assert bad.status_code == 400 and "The last day must be on or after the first day" in bad.content.decode()
    upload = SimpleUploadedFile("leave.csv", b"consultant_code,starts_on,ends_on\nC9,2026-12-01,nope\n", "text/csv")
    r = client.post("/theatres/leave/", {"action": "upload", "u-file": upload})
    assert r.status_code == 400 and "row 2, ends_on" in r.content.decode() and "nothing was loaded" in r.content.decode()
    binary = SimpleUploadedFile("leave.csv", b"\xff\xfe\x00bad", "text/csv")
    r = client.post("/theatres/leave/", {"action": "upload", "u-file": binary})
    assert r.status_code == 400 and "UTF-8" in r.content.decode()
    assert ConsultantLeave.objects.count() == 1
