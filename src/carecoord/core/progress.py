"""Command-line progress: a rich progress bar on standard error (standard output stays clean
for --format json)."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

stderr = Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None = None, enabled: bool = True):
    """with progress_bar("Loading", total) as advance: advance(n)"""
    if not enabled:
        yield lambda n=1, **kw: None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=stderr, transient=False) as bar:
        task_id = bar.add_task(description, total=total)

        def advance(n: int = 1, *, total: int | None = None, description: str | None = None):
            kwargs = {}
            if total is not None:
                kwargs["total"] = total
            if description is not None:
                kwargs["description"] = description
            bar.update(task_id, advance=n, **kwargs)

        yield advance
