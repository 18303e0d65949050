"""What one SDK call costs at the provider (issue 12): a closed stream stops the provider call
at once (the page keeps its disconnect grace), and a retryable failure before the first token
is not retried behind the SDK's back, so calls do not multiply."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Server, ServerFactory
from tests.faults.test_disconnects import record_of, until


def sdk(server: Server, retries: int) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=server.url + "/v1", api_key="unused-locally", max_retries=retries
    )


def calls_with(server: Server, tag: str) -> list[dict[str, Any]]:
    return [
        r
        for r in server.mock.log()
        if any(tag in str(m.get("content")) for m in (r.get("body") or {}).get("messages", []))
    ]


async def test_closing_an_sdk_stream_stops_the_provider_call_at_once(server: Server) -> None:
    """With the default 30 s grace, 1,551 of 3,000 tokens used to be paid for after the SDK
    closed its stream; now the provider sees the close within 2 s."""
    assert server.settings.disconnect_grace == 30
    tag = secrets.token_hex(4)
    client = sdk(server, 0)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        stream=True,
        messages=[{"role": "user", "content": f"{tag} [[mock tokens=3000 rate=100]]"}],
    )
    received = 0
    async for _ in stream:
        received += 1
        if received == 5:
            break
    await stream.close()
    left_at = time.time()
    await until(lambda: (r := record_of(server, tag)) and r["client_closed"], 2.0)
    record = record_of(server, tag)
    assert record is not None and record["finished"] - left_at < 2.0
    assert record["tokens_sent"] < 400
    await client.close()


async def test_the_page_keeps_its_grace_when_its_client_leaves(server: Server) -> None:
    """The contrast: an /api/chat answer outlives its connection (reload, re-attach)."""
    tag = secrets.token_hex(4)
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
        http.stream(
            "POST",
            "/api/chat",
            json={"message": f"{tag} [[mock tokens=400 rate=100]]", "model": "gpt-4o-mini"},
        ) as response,
    ):
        async for _ in response.aiter_raw():
            break
    await asyncio.sleep(2.0)
    record = record_of(server, tag)
    assert record is not None and not record["client_closed"]
    meta_id = (await http_generation(server, tag))["id"]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        await http.post(f"/api/generations/{meta_id}/stop")


async def http_generation(server: Server, tag: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        listing = (await http.get("/api/conversations")).json()["conversations"]
        conversation = next(c for c in listing if tag in c["title"])
        data = (await http.get(f"/api/conversations/{conversation['id']}")).json()
        answer: dict[str, Any] = data["messages"][-1]
        return answer


@pytest.mark.parametrize("sdk_retries", [0, 2])
async def test_one_sdk_call_makes_at_most_its_own_retries_at_the_provider(
    server: Server, sdk_retries: int
) -> None:
    """A provider 429 used to be retried twice by streamchat and twice more by the SDK (9
    provider calls for one SDK call); now streamchat hands it back at once."""
    tag = secrets.token_hex(4)
    client = sdk(server, sdk_retries)
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {
                    "role": "user",
                    "content": f"{tag} [[mock status=429 kind=rate_limit retry_after=0]]",
                }
            ],
        )
    assert limited.value.status_code == 429
    assert len(calls_with(server, tag)) == 1 + sdk_retries
    await client.close()


async def test_v1_retries_are_a_setting(make_server: ServerFactory) -> None:
    server = make_server(v1_upstream_retries=1)
    tag = secrets.token_hex(4)
    client = sdk(server, 0)
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"{tag} [[mock status=503 kind=overloaded]]"}],
        )
    assert len(calls_with(server, tag)) == 2
    await client.close()
