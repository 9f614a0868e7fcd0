"""Database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection


@contextmanager
def server_cursor() -> Iterator[psycopg.Cursor]:
    """A cursor on Django's connection that sends parameters to the server as they are.

    Django's cursors bind on the client (every value quoted into the SQL text in Python, and never
    prepared). For statements on a hot path, or carrying large arrays or JSON, this one sends the
    parameters separately and psycopg prepares a statement it sees repeatedly. It joins Django's
    current transaction (or autocommits outside one); its errors are psycopg's, not `django.db`'s,
    and it bypasses Django's query logging."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cur:
        yield cur
