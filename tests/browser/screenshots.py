"""Screenshots of the page's main states for docs/screenshots/ (not a test):

    .venv/bin/python -m tests.browser.screenshots [--out docs/screenshots]

empty (with the demo notice), streaming, code + reasoning, error with Retry, dark, phone.
The mock upstream and streamchat run in threads, as in the tests.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.harness import mock_provider, mock_upstream_thread, streamchat_thread, test_settings

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@contextmanager
def server() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp, mock_upstream_thread("openai") as mock:
        settings = test_settings(
            Path(tmp),
            f"sqlite+aiosqlite:///{Path(tmp) / 'shots.db'}",
            providers=[mock_provider(mock)],
            demo_token_rate=400,
        )
        with streamchat_thread(settings) as url:
            yield url


def open_page(browser: Browser, url: str, **options: object) -> Page:
    options.setdefault("viewport", DESKTOP)
    options.setdefault("locale", "en-US")
    page = browser.new_context(**options).new_page()  # type: ignore[arg-type]
    page.goto(url)
    page.wait_for_selector("body.ready")
    return page


def ask(page: Page, text: str, status: str = "complete") -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")
    expect(page.locator("sc-message.msg-assistant").last).to_have_attribute(
        "data-status", status, timeout=30_000
    )


def new_chat(page: Page) -> None:
    page.click("#new-chat")
    expect(page.locator("#empty")).to_be_visible()


def shoot(browser: Browser, url: str, out: Path) -> None:
    page = open_page(browser, url)
    for question in (
        "How do server-sent events work? [[mock text=markdown rate=150]]",
        "你好，请用中文回答 [[mock text=cjk rate=60]]",
    ):
        ask(page, question)
        new_chat(page)
    page.select_option("#model", "demo")
    page.mouse.move(0, 0)
    page.screenshot(path=out / "empty.png")

    page.select_option("#model", "gpt-4o-mini")
    page.fill("#composer-input", "Explain streaming [[mock tokens=600 rate=40 text=markdown]]")
    page.press("#composer-input", "Enter")
    page.wait_for_function(
        "() => document.querySelector('sc-message.msg-assistant')?.source?.text.length > 500"
    )
    page.screenshot(path=out / "streaming.png")
    page.click("sc-composer .stop")

    new_chat(page)
    ask(page, "Show me code [[mock text=markdown reasoning=40 rate=150 dialect=moonshot]]")
    page.click("sc-message.msg-assistant .thinking summary")
    page.evaluate("document.querySelector('#messages').scrollTop = 1e6")
    page.screenshot(path=out / "code-reasoning.png")

    new_chat(page)
    ask(
        page,
        "Will this work? [[mock status=429 kind=rate_limit fail_times=9 fail_key=shot]]",
        "error",
    )
    page.screenshot(path=out / "error.png")
    page.context.close()

    page = open_page(browser, url, color_scheme="dark")
    page.click("sc-sidebar .conv-open >> text=Show me code")
    page.wait_for_selector("sc-message.msg-assistant .code-block")
    page.screenshot(path=out / "dark.png")
    page.context.close()

    page = open_page(
        browser, url, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    page.click("#menu")
    page.click("sc-sidebar .conv-open >> text=How do server-sent events work?")
    page.wait_for_selector("sc-message.msg-assistant .code-block")
    page.wait_for_timeout(400)  # the drawer slides away
    page.evaluate("document.querySelector('#messages').scrollTop = 380")
    page.screenshot(path=out / "phone.png")
    page.click("#menu")
    page.wait_for_timeout(400)
    page.screenshot(path=out / "phone-sidebar.png")
    page.context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            shoot(browser, url, args.out)
        finally:
            browser.close()
    print("\n".join(str(p) for p in sorted(args.out.glob("*.png"))))


if __name__ == "__main__":
    main()
