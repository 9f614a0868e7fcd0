"""Synthetic coordination-centre set-up: each ICB's sitrep times (08:00 and 16:00) and a rota that has
the demo SCC operator on shift today and tomorrow, so the board shows who is on and sitreps appear."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.utils import timezone

from carecoord.core.models import Role, User
from carecoord.synth.registry import SynthContext, step


@step(60, "coordination centre", "Sitrep times per ICB and an SCC rota for the demo operator")
def coordination(ctx: SynthContext) -> dict:
    from carecoord.escalation.models import Shift, SitrepSchedule

    tz = timezone.get_current_timezone()
    schedules = shifts = 0
    for icb, _providers, _hub, _prefix in ctx.shared.get("structure", []):
        for at in (time(8, 0), time(16, 0)):
            SitrepSchedule.objects.get_or_create(system=icb, at=at)
            schedules += 1
        operators = User.objects.filter(role_assignments__organisation=icb,
                                        role_assignments__roles__contains=[Role.SCC_OPERATOR])
        for user in operators:
            for day in (ctx.today, ctx.today + timedelta(days=1), timezone.localdate(),
                        timezone.localdate() + timedelta(days=1)):
                start = datetime.combine(day, time(8, 0), tz)
                Shift.objects.get_or_create(system=icb, user=user, starts_at=start,
                                            defaults={"ends_at": start + timedelta(hours=12), "role": "SCC lead"})
                shifts += 1
    return {"sitrep_times": schedules, "shifts": Shift.objects.count()}
