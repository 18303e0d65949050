"""Kimi's builtin $web_search, run by the server within one answer (issue 13 item 3), against
the moonshot mock, on SQLite and PostgreSQL: the round trip sends each call's arguments back
unchanged, the stream gains typed tool events, usage is summed over the rounds, Stop cancels
the round that runs, a re-attach in the middle of round 2 gets the rest exactly once."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from streamchat.mock_scenarios import web_search_args
from tests.conftest import Server
from tests.harness import MockUpstream, read_stream
from tests.kimi.conftest import chat_bodies
from tests.web.test_chat_stream import words

SEARCH = {"type": "builtin_function", "function": {"name": "$web_search"}}


def tool(k: int, status: str) -> tuple[str, dict[str, str]]:
    return "tool", {"id": f"web_search:{k}", "name": "$web_search", "status": status}


async def test_two_rounds_then_the_answer(kimi_server: Server, kimi_mock: MockUpstream) -> None:
    async with httpx.AsyncClient(base_url=kimi_server.url, timeout=30) as client:
        stream = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={
                "message": "news? [[mock search=2 tokens=5]]",
                "model": "moonshot-v1-8k",
                "web_search": True,
            },
        )
        meta = stream.first("meta")
        conversation = (await client.get(f"/api/conversations/{meta['conversation_id']}")).json()
    typed = stream.typed()
    assert [t for t in typed if t[0] == "tool"] == [
        tool(0, "running"),
        tool(0, "done"),
        tool(1, "running"),
        tool(1, "done"),
    ]
    assert stream.types()[-7:] == ["delta"] * 5 + ["usage", "done"]
    assert stream.ids() == list(range(1, len(stream.ids()) + 1))
    assert stream.text() == words(5)
    bodies = chat_bodies(kimi_mock)
    assert len(bodies) == 3
    for k, body in enumerate(bodies):
        assert body["tools"] == [SEARCH]
        tools = [m for m in body["messages"] if m["role"] == "tool"]
        assert [m["content"] for m in tools] == [web_search_args(i) for i in range(k)]
        assert [m["tool_call_id"] for m in tools] == [f"web_search:{i}" for i in range(k)]
        calls = [m["tool_calls"] for m in body["messages"] if m.get("tool_calls")]
        assert [c[0]["function"] for c in calls] == [
            {"name": "$web_search", "arguments": web_search_args(i)} for i in range(k)
        ]
    # Usage: the provider's, over the three rounds (two calls of 7 tokens, then 5 words).
    usage = stream.first("usage")
    assert usage["estimated"] is False
    assert usage["completion_tokens"] == 7 + 7 + 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens"] > sum(3 for _ in bodies)
    answer = conversation["messages"][-1]
    assert (answer["content"], answer["status"]) == (words(5), "complete")
    assert conversation["params"]["web_search"] is True


async def test_the_switch_stays_on_for_the_conversation(
    kimi_server: Server, kimi_mock: MockUpstream
) -> None:
    async with httpx.AsyncClient(base_url=kimi_server.url, timeout=30) as client:
        first = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "a", "model": "moonshot-v1-8k", "web_search": True},
        )
        conversation_id = first.first("meta")["conversation_id"]
        await read_stream(
            client, "POST", "/api/chat", json={"message": "b", "conversation_id": conversation_id}
        )
        await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "c", "conversation_id": conversation_id, "web_search": False},
        )
    bodies = chat_bodies(kimi_mock)
    assert [b.get("tools") for b in bodies] == [[SEARCH], [SEARCH], None]
    assert all("web_search" not in b for b in bodies)


async def test_stop_in_round_two_cancels_that_round(
    kimi_server: Server, kimi_mock: MockUpstream
) -> None:
    async with httpx.AsyncClient(base_url=kimi_server.url, timeout=30) as client:
        body = {
            "message": "[[mock search=2 slow_round=1 ttft_ms=60000]]",
            "model": "moonshot-v1-8k",
            "web_search": True,
        }
        seen: list[tuple[str, dict[str, str]]] = []
        async with client.stream("POST", "/api/chat", json=body) as response:
            generation = response.headers["x-streamchat-generation-id"]
            events = _events(response)
            async for event in events:
                seen.append(event)
                if event == tool(0, "done"):
                    break
            stopped = await client.post(f"/api/generations/{generation}/stop")
            assert stopped.json()["stopped"] is True
            async for event in events:
                seen.append(event)
    assert [t for t, _ in seen][-2:] == ["usage", "done"]
    assert seen[-1][1]["finish_reason"] == "stopped"
    log = [r for r in kimi_mock.log() if r["path"].endswith("/chat/completions")]
    assert len(log) == 2
    for _ in range(100):  # the mock hears the close of round 2 right after the stop
        if log[1]["client_closed"]:
            break
        await asyncio.sleep(0.05)
        log = [r for r in kimi_mock.log() if r["path"].endswith("/chat/completions")]
    assert log[1]["client_closed"] is True


async def test_reattach_in_round_two_gets_the_rest_exactly_once(
    kimi_server: Server, kimi_mock: MockUpstream
) -> None:
    async with httpx.AsyncClient(base_url=kimi_server.url, timeout=30) as client:
        body = {
            "message": "[[mock search=2 slow_round=1 ttft_ms=1500 tokens=4]]",
            "model": "moonshot-v1-8k",
            "web_search": True,
        }
        first: list[tuple[int, str, dict[str, str]]] = []
        async with client.stream("POST", "/api/chat", json=body) as response:
            generation = response.headers["x-streamchat-generation-id"]
            async for event_id, kind, data in _numbered(response):
                first.append((event_id, kind, data))
                if (kind, data) == tool(0, "done"):
                    break  # the page goes away in the middle of round 2
        last = first[-1][0]
        rest = await read_stream(
            client,
            "GET",
            f"/api/generations/{generation}/events",
            headers={"Last-Event-ID": str(last)},
        )
    assert rest.ids() == list(range(last + 1, last + 1 + len(rest.ids())))
    assert [e for e in rest.typed() if e[0] == "tool"] == [tool(1, "running"), tool(1, "done")]
    assert rest.types()[-6:] == ["delta"] * 4 + ["usage", "done"]
    assert rest.text() == words(4)


async def _numbered(response: httpx.Response):  # type: ignore[no-untyped-def]
    from streamchat.sse import SSEDecoder

    decoder = SSEDecoder()
    async for chunk in response.aiter_raw():
        for event in decoder.feed(chunk):
            yield int(event.id), event.event, orjson.loads(event.data)


async def _events(response: httpx.Response):  # type: ignore[no-untyped-def]
    async for _, kind, data in _numbered(response):
        yield kind, data
