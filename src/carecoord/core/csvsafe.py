"""CSV files that are safe to open in a spreadsheet.

A cell that starts with = + - @ (or a tab or carriage return) is read by Excel, LibreOffice and
Google Sheets as a formula, so a value typed into a PAS or a form (`=HYPERLINK(...)`) could run when
a downloaded CSV is opened. Every CSV the app writes goes through `writer()`, which prefixes such text
cells with a single quote (OWASP "CSV Injection"). Numbers, dates and None are left alone, so a
negative number stays a number.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """`value`, neutralised if it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    return value


class SafeWriter:
    """csv.writer's writerow/writerows, with every cell passed through `cell`."""

    def __init__(self, fh, **kwargs):
        self._writer = csv.writer(fh, **kwargs)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(fh, **kwargs) -> SafeWriter:
    """A csv.writer (same arguments) that neutralises formula-like cells."""
    return SafeWriter(fh, **kwargs)
