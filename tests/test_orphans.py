"""A dead worker's answers, ended by another worker (generations/orphans.py), on a real SQLite
store: what the stored row keeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from streamchat import events
from streamchat.chat import Conversation, Message
from streamchat.events import Event
from streamchat.fanout.memory import MemoryBroker
from streamchat.generations.orphans import Orphans
from streamchat.generations.saving import Saver
from streamchat.store.sql import SqlStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'orphans.db'}")
    await store.open()
    await store.ensure_user("ann", "ann")
    conversation = Conversation("c1", "ann", title="t")
    rows = [
        Message("q1", "c1", "ann", "user", content="question"),
        Message(
            "a1",
            "c1",
            "ann",
            "assistant",
            content="kept so far",
            parent_id="q1",
            status="streaming",
        ),
    ]
    await store.add_messages(rows, new=conversation)
    try:
        yield store
    finally:
        await store.close()


def spawn(coro: Any) -> asyncio.Task[Any]:
    return asyncio.get_running_loop().create_task(coro)


async def ended(store: SqlStore, stream_id: str, kept: list[Event]) -> Message:
    broker = MemoryBroker()
    await broker.create(stream_id, "ann")
    broker.publish(stream_id, kept)
    await Orphans(broker, Saver(store, 1.0, spawn))._end(stream_id, kept)
    return await store.get_message("ann", "a1")


async def test_an_interrupted_answer_keeps_the_text_the_broker_held(store: SqlStore) -> None:
    kept = [
        events.meta(1, conversation_id="c1", message_id="a1", model="m"),
        Event(2, "delta", {"text": "all of "}),
        Event(3, "delta", {"text": "it"}),
    ]
    answer = await ended(store, "a1", kept)
    assert (answer.content, answer.status) == ("all of it", "incomplete")
    assert answer.error is not None and answer.error["code"] == "interrupted"


async def test_an_interrupted_answer_keeps_how_long_it_thought(store: SqlStore) -> None:
    """The worker died after the thinking, before a save stored its time: the first answer
    token carried it (reasoning_ms), so the ended row has it (it had none)."""
    kept = [
        events.meta(1, conversation_id="c1", message_id="a1", model="m"),
        Event(2, "reasoning", {"text": "hmm"}),
        Event(3, "delta", {"text": "yes", "reasoning_ms": 1234.5}),
        Event(4, "delta", {"text": "!"}),
    ]
    answer = await ended(store, "a1", kept)
    assert (answer.content, answer.reasoning, answer.reasoning_ms) == ("yes!", "hmm", 1234.5)


async def test_an_interrupted_continuation_keeps_the_answer_before_it(store: SqlStore) -> None:
    """A worker that died during Continue: the broker holds only the continuation's text
    (stream a1.c1); the stored answer a1 keeps its text, and is ended. It used to be saved
    under the continuation's id, which has no row, so the answer stayed streaming."""
    kept = [
        events.meta(1, conversation_id="c1", message_id="a1", model="m", generation_id="a1.c1"),
        Event(2, "delta", {"text": " and more"}),
    ]
    answer = await ended(store, "a1.c1", kept)
    assert (answer.content, answer.status) == ("kept so far", "incomplete")
    assert answer.error is not None and answer.error["code"] == "interrupted"


async def test_a_worker_that_died_in_the_title_call_leaves_the_answer_complete(
    store: SqlStore,
) -> None:
    """Issue 14 item 5: a first answer is stored whole, then its usage is published, then its
    conversation's title is asked for. A worker dying in that call must not turn the stored
    answer into an interrupted one; its stream ends as the row says."""
    await store.update_message(
        "a1",
        {
            "content": "all of it",
            "status": "complete",
            "finish_reason": "stop",
            "ttft_ms": 12.0,
            "total_ms": 34.0,
            "last_event_id": 5,
        },
    )
    kept = [
        events.meta(1, conversation_id="c1", message_id="a1", model="m"),
        Event(2, "delta", {"text": "all of it"}),
        Event(3, "usage", {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}),
    ]
    broker = MemoryBroker()
    await broker.create("a1", "ann")
    broker.publish("a1", kept)
    await Orphans(broker, Saver(store, 1.0, spawn))._end("a1", kept, "ann")
    answer = await store.get_message("ann", "a1")
    assert (answer.content, answer.status, answer.error) == ("all of it", "complete", None)
    subscription = await broker.subscribe("a1", 3)
    rest = await subscription.next(1.0)
    await subscription.close()
    assert rest == [
        Event(4, "title", {"conversation_id": "c1", "title": None}),
        events.done(5, "stop", 12.0, 34.0),
    ]
