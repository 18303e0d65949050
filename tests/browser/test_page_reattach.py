"""An answer outlives its connection: switching conversation, reloading the page and dropping
the network all come back to the same generation with exactly its text, nothing twice."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.chat_page import ChatPage, words
from tests.browser.conftest import PageFactory
from tests.browser.netproxy import DroppingProxy, dropping_proxy
from tests.conftest import Server, ServerFactory

pytestmark = pytest.mark.browser


def test_reload_mid_answer_reattaches_with_the_exact_final_text(chat: ChatPage) -> None:
    chat.send("long [[mock tokens=300 rate=60]]")
    chat.wait_text(60)
    conversation = chat.conversation_id()
    generation = chat.answer().get_attribute("data-status") and chat.answer().evaluate(
        "el => el.messageId"
    )
    chat.reload()
    assert chat.conversation_id() == conversation
    expect(chat.answers()).to_have_count(1)
    assert chat.answer().get_attribute("data-status") == "streaming"
    expect(chat.stop_button).to_be_visible()
    assert chat.wait_status(timeout=30_000) == "complete"
    stored = chat.stored_answer()
    assert stored["id"] == generation and stored["status"] == "complete"
    assert chat.source() == stored["content"] == words(300)
    assert chat.body_text().split() == [f"w{i}" for i in range(1, 301)]
    reattach = chat.requests_to(f"/api/generations/{generation}/events")
    assert len(reattach) == 1
    # The reloaded page showed the text of the last periodic save and asked for what came after
    # it (not every event from the first); the exact text above shows nothing came twice.
    assert int(reattach[0].headers["last-event-id"]) > 1


def test_a_reloaded_streaming_answer_still_names_its_model(chat: ChatPage) -> None:
    """Seen using the page: after a reload mid-answer the bubble lost its model's name (the
    re-attach starts after the saved text, past the ``meta`` event that carries it)."""
    chat.send("long [[mock tokens=300 rate=60]]")
    chat.wait_text(60)
    model = chat.answer().locator(".msg-model")
    named = model.inner_text()
    assert named
    chat.reload()
    assert chat.answer().get_attribute("data-status") == "streaming"
    expect(chat.answer().locator(".msg-model")).to_have_text(named)
    assert chat.wait_status(timeout=30_000) == "complete"
    expect(chat.answer().locator(".msg-model")).to_have_text(named)


def test_switching_away_does_not_stop_the_answer_and_coming_back_shows_it_streaming(
    chat: ChatPage,
) -> None:
    chat.send("older [[mock tokens=2]]")
    chat.wait_status("complete")
    older = chat.conversation_id()
    chat.page.locator("#new-chat").click()
    expect(chat.page.locator("#empty")).to_be_visible()
    chat.send("streaming one [[mock tokens=300 rate=60]]")
    chat.wait_text(30)
    streaming = chat.conversation_id()
    entry = chat.page.locator(f'sc-sidebar li.conv[data-id="{streaming}"]')
    expect(entry.locator(".conv-dot")).to_be_visible()

    assert chat.switch_to("older") == older
    expect(chat.page).to_have_url(f"{chat.base}/#/c/{older}")
    expect(chat.answers()).to_have_count(1)
    assert chat.source() == words(2)
    expect(chat.send_button).to_be_visible()  # this conversation is idle
    expect(entry.locator(".conv-dot")).to_be_visible()  # the other one still answers
    time.sleep(0.5)

    chat.switch_to("streaming one")
    expect(chat.page).to_have_url(f"{chat.base}/#/c/{streaming}")
    assert chat.answer().get_attribute("data-status") == "streaming"
    before = len(chat.source())
    chat.wait_text(before + 20)  # still growing
    expect(chat.stop_button).to_be_visible()
    assert chat.wait_status(timeout=30_000) == "complete"
    stored = chat.stored_answer()
    assert stored["status"] == "complete"
    assert chat.source() == stored["content"] == words(300)
    expect(entry.locator(".conv-dot")).to_be_hidden()
    # the page kept one reader: no re-attach was needed
    assert chat.requests_to("/events") == []


@pytest.fixture
def proxy(server: Server) -> Iterator[DroppingProxy]:
    with dropping_proxy(server.url) as proxy:
        yield proxy


def test_a_dropped_connection_reattaches_after_the_last_event_it_rendered(
    new_page: PageFactory, proxy: DroppingProxy
) -> None:
    chat = new_page(base=proxy.url).open()
    chat.send("long [[mock tokens=240 rate=60]]")
    chat.wait_text(40)
    assert proxy.drop() >= 1
    chat.wait_text(len(words(240)) // 2)
    assert chat.wait_status(timeout=30_000) == "complete"
    stored = chat.stored_answer()
    assert chat.source() == stored["content"] == words(240)
    assert chat.body_text().split() == [f"w{i}" for i in range(1, 241)]
    reattach = chat.requests_to("/events")
    assert reattach, "the page did not re-attach"
    assert int(reattach[0].headers["last-event-id"]) > 1


def test_reconnect_backs_off_and_reads_the_stored_answer_when_events_expired(
    make_server: ServerFactory, new_page: PageFactory
) -> None:
    server = make_server(replay_ttl=0.3)
    with dropping_proxy(server.url) as proxy:
        chat = new_page(base=proxy.url).open()
        chat.send("short [[mock tokens=60 rate=40]]")
        chat.wait_text(30)
        proxy.blocked = True
        proxy.drop()
        notice = chat.answer().locator(".msg-error.reconnecting")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("reconnecting")
        time.sleep(3)  # the answer ends and its events expire meanwhile
        proxy.blocked = False
        assert chat.wait_status(timeout=30_000) == "complete"
        expect(notice).to_be_hidden()
        assert chat.source() == words(60)
        responses = [r.response() for r in chat.requests_to("/events")]
        statuses = [response.status for response in responses if response is not None]
        assert 410 in statuses


def test_sse_bytes_trickling_one_at_a_time_render_the_same(
    new_page: PageFactory, proxy: DroppingProxy
) -> None:
    proxy.trickle = True
    chat = new_page(base=proxy.url).open()
    chat.send("中文 [[mock text=cjk]]")
    chat.wait_status("complete", timeout=60_000)
    expected = chat.stored_answer()["content"]
    assert "👩‍💻" in expected
    assert chat.source() == expected
    assert chat.body_text() == expected
