import os

import pytest

from carecoord.testing.browser import CHROMIUM, CHROMIUM_ARGS, chromium_available

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from test code
# are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not chromium_available():
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _page(browser, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


@pytest.fixture
def page(browser):
    yield from _page(browser, 1280, 900)


@pytest.fixture
def narrow_page(browser):
    """A 320 CSS pixel wide page (WCAG 1.4.10 reflow: 320 px, as a 1280 px screen at 400% zoom)."""
    yield from _page(browser, 320, 800)


@pytest.fixture
def phone_page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
