"""Long conversations (issue 14 item 1): a stored answer is drawn from its end, the rest in
slices between frames, exactly as one render of the whole text would draw it; a language switch
redraws the labels in place and keeps the scroll position."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.chat_page import ChatPage

pytestmark = pytest.mark.browser

LONG = "long [[mock tokens=4000 rate=0 text=markdown]]"

# the thread's first drawing, seen by a MutationObserver installed before the route changes:
# whether the thread was still rendering when the answer's body was first in the DOM, its
# chunks then and the last one
WATCH = """
(id) => new Promise((resolve) => {
  const thread = document.querySelector("#thread");
  const observer = new MutationObserver(() => {
    const answer = thread.querySelector("sc-message.msg-assistant");
    const body = answer?.querySelector(".msg-body");
    if (thread.dataset.conversation !== id || !body || !body.textContent.trim()) return;
    observer.disconnect();
    const chunks = body.querySelectorAll(".md-chunk");
    resolve({ rendering: "rendering" in thread.dataset, chunks: chunks.length,
              last: chunks[chunks.length - 1]?.innerHTML });
  });
  observer.observe(thread, { childList: true, subtree: true, characterData: true,
                             attributes: true });
  location.hash = "#/c/" + id;
})
"""

# the sliced body, chunk by chunk, against one render of the whole stored text
SAME_AS_WHOLE = """
async (el) => {
  const { renderMarkdown } = await import("/static/js/markdown.js");
  const host = document.createElement("div");
  host.append(renderMarkdown(el.source.text));
  const sliced = [...el.querySelectorAll(".msg-body .md-chunk")].map((c) => c.innerHTML).join("");
  return [sliced, host.innerHTML];
}
"""


def store_long(chat: ChatPage) -> str:
    chat.send(LONG)
    chat.wait_status("complete", timeout=60_000)
    return chat.conversation_id()


def test_a_long_stored_answer_shows_its_end_first_and_renders_the_rest_in_slices(
    chat: ChatPage,
) -> None:
    long_id = store_long(chat)
    chat.page.locator("#new-chat").click()
    chat.send("short [[mock tokens=3]]")
    chat.wait_status("complete")
    seen = chat.page.evaluate(WATCH, long_id)
    # the end of the answer (what the reader sees, scrolled to the bottom) came first, while the
    # beginning was not drawn yet: the page was not held for the whole render
    assert seen["rendering"] is True
    expect(chat.page.locator("#thread")).not_to_have_attribute("data-rendering", "", timeout=20_000)
    chunks = chat.answer().locator(".msg-body .md-chunk")
    assert 0 < seen["chunks"] < chunks.count()
    assert seen["last"] == chunks.last.inner_html()
    sliced, whole = chat.answer().evaluate(SAME_AS_WHOLE)
    assert len(whole) > 20_000
    assert sliced == whole
    distance = chat.page.locator("#messages").evaluate(
        "(el) => el.scrollHeight - el.scrollTop - el.clientHeight"
    )
    assert distance < 50  # still at the bottom once everything above came in
    # after a reload too
    chat.reload()
    expect(chat.page.locator("#thread")).not_to_have_attribute("data-rendering", "", timeout=20_000)
    sliced, whole = chat.answer().evaluate(SAME_AS_WHOLE)
    assert sliced == whole


def test_pieces_cut_only_where_a_block_cannot_go_on(chat: ChatPage) -> None:
    cases = [
        "a\n\nb\n\n```\nx\n\ny\n```\n\nc\n\n- one\n\n- two\n\n  more\n\nd\n\n1. x\n\n2. y\n\ne",
        "para\n\n~~~~\n~~~\n\nnot closed yet\n~~~~\n\nend",
        "see [x]\n\nmore\n\n[x]: https://example.org\n\ntail",
        "> quote\n\n> other\n\n    indented\n\n    code\n\nlast",
    ]
    for text in cases:
        result = chat.page.evaluate(
            """async (text) => {
                 const { pieces } = await import("/static/js/markdown-stream.js");
                 const { renderMarkdown } = await import("/static/js/markdown.js");
                 const html = (t) => { const d = document.createElement("div");
                                       d.append(renderMarkdown(t)); return d.innerHTML; };
                 const parts = pieces(text, 1);
                 return [parts.join("") === text, parts.map(html).join(""), html(text),
                         parts.length];
               }""",
            text,
        )
        joined, sliced, whole, count = result
        assert joined, text
        assert sliced == whole, text
        assert count > 1 or "[x]:" in text, text


def test_a_language_switch_keeps_the_scroll_position(chat: ChatPage) -> None:
    store_long(chat)
    chat.send("second [[mock tokens=5]]")
    chat.wait_status("complete")
    messages = chat.page.locator("#messages")
    messages.evaluate("(el) => { el.scrollTop = Math.round(el.scrollHeight / 3); }")
    chat.page.wait_for_timeout(100)
    before = messages.evaluate("(el) => el.scrollTop")
    first_chunk = chat.answer(0).locator(".md-chunk").first.element_handle()
    chat.page.select_option("#lang", "zh-CN")
    expect(chat.answer().locator(".regenerate")).to_have_text("重新生成")
    expect(chat.answer().locator(".stats")).to_contain_text("个 token")
    expect(chat.answer(0).locator(".code-copy").first).to_have_text("复制")
    chat.page.wait_for_timeout(200)
    assert messages.evaluate("(el) => el.scrollTop") == before
    # the body was not drawn again: the same element is still there
    assert first_chunk.evaluate("(el) => el.isConnected")
    chat.page.select_option("#lang", "en")
    expect(chat.answer().locator(".regenerate")).to_have_text("Regenerate")
    assert messages.evaluate("(el) => el.scrollTop") == before
