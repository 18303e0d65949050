"""Hostile model output: HTML, <script>, javascript: links, SVG, <img> and <iframe> payloads,
streamed word by word and byte by byte. Nothing runs, nothing is inserted as markup, and no
request leaves for the payloads' host, live and after a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Dialog, expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import PageFactory

pytestmark = pytest.mark.browser

FORBIDDEN = "script, iframe, svg, img, form, input, style, object, embed, link, meta"


def check_inert(chat: ChatPage, dialogs: list[Dialog]) -> None:
    body = chat.answer().locator(".msg-body")
    assert body.locator(FORBIDDEN).count() == 0
    assert (
        chat.page.evaluate(
            """() => [...document.querySelectorAll("#thread *")].flatMap(
             (el) => [...el.attributes].map((a) => a.name)
           ).filter((name) => name.startsWith("on") || name === "style")"""
        )
        == []
    )
    hrefs = body.locator("a[href]").evaluate_all("(links) => links.map((a) => a.href)")
    assert all(h.startswith(("http://", "https://", "mailto:")) for h in hrefs), hrefs
    # the raw HTML is shown as text, the markdown around it still renders
    expect(body).to_contain_text("<script>alert('xss-script')</script>")
    expect(body).to_contain_text("<svg onload=\"alert('xss-svg')\">")
    expect(body.locator("strong", has_text="Bold")).to_be_visible()
    expect(body.locator("code", has_text="code")).to_be_visible()
    expect(body).to_contain_text('event: done\ndata: {"injected": true}')
    # the javascript: links are dead text; clicking them does nothing
    body.locator("a, span", has_text="click for details").first.click()
    body.locator("a, span", has_text="this one").first.click()
    # the image is a link to click, not a load
    expect(body.locator(".md-image")).to_have_text("image: pixel")
    assert chat.page.evaluate("getComputedStyle(document.body).display") != "none"
    assert chat.page.evaluate("window.__xss === undefined")
    chat.page.wait_for_timeout(300)  # let anything that was going to fire, fire
    assert dialogs == []
    assert chat.requests_to("evil.test") == []


@pytest.mark.parametrize("split", ["", " split=byte"], ids=["tokens", "bytes"])
def test_hostile_output_is_inert_live_and_after_reload(new_page: PageFactory, split: str) -> None:
    chat = new_page()
    dialogs: list[Dialog] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog)
        dialog.dismiss()

    chat.page.on("dialog", on_dialog)
    chat.open()
    chat.send(f"summarise [[mock text=xss rate=120{split}]]")
    chat.wait_text(60)
    check_inert_partial(chat)
    assert chat.wait_status() == "complete"
    stored = chat.stored_answer()
    assert chat.source() == stored["content"]
    check_inert(chat, dialogs)
    live = chat.body_text()

    chat.reload()
    expect(chat.answers()).to_have_count(1)
    assert chat.answer().get_attribute("data-status") == "complete"
    check_inert(chat, dialogs)
    # One rendering path for live and stored answers (a stored one is drawn in slices).
    chat.page.wait_for_function(
        "(live) => document.querySelector('#thread sc-message:last-of-type .msg-body')"
        "?.innerText === live",
        arg=live,
        timeout=10_000,
    )
    assert chat.body_text() == live


def check_inert_partial(chat: ChatPage) -> None:
    """Mid-stream, half a tag (`<img src=x onerror="fetch(`) must not become an element either."""
    assert chat.answer().locator(f".msg-body :is({FORBIDDEN})").count() == 0


def test_a_javascript_link_in_the_users_own_message_is_text(chat: ChatPage) -> None:
    chat.send("<img src=x onerror=alert(1)> [x](javascript:alert(2)) [[mock text=echo]]")
    chat.wait_status("complete")
    question = chat.questions().first.locator(".msg-body")
    expect(question).to_have_text(
        "<img src=x onerror=alert(1)> [x](javascript:alert(2)) [[mock text=echo]]"
    )
    assert chat.page.locator("#thread img").count() == 0
    link = chat.answer().locator(".msg-body a")
    assert link.count() == 0 or link.first.get_attribute("href") is None
