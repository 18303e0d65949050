"""Issue 14 items 5 and 6 on the page: the title the model wrote reaches the sidebar without a
reload; "Thought for N s" survives a reload; the server's own validation errors read in
Simplified Chinese, numbers filled in."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Route, expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import PageFactory
from tests.conftest import Server, ServerFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def server(make_server: ServerFactory) -> Server:
    return make_server(demo_token_rate=200, titles=True, max_message_chars=60)


def test_the_sidebar_shows_the_generated_title_without_a_reload(
    chat: ChatPage, tmp_path: Path
) -> None:
    question = "```py\nx\n``` what? [[mock tokens=4 title=Printing_hi]]"  # under 60
    chat.send(question)
    chat.wait_status("complete")
    cid = chat.conversation_id()
    link = chat.page.locator(f'sc-sidebar li.conv[data-id="{cid}"] .conv-open')
    expect(link).to_have_text("Printing hi")
    expect(chat.page.locator("#title")).to_have_text("Printing hi")
    assert chat.page.title() == "Printing hi · streamchat"
    assert chat.stored(cid)["title"] == "Printing hi"
    # the page never read the page again: one load
    assert len([r for r in chat.requests if r.resource_type == "document"]) == 1
    chat.page.screenshot(path=str(tmp_path / "titles-generated.png"))

    # the next answer in the same conversation keeps it
    chat.send("and now? [[mock tokens=2 title=Other]]")
    chat.wait_status("complete")
    chat.page.wait_for_timeout(300)
    expect(link).to_have_text("Printing hi")


def test_the_answer_ends_before_its_title(chat: ChatPage) -> None:
    """Issue 14: the answer's end (Stop turning back into Send, Regenerate) waited for the
    title call after a first answer; a provider slow to title held it for seconds. The answer
    ends when its text is complete; the title comes into the sidebar afterwards."""
    question = "Slow [[mock tokens=3 title=Named_later title_ms=3000]]"  # under 60
    chat.send(question)
    chat.wait_text(len(" w1 w2 w3"))
    started = time.monotonic()
    chat.wait_status("complete", timeout=10_000)
    assert time.monotonic() - started < 1.5  # before: 3 s, the title call's wait
    expect(chat.answer().locator(".regenerate")).to_be_visible()
    expect(chat.send_button).to_be_visible()
    cid = chat.conversation_id()
    link = chat.page.locator(f'sc-sidebar li.conv[data-id="{cid}"] .conv-open')
    expect(link).to_contain_text("Slow [[mock")  # the first words, for now
    expect(link).to_have_text("Named later", timeout=8_000)
    assert time.monotonic() - started >= 2.5
    expect(chat.page.locator("#title")).to_have_text("Named later")
    assert chat.page.title() == "Named later · streamchat"


def test_an_untitled_conversation_reads_new_chat_in_chinese(
    new_page: PageFactory, tmp_path: Path
) -> None:
    """Issue 14: a conversation created without a title (POST /api/conversations {}) showed
    the server's English "New chat" in the zh-CN page. It has no title until its model writes
    one; the page shows its own placeholder, in its language. A real title stays as stored."""
    chat = new_page(locale="zh-CN").open()
    created = chat.api("POST", "/api/conversations", json={}).json()
    renamed = chat.api("POST", "/api/conversations", json={"title": "New chat"}).json()
    chat.open(f"/#/c/{created['id']}")
    chat.reload()  # a hash-only goto does not load the page again: the sidebar is read at load
    link = chat.page.locator(f'sc-sidebar li.conv[data-id="{created["id"]}"] .conv-open')
    expect(link).to_have_text("新对话")
    expect(chat.page.locator("#title")).to_have_text("新对话")
    mine = chat.page.locator(f'sc-sidebar li.conv[data-id="{renamed["id"]}"] .conv-open')
    expect(mine).to_have_text("New chat")  # the user's title, as stored
    chat.page.screenshot(path=str(tmp_path / "titles-untitled-zh.png"))
    chat.send("你好 [[mock tokens=2 title=问候]]")
    chat.wait_status("complete")
    expect(link).to_have_text("问候")
    expect(chat.page.locator("#title")).to_have_text("问候")


def test_a_failed_title_call_leaves_the_first_words(chat: ChatPage) -> None:
    chat.send("Why is the sky blue? [[mock tokens=3 title=fail]]")
    chat.wait_status("complete")
    cid = chat.conversation_id()
    title = "Why is the sky blue? [[mock tokens=3 title=fail]]"
    assert chat.stored(cid)["title"] == title
    expect(chat.page.locator(f'sc-sidebar li.conv[data-id="{cid}"] .conv-open')).to_have_text(title)


def test_thought_for_survives_a_reload(new_page: PageFactory) -> None:
    chat = new_page(locale="zh-CN").open()
    chat.send("想一想 [[mock reasoning=30 tokens=10 rate=30 dialect=moonshot]]")
    chat.wait_status("complete")
    summary = chat.answer().locator(".thinking summary")
    expect(summary).to_have_text(re.compile(r"^思考了 \d+\.\d 秒$"))
    live = float(summary.inner_text().split()[1])
    stored = chat.stored_answer()["reasoning_ms"]
    assert 0.7 <= stored / 1000 <= 3  # 30 reasoning tokens at 30 per second
    chat.reload()
    summary = chat.answer().locator(".thinking summary")
    expect(summary).to_have_text(f"思考了 {stored / 1000:.1f} 秒")
    assert abs(live - stored / 1000) <= 0.5  # the page's clock and the server's agree
    chat.page.select_option("#lang", "en")
    expect(chat.answer().locator(".thinking summary")).to_have_text(
        f"Thought for {stored / 1000:.1f} s"
    )


def test_a_server_validation_error_reads_in_chinese(new_page: PageFactory, tmp_path: Path) -> None:
    chat = new_page(locale="zh-CN").open()
    chat.send("x" * 61)
    chat.wait_status("error")
    text = chat.answer().locator(".err-text").inner_text()
    assert text == "消息有 61 个字符，超过了 60 个字符的上限。"
    chat.page.screenshot(path=str(tmp_path / "titles-error-zh.png"))
    # English: the server's own message, as before
    chat.page.select_option("#lang", "en")
    chat.reload()
    chat.send("y" * 62)
    chat.wait_status("error")
    text = chat.answer().locator(".err-text").inner_text()
    assert text == "message is 62 characters; the limit is 60"


def test_an_unknown_code_falls_back_to_the_servers_text(new_page: PageFactory) -> None:
    chat = new_page(locale="zh-CN").open()

    def refuse(route: Route) -> None:
        body = (
            '{"error": {"code": "brand_new_code", "message": "a new failure", "retryable": false}}'
        )
        route.fulfill(status=400, body=body, content_type="application/json")

    chat.page.route("**/api/chat", refuse)
    chat.send("hello")
    chat.wait_status("error")
    assert chat.answer().locator(".err-text").inner_text() == "a new failure"
