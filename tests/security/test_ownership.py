"""Another user's ids, on every endpoint that takes one: 404 (the same answer as for an id that
does not exist) and nothing changed: alice's answers run on to their normal end, her
conversations and messages stay as they were, and the upstream never hears of bob's attempts.
On SQLite with the in-process broker, and on PostgreSQL with Redis Streams (each scopes every
query and every stream to its owner)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from streamchat.sse import SSEDecoder
from tests.faults.tally import TALLY, ended_once, v1_ended_once
from tests.harness import Stream, fresh_postgres, read_stream
from tests.security.conftest import AuthServer, AuthServerFactory

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The store and the broker: SQLite and memory, or PostgreSQL and Redis Streams."""
    if request.param == "sqlite":
        yield {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'streamchat.db'}"}
    else:
        with fresh_postgres() as url:
            yield {"database_url": url, "redis_url": REDIS_URL}


async def started(
    client: httpx.AsyncClient, url: str, body: dict[str, Any]
) -> tuple[dict[str, Any], asyncio.Task[Stream]]:
    """Start an answer; its meta event, and the task reading the rest of it."""
    meta: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def read() -> Stream:
        decoder = SSEDecoder()
        events = []
        raw = b""
        async with client.stream("POST", url, json=body) as response:
            generation = response.headers.get("x-streamchat-generation-id")
            async for chunk in response.aiter_raw():
                raw += chunk
                events.extend(decoder.feed(chunk))
                if events and not meta.done():
                    meta.set_result({"message_id": generation, **orjson.loads(events[0].data)})
            return Stream(response.status_code, response.headers, events, raw)

    task = asyncio.create_task(read())
    return await asyncio.wait_for(meta, 10), task


async def snapshot(client: httpx.AsyncClient, conversation_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/conversations/{conversation_id}")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def not_found_like(response: httpx.Response, missing: httpx.Response, foreign: str) -> None:
    """``response`` (for a foreign id) says exactly what ``missing`` (for an id that never
    existed) says, with the id swapped."""
    TALLY.bad_input()
    assert response.status_code == 404, (response.request.url, response.text)
    body = response.text.replace(foreign, "ID")
    assert body == missing.text.replace("conv_nope", "ID").replace("msg_nope", "ID")


async def test_another_users_ids_are_not_found_anywhere(
    make_auth_server: AuthServerFactory, backend: dict[str, str]
) -> None:
    s: AuthServer = make_auth_server(**backend)
    mock = s.server.mock
    async with (
        httpx.AsyncClient(base_url=s.url, headers=s.bearer("alice"), timeout=30) as alice,
        httpx.AsyncClient(base_url=s.url, headers=s.bearer("bob"), timeout=30) as bob,
    ):
        finished = await read_stream(
            alice, "POST", "/api/chat", json={"message": "alice [[mock tokens=3]]"}
        )
        conv_a, gen_a = (finished.first("meta")[k] for k in ("conversation_id", "message_id"))
        slow = "alice [[mock tokens=40 rate=15]]"
        meta_b, running = await started(alice, "/api/chat", {"message": slow})
        conv_b, gen_b = meta_b["conversation_id"], meta_b["message_id"]
        meta_v1, running_v1 = await started(
            alice,
            "/v1/chat/completions",
            {
                "model": "gpt-4o-mini",
                "stream": True,
                "messages": [{"role": "user", "content": slow}],
            },
        )
        gen_v1 = meta_v1["message_id"]
        before_a = await snapshot(alice, conv_a)
        before_b = await snapshot(alice, conv_b)
        upstream_calls = len(mock.log())

        pwned = {"message": "bob was here", "model": "gpt-4o-mini"}
        missing_conversation = await bob.get("/api/conversations/conv_nope")
        missing_generation = await bob.get("/api/generations/msg_nope/events")
        for conv in (conv_a, conv_b):
            attempts = [
                bob.get(f"/api/conversations/{conv}"),
                bob.patch(f"/api/conversations/{conv}", json={"title": "bob was here"}),
                bob.patch(f"/api/conversations/{conv}", json={"system_prompt": "obey bob"}),
                bob.delete(f"/api/conversations/{conv}"),
                bob.post(f"/api/conversations/{conv}/regenerate"),
                bob.post(f"/api/conversations/{conv}/edit", json=pwned),
                bob.post("/api/chat", json={**pwned, "conversation_id": conv}),
            ]
            for response in await asyncio.gather(*attempts):
                not_found_like(response, missing_conversation, conv)
        for gen in (gen_a, gen_b, gen_v1):
            attempts = [
                bob.get(f"/api/generations/{gen}/events"),
                bob.get(f"/api/generations/{gen}/events", headers={"Last-Event-ID": "1"}),
                bob.get(f"/api/generations/{gen}/events?after=0"),
                bob.post(f"/api/generations/{gen}/stop"),
                bob.get(f"/v1/chat/completions/{gen}/events"),
                bob.get(f"/v1/chat/completions/{gen}/events?after=0&include_usage=true"),
            ]
            for response in await asyncio.gather(*attempts):
                assert response.status_code == 404, (response.request.url, response.text)
                assert gen not in response.text or "not found" in response.text
                assert "w1" not in response.text  # no event of alice's leaked
                TALLY.bad_input()
        assert missing_generation.status_code == 404
        assert (await bob.get("/api/conversations")).json()["conversations"] == []

        # Nothing changed: alice's answers end normally, her rows are as they were.
        stream_b = await asyncio.wait_for(running, 15)
        ended_once(stream_b, "alice's answer while bob tried her ids")
        assert stream_b.last()["finish_reason"] == "stop"
        assert stream_b.text() == "".join(f" w{i}" for i in range(1, 41))
        v1 = await asyncio.wait_for(running_v1, 15)
        assert v1_ended_once(v1.raw, "alice's /v1 answer while bob tried its id")[-1] == "[DONE]"
        assert await snapshot(alice, conv_a) == before_a
        after_b = await snapshot(alice, conv_b)
        assert after_b["title"] == before_b["title"]
        assert after_b["system_prompt"] is None
        assert [m["id"] for m in after_b["messages"]] == [m["id"] for m in before_b["messages"]]
        assert after_b["messages"][-1]["content"] == stream_b.text()
        assert len(mock.log()) == upstream_calls  # bob's attempts never reached the upstream
        # ... and alice herself can use every one of those ids.
        assert (await alice.get(f"/api/generations/{gen_a}/events")).status_code == 200
        assert (await alice.get(f"/v1/chat/completions/{gen_v1}/events")).status_code == 200
        assert (await alice.post(f"/api/generations/{gen_b}/stop")).json()["stopped"] is False
