"""Theatre routes in the access matrix."""

from datetime import date, datetime, time

from django.utils import timezone

from carecoord.core.models import Role
from carecoord.testing.access import Route, register
from carecoord.testing.factories import SiteFactory

VIEW = frozenset({Role.SCHEDULER, Role.CLINICIAN, Role.WAITING_LIST_MANAGER})


def _setup(s):
    from carecoord.theatres.models import Theatre, TheatreSession

    if "own_session" not in s:
        tz = timezone.get_current_timezone()
        d = date(2026, 12, 7)
        for key, org in (("own_session", s["own"]), ("other_session", s["other"])):
            th = Theatre.objects.create(site=SiteFactory(organisation=org), name="T1", specialties=["110"])
            s[key] = TheatreSession.objects.create(theatre=th, date=d, slot="am", specialty="110",
                                                   consultant_code="C1", starts_at=datetime.combine(d, time(8), tz),
                                                   ends_at=datetime.combine(d, time(12), tz))


register(Route("theatres:calendar", lambda s: "/theatres/", VIEW))
register(Route("theatres:session", lambda s: f"/theatres/sessions/{s['own_session'].pk}/", VIEW, setup=_setup,
               other_url=lambda s: f"/theatres/sessions/{s['other_session'].pk}/"))


SCHEDULER = frozenset({Role.SCHEDULER})


def _booking_setup(s):
    from carecoord.testing.factories import pathway_at
    from carecoord.theatres.models import Booking

    _setup(s)
    if "own_booking" not in s:
        for key, org, sess, patient in (("own_booking", s["own"], s["own_session"], s["own_patient"]),
                                        ("other_booking", s["other"], s["other_session"], s["other_patient"])):
            p = pathway_at(org, patient, list_type="admitted", tfc="110")
            s[key] = Booking.objects.create(session=sess, pathway=p, patient_id_copy=p.patient_id, order=1,
                                            predicted_minutes=60)


def _pathway_setup(s):
    from carecoord.waitinglist.tests.access import _setup as wl_setup

    wl_setup(s)


register(Route("theatres:plan", lambda s: "/theatres/plan/", SCHEDULER, patient_level=False))
register(Route("theatres:metrics", lambda s: "/theatres/metrics/", VIEW, patient_level=False))
register(Route("theatres:book_pathway", lambda s: f"/theatres/book/{s['own_pathway'].pk}/", SCHEDULER,
               setup=_pathway_setup, other_url=lambda s: f"/theatres/book/{s['other_pathway'].pk}/"))
register(Route("theatres:booking_cancel", lambda s: f"/theatres/bookings/{s['own_booking'].pk}/cancel/", SCHEDULER,
               setup=_booking_setup, other_url=lambda s: f"/theatres/bookings/{s['other_booking'].pk}/cancel/"))
register(Route("theatres:booking_letter", lambda s: f"/theatres/bookings/{s['own_booking'].pk}/letter.pdf",
               SCHEDULER, method="post", data=lambda s: {}, setup=_booking_setup,
               other_url=lambda s: f"/theatres/bookings/{s['other_booking'].pk}/letter.pdf"))
register(Route("theatres:leave", lambda s: "/theatres/leave/", SCHEDULER, patient_level=False))
