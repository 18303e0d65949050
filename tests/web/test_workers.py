"""Several real worker processes sharing Redis (streams) and PostgreSQL (conversations)."""

from __future__ import annotations

import asyncio
import signal

import httpx
import orjson
import pytest

from tests.conftest import Cluster
from tests.harness import MockUpstream, read_stream
from tests.web.test_chat_stream import words

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


async def test_reattach_on_another_worker(cluster: Cluster) -> None:
    a, b, _ = cluster
    async with httpx.AsyncClient(timeout=30) as client:
        first = await read_stream(
            client,
            "POST",
            a + "/api/chat",
            stop_after=5,
            json={"message": "[[mock tokens=40 rate=40]]", "model": "gpt-4o-mini"},
        )
        generation_id = first.first("meta")["message_id"]
        rest = await read_stream(
            client,
            "GET",
            f"{b}/api/generations/{generation_id}/events",
            headers={"Last-Event-ID": "5"},
        )
    ids = [int(e.id) for e in first.events[:5]] + rest.ids()
    assert ids == list(range(1, len(ids) + 1))
    text = "".join(
        orjson.loads(e.data)["text"]
        for e in [*first.events[:5], *rest.events]
        if e.event == "delta"
    )
    assert text == words(40)
    assert rest.types()[-1] == "done"
    async with httpx.AsyncClient(timeout=30) as client:
        conversation = (
            await client.get(f"{b}/api/conversations/{first.first('meta')['conversation_id']}")
        ).json()
    assert conversation["messages"][-1]["content"] == words(40)


async def test_stop_sent_to_another_worker_cancels_the_upstream_call(
    cluster: Cluster, mock_upstream: MockUpstream
) -> None:
    a, b, _ = cluster
    mock_upstream.reset()
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream(
            "POST",
            a + "/api/chat",
            json={"message": "[[mock tokens=2000 rate=40]]", "model": "gpt-4o-mini"},
        ) as response,
    ):
        generation_id = response.headers["x-streamchat-generation-id"]
        lines = response.aiter_lines()
        async for line in lines:
            if line.startswith("event: delta"):
                break
        started = asyncio.get_running_loop().time()
        stopped = await client.post(f"{b}/api/generations/{generation_id}/stop")
        assert stopped.json() == {"id": generation_id, "stopped": True}
        rest = "\n".join([line async for line in lines])
        elapsed = asyncio.get_running_loop().time() - started
    assert '"finish_reason":"stopped"' in rest
    assert elapsed < 1.0
    await asyncio.sleep(0.3)
    record = mock_upstream.log()[-1]
    assert record["client_closed"] is True and record["tokens_sent"] < 2000


async def test_killed_worker_answer_is_finished_by_another(cluster: Cluster) -> None:
    a, b, proc_a = cluster
    async with httpx.AsyncClient(timeout=30) as client:
        first = await read_stream(
            client,
            "POST",
            a + "/api/chat",
            stop_after=4,
            json={"message": "[[mock tokens=400 rate=40]]", "model": "gpt-4o-mini"},
        )
        meta = first.first("meta")
        watch = asyncio.create_task(
            read_stream(client, "GET", f"{b}/api/generations/{meta['message_id']}/events")
        )
        await asyncio.sleep(0.5)
        proc_a.send_signal(signal.SIGKILL)
        seen = await asyncio.wait_for(watch, 15)
        assert seen.types()[-2:] == ["usage", "error"]
        error = seen.last()
        assert (error["code"], error["retryable"]) == ("interrupted", True)
        received = seen.text()
        assert received.startswith(words(3)) and len(received) > len(words(3))
        conversation = (await client.get(f"{b}/api/conversations/{meta['conversation_id']}")).json()
    answer = conversation["messages"][-1]
    assert answer["status"] == "incomplete"
    assert answer["content"] == received  # everything that reached Redis
    assert answer["error"]["code"] == "interrupted"
