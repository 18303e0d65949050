"""/v1 with the official openai SDK: stream, non-stream, errors, usage, re-attach as chunks."""

from __future__ import annotations

import httpx
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.conftest import Server
from tests.harness import MOCK_KEY, read_stream
from tests.web.test_chat_stream import words


@pytest.fixture
async def sdk(server: Server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="unused-locally", max_retries=0)


def user(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


async def test_sdk_streams(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=user("[[mock tokens=6]]"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == words(6)
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl_")
    await sdk.close()


async def test_sdk_non_stream(sdk: openai.AsyncOpenAI) -> None:
    completion = await sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=user("[[mock tokens=4]]"),
    )
    assert completion.choices[0].message.content == words(4)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 4
    await sdk.close()


async def test_sdk_demo_reasoning(sdk: openai.AsyncOpenAI) -> None:
    completion = await sdk.chat.completions.create(
        model="demo-thinking",
        messages=user("why?"),
    )
    message = completion.choices[0].message
    assert message.content and "demo model" in message.content
    assert (message.model_extra or {}).get("reasoning_content")
    await sdk.close()


async def test_pre_stream_failures_are_http_statuses(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        await sdk.chat.completions.create(
            model="gpt-4o-mini",
            stream=True,
            messages=user("[[mock status=429 kind=rate_limit retry_after=30]]"),
        )
    assert limited.value.response.headers["retry-after"] == "30"
    assert limited.value.code == "upstream_rate_limited"
    with pytest.raises(openai.NotFoundError) as unknown:
        await sdk.chat.completions.create(model="nope", messages=user("x"))
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        await sdk.chat.completions.create(model="gpt-4o-mini", messages=[])
    with pytest.raises(openai.APIStatusError) as auth:
        await sdk.chat.completions.create(
            model="gpt-4o-mini", messages=user("[[mock status=401 kind=auth]]")
        )
    assert auth.value.status_code == 502
    assert MOCK_KEY not in auth.value.response.text
    await sdk.close()


async def test_mid_stream_failure_is_inband_without_done(client: httpx.AsyncClient) -> None:
    raw = await read_stream(
        client,
        "POST",
        "/v1/chat/completions",
        json={
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": user("[[mock tokens=8 drop_after=3]]"),
        },
    )
    assert raw.status == 200
    payloads = [orjson.loads(e.data) for e in raw.events]
    assert "error" in payloads[-1]
    assert payloads[-1]["error"]["code"] == "upstream_dropped"
    assert b"[DONE]" not in raw.raw
    assert "".join(p["choices"][0]["delta"].get("content", "") for p in payloads[:-1]) == words(3)


async def test_sdk_mid_stream_failure_raises(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model="gpt-4o-mini",
        stream=True,
        messages=user("[[mock tokens=8 error_after=3]]"),
    )
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass
    await sdk.close()


async def test_reattach_as_openai_chunks(client: httpx.AsyncClient) -> None:
    first = await read_stream(
        client,
        "POST",
        "/v1/chat/completions",
        stop_after=4,
        json={
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": user("[[mock tokens=20 rate=50]]"),
        },
    )
    generation_id = first.headers["x-streamchat-generation-id"]
    last_id = first.events[3].id
    rest = await read_stream(
        client,
        "GET",
        f"/v1/chat/completions/{generation_id}/events",
        headers={"Last-Event-ID": last_id},
    )
    chunks = [orjson.loads(e.data) for e in first.events[:4] + rest.events if e.data != "[DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == words(20)
    assert rest.events[-1].data == "[DONE]"
    assert all(c["id"] == generation_id for c in chunks)
    ids = [int(e.id) for e in first.events[:4] + rest.events if e.id]
    assert ids == sorted(ids)  # frames without an id (usage, [DONE]) repeat the last one
    usage_id = ids[-1] - 1  # the usage event has no chunk of its own without include_usage
    assert sorted(set(ids)) == [i for i in range(1, ids[-1] + 1) if i != usage_id]
    finished = await client.get(
        f"/v1/chat/completions/{generation_id}/events", headers={"Last-Event-ID": str(ids[-1] + 1)}
    )
    assert finished.status_code == 204


async def test_client_chosen_upstream_is_ignored(client: httpx.AsyncClient, server: Server) -> None:
    server.mock.reset()
    response = await client.post(
        "/v1/chat/completions",
        json={
            "model": "gpt-4o-mini",
            "messages": user("[[mock tokens=2]]"),
            "api_base": "http://127.0.0.1:1/v1",
            "base_url": "http://127.0.0.1:1/v1",
            "api_key": "sk-attacker",
        },
    )
    assert response.status_code == 200
    sent = server.mock.log()[-1]
    assert "api_base" not in sent["body"] and "base_url" not in sent["body"]
    assert sent["authorization"] == f"Bearer {MOCK_KEY}"


async def test_models_list(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/v1/models")).json()
    ids = [m["id"] for m in listing["data"]]
    assert listing["object"] == "list"
    assert ids[:1] == ["gpt-4o-mini"] and "demo" in ids and "demo-thinking" in ids
