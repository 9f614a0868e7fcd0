"""Tests: a throwaway embedded PostgreSQL cluster (var/pgtest) unless DATABASE_URL is set."""

import os

from carecoord.core import embedded_db

from .base import *  # noqa: F403
from .base import DATA_DIR

if not os.environ.get("DATABASE_URL"):
    DATABASE_URL = embedded_db.ensure_running(DATA_DIR / "pgtest")
    DATABASES = {"default": embedded_db.django_database(DATABASE_URL)}

# A test database per pytest run (xdist workers inherit the variable and add _gwN), so several
# runs can share the embedded cluster at once.
os.environ.setdefault("CARECOORD_TEST_RUN", str(os.getpid()))
DATABASES["default"]["TEST"] = {"NAME": f"test_carecoord_{os.environ['CARECOORD_TEST_RUN']}"}

DEBUG = False
DEMO_MODE = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; argon2 is tested explicitly
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
SCC_STREAM_SECONDS = 2  # a board stream in a test ends quickly
CARECOORD_SCC_SCORING = "inline"  # scores are there when ingest returns (like the immediate task backend)
