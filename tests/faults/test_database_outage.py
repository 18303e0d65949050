"""PostgreSQL goes away in the middle of an answer and stays away past its end (a relay in front
of it cuts every connection and swallows new ones): the answer streams to its end, a client can
re-attach meanwhile, the store's failure reaches clients as a retryable 503 or one terminal
``store_unavailable`` error (never a 500), and the answer is saved complete once PostgreSQL is
back. (tests/web/test_store_outage.py covers an outage that ends while the answer runs.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import Server
from tests.faults.tally import TALLY, ended_once
from tests.harness import RelayThread, fresh_postgres, read_stream
from tests.security.accounts import create_users

pytestmark = pytest.mark.postgres

WORDS = "".join(f" w{i}" for i in range(1, 31))


@pytest.fixture
def relay() -> Iterator[RelayThread]:
    with RelayThread("127.0.0.1", 5432) as relay:
        yield relay


@pytest.fixture
def pg_through_relay(relay: RelayThread) -> Iterator[str]:
    with fresh_postgres() as url:
        yield sa.make_url(url).set(port=relay.port).render_as_string(False)


async def test_database_gone_mid_answer_and_past_its_end(
    make_server: Any, pg_through_relay: str, relay: RelayThread
) -> None:
    server: Server = make_server(database_url=pg_through_relay)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        answer = asyncio.create_task(
            read_stream(
                client,
                "POST",
                "/api/chat",
                json={"message": "[[mock tokens=30 rate=10]]", "model": "gpt-4o-mini"},
            )
        )
        await asyncio.sleep(0.5)
        relay.down()
        TALLY.fault()

        listing = await client.get("/api/conversations")
        assert listing.status_code == 503
        assert listing.json()["error"]["code"] == "store_unavailable"
        assert listing.json()["error"]["retryable"] is True

        stream = await asyncio.wait_for(answer, 20)
        ended_once(stream, "answer through a database outage")
        generation_id = stream.first("meta")["message_id"]
        assert stream.text() == WORDS  # every token reached the client
        assert stream.types()[-1] == "error"
        assert (stream.last()["code"], stream.last()["retryable"]) == ("store_unavailable", True)

        # The events are still served from memory while the database is away.
        again = await read_stream(client, "GET", f"/api/generations/{generation_id}/events")
        ended_once(again, "re-attach during the outage")
        assert again.text() == WORDS

        relay.up()
        conversation_id = stream.first("meta")["conversation_id"]
        stored: dict[str, Any] = {}
        for _ in range(100):
            response = await client.get(f"/api/conversations/{conversation_id}")
            if response.status_code == 200:
                stored = response.json()["messages"][-1]
                if stored["status"] == "complete":
                    break
            await asyncio.sleep(0.2)
        assert (stored["status"], stored["content"]) == ("complete", WORDS)
        assert (await client.get("/healthz")).status_code == 200


async def test_signing_in_while_the_database_is_away_is_a_503(
    make_server: Any, pg_through_relay: str, relay: RelayThread
) -> None:
    tokens = create_users(pg_through_relay, "alice", "bob")
    server: Server = make_server(database_url=pg_through_relay, auth="on")
    alice = {"Authorization": f"Bearer {tokens['alice']}"}
    bob = {"Authorization": f"Bearer {tokens['bob']}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        assert (await client.get("/api/conversations", headers=alice)).status_code == 200
        relay.down()
        TALLY.fault()
        credentials = (alice, bob, {"Cookie": f"streamchat_session={tokens['bob']}"})
        responses = await asyncio.gather(
            *(client.get("/api/conversations", headers=headers) for headers in credentials)
        )
        for response in responses:  # a known token (cached) or not: never a 401 or a 500
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "store_unavailable"
        relay.up()
        for headers in (alice, bob):
            for _ in range(50):
                response = await client.get("/api/conversations", headers=headers)
                if response.status_code == 200:
                    break
                await asyncio.sleep(0.2)
            assert response.status_code == 200
