"""PostgreSQL briefly unavailable: a clear 503, a running answer streams on and is saved once
the database is back; no restart needed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.harness import RelayThread, fresh_postgres, read_stream
from tests.web.test_chat_stream import conversation, words

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres() as url:
        yield url


@pytest.fixture
def relay() -> Iterator[RelayThread]:
    with RelayThread("127.0.0.1", 5432) as relay:
        yield relay


async def test_postgres_outage(make_server: Any, pg_url: str, relay: RelayThread) -> None:
    url = sa.make_url(pg_url).set(host="127.0.0.1", port=relay.port).render_as_string(False)
    server = make_server(database_url=url)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        streaming = asyncio.create_task(
            read_stream(
                client,
                "POST",
                "/api/chat",
                json={"message": "[[mock tokens=30 rate=15]]", "model": "gpt-4o-mini"},
            )
        )
        await asyncio.sleep(0.5)
        relay.down()
        started = asyncio.get_running_loop().time()
        refused = await client.post("/api/chat", json={"message": "hi", "model": "demo"})
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "store_unavailable"
        assert refused.json()["error"]["retryable"] is True
        assert asyncio.get_running_loop().time() - started < 8
        health = await client.get("/healthz")
        assert health.status_code == 503
        relay.up()
        stream = await streaming
        assert stream.text() == words(30)  # the answer streamed on through the outage
        for _ in range(100):
            stored = await conversation(client, stream.first("meta")["conversation_id"])
            if stored["messages"][-1]["status"] == "complete":
                break
            await asyncio.sleep(0.2)
        assert stored["messages"][-1]["content"] == words(30)
        assert (await client.get("/healthz")).status_code == 200
