"""Set Django up for a benchmark (dev settings: the embedded PostgreSQL unless DATABASE_URL is set)."""

import os


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carecoord.config.settings.dev")
    import django

    django.setup()
