"""Theatre lists in the browser: the week's calendar and a list page, booking a suggested patient."""

from datetime import date, time, timedelta

import pytest

from carecoord.core.models import Role, Site
from carecoord.testing.browser import assert_accessible, login
from carecoord.testing.factories import OrganisationFactory, pathway_at, patient_at, user_with_roles
from carecoord.theatres import services
from carecoord.theatres.models import SessionTemplate, Theatre, TheatreSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_scheduler_books_from_the_list_page(page, live_server):
    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust")
    site = Site.objects.create(organisation=trust, ods_code="RAA01", name="Main")
    th = Theatre.objects.create(site=site, name="Theatre 1", specialties=["110"])
    monday = date.today() - timedelta(days=date.today().weekday()) + timedelta(days=7)
    SessionTemplate.objects.create(theatre=th, weekday=0, slot="am", start_time=time(8, 30), end_time=time(12, 30),
                                   specialty="110", consultant_code="C0001100", valid_from=monday)
    services.generate_sessions(trust, monday, 1)
    p = pathway_at(trust, patient_at(trust), list_type="admitted", tfc="110", intended_procedure="W371",
                   poa_status="fit", poa_valid_until=monday + timedelta(days=60), clinical_priority="P2",
                   priority_rank=3)
    login(page, live_server, user_with_roles(trust, Role.SCHEDULER))
    page.goto(f"{live_server.url}/theatres/?week={monday.isoformat()}")
    assert_accessible(page, "theatre calendar")
    page.get_by_role("link", name="Morning: C0001100 (0 booked)").click()
    assert_accessible(page, "theatre list page")
    page.get_by_role("button", name=f"Book {p.ppid}").click()
    page.locator(".nhsuk-table", has_text=p.ppid).wait_for()
    assert TheatreSession.objects.get().bookings.count() == 1
    assert_accessible(page, "theatre list page after booking")


def test_scheduler_generates_plans_accepts_reorders_cancels_refills_and_sees_metrics(page, live_server):
    """The issue's whole scheduler journey in one browser session, axe-checked at each page."""
    from carecoord.theatres.models import Booking, Cancellation

    trust = OrganisationFactory(ods_code="RAA", name="Alpha Hospitals NHS Trust")
    site = Site.objects.create(organisation=trust, ods_code="RAA01", name="Main")
    th = Theatre.objects.create(site=site, name="Theatre 1", specialties=["110"])
    monday = date.today() - timedelta(days=date.today().weekday()) + timedelta(days=7)
    SessionTemplate.objects.create(theatre=th, weekday=0, slot="am", start_time=time(8, 30), end_time=time(12, 30),
                                   specialty="110", consultant_code="C0001100", valid_from=monday)
    ready = [pathway_at(trust, patient_at(trust), list_type="admitted", tfc="110", intended_procedure="W371",
                        poa_status="fit", poa_valid_until=monday + timedelta(days=60), clinical_priority="P3",
                        priority_rank=4, rtt_start=monday - timedelta(days=200 - i)) for i in range(10)]
    login(page, live_server, user_with_roles(trust, Role.SCHEDULER))

    # generate two weeks of lists from the template
    page.goto(f"{live_server.url}/theatres/?week={monday.isoformat()}")
    assert page.locator("details[open]", has_text="Generate lists from the weekly templates").count() == 1
    page.get_by_label("From").fill(monday.isoformat())
    page.get_by_label("Weeks").fill("2")
    page.get_by_role("button", name="Generate lists").click()
    page.get_by_text("2 new lists generated").wait_for()
    assert_accessible(page, "calendar after generating")

    # run assisted scheduling; the task page shows it finish, then the review page
    page.get_by_role("link", name="Assisted scheduling: suggest bookings for the coming weeks").click()
    assert_accessible(page, "assisted scheduling form")
    page.get_by_label("First day to plan").fill(monday.isoformat())
    page.get_by_label("Weeks").fill("2")
    page.get_by_label("Time limit for the solver (seconds)").fill("3")
    page.get_by_role("button", name="Suggest bookings").click()
    page.get_by_role("link", name="Review the suggested bookings").click()
    page.get_by_role("button", name="Book the chosen patients").first.wait_for()
    assert_accessible(page, "plan review")
    suggested = page.locator("input[name=pick]").count()
    assert 2 <= suggested < len(ready)
    page.get_by_role("button", name="Book the chosen patients").first.click()
    page.get_by_text(f"{suggested} booked").wait_for()
    assert Booking.objects.filter(status="provisional").count() == suggested

    # reorder the first list
    first = TheatreSession.objects.order_by("starts_at").first()
    before = list(first.bookings.order_by("order").values_list("pathway__ppid", flat=True))
    assert len(before) >= 2
    page.goto(f"{live_server.url}/theatres/sessions/{first.pk}/")
    page.get_by_role("button", name=f"Move down {before[0]}").click()
    page.get_by_text(f"Moved {before[0]} down the list").wait_for()
    after = list(first.bookings.order_by("order").values_list("pathway__ppid", flat=True))
    assert after[:2] == [before[1], before[0]]
    assert_accessible(page, "list page after reordering")

    # cancel one on the list, then fill the freed time from the suggestions
    page.get_by_role("link", name=f"Cancel {before[1]}'s operation").click()
    assert_accessible(page, "cancellation form")
    page.get_by_label("No ward bed").check()
    page.get_by_role("button", name="Cancel the operation").click()
    page.get_by_role("heading", name="Suggested patients for the freed time").wait_for()
    assert Cancellation.objects.get().booking.pathway.ppid == before[1]
    refill = page.locator("form[action$='/book/'] button").first
    refill_name = refill.inner_text()
    refill.click()
    page.get_by_text(f"Booked {refill_name.removeprefix('Book ')} on this list").wait_for()
    assert first.bookings.filter(status="provisional").count() == len(before)

    # the metrics page
    page.goto(f"{live_server.url}/theatres/metrics/")
    page.get_by_role("heading", name="Theatre metrics").wait_for()
    assert_accessible(page, "theatre metrics")
