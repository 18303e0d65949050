"""The in-process broker's compact replay log (fanout/memory.py _Log): a replay from any id
gives exactly the events published, every kind of event and text (multi-byte, long, empty,
marked), across the offset marks; a reader in step with the publisher gets the objects
published; what it keeps per token is its text and about a byte."""

from __future__ import annotations

import tracemalloc

import pytest

from streamchat.events import Event
from streamchat.fanout.memory import MemoryBroker


def published() -> list[Event]:
    events = [Event(1, "meta", {"conversation_id": None, "message_id": "m", "model": "x"})]
    texts = [" w", "é", "東京", "😀", "", "x" * 126, "y" * 127, "z" * 5000, " last"]
    for i in range(2, 300):
        text = texts[i % len(texts)] + str(i)
        if i % 7 == 0:
            events.append(Event(i, "reasoning", {"text": text}))
        elif i % 11 == 0:
            events.append(Event(i, "delta", {"text": text, "refusal": True}))
        elif i % 13 == 0:
            events.append(Event(i, "tool_call", {"index": 0, "function": {"arguments": text}}))
        else:
            events.append(Event(i, "delta", {"text": text}))
    events.append(Event(300, "usage", {"prompt_tokens": 1, "completion_tokens": 298}))
    events.append(Event(301, "done", {"finish_reason": "stop"}))
    return events


async def replay(broker: MemoryBroker, after: int) -> list[Event]:
    subscription = await broker.subscribe("s", after)
    out: list[Event] = []
    while batch := await subscription.next(1):
        out.extend(batch)
    await subscription.close()
    return out


@pytest.mark.parametrize("batch", [1, 5, 1000])
async def test_a_replay_from_any_id_is_exactly_what_was_published(batch: int) -> None:
    events = published()
    broker = MemoryBroker()
    await broker.create("s", "u")
    for start in range(0, len(events), batch):
        broker.publish("s", events[start : start + batch])

    for after in range(len(events) + 1):
        got = await replay(broker, after)
        assert got == events[after:], after
        assert [e.sse() for e in got] == [e.sse() for e in events[after:]]
    info = await broker.info("s")
    assert info is not None and (info.last_id, info.finished) == (301, True)


async def test_a_log_mirrored_from_the_middle_replays_from_its_first_id() -> None:
    events = published()[100:]
    broker = MemoryBroker()
    await broker.create("s", "u")
    broker.publish("s", events)

    assert await replay(broker, 0) == events
    assert await replay(broker, 150) == events[50:]


async def test_a_reader_in_step_gets_the_published_objects() -> None:
    broker = MemoryBroker()
    await broker.create("s", "u")
    subscription = await broker.subscribe("s", 0)
    seen: list[Event] = []
    subscription.listen(seen.extend)
    events = published()
    for event in events:
        broker.publish("s", [event])
    await subscription.close()

    assert len(seen) == len(events)
    assert all(a is b for a, b in zip(seen, events, strict=True))


async def test_out_of_order_ids_are_refused() -> None:
    broker = MemoryBroker()
    await broker.create("s", "u")
    broker.publish("s", [Event(1, "delta", {"text": "a"})])
    with pytest.raises(ValueError, match="out of order"):
        broker.publish("s", [Event(3, "delta", {"text": "b"})])


async def test_a_token_keeps_its_text_and_about_a_byte() -> None:
    broker = MemoryBroker()
    await broker.create("s", "u")
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(1, 20_001):
        event = Event(i, "delta", {"text": " word"})
        event.sse()
        broker.publish("s", [event])
    del event
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()

    assert kept / 20_000 < 2 * len(b" word")  # was ~420 bytes per token
