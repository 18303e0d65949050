"""Asking and reading: Enter sends, Shift+Enter adds a line, the answer streams into its bubble,
markdown with highlighted code and a copy button, the per-answer stats, the CSP."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.chat_page import ChatPage, words
from tests.browser.conftest import PageFactory

pytestmark = pytest.mark.browser


def test_the_page_is_served_with_a_csp_and_no_inline_script(chat: ChatPage) -> None:
    response = chat.api("GET", "/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = response.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert " style=" not in html and "<style" not in html
    assert not re.search(r"\son\w+=", html), "inline event handler"
    for script in re.findall(r'src="([^"]+)"', html):
        assert script.startswith("/static/")
    expect(chat.page.locator("#empty")).to_be_visible()
    expect(chat.page.locator("#title")).to_have_text("New chat")


def test_enter_sends_and_the_answer_streams_into_its_bubble(chat: ChatPage) -> None:
    chat.send("count [[mock tokens=120 rate=60]]")
    expect(chat.questions()).to_have_count(1)
    expect(chat.questions().first.locator(".msg-body")).to_have_text(
        "count [[mock tokens=120 rate=60]]"
    )
    chat.wait_text(20)
    assert chat.answer().get_attribute("data-status") == "streaming"
    partial = chat.body_text()
    assert partial.startswith("w1 w2 w3") and "w120" not in partial
    expect(chat.stop_button).to_be_visible()
    expect(chat.send_button).to_be_hidden()
    assert chat.answer().locator(".msg-body").get_attribute("aria-busy") == "true"

    assert chat.wait_status() == "complete"
    assert chat.source() == words(120)
    assert chat.body_text() == words(120).strip()
    assert chat.answer().locator(".msg-body").get_attribute("aria-live") == "polite"
    assert chat.answer().locator(".msg-body").get_attribute("aria-busy") == "false"
    expect(chat.send_button).to_be_visible()
    stored = chat.stored_answer()
    assert stored["content"] == chat.source()
    assert stored["status"] == "complete"
    expect(chat.page.locator("#announcer")).to_have_text("Answer complete.")


def test_shift_enter_adds_a_new_line_and_does_not_send(chat: ChatPage) -> None:
    chat.input.click()
    chat.input.type("first line")
    chat.input.press("Shift+Enter")
    chat.input.type("second line [[mock text=echo]]")
    assert chat.input.input_value() == "first line\nsecond line [[mock text=echo]]"
    expect(chat.questions()).to_have_count(0)
    chat.input.press("Enter")
    chat.wait_status("complete")
    assert chat.input.input_value() == ""
    question = chat.questions().first.locator(".msg-body")
    assert question.inner_text() == "first line\nsecond line [[mock text=echo]]"
    assert chat.source() == chat.stored_answer()["content"] == "first line\nsecond line"
    # an empty message is not sent
    chat.input.fill("   \n ")
    chat.input.press("Enter")
    expect(chat.questions()).to_have_count(1)


def test_markdown_renders_with_highlighted_code_and_a_copy_button(
    new_page: PageFactory,
) -> None:
    chat = new_page(permissions=["clipboard-read", "clipboard-write"])
    chat.open()
    chat.send("show me [[mock text=markdown rate=150]]")
    chat.wait_status("complete")
    body = chat.answer().locator(".msg-body")
    expect(body.locator("h2")).to_have_text("Streaming, briefly")
    expect(body.locator("strong").first).to_have_text("one HTTP response open")
    expect(body.locator("ol > li")).to_have_count(3)
    expect(body.locator("table th")).to_have_text(["provider", "reasoning field"])
    expect(body.locator("table tbody tr")).to_have_count(2)
    expect(body.locator("blockquote")).to_contain_text("finish_reason")
    link = body.locator("a", has_text="the spec")
    expect(link).to_have_attribute(
        "href", "https://html.spec.whatwg.org/multipage/server-sent-events.html"
    )
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(link).to_have_attribute("target", "_blank")

    code = body.locator(".code-block code")
    expect(code).to_have_class(re.compile(r"\blanguage-python\b"))
    expect(code.locator(".hljs-keyword").first).to_have_text("async")
    expect(body.locator(".code-lang")).to_have_text("python")
    expected = 'async for chunk in stream:\n    print(chunk.choices[0].delta.content or "", end="")'
    assert code.text_content() == expected

    copy = body.locator(".code-copy")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert chat.page.evaluate("navigator.clipboard.readText()") == expected
    expect(copy).to_have_text("Copy")
    chat.answer().locator(".copy-answer").click()
    assert chat.page.evaluate("navigator.clipboard.readText()") == chat.stored_answer()["content"]


def test_each_answer_shows_model_tokens_time_to_first_token_and_rate(chat: ChatPage) -> None:
    chat.send("stats [[mock tokens=40 rate=100 ttft_ms=150]]")
    chat.wait_status("complete")
    stored = chat.stored_answer()
    stats = chat.answer().locator(".stats")
    expect(chat.answer().locator(".msg-model")).to_have_text("gpt-4o-mini")
    completion = stored["usage"]["completion_tokens"]
    expect(stats).to_contain_text(f"{completion} tokens")
    expect(stats).to_contain_text(f"first token {round(stored['ttft_ms'])} ms")
    rate = completion / ((stored["total_ms"] - stored["ttft_ms"]) / 1000)
    expect(stats).to_contain_text(f"{rate:.1f} tokens/s")
    assert stored["ttft_ms"] >= 150

    chat.send("no usage [[mock tokens=10 usage=0]]")
    chat.wait_status("complete")
    usage = chat.stored_answer()["usage"]
    assert usage["estimated"] is True
    expect(chat.answer().locator(".stats")).to_contain_text(
        f"~{usage['completion_tokens']} tokens (estimated)"
    )


def test_vendored_libraries_carry_their_version_and_licence(chat: ChatPage) -> None:
    loaded = [r.url for r in chat.requests if "/static/vendor/" in r.url]
    names = {url.rsplit("/", 1)[1] for url in loaded}
    assert {
        "marked-18.2.1.esm.js",
        "purify-3.4.18.esm.js",
        "highlight-11.12.0.core.esm.js",
    } <= names
    for name in ("marked-18.2.1", "purify-3.4.18", "highlight-11.12.0"):
        licence = chat.api("GET", f"/static/vendor/{name}.LICENSE")
        assert licence.status_code == 200 and len(licence.text) > 500


def test_finished_blocks_are_rendered_once_and_off_screen_ones_are_skipped(
    chat: ChatPage,
) -> None:
    """Rendering stays flat: blocks already shown are never rebuilt while the answer grows,
    and chunks of them that are off screen are skipped by style, layout and paint."""
    chat.send("long [[mock tokens=3000 rate=600 text=markdown]]")
    chat.wait_text(3000)
    first = chat.answer().locator(".md-chunk").first.element_handle()
    first.evaluate("(el) => { el.dataset.mark = 'kept'; }")
    chat.wait_status("complete", timeout=30_000)
    assert first.evaluate("(el) => el.isConnected && el.dataset.mark === 'kept'")
    chunks = chat.answer().locator(".md-chunk")
    assert chunks.count() >= 10
    rendered = chunks.evaluate_all(
        "(cs) => cs.filter((c) => c.firstElementChild?.checkVisibility("
        "{ contentVisibilityAuto: true })).length"
    )
    assert rendered <= 4
    assert chat.source() == chat.stored_answer()["content"]
    # a stored answer is chunked too (by pieces of its text, from its end: test_page_long.py),
    # into the same blocks
    shape = """(body) => [body.textContent,
                          [...body.querySelectorAll(".md-chunk *")].map((e) => e.tagName).join()]"""
    streamed = chat.answer().locator(".msg-body").evaluate(shape)
    chat.reload()
    expect(chat.page.locator("#thread")).not_to_have_attribute("data-rendering", "")
    assert chat.answer().locator(".md-chunk").count() >= 10
    assert chat.answer().locator(".msg-body").evaluate(shape) == streamed
