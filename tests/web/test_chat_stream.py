"""POST /api/chat end to end: exact event sequences and the rows left in the store."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from streamchat.chat import UpstreamRequest
from streamchat.upstream.demo import demo_answer, tokenize
from tests.conftest import Server
from tests.harness import read_stream


def words(n: int, start: int = 1) -> str:
    return "".join(f" w{i}" for i in range(start, start + n))


async def conversation(client: httpx.AsyncClient, conversation_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/conversations/{conversation_id}")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


async def test_demo_answer_streams_exact_events_and_is_stored(client: httpx.AsyncClient) -> None:
    stream = await read_stream(
        client, "POST", "/api/chat", json={"message": "hello 你好", "model": "demo"}
    )
    assert stream.status == 200
    assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert stream.headers["cache-control"] == "no-cache"
    assert stream.headers["x-accel-buffering"] == "no"
    assert "content-length" not in stream.headers
    assert stream.raw.startswith(b"retry: 3000\n\n")
    expected = demo_answer(UpstreamRequest("demo", [{"role": "user", "content": "hello 你好"}]))
    pieces = tokenize(expected)
    assert stream.types() == ["meta", *["delta"] * len(pieces), "usage", "done"]
    assert stream.ids() == list(range(1, len(pieces) + 4))
    meta = stream.first("meta")
    assert meta["model"] == "demo"
    assert stream.headers["x-streamchat-generation-id"] == meta["message_id"]
    assert stream.text() == expected
    usage = stream.first("usage")
    assert usage["completion_tokens"] == len(pieces)
    assert usage["estimated"] is False
    done = stream.last()
    assert done["finish_reason"] == "stop"
    assert done["ttft_ms"] >= 0 and done["total_ms"] >= done["ttft_ms"]

    stored = await conversation(client, meta["conversation_id"])
    assert stored["title"] == "hello 你好"
    question, answer = stored["messages"]
    assert (question["role"], question["content"], question["status"]) == (
        "user",
        "hello 你好",
        "complete",
    )
    assert answer["id"] == meta["message_id"]
    assert (answer["role"], answer["content"], answer["status"], answer["finish_reason"]) == (
        "assistant",
        expected,
        "complete",
        "stop",
    )
    assert answer["model"] == "demo"
    assert answer["usage"] == usage
    assert answer["last_event_id"] == stream.ids()[-1]


async def test_mock_provider_answer_and_history(client: httpx.AsyncClient, server: Server) -> None:
    server.mock.reset()
    first = await read_stream(
        client,
        "POST",
        "/api/chat",
        json={"message": "one [[mock tokens=5]]", "model": "gpt-4o-mini"},
    )
    assert first.types() == ["meta", *["delta"] * 5, "usage", "done"]
    assert first.text() == words(5)
    conversation_id = first.first("meta")["conversation_id"]
    second = await read_stream(
        client,
        "POST",
        "/api/chat",
        json={"message": "two [[mock tokens=3]]", "conversation_id": conversation_id},
    )
    assert second.text() == words(3)
    assert second.first("meta")["model"] == "gpt-4o-mini"  # the conversation's model
    sent = server.mock.log()[-1]["body"]
    assert sent["messages"] == [
        {"role": "user", "content": "one [[mock tokens=5]]"},
        {"role": "assistant", "content": words(5)},
        {"role": "user", "content": "two [[mock tokens=3]]"},
    ]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert "temperature" not in sent and "top_p" not in sent  # nothing the user did not set
    assert server.mock.log()[-1]["authorization"] == f"Bearer {server.mock.api_key}"
    stored = await conversation(client, conversation_id)
    assert [m["content"] for m in stored["messages"]] == [
        "one [[mock tokens=5]]",
        words(5),
        "two [[mock tokens=3]]",
        words(3),
    ]


async def test_conversation_settings_are_sent_and_only_those(
    client: httpx.AsyncClient, server: Server
) -> None:
    created = await client.post(
        "/api/conversations",
        json={
            "title": "tuned",
            "model": "gpt-4o-mini",
            "system_prompt": "Be brief.",
            "params": {"temperature": 0.3, "max_tokens": 50},
        },
    )
    assert created.status_code == 201
    conversation_id = created.json()["id"]
    await read_stream(
        client,
        "POST",
        "/api/chat",
        json={"message": "hi [[mock tokens=2]]", "conversation_id": conversation_id},
    )
    sent = server.mock.log()[-1]["body"]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["temperature"] == 0.3
    assert sent["max_tokens"] == 50
    assert "top_p" not in sent and "presence_penalty" not in sent


async def test_utf8_split_at_every_byte_arrives_whole(client: httpx.AsyncClient) -> None:
    plain = await read_stream(
        client,
        "POST",
        "/api/chat",
        json={"message": "[[mock text=cjk tokens=12]]", "model": "gpt-4o-mini"},
    )
    split = await read_stream(
        client,
        "POST",
        "/api/chat",
        json={"message": "[[mock text=cjk tokens=12 split=byte]]", "model": "gpt-4o-mini"},
    )
    assert split.last() == {**split.last(), "finish_reason": "stop"}
    assert split.text() == plain.text()
    assert "\ufffd" not in split.text()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in split.text())


async def test_stop_cancels_upstream_and_keeps_partial_text(
    client: httpx.AsyncClient, server: Server
) -> None:
    server.mock.reset()
    async with client.stream(
        "POST",
        "/api/chat",
        json={"message": "[[mock tokens=2000 rate=40]]", "model": "gpt-4o-mini"},
    ) as response:
        lines = response.aiter_lines()
        generation_id = response.headers["x-streamchat-generation-id"]
        received: list[str] = []
        async for line in lines:
            received.append(line)
            if sum(1 for x in received if x.startswith("event: delta")) >= 3:
                break
        stopped = await client.post(f"/api/generations/{generation_id}/stop")
        assert stopped.status_code == 200
        assert stopped.json() == {"id": generation_id, "stopped": True}
        rest = [line async for line in lines]
    text = "\n".join(received + rest)
    assert "event: done" in text and '"finish_reason":"stopped"' in text
    assert "event: error" not in text
    await asyncio.sleep(0.3)
    record = server.mock.log()[-1]
    assert record["client_closed"] is True
    assert record["tokens_sent"] < 2000
    messages = (await client.get(f"/api/conversations/{_conversation_of(text)}")).json()["messages"]
    answer = messages[-1]
    assert (answer["status"], answer["finish_reason"]) == ("stopped", "stopped")
    assert answer["content"] == words(answer["content"].count(" w"))
    assert answer["content"].count(" w") >= 3
    assert answer["usage"]["estimated"] is True
    again = await client.post(f"/api/generations/{generation_id}/stop")
    assert again.json() == {"id": generation_id, "stopped": False}


def _conversation_of(sse_text: str) -> str:
    marker = '"conversation_id":"'
    start = sse_text.index(marker) + len(marker)
    return sse_text[start : sse_text.index('"', start)]


@pytest.mark.parametrize("after", [0, 1, 4, 9])
async def test_disconnect_then_reattach_from_event_k(client: httpx.AsyncClient, after: int) -> None:
    first = await read_stream(
        client,
        "POST",
        "/api/chat",
        stop_after=max(after, 1),
        json={"message": "[[mock tokens=30 rate=60]]", "model": "gpt-4o-mini"},
    )
    generation_id = first.first("meta")["message_id"]
    seen = first.events[:after]
    rest = await read_stream(
        client,
        "GET",
        f"/api/generations/{generation_id}/events",
        headers={"Last-Event-ID": str(after)} if after else {},
    )
    ids = [int(e.id) for e in seen] + rest.ids()
    assert ids == list(range(1, len(ids) + 1))  # no gap, no duplicate
    assert rest.types()[-2:] == ["usage", "done"]
    full_text = "".join(
        orjson.loads(e.data)["text"] for e in [*seen, *rest.events] if e.event == "delta"
    )
    assert full_text == words(30)
    again = await client.get(f"/api/generations/{generation_id}/events?after={ids[-1]}")
    assert again.status_code == 204


async def test_disconnected_answer_keeps_running_and_is_stored(
    client: httpx.AsyncClient,
) -> None:
    first = await read_stream(
        client,
        "POST",
        "/api/chat",
        stop_after=2,
        json={"message": "[[mock tokens=20 rate=100]]", "model": "gpt-4o-mini"},
    )
    meta = first.first("meta")
    await asyncio.sleep(0.6)
    stored = await conversation(client, meta["conversation_id"])
    assert stored["messages"][-1]["status"] == "complete"
    assert stored["messages"][-1]["content"] == words(20)


async def test_answer_abandoned_after_grace_is_stopped(make_server: Any) -> None:
    server = make_server(disconnect_grace=0.3)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        server.mock.reset()
        first = await read_stream(
            client,
            "POST",
            "/api/chat",
            stop_after=3,
            json={"message": "[[mock tokens=500 rate=20]]", "model": "gpt-4o-mini"},
        )
        meta = first.first("meta")
        await asyncio.sleep(1.8)
        record = server.mock.log()[-1]
        assert record["client_closed"] is True
        answer = (await conversation(client, meta["conversation_id"]))["messages"][-1]
        assert answer["status"] == "stopped"
        assert 1 <= answer["content"].count(" w") < 500


async def test_flushes_while_streaming(client: httpx.AsyncClient) -> None:
    async with client.stream(
        "POST", "/api/chat", json={"message": "[[mock tokens=200 rate=20]]", "model": "gpt-4o-mini"}
    ) as response:
        generation_id = response.headers["x-streamchat-generation-id"]
        lines = response.aiter_lines()
        conversation_id = ""
        async for line in lines:
            if line.startswith("data:") and "conversation_id" in line:
                conversation_id = _conversation_of(line)
                break
        await asyncio.sleep(1.0)
        stored = (await conversation(client, conversation_id))["messages"][-1]
        assert stored["status"] == "streaming"
        assert stored["content"].startswith(" w1 w2")
        await client.post(f"/api/generations/{generation_id}/stop")


async def test_a_reload_resumes_after_the_last_saved_event(client: httpx.AsyncClient) -> None:
    """The periodic save records the id of the last event its text includes: a page that
    reloads shows the stored text and re-attaches after that event, and gets exactly the rest
    (app.js ``runFor``), instead of every event from the first."""
    first = await read_stream(
        client,
        "POST",
        "/api/chat",
        stop_after=6,  # the page goes away; the answer goes on (disconnect grace)
        json={"message": "[[mock tokens=60 rate=30]]", "model": "gpt-4o-mini"},
    )
    meta = first.first("meta")
    await asyncio.sleep(0.7)  # a few periodic saves (flush_interval 0.2 s)
    stored = (await conversation(client, meta["conversation_id"]))["messages"][-1]
    assert stored["status"] == "streaming"
    assert stored["last_event_id"] > 6 and stored["content"]
    # meta is event 1 and each word one delta after it: the text is exactly events 2..last.
    assert stored["content"] == words(stored["last_event_id"] - 1)
    rest = await read_stream(
        client,
        "GET",
        f"/api/generations/{meta['message_id']}/events",
        headers={"Last-Event-ID": str(stored["last_event_id"])},
    )
    assert rest.ids()[0] == stored["last_event_id"] + 1
    assert rest.types()[-1] == "done"
    assert stored["content"] + rest.text() == words(60)


async def test_issue2_a_late_periodic_save_never_overwrites_the_final_one(
    make_server: Any,
) -> None:
    """Symptom: a stored answer ended `complete` without its last tokens, because a periodic
    save still in flight committed after the final save."""
    server = make_server(flush_interval=0.01, max_streams_per_user=100)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        streams = await asyncio.gather(
            *(
                read_stream(
                    client,
                    "POST",
                    "/api/chat",
                    json={"message": "[[mock tokens=40 rate=400]]", "model": "gpt-4o-mini"},
                )
                for _ in range(30)
            )
        )
        for stream in streams:
            answer = await conversation(client, stream.first("meta")["conversation_id"])
            assert answer["messages"][-1]["content"] == words(40)
            assert answer["messages"][-1]["status"] == "complete"
