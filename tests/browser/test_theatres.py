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
