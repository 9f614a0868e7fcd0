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
