"""Browser-test support: Playwright on Debian's Chromium, and an axe WCAG 2.2 AA check.

Browser tests are skipped with a clear message where /usr/bin/chromium is not installed
(`apt-get install chromium`); a browser is never downloaded."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CARECOORD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def chromium_available() -> bool:
    return os.path.exists(CHROMIUM) or shutil.which("chromium") is not None


skip_without_chromium = pytest.mark.skipif(
    not chromium_available(),
    reason=f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
)


def assert_accessible(page, context: str = "") -> None:
    """Run axe (WCAG 2.0/2.1/2.2 A and AA rules) on the page and fail with a readable report."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS},
                                       "resultTypes": ["violations"]})
    if results.violations_count:
        raise AssertionError(f"axe found accessibility violations on {context or page.url}:\n"
                             f"{results.generate_report()}")


def assert_in_landmarks(page, context: str = "") -> None:
    """Run axe's best-practice "region" rule: all content sits inside a landmark (banner, nav, main...)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "rule", "values": ["region"]},
                                       "resultTypes": ["violations"]})
    if results.violations_count:
        raise AssertionError(f"axe found content outside landmarks on {context or page.url}:\n"
                             f"{results.generate_report()}")


def login(page, live_server, user) -> None:
    """Give the browser page a logged-in session for `user` (no login form round trip)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": live_server.url}])
