"""Production: DATABASE_URL to a managed PostgreSQL, secure cookies, HSTS; no persona login."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403

DEBUG = False
DEMO_MODE = False  # never configurable in production
if os.environ.get("CARECOORD_SECRET_KEY", "") in ("", "dev-only-insecure-key-change-me"):
    raise ImproperlyConfigured("CARECOORD_SECRET_KEY must be set in production")
SECURE_SSL_REDIRECT = os.environ.get("CARECOORD_SSL_REDIRECT", "1") == "1"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
