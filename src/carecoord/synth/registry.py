"""The synthetic health-system generator's extension point.

A generator is a sequence of *steps*. Each app registers its steps with `@step(order, name)`;
`carecoord synth` runs them in order with one `SynthContext`, which carries the seed, the scale,
a NumPy random generator per step (so adding a step never changes what earlier steps make),
the raw database connection for COPY, and what earlier steps produced (`ctx.shared`).

Rows are streamed into PostgreSQL with COPY in chunks, so the `national` scale fits in memory.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Scale:
    name: str
    regions: int
    icbs: int
    trusts_per_icb: int
    independent_per_icb: int
    patients: int
    chunk: int = 200_000


SCALES = {
    "demo": Scale("demo", regions=1, icbs=1, trusts_per_icb=3, independent_per_icb=1, patients=30_000),
    "large": Scale("large", regions=1, icbs=3, trusts_per_icb=4, independent_per_icb=1, patients=600_000),
    "national": Scale("national", regions=7, icbs=42, trusts_per_icb=3, independent_per_icb=1,
                      patients=6_000_000),
}


@dataclass
class SynthContext:
    seed: int
    scale: Scale
    conn: object  # a psycopg connection (Django's underlying connection)
    today: date
    progress: Callable[..., None] = lambda *a, **k: None
    shared: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    def rng(self, step_name: str) -> np.random.Generator:
        """A generator seeded from (seed, step name): deterministic and independent per step."""
        digest = hashlib.sha256(f"{self.seed}:{step_name}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def copy_frame(self, table: str, frame: pl.DataFrame) -> int:
        """COPY a Polars frame into `table` (columns by name). Returns rows written."""
        if frame.height == 0:
            return 0
        buf = io.BytesIO()
        frame.write_csv(buf, include_header=False, null_value="", date_format="%Y-%m-%d",
                        datetime_format="%Y-%m-%dT%H:%M:%S%z")
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        with self.conn.cursor() as cur:
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buf.getvalue())
        return frame.height

    def reset_sequence(self, table: str, column: str = "id") -> None:
        with self.conn.cursor() as cur:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
            )


@dataclass(frozen=True)
class Step:
    order: int
    name: str
    fn: Callable[[SynthContext], dict | None]
    description: str = ""


_steps: dict[str, Step] = {}


def step(order: int, name: str, description: str = ""):
    def decorator(fn):
        _steps[name] = Step(order, name, fn, description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return decorator


def steps() -> list[Step]:
    return sorted(_steps.values(), key=lambda s: (s.order, s.name))
