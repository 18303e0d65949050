"""Browser fixtures: one Debian Chromium per session, a fresh context per test, and checks that
run after every test: no page error, no CSP violation, no request to another origin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, sync_playwright

from tests.browser.chat_page import ChatPage
from tests.conftest import Server, ServerFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

PROBE = """
window.__problems = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__problems.push(`csp ${e.violatedDirective} ${e.blockedURI}`);
});
"""

PageFactory = Callable[..., ChatPage]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            assert item.get_closest_marker("browser"), f"{item.nodeid} lacks @pytest.mark.browser"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Browser tests run on SQLite only: the page does not see the database."""
    return f"sqlite+aiosqlite:///{tmp_path / 'streamchat.db'}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(make_server: ServerFactory) -> Server:
    return make_server(demo_token_rate=200)


@pytest.fixture
def new_page(browser: Browser, server: Server) -> Iterator[PageFactory]:
    """Open the page in a new browser context: new_page(base=url, **context options)."""
    opened: list[tuple[Page, list[str], list[Request], str]] = []

    def open_page(base: str | None = None, **options: Any) -> ChatPage:
        options.setdefault("viewport", {"width": 1200, "height": 800})
        options.setdefault("locale", "en-US")
        context = browser.new_context(**options)
        context.add_init_script(PROBE)
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        requests: list[Request] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request))
        url = base or server.url
        opened.append((page, errors, requests, url))
        return ChatPage(page, url, server, requests)

    yield open_page
    for page, errors, requests, url in opened:
        problems = list(errors)
        if not page.is_closed():
            problems += page.evaluate("window.__problems || []")
        foreign = [
            r.url for r in requests if not r.url.startswith((url, "data:", "blob:", "about:"))
        ]
        page.context.close()
        assert not problems, problems
        assert not foreign, f"requests left the origin: {foreign}"


@pytest.fixture
def chat(new_page: PageFactory) -> ChatPage:
    """The page, opened on a new chat."""
    page = new_page()
    page.open()
    return page
