"""Synthetic patient generation rate, compared in the same run with a raw COPY of the same rows.

The generator builds patients in vectorised chunks (NumPy/Polars) and streams them with COPY into
a table shaped like core_patient (with its indexes). The baseline COPYs the identical rows, already
rendered as CSV, into an unindexed copy of the table. The ratio is the machine-independent figure.

    python -m bench.synth_patients [--patients N]
"""

from __future__ import annotations

import argparse
import io
from datetime import date

from bench import _django
from bench._harness import peak_rss_mb, timer, write_result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1_000_000)
    args = parser.parse_args()
    _django.setup()
    import numpy as np
    import polars as pl
    from django.db import connection

    from carecoord.synth.core_steps import _patient_chunk

    n, chunk = args.patients, 200_000
    rng = np.random.default_rng(1)
    prefixes = ["NS", "EV", "WB", "MB"]
    connection.ensure_connection()
    conn = connection.connection
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_patient, bench_patient_raw")
        cur.execute("CREATE UNLOGGED TABLE bench_patient (LIKE core_patient INCLUDING DEFAULTS INCLUDING INDEXES)")
        cur.execute("CREATE UNLOGGED TABLE bench_patient_raw (LIKE core_patient)")
    conn.commit()
    rendered: list[bytes] = []
    columns = None
    with timer() as gen:
        done = 0
        while done < n:
            m = min(chunk, n - done)
            frame = _patient_chunk(rng, done + 1, m, date(2026, 11, 22), prefixes, rng.integers(0, 4, m))
            buf = io.BytesIO()
            frame.write_csv(buf, include_header=False, null_value="", date_format="%Y-%m-%d")
            columns = ", ".join(f'"{c}"' for c in frame.columns)
            data = buf.getvalue()
            rendered.append(data)
            with conn.cursor() as cur, cur.copy(f"COPY bench_patient ({columns}) FROM STDIN WITH (FORMAT csv)") as cp:
                cp.write(data)
            done += m
        conn.commit()
    with timer() as raw:
        with conn.cursor() as cur:
            for data in rendered:
                with cur.copy(f"COPY bench_patient_raw ({columns}) FROM STDIN WITH (FORMAT csv)") as cp:
                    cp.write(data)
        conn.commit()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM bench_patient")
        count = cur.fetchone()[0]
        cur.execute("DROP TABLE bench_patient, bench_patient_raw")
    conn.commit()
    assert count == n
    _ = pl  # polars is what the generator builds frames with
    write_result("synth_patients", {
        "patients": n,
        "generate_and_copy_seconds": round(gen.seconds, 3),
        "raw_copy_seconds": round(raw.seconds, 3),
        "patients_per_second": round(n / gen.seconds),
        "ratio_vs_raw_copy": round(gen.seconds / raw.seconds, 2),
        "peak_rss_mb": peak_rss_mb(),
    }, notes="generation includes NHS-number check digits, names, dates and the indexed table; "
             "baseline is COPY of the same CSV bytes into an unindexed table")


if __name__ == "__main__":
    main()
