"""Idempotency-Key (issue 12 item 4): a retried POST attaches to the answer its first try
started instead of paying the provider twice, on /api/chat and /v1/chat/completions."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import openai

from tests.conftest import Server
from tests.harness import read_stream
from tests.web.test_chat_stream import words
from tests.web.test_v1_provider_calls import calls_with


def chat_body(tag: str, directive: str = "tokens=5") -> dict[str, Any]:
    return {"message": f"{tag} [[mock {directive}]]", "model": "gpt-4o-mini"}


async def test_a_repeated_chat_post_gets_the_same_answer_without_a_second_provider_call(
    client: httpx.AsyncClient, server: Server
) -> None:
    tag, key = secrets.token_hex(4), secrets.token_hex(8)
    headers = {"Idempotency-Key": key}
    first = await read_stream(client, "POST", "/api/chat", json=chat_body(tag), headers=headers)
    again = await read_stream(client, "POST", "/api/chat", json=chat_body(tag), headers=headers)
    assert first.status == again.status == 200
    assert again.headers["x-streamchat-generation-id"] == first.first("meta")["message_id"]
    assert again.typed() == first.typed()
    assert again.text() == words(5)
    assert len(calls_with(server, tag)) == 1
    listing = (await client.get("/api/conversations")).json()["conversations"]
    assert len([c for c in listing if tag in c["title"]]) == 1
    # Without the key, or with another one, the same body is a new answer.
    other = await read_stream(
        client, "POST", "/api/chat", json=chat_body(tag), headers={"Idempotency-Key": key + "x"}
    )
    assert other.first("meta")["message_id"] != first.first("meta")["message_id"]
    assert len(calls_with(server, tag)) == 2


async def test_two_posts_at_once_with_one_key_make_one_provider_call(
    client: httpx.AsyncClient, server: Server
) -> None:
    tag, key = secrets.token_hex(4), secrets.token_hex(8)
    body = chat_body(tag, "tokens=20 rate=100")
    streams = await asyncio.gather(
        *(
            read_stream(client, "POST", "/api/chat", json=body, headers={"Idempotency-Key": key})
            for _ in range(3)
        )
    )
    assert len({s.first("meta")["message_id"] for s in streams}) == 1
    assert all(s.text() == words(20) and s.types()[-1] == "done" for s in streams)
    assert len(calls_with(server, tag)) == 1


async def test_a_key_reused_with_another_request_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, server: Server
) -> None:
    tag, key = secrets.token_hex(4), secrets.token_hex(8)
    headers = {"Idempotency-Key": key}
    await read_stream(client, "POST", "/api/chat", json=chat_body(tag), headers=headers)
    before = (await client.get("/api/conversations")).json()
    reused = await client.post("/api/chat", json=chat_body(tag, "tokens=6"), headers=headers)
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert (await client.get("/api/conversations")).json() == before
    assert len(calls_with(server, tag)) == 1
    bad = await client.post(
        "/api/chat", json=chat_body(tag), headers={"Idempotency-Key": "x" * 256}
    )
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()["error"]["message"]


async def test_a_refused_request_releases_its_key(
    client: httpx.AsyncClient, server: Server
) -> None:
    """The first try was refused (409: an answer streams in the conversation): its retry with
    the same key, once the conversation is idle, starts the answer."""
    running = await read_stream(
        client, "POST", "/api/chat", stop_after=2, json=chat_body("long", "tokens=300 rate=20")
    )
    meta = running.first("meta")
    tag, key = secrets.token_hex(4), secrets.token_hex(8)
    body = {**chat_body(tag), "conversation_id": meta["conversation_id"]}
    busy = await client.post("/api/chat", json=body, headers={"Idempotency-Key": key})
    assert busy.status_code == 409
    await client.post(f"/api/generations/{meta['message_id']}/stop")
    retried = await read_stream(
        client, "POST", "/api/chat", json=body, headers={"Idempotency-Key": key}
    )
    assert retried.status == 200 and retried.text() == words(5)
    assert len(calls_with(server, tag)) == 1


async def test_an_sdk_retry_after_a_dropped_stream_gets_the_whole_answer_once(
    server: Server,
) -> None:
    """The first try's connection broke after three chunks; the retry with the same key gets
    every chunk from the first, and the provider was called once."""
    tag, key = secrets.token_hex(4), secrets.token_hex(8)
    client = openai.AsyncOpenAI(
        base_url=server.url + "/v1", api_key="unused-locally", max_retries=0
    )
    messages: Any = [{"role": "user", "content": f"{tag} [[mock tokens=30 rate=50]]"}]
    headers = {"Idempotency-Key": key}
    first = await client.chat.completions.create(
        model="gpt-4o-mini", stream=True, messages=messages, extra_headers=headers
    )
    seen = 0
    async for _ in first:
        seen += 1
        if seen == 3:
            break
    await first.close()
    await asyncio.sleep(1.5)  # longer than the ticker's interval: a keyed answer has the grace
    again = await client.chat.completions.create(
        model="gpt-4o-mini", stream=True, messages=messages, extra_headers=headers
    )
    text = "".join([c.choices[0].delta.content or "" async for c in again if c.choices])
    assert text == words(30)
    whole = await client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, extra_headers=headers
    )
    assert whole.choices[0].message.content == words(30)
    assert len(calls_with(server, tag)) == 1
    await client.close()


async def test_a_retry_after_a_failure_before_the_first_token_starts_afresh(
    client: httpx.AsyncClient, server: Server
) -> None:
    """The first try got the provider's 429 before any token; its retry with the same key is
    what the 429 asked for: it makes a new provider call instead of replaying the 429."""
    tag, key = secrets.token_hex(4), secrets.token_hex(8)
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {
                "role": "user",
                "content": f"{tag} [[mock tokens=3 status=429 kind=rate_limit retry_after=0 "
                f"fail_times=1 fail_key={tag}]]",
            }
        ],
    }
    headers = {"Idempotency-Key": key}
    first = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert first.status_code == 429
    again = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["choices"][0]["message"]["content"] == words(3)
    once_more = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert once_more.json()["id"] == again.json()["id"]
    assert len(calls_with(server, tag)) == 2
