"""Races between starts of one conversation (issue 11 review): two tabs, a double click."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import REDIS_URL, ServerFactory
from tests.harness import read_stream
from tests.web.test_branches import MODEL, ask, shown

LONG = "[[mock tokens=200 rate=20]]"


async def test_two_starts_at_once_in_one_conversation_stream_one_answer(
    client: httpx.AsyncClient,
) -> None:
    """One answer streams per conversation: of two starts sent at once (two tabs, a double
    click), one streams and the other is a 409 that wrote nothing."""
    await _two_at_once(client)


async def test_two_starts_at_once_with_redis_stream_one_answer(
    make_server: ServerFactory,
) -> None:
    """The same with the lock in Redis (the one every worker shares)."""
    server = make_server(redis_url=REDIS_URL)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        await _two_at_once(client)


async def _two_at_once(client: httpx.AsyncClient) -> None:
    first = await ask(client, "q1 [[mock tokens=1]]")
    conversation_id = first["conversation_id"]
    for _ in range(3):
        body = {"conversation_id": conversation_id, "model": MODEL}
        a, b = await asyncio.gather(
            read_stream(client, "POST", "/api/chat", stop_after=2, json={"message": LONG, **body}),
            read_stream(
                client,
                "POST",
                f"/api/messages/{first['message_id']}/regenerate",
                stop_after=2,
                json={"model": MODEL},
            ),
        )
        statuses = sorted([a.status, b.status])
        running = [s.first("meta")["message_id"] for s in (a, b) if s.status == 200]
        for generation_id in running:
            await client.post(f"/api/generations/{generation_id}/stop")
        assert statuses == [200, 409], (a.raw[:300], b.raw[:300])
        tree = await shown(client, conversation_id, tree="true")
        assert not [m for m in tree["messages"] if m["status"] == "streaming"]
