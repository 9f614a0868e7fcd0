"""Races for tests of what PostgreSQL guarantees under concurrent requests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def race(fn: Callable[[int], Any], n: int = 2) -> list[Any]:
    """Run fn(0) .. fn(n-1) in n threads released together, each on its own database connection (the
    test needs `django_db(transaction=True)`); returns each call's result, or the exception it raised."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def go(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
