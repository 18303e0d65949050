"""How long a stored response stays: ``responses_ttl`` after it ended, beyond the broker's
``replay_ttl`` (its events expire, the response object and previous_response_id still work);
past ``responses_ttl`` it is a 404."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
import openai

from streamchat.store import StoredResponse
from streamchat.store.sql import SqlStore
from tests.conftest import ServerFactory
from tests.security.accounts import blocking
from tests.web.test_chat_stream import words

MODEL = "gpt-4o-mini"


async def test_a_stored_response_outlives_its_events(make_server: ServerFactory) -> None:
    server = make_server(replay_ttl=0.2, responses_ttl=3600)
    async with httpx.AsyncClient(base_url=server.url + "/v1", timeout=30) as http:
        started = await http.post(
            "/responses", json={"model": MODEL, "input": "[[mock tokens=3]]", "background": True}
        )
        response_id = started.json()["id"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the events are gone from the broker
            replay = await http.get(f"/responses/{response_id}?stream=true&starting_after=0")
            if replay.status_code == 410:
                break
            await asyncio.sleep(0.1)
        assert replay.status_code == 410 and replay.json()["error"]["code"] == "replay_expired"
        kept = (await http.get(f"/responses/{response_id}")).json()
        assert kept["status"] == "completed"
        assert kept["output"][0]["content"][0]["text"] == words(3)
        # A full replay is rebuilt from the row: the SDK's stream helper still re-attaches.
        sdk = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
        async with sdk, sdk.responses.stream(response_id=response_id) as stream:
            final = await stream.get_final_response()
        assert final.output_text == words(3)
        assert {**final.to_dict(), "output": None} == {**kept, "output": None}
        follow = await http.post(
            "/responses",
            json={
                "model": MODEL,
                "input": "[[mock tokens=1]]",
                "previous_response_id": response_id,
            },
        )
        assert follow.status_code == 200, follow.text
        assert server.mock.log()[-1]["body"]["messages"][1] == {
            "role": "assistant",
            "content": words(3),
        }


async def test_a_stored_response_expires_after_responses_ttl(make_server: ServerFactory) -> None:
    server = make_server(responses_ttl=0.5)
    async with httpx.AsyncClient(base_url=server.url + "/v1", timeout=30) as http:
        created = await http.post("/responses", json={"model": MODEL, "input": "[[mock tokens=2]]"})
        response_id = created.json()["id"]
        assert (await http.get(f"/responses/{response_id}")).status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            gone = await http.get(f"/responses/{response_id}")
            if gone.status_code == 404:
                break
            await asyncio.sleep(0.1)
        assert gone.status_code == 404
        assert response_id in gone.json()["error"]["message"]


async def _add(database: str, record: StoredResponse) -> None:
    store = SqlStore(database)
    await store.open()
    try:
        await store.add_response(record)
    finally:
        await store.close()


async def test_a_running_response_without_events_is_lost(
    make_server: ServerFactory, database_url: str
) -> None:
    """A background row left running by a worker that died, whose events expired too (no
    other worker claimed it in time): a read ends it failed and stores that, and its stream
    is that ending."""
    server = make_server()
    record = StoredResponse(
        id="resp_0f0f0f0f0f0f0f0f0f0f0f0f",
        owner_id="local",
        model=MODEL,
        status="in_progress",
        background=True,
        previous_response_id=None,
        request={"input": [{"role": "user", "content": "x"}], "echo": {"background": True}},
        output=[],
        created_at=datetime.now(UTC),
    )
    blocking(_add(database_url, record))
    async with httpx.AsyncClient(base_url=server.url + "/v1", timeout=30) as http:
        stream = await http.get(f"/responses/{record.id}?stream=true")
        assert stream.status_code == 200
        assert [line for line in stream.text.splitlines() if line.startswith("event:")] == [
            "event: response.created",
            "event: response.in_progress",
            "event: response.failed",
        ]
        lost = (await http.get(f"/responses/{record.id}")).json()
    assert lost["status"] == "failed" and lost["error"]["code"] == "server_error"
    assert lost["error"]["message"].endswith("(response_lost)")
    assert lost["background"] is True
