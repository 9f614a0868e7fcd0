"""Run the synthetic health-system generator."""

from __future__ import annotations

import time
from datetime import date

from django.db import connection, transaction

from carecoord.core.models import Organisation
from carecoord.synth.registry import SCALES, SynthContext, steps


class SynthError(RuntimeError):
    pass


def database_is_empty() -> bool:
    return not Organisation.objects.exists()


def generate(*, seed: int, scale: str, as_of: date, progress=None, only: list[str] | None = None) -> dict:
    """Generate a whole synthetic health system into an empty database, in one transaction."""
    if scale not in SCALES:
        raise SynthError(f"scale must be one of {', '.join(SCALES)}")
    if not database_is_empty():
        raise SynthError("the database already holds organisations; synth generates into an empty database "
                         "(use a fresh CARECOORD_DATA_DIR or `carecoord flush`)")
    report = {"seed": seed, "scale": scale, "as_of": as_of.isoformat(), "steps": {}}
    with transaction.atomic():
        connection.ensure_connection()
        ctx = SynthContext(seed=seed, scale=SCALES[scale], conn=connection.connection, today=as_of,
                           progress=progress or (lambda *a, **k: None))
        for s in steps():
            if only and s.name not in only:
                continue
            started = time.perf_counter()
            ctx.progress(0, description=s.description or s.name)
            out = s.fn(ctx) or {}
            report["steps"][s.name] = {**out, "seconds": round(time.perf_counter() - started, 2)}
    return report
