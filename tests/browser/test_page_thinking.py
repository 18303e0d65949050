"""How long the model thought, when the page comes to an answer that is still streaming (issue
14): a reload, a second tab or a re-attach replays the answer's events at once, so the page
cannot time the thinking itself. It read "Thoughts" (or a near-zero time) where a page that
watched the answer said "Thought for 1.0 s"; now every page shows the server's time, from the
thinking's real start."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import PageFactory
from tests.conftest import ServerFactory

pytestmark = pytest.mark.browser

THOUGHT = re.compile(r"^Thought for \d+\.\d s$")


def summary(chat: ChatPage) -> str:
    """The thinking block's label, once the answer has started (no longer "Thinking… n s")."""
    label = chat.answer().locator(".thinking summary")
    expect(label).not_to_have_text(re.compile(r"^Thinking…"))
    return label.inner_text()


def seconds(label: str) -> float:
    return float(label.split()[2])


def stored_label(chat: ChatPage) -> str:
    return f"Thought for {chat.stored_answer()['reasoning_ms'] / 1000:.1f} s"


def test_a_reload_and_a_second_tab_after_the_thinking_show_how_long_it_thought(
    new_page: PageFactory,
) -> None:
    chat = new_page().open()
    # 30 reasoning tokens (1 s), then 300 answer tokens (10 s)
    chat.send("think [[mock reasoning=30 tokens=300 rate=30 dialect=moonshot]]")
    chat.wait_text(40)
    live = summary(chat)
    assert THOUGHT.match(live), live
    # the first answer token is saved: the reload shows the saved text and re-attaches after it
    assert chat.stored_answer()["content"]
    cid = chat.conversation_id()

    other = new_page().open(f"/#/c/{cid}")
    assert other.answer().get_attribute("data-status") == "streaming"
    expect(other.answer().locator(".thinking summary")).to_have_text(live)

    chat.reload()
    assert chat.answer().get_attribute("data-status") == "streaming"
    expect(chat.answer().locator(".thinking summary")).to_have_text(live)
    chat.wait_status("complete", timeout=30_000)
    other.wait_status("complete", timeout=30_000)
    assert 0.7 <= seconds(live) <= 3
    assert stored_label(chat) == live
    expect(chat.answer().locator(".thinking summary")).to_have_text(live)
    expect(other.answer().locator(".thinking summary")).to_have_text(live)


def test_a_reload_at_the_thinkings_end_before_any_save_shows_how_long_it_thought(
    make_server: ServerFactory, new_page: PageFactory
) -> None:
    # no periodic save during the answer: the reloaded page replays every event from the first
    server = make_server(demo_token_rate=200, flush_interval=30)
    chat = new_page(base=server.url).open()
    chat.server = server
    chat.send("think [[mock reasoning=30 tokens=150 rate=30 dialect=moonshot]]")
    chat.wait_text(1)
    live = summary(chat)
    assert THOUGHT.match(live), live
    stored = chat.stored_answer()
    assert stored["status"] == "streaming" and stored["content"] == ""
    chat.reload()
    assert chat.answer().get_attribute("data-status") == "streaming"
    expect(chat.answer().locator(".thinking summary")).to_have_text(live)
    chat.wait_status("complete", timeout=30_000)
    assert stored_label(chat) == live


def test_the_label_counts_the_seconds_while_it_thinks(new_page: PageFactory) -> None:
    chat = new_page().open()
    # 120 reasoning tokens (4 s), then 30 answer tokens
    chat.send("think [[mock reasoning=120 tokens=30 rate=30 dialect=moonshot]]")
    label = chat.answer().locator(".thinking summary")
    expect(label).to_have_text("Thinking… 1 s")
    expect(label).to_have_text("Thinking… 2 s")
    live = summary(chat)
    assert THOUGHT.match(live), live
    assert seconds(live) >= 3.5


def test_a_reload_while_thinking_times_the_thinking_from_its_start(
    new_page: PageFactory,
) -> None:
    watching = new_page().open()
    # 90 reasoning tokens (3 s), then 60 answer tokens (2 s)
    watching.send("think [[mock reasoning=90 tokens=60 rate=30 dialect=moonshot]]")
    thinking = watching.answer().locator(".thinking-text")
    expect(thinking).to_contain_text(" r10 ")
    cid = watching.conversation_id()

    # a second tab opened while the model thinks, and reloaded while it still does
    chat = new_page().open(f"/#/c/{cid}")
    expect(chat.answer().locator(".thinking-text")).to_contain_text(" r20 ")
    chat.reload()
    label = chat.answer().locator(".thinking summary")
    expect(label).to_have_text("Thinking…")
    assert " r80 " not in chat.answer().locator(".thinking-text").inner_text()  # still thinking

    chat.wait_text(1)
    live = summary(watching)
    assert THOUGHT.match(live), live
    expect(label).to_have_text(live)  # from the thinking's start, not from the reload
    assert seconds(live) >= 2.5
    chat.wait_status("complete")
    watching.wait_status("complete")
    assert stored_label(chat) == live
    expect(label).to_have_text(live)
