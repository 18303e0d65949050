"""How long the model thought is stored with its answer (issue 14 item 6): a reloaded page read
"Thoughts" where the live one had said "Thought for 1.3 s". On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from streamchat.sse import SSEDecoder
from tests.harness import read_stream
from tests.web.test_chat_stream import conversation


async def _answer(client: httpx.AsyncClient, directive: str) -> dict[str, object]:
    stream = await read_stream(
        client,
        "POST",
        "/api/chat",
        json={"message": f"think [[mock {directive}]]", "model": "gpt-4o-mini"},
    )
    assert stream.types()[-1] == "done"
    stored = await conversation(client, stream.first("meta")["conversation_id"])
    answer: dict[str, object] = stored["messages"][-1]
    return answer


async def test_reasoning_time_is_stored_and_returned(client: httpx.AsyncClient) -> None:
    # 8 reasoning tokens then 4 answer tokens at 20 per second: the first answer token comes
    # 8 / 20 = 0.4 s after the first reasoning token
    answer = await _answer(client, "dialect=deepseek reasoning=8 tokens=4 rate=20")
    assert answer["reasoning"] == "".join(f" r{i}" for i in range(1, 9))
    reasoning_ms = answer["reasoning_ms"]
    assert isinstance(reasoning_ms, float)
    assert 350 <= reasoning_ms <= 2000
    total = answer["total_ms"]
    assert isinstance(total, float) and reasoning_ms < total


async def test_no_reasoning_no_time(client: httpx.AsyncClient) -> None:
    answer = await _answer(client, "tokens=3")
    assert answer["reasoning"] == ""
    assert answer["reasoning_ms"] is None


async def test_reasoning_without_an_answer_counts_to_the_end(client: httpx.AsyncClient) -> None:
    """An answer that is only thinking (cut by its length) thought until it ended."""
    answer = await _answer(client, "dialect=deepseek reasoning=6 tokens=0 rate=20")
    reasoning_ms = answer["reasoning_ms"]
    assert isinstance(reasoning_ms, float)
    assert 200 <= reasoning_ms <= 2000


async def test_the_first_answer_token_and_done_carry_the_reasoning_time(
    client: httpx.AsyncClient,
) -> None:
    """A client that comes to the answer late (a reload, another tab: the events replayed at
    once) cannot time the thinking; the stream says how long it took, as stored."""
    stream = await read_stream(
        client,
        "POST",
        "/api/chat",
        json={"message": "think [[mock dialect=deepseek reasoning=8 tokens=4 rate=20]]"},
    )
    deltas = [data for kind, data in stream.typed() if kind == "delta"]
    thought = deltas[0]["reasoning_ms"]
    assert isinstance(thought, float) and 350 <= thought <= 2000
    assert all(set(data) == {"text"} for data in deltas[1:])
    assert stream.last()["reasoning_ms"] == thought
    stored = await conversation(client, stream.first("meta")["conversation_id"])
    assert stored["messages"][-1]["reasoning_ms"] == thought
    # a re-attach from the first event: the same events
    again = await read_stream(
        client, "GET", f"/api/generations/{stored['messages'][-1]['id']}/events"
    )
    assert again.typed() == stream.typed()

    plain = await read_stream(client, "POST", "/api/chat", json={"message": "[[mock tokens=3]]"})
    assert all(set(data) == {"text"} for kind, data in plain.typed() if kind == "delta")
    assert "reasoning_ms" not in plain.last()


async def test_a_streaming_answer_has_its_reasoning_time_once_its_answer_started(
    client: httpx.AsyncClient,
) -> None:
    """The periodic save stores the reasoning time with the first answer token: a page that
    reloads shows the saved text and re-attaches after it, past the token that carried it."""
    decoder = SSEDecoder()
    seen: list[tuple[str, dict[str, Any]]] = []
    body = {"message": "think [[mock dialect=deepseek reasoning=6 tokens=200 rate=20]]"}
    async with client.stream("POST", "/api/chat", json=body) as response:
        chunks = response.aiter_raw()
        while not any(kind == "delta" for kind, _ in seen):
            seen += [(e.event, orjson.loads(e.data)) for e in decoder.feed(await anext(chunks))]
        cid = seen[0][1]["conversation_id"]
        thought = next(data for kind, data in seen if kind == "delta")["reasoning_ms"]
        for _ in range(50):  # the next periodic save (flush_interval 0.2 s)
            answer = (await conversation(client, cid))["messages"][-1]
            if answer["content"]:
                break
            assert answer["reasoning_ms"] is None  # not before the text that ended the thinking
            await asyncio.sleep(0.05)
        assert answer["status"] == "streaming" and answer["content"]
        assert answer["reasoning_ms"] == thought
