"""Continuations of one answer over more than replay_ttl: the first one's events expired, the
second's are still kept, and a third Continue runs: the answer's id must stop (and re-attach
to) the one that runs, not the kept one that ended."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conftest import ServerFactory
from tests.harness import MockUpstream, read_stream
from tests.kimi.conftest import kimi_provider


async def test_the_answers_id_stops_the_running_continuation_after_an_earlier_expired(
    make_server: ServerFactory, kimi_mock: MockUpstream
) -> None:
    kimi_mock.reset()
    server = make_server(
        providers=[kimi_provider(kimi_mock)],
        # The memory broker forgets an ended stream 1 to 2 s after its end (it sweeps each s).
        replay_ttl=1,
        idempotency_ttl=1,
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        created = await client.post("/api/conversations", json={"params": {"max_tokens": 4}})
        conversation_id = created.json()["id"]
        first = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={
                "message": "[[mock tokens=40 rate=5]]",
                "model": "moonshot-v1-8k",
                "conversation_id": conversation_id,
            },
        )
        assert first.last()["finish_reason"] == "length", first.typed()
        answer_id = first.first("meta")["message_id"]
        url = f"/api/messages/{answer_id}/continue"
        one = await read_stream(client, "POST", url)
        ended_one = time.monotonic()
        assert one.last()["finish_reason"] == "length", one.typed()
        await asyncio.sleep(0.8)
        two = await read_stream(client, "POST", url)
        assert two.last()["finish_reason"] == "length", two.typed()
        assert time.monotonic() - ended_one > 1.4
        await asyncio.sleep(ended_one + 2.2 - time.monotonic())  # one expired, two kept
        three = await read_stream(client, "POST", url, stop_after=2)
        assert three.status == 200, three.raw
        running = three.first("meta")["generation_id"]
        stopped = (await client.post(f"/api/generations/{answer_id}/stop")).json()
        assert stopped == {"id": running, "stopped": True}
