"""While an answer streams (issue 14 item 2): a visible wait before the first token (with the
time it has lasted once long), a thinking box that follows, and a selection and the Copy
buttons that survive the frames: finished blocks are not drawn again, the block being written
keeps its nodes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import PageFactory

pytestmark = pytest.mark.browser


def test_a_visible_wait_before_the_first_token_with_its_time_once_long(chat: ChatPage) -> None:
    chat.send("slow [[mock ttft_ms=4500 tokens=3]]")
    wait = chat.answer().locator(".msg-wait")
    expect(wait).to_be_visible()
    expect(wait).to_have_text("Waiting for the answer…")
    assert wait.locator(".wait-dots i").count() == 3
    expect(wait).to_have_text(re.compile(r"^Waiting for the answer… [34] s$"), timeout=4_000)
    chat.wait_status("complete")
    expect(wait).to_be_hidden()
    assert chat.body_text() == "w1 w2 w3"


def test_the_wait_is_in_chinese_too(new_page: PageFactory) -> None:
    chat = new_page(locale="zh-CN").open()
    chat.send("慢 [[mock ttft_ms=4000 tokens=2]]")
    expect(chat.answer().locator(".msg-wait")).to_have_text("正在等待回答…")
    expect(chat.answer().locator(".msg-wait")).to_have_text("正在等待回答… 3 秒", timeout=4_000)
    chat.wait_status("complete")


def test_the_open_thinking_box_follows_the_thinking_until_scrolled_up(chat: ChatPage) -> None:
    chat.send("think [[mock reasoning=1500 rate=150 tokens=3 dialect=moonshot]]")
    box = chat.answer().locator(".thinking-text")
    box.evaluate(
        """(el) => new Promise((resolve) => {
             const check = () => el.scrollHeight > el.clientHeight * 2
               ? resolve() : requestAnimationFrame(check);
             check();
           })"""
    )
    expect(chat.answer().locator(".msg-wait")).to_be_hidden()
    distance = "(el) => el.scrollHeight - el.scrollTop - el.clientHeight"
    for _ in range(3):
        chat.page.wait_for_timeout(150)
        assert box.evaluate(distance) <= 24
    box.evaluate("(el) => { el.scrollTop = 0; }")
    chat.page.wait_for_timeout(300)
    assert box.evaluate("(el) => el.scrollTop") == 0  # the reader scrolled up: left alone
    chat.wait_status("complete", timeout=30_000)


SELECT = """
(el, [from, to]) => {
  const text = [...el.querySelectorAll(".md-live *, .md-live")].flatMap((n) => [...n.childNodes])
    .find((n) => n.nodeType === Node.TEXT_NODE && n.data.length > to);
  const range = document.createRange();
  range.setStart(text, from);
  range.setEnd(text, to);
  getSelection().removeAllRanges();
  getSelection().addRange(range);
  return getSelection().toString();
}
"""


def test_a_selection_in_the_block_being_written_survives_the_stream(chat: ChatPage) -> None:
    chat.send("words [[mock tokens=600 rate=60]]")
    chat.wait_text(200)
    selected = chat.answer().locator(".msg-body").evaluate(SELECT, [5, 60])
    assert len(selected) == 55
    for _ in range(4):
        chat.page.wait_for_timeout(200)  # a dozen frames, each with new text in that block
        assert chat.page.evaluate("getSelection().toString()") == selected
    assert chat.answer().get_attribute("data-status") == "streaming"
    chat.page.locator("sc-composer .stop").click()
    chat.wait_status("stopped")


def test_a_selection_survives_its_block_becoming_final(chat: ChatPage) -> None:
    chat.send("md [[mock tokens=900 rate=90 text=markdown]]")
    chat.wait_text(300)
    body = chat.answer().locator(".msg-body")
    selected = body.evaluate(SELECT, [0, 12])
    assert len(selected) == 12
    chunks = body.locator(".md-chunk > *").count()
    # a few blocks later the selected one is final (in a chunk), and still selected
    body.evaluate(
        """(el, n) => new Promise((resolve) => {
             const check = () => el.querySelectorAll(".md-chunk > *").length > n + 3
               ? resolve() : requestAnimationFrame(check);
             check();
           })""",
        chunks,
    )
    assert chat.page.evaluate("getSelection().toString()") == selected
    in_chunk = chat.page.evaluate(
        "getSelection().getRangeAt(0).startContainer.parentElement.closest('.md-chunk') !== null"
    )
    assert in_chunk
    chat.wait_status("complete", timeout=30_000)


def test_a_code_copy_button_being_streamed_stays_the_same_button(new_page: PageFactory) -> None:
    chat = new_page(permissions=["clipboard-read", "clipboard-write"]).open()
    chat.send("md [[mock tokens=900 rate=60 text=markdown]]")
    live_copy = chat.answer().locator(".md-live .code-copy")
    expect(live_copy.first).to_be_attached(timeout=20_000)
    button = live_copy.first.element_handle()
    code = button.evaluate("(el) => el.closest('.code-block').querySelector('code').textContent")
    chat.page.wait_for_timeout(100)
    assert button.evaluate("(el) => el.isConnected")
    button.click()
    copied = chat.page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(code)
    chat.wait_status("complete", timeout=30_000)
