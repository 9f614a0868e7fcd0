"""Production: DATABASE_URL to a managed PostgreSQL, secure cookies, HSTS; no persona login."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403

DEBUG = False
DEMO_MODE = False  # never configurable in production
if os.environ.get("CARECOORD_SECRET_KEY", "") in ("", "dev-only-insecure-key-change-me"):
    raise ImproperlyConfigured("CARECOORD_SECRET_KEY must be set in production")
# Patients' validation links (texts, emails, and the letters the worker builds with no request to take
# an address from) must point at carecoord's public address, never at a development default.
if not CARECOORD_PUBLIC_URL.startswith(("https://", "http://")):  # noqa: F405
    raise ImproperlyConfigured("CARECOORD_PUBLIC_URL must be set in production to the address patients reach "
                               "carecoord at (like https://carecoord.example.nhs.uk): patients' validation "
                               "links and letters are built from it")
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
