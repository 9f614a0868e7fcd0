"""The PTL list's contract across its surfaces (page, API, CSV/XLSX, `carecoord ptl export`): one
definition of weeks waited, page numbers that never empty the list, breach dates only for running
clocks, sorts both ways, pagination, saved views, case-insensitive codes and real dates in Excel."""

import csv
import io
import json
import re
from datetime import date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from carecoord.core.models import AuditLog, DataSharingGrant, Role
from carecoord.testing.factories import pathway_at, patient_at, user_with_roles
from carecoord.waitinglist import views
from carecoord.waitinglist.models import SavedView
from carecoord.waitinglist.presenters import PathwayRow
from carecoord.waitinglist.ptl import SORTS

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()

# RTT guidance v5.0 §10.1.7 (reference §1.7): days waited -> weeks-waited band.
VECTORS = {0: 1, 7: 1, 8: 2, 126: 18, 127: 19, 364: 52, 365: 53}


def _row(body: str, ppid: str) -> str:
    return next(r for r in body.split('<tr class="nhsuk-table__row">')[1:] if f">{ppid}</a>" in r)


def _ppids(body: str) -> list[str]:
    return re.findall(r'/waiting-list/pathways/\d+/">([^<]+)</a>', body)


@pytest.fixture
def waits(trust):
    return {d: pathway_at(trust, rtt_start=TODAY - timedelta(days=d)) for d in VECTORS}


# ---------------------------------------------------------------- 1. weeks waited

def test_the_page_shows_the_national_band_and_days(wlm_client, waits):
    body = wlm_client.get("/waiting-list/").content.decode()
    for d, band in VECTORS.items():
        row = _row(body, waits[d].ppid)
        assert re.search(r"data-weeks>(\d+)<", row).group(1) == str(band), d
        assert f"{d:,} day" in row


def test_the_api_returns_the_national_band(wlm_client, waits):
    results = wlm_client.get("/api/v1/waiting-list/ptl").json()["results"]
    got = {r["ppid"]: (r["days_waited"], r["weeks_waited"]) for r in results}
    assert {d: got[p.ppid] for d, p in waits.items()} == {d: (d, band) for d, band in VECTORS.items()}
    detail = wlm_client.get(f"/api/v1/waiting-list/pathways/{waits[365].pk}").json()
    assert detail["weeks_waited"] == 53


def test_the_exports_return_the_national_band(wlm_client, trust, waits, capsys):
    rows = {r["ppid"]: r for r in csv.DictReader(io.StringIO(wlm_client.get("/waiting-list/export.csv").content.decode()))}
    assert {d: (rows[p.ppid]["days_waited"], rows[p.ppid]["weeks_waited"]) for d, p in waits.items()} == {
        d: (str(d), str(band)) for d, band in VECTORS.items()}
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(wlm_client.get("/waiting-list/export.xlsx").content)).active
    header = [c.value for c in ws[1]]
    xrows = {r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert {d: (xrows[p.ppid]["days_waited"], xrows[p.ppid]["weeks_waited"]) for d, p in waits.items()} == {
        d: (d, band) for d, band in VECTORS.items()}
    call_command("ptl", "export", "--provider", "raa", "--census", TODAY.isoformat(), "--format", "json")
    cli = {r["patient_pathway_identifier"]: r for r in json.loads(capsys.readouterr().out)}
    assert {d: (cli[p.ppid]["days_waited"], cli[p.ppid]["weeks_waited"]) for d, p in waits.items()} == {
        d: (d, band) for d, band in VECTORS.items()}


def test_the_pathway_page_shows_the_band_with_days(wlm_client, waits):
    body = wlm_client.get(f"/waiting-list/pathways/{waits[365].pk}/").content.decode()
    assert "53 (365 days)" in body


@pytest.mark.parametrize(("band", "inside"), [
    ("0-18", {0, 7, 8, 126}), ("18-52", {127, 364}), ("52-65", {365}),
])
def test_the_band_filter_uses_the_same_boundaries(wlm_client, waits, band, inside):
    results = wlm_client.get("/api/v1/waiting-list/ptl", {"band": band}).json()["results"]
    assert {r["ppid"] for r in results} == {waits[d].ppid for d in inside}
    assert all(r["weeks_waited"] <= 18 for r in results) if band == "0-18" else True


def test_a_clock_starting_after_the_census_does_not_break_the_export(wlm_client, trust):
    future = pathway_at(trust, rtt_start=TODAY + timedelta(days=3))
    r = wlm_client.get("/waiting-list/export.csv")
    assert r.status_code == 200
    row = next(x for x in csv.DictReader(io.StringIO(r.content.decode())) if x["ppid"] == future.ppid)
    assert (row["days_waited"], row["weeks_waited"]) == ("-3", "")


# ---------------------------------------------------------------- 2. page numbers and invalid filters

@pytest.fixture
def p2s(trust):
    p2 = [pathway_at(trust, clinical_priority="P2", priority_rank=3, rtt_start=TODAY - timedelta(days=10 + i))
          for i in range(3)]
    p4 = pathway_at(trust, clinical_priority="P4", priority_rank=5)
    return p2, p4


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", ""])
def test_a_bad_page_is_page_one_and_keeps_the_filters(wlm_client, p2s, page):
    p2, p4 = p2s
    body = wlm_client.get("/waiting-list/", {"priority": "P2", "page": page}).content.decode()
    assert "There is a problem" not in body
    assert "3 open pathways match" in body
    assert set(_ppids(body)) == {p.ppid for p in p2} and p4.ppid not in body
    assert 'value="P2" selected' in body


def test_a_page_past_the_end_is_the_last_page(wlm_client, p2s, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    body = wlm_client.get("/waiting-list/", {"page": "99"}).content.decode()
    assert "Page 2 of 2" in body and len(_ppids(body)) == 1


def test_an_invalid_filter_names_the_field_and_shows_no_list(wlm_client, p2s):
    body = wlm_client.get("/waiting-list/", {"band": "forever", "priority": "P2", "page": "abc"}).content.decode()
    assert "There is a problem" in body and "Select a weeks-waited band from the list" in body
    assert 'href="#id_band"' in body
    assert 'id="ptl-table"' not in body and "open pathways match" not in body
    assert "The list is not shown until the filters are corrected" in body


def test_the_export_ignores_the_page(wlm_client, p2s):
    r = wlm_client.get("/waiting-list/export.csv", {"priority": "P2", "page": "abc"})
    assert r.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(r.content.decode())))) == 3
    r = wlm_client.get("/waiting-list/export.csv", {"priority": "P2", "page": "7"})
    assert len(list(csv.DictReader(io.StringIO(r.content.decode())))) == 3


def test_the_api_gives_404_for_a_page_past_the_last(wlm_client, p2s):
    r = wlm_client.get("/api/v1/waiting-list/ptl", {"page": 999})
    assert r.status_code == 404 and r["Content-Type"] == "application/problem+json"
    assert "no page 999" in r.json()["detail"] and "1 page of 100" in r.json()["detail"]
    empty = wlm_client.get("/api/v1/waiting-list/ptl", {"priority": "P1a"})
    assert empty.status_code == 200 and empty.json()["results"] == [] and empty.json()["pages"] == 1
    assert wlm_client.get("/api/v1/waiting-list/ptl", {"page": 0}).status_code == 422
    assert wlm_client.get("/api/v1/waiting-list/ptl", {"page": "abc"}).status_code == 422


# ---------------------------------------------------------------- 3. breach dates only while the clock runs

def test_no_breach_date_for_a_stopped_clock(wlm_client, trust):
    start = date(2026, 5, 10)
    stopped = pathway_at(trust, rtt_start=start, clock_state="stopped")
    running = pathway_at(trust, rtt_start=start)
    assert PathwayRow(stopped, TODAY).breach_52 is None
    assert PathwayRow(pathway_at(trust, rtt_start=None, clock_state="unknown"), TODAY).breach_52 is None
    assert PathwayRow(running, TODAY).breach_52 == "10 May 2027"  # first day over 364 days
    assert "10 May 2027" not in wlm_client.get(f"/waiting-list/pathways/{stopped.pk}/").content.decode()
    assert "10 May 2027" in wlm_client.get(f"/waiting-list/pathways/{running.pk}/").content.decode()


# ---------------------------------------------------------------- 4. sorting

@pytest.fixture
def mixed(trust):
    def make(ppid, **kw):
        return pathway_at(trust, ppid=ppid, **kw)

    return [
        make("A1", tfc="130", list_type="admitted", clinical_priority="P4", priority_rank=5,
             rtt_start=TODAY - timedelta(days=50), tci_date=TODAY + timedelta(days=5), consultant_code="C3"),
        make("B2", tfc="110", list_type="non_admitted", clinical_priority="P2", priority_rank=3,
             rtt_start=TODAY - timedelta(days=300), tci_date=TODAY + timedelta(days=9), consultant_code="C1"),
        make("C3", tfc="502", list_type="planned", clinical_priority="P3", priority_rank=4,
             rtt_start=TODAY - timedelta(days=10), tci_date=None, consultant_code="C2"),
    ]


@pytest.mark.parametrize(("sort", "expected"), [
    ("priority", ["B2", "C3", "A1"]), ("-priority", ["A1", "C3", "B2"]),
    ("wait", ["B2", "A1", "C3"]), ("-wait", ["C3", "A1", "B2"]),
    ("breach", ["B2", "A1", "C3"]), ("-breach", ["C3", "A1", "B2"]),
    ("tci", ["A1", "B2", "C3"]), ("-tci", ["B2", "A1", "C3"]),  # no TCI last both ways
    ("tfc", ["B2", "A1", "C3"]), ("-tfc", ["C3", "A1", "B2"]),
    ("consultant", ["B2", "C3", "A1"]), ("-consultant", ["A1", "C3", "B2"]),
    ("queue", ["B2", "A1", "C3"]), ("-queue", ["C3", "A1", "B2"]),
    ("list", ["A1", "B2", "C3"]), ("-list", ["C3", "B2", "A1"]),
    ("ppid", ["A1", "B2", "C3"]), ("-ppid", ["C3", "B2", "A1"]),
])
def test_every_sort_goes_both_ways(wlm_client, mixed, sort, expected):
    assert _ppids(wlm_client.get("/waiting-list/", {"sort": sort}).content.decode()) == expected
    assert [r["ppid"] for r in wlm_client.get("/api/v1/waiting-list/ptl", {"sort": sort}).json()["results"]] == expected


def test_provider_sort_on_the_system_list(client, icb, trust, other_trust):
    for grantor in (trust, other_trust):
        DataSharingGrant.objects.create(grantor=grantor, grantee=icb, scope="patient", purpose="system PTL")
    a = pathway_at(trust, clinical_priority="P4", priority_rank=5)
    b = pathway_at(other_trust, clinical_priority="P2", priority_rank=3)
    client.force_login(user_with_roles(icb, Role.HUB_COORDINATOR))
    assert _ppids(client.get("/waiting-list/", {"sort": "provider"}).content.decode()) == [a.ppid, b.ppid]
    assert _ppids(client.get("/waiting-list/", {"sort": "-provider"}).content.decode()) == [b.ppid, a.ppid]


def test_column_headings_sort_with_aria_sort_and_keep_the_filters(wlm_client, mixed):
    body = wlm_client.get("/waiting-list/", {"tfc": "110", "sort": "tci"}).content.decode()
    th = re.findall(r"<th [^>]*>.*?</th>", body, re.S)
    heads = {re.sub(r"<[^>]+>|[▲▼]", "", h).strip(): h for h in th}
    assert set(heads) == {"Pathway", "Provider", "TFC", "List", "Priority", "Weeks waited", "Breaches 52 weeks", "TCI"}
    assert 'aria-sort="ascending"' in heads["TCI"] and "tfc=110&amp;sort=-tci" in heads["TCI"]
    assert sum("aria-sort" in h for h in th) == 1
    assert "tfc=110&amp;sort=wait" in heads["Weeks waited"]
    default = wlm_client.get("/waiting-list/").content.decode()
    assert re.search(r'aria-sort="ascending">\s*<a href="\?sort=-priority"', default)


def test_the_sort_menu_shows_words_not_keys(wlm_client, mixed):
    body = wlm_client.get("/waiting-list/").content.decode()
    menu = body[body.index('id="id_sort"'):body.index("</select>", body.index('id="id_sort"'))]
    assert ">-wait<" not in menu and ">tci<" not in menu
    for label, _ in SORTS.values():
        assert label in menu


@pytest.mark.parametrize("sort", list(SORTS))
def test_pages_neither_overlap_nor_skip(wlm_client, trust, monkeypatch, sort):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    same = [pathway_at(trust, ppid="SAME", ppid_issuer=f"I{i}", rtt_start=TODAY - timedelta(days=30), tci_date=None)
            for i in range(5)]
    seen = []
    for n in (1, 2, 3):
        body = wlm_client.get("/waiting-list/", {"sort": sort, "page": n}).content.decode()
        seen += re.findall(r'/waiting-list/pathways/(\d+)/"', body)
    assert sorted(seen, key=int) == [str(p.pk) for p in same]


# ---------------------------------------------------------------- 5. pagination

def test_pagination_has_first_and_last_pages(wlm_client, trust, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for _ in range(9):
        pathway_at(trust)
    body = wlm_client.get("/waiting-list/", {"tfc": "110", "page": 3}).content.decode()
    nav = body[body.index('<nav class="nhsuk-pagination'):body.index("</nav>", body.index('<nav class="nhsuk-pagination'))]
    assert 'href="?tfc=110"' in nav and 'aria-label="Page 1"' in nav  # first page (page 1 has no page param)
    assert 'href="?tfc=110&amp;page=5"' in nav and 'aria-label="Page 5 (last page)"' in nav
    assert 'aria-current="page"' in nav and "Page 3 of 5" in body
    assert 'rel="prev"' in nav and 'rel="next"' in nav


# ---------------------------------------------------------------- 6. saved views

def test_a_saved_view_leaves_out_the_page(wlm_client, wlm, p2s):
    r = wlm_client.post("/waiting-list/views/", {"name": "P2s", "query": "priority=P2&page=3"})
    assert r.status_code == 302
    assert SavedView.objects.get(user=wlm).query == "priority=P2"
    body = wlm_client.get("/waiting-list/").content.decode()
    assert 'href="?priority=P2">P2s</a>' in body


def test_an_old_saved_view_with_a_page_opens_on_page_one(wlm_client, wlm, trust, p2s):
    SavedView.objects.create(user=wlm, organisation=trust, name="Old", query="priority=P2&page=3")
    assert 'href="?priority=P2">Old</a>' in wlm_client.get("/waiting-list/").content.decode()


def test_a_saved_view_with_bad_filters_is_refused(wlm_client, wlm, p2s):
    r = wlm_client.post("/waiting-list/views/", {"name": "Bad", "query": "sort=bogus&page=abc"}, follow=True)
    assert not SavedView.objects.filter(user=wlm).exists()
    body = r.content.decode()
    assert "The view was not saved because its filters are not valid" in body and "Sort by" in body


def test_a_too_long_query_says_so(wlm_client, wlm):
    r = wlm_client.post("/waiting-list/views/", {"name": "Long", "query": "site=" + "X" * 1000}, follow=True)
    body = r.content.decode()
    assert "too long to save" in body and "Give the view a name" not in body
    assert not SavedView.objects.filter(user=wlm).exists()
    r = wlm_client.post("/waiting-list/views/", {"name": "", "query": "priority=P2"}, follow=True)
    assert "Give the view a name" in r.content.decode()


def test_the_owner_deletes_a_saved_view(wlm_client, wlm, trust):
    mine = SavedView.objects.create(user=wlm, organisation=trust, name="Mine", query="priority=P2")
    body = wlm_client.get("/waiting-list/").content.decode()
    assert f'action="/waiting-list/views/{mine.pk}/delete/"' in body
    assert wlm_client.get(f"/waiting-list/views/{mine.pk}/delete/").status_code == 405
    r = wlm_client.post(f"/waiting-list/views/{mine.pk}/delete/", follow=True)
    assert r.status_code == 200 and "Deleted view" in r.content.decode()
    assert not SavedView.objects.filter(pk=mine.pk).exists()


def test_only_the_owner_deletes_and_csrf_is_checked(client, wlm, trust):
    theirs = SavedView.objects.create(user=wlm, organisation=trust, name="Theirs", query="")
    client.force_login(user_with_roles(trust, Role.WAITING_LIST_MANAGER))
    assert client.post(f"/waiting-list/views/{theirs.pk}/delete/").status_code == 404
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(wlm)
    assert csrf.post(f"/waiting-list/views/{theirs.pk}/delete/").status_code == 403
    assert SavedView.objects.filter(pk=theirs.pk).exists()


# ---------------------------------------------------------------- 7. codes match whatever their case

def test_lowercase_provider_on_the_system_list(client, icb, trust, other_trust):
    for grantor in (trust, other_trust):
        DataSharingGrant.objects.create(grantor=grantor, grantee=icb, scope="patient", purpose="system PTL")
    a, b = pathway_at(trust), pathway_at(other_trust)
    client.force_login(user_with_roles(icb, Role.HUB_COORDINATOR))
    body = client.get("/waiting-list/", {"provider": "rbb"}).content.decode()
    assert "There is a problem" not in body and _ppids(body) == [b.ppid] and a.ppid not in body
    assert client.get("/waiting-list/export.csv", {"provider": "rbb"}).status_code == 200


def test_priority_is_a_select_and_matches_any_case(wlm_client, p2s):
    p2, _ = p2s
    body = wlm_client.get("/waiting-list/", {"priority": "p2"}).content.decode()
    assert set(_ppids(body)) == {p.ppid for p in p2}
    assert '<select class="nhsuk-select' in body[body.index('for="id_priority"') - 300:body.index('id="id_priority"') + 20]
    for code in ("P1a", "P1b", "P2", "P3", "P4", "P5", "P6"):
        assert f'value="{code}"' in body
    api = wlm_client.get("/api/v1/waiting-list/ptl", {"priority": "p2", "provider": "raa"}).json()
    assert {r["ppid"] for r in api["results"]} == {p.ppid for p in p2}
    assert wlm_client.get("/api/v1/waiting-list/ptl", {"priority": "P9"}).status_code == 422


# ---------------------------------------------------------------- 8. Excel dates

def test_excel_dates_are_real_dates(wlm_client, trust):
    from openpyxl import load_workbook

    p = pathway_at(trust, rtt_start=date(2026, 1, 2), queue_date=date(2026, 1, 3), tci_date=TODAY + timedelta(days=4))
    r = wlm_client.get("/waiting-list/export.xlsx", {"page": "2"})
    ws = load_workbook(io.BytesIO(r.content)).active
    header = [c.value for c in ws[1]]
    row = next(r for r in ws.iter_rows(min_row=2) if r[0].value == p.ppid)
    cells = dict(zip(header, row, strict=True))
    for col, want in (("rtt_start", date(2026, 1, 2)), ("queue_date", date(2026, 1, 3)),
                      ("tci_date", TODAY + timedelta(days=4))):
        assert cells[col].is_date and cells[col].number_format == "dd/mm/yyyy", col
        assert cells[col].value == datetime.combine(want, datetime.min.time())
    assert cells["days_waited"].data_type == "n"
    assert AuditLog.objects.filter(action="export", summary="PTL export xlsx: 1 rows").exists()


def test_patient_rows_stay_scoped(wlm_client, other_trust, trust):
    mine, theirs = pathway_at(trust), pathway_at(other_trust, patient_at(other_trust))
    for url in ("/waiting-list/?sort=-provider", "/waiting-list/export.csv?provider=rbb",
                "/api/v1/waiting-list/ptl?provider=rbb"):
        body = wlm_client.get(url).content.decode()
        assert theirs.ppid not in body, url
    assert mine.ppid in wlm_client.get("/waiting-list/?sort=-provider").content.decode()
