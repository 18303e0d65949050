"""openai-python, sync and async, against /v1: create, stream, usage, tools, models, errors as
the SDK's exception types, and a stream closed early."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from tests.clients.conftest import REFUSAL
from tests.web.test_chat_stream import words

TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
ARGUMENTS = '{"city": "Paris", "unit": "celsius"}'
MODEL = "gpt-4o-mini"


def user(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def sync(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url, api_key="unused-locally", max_retries=0) as client:
        yield client


@pytest.fixture
def sdk(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key="unused-locally", max_retries=0)


def test_sync_create_and_stream_with_usage(sync: openai.OpenAI) -> None:
    done = sync.chat.completions.create(model=MODEL, messages=user("[[mock tokens=4]]"))
    assert done.choices[0].message.content == words(4)
    assert done.usage is not None and done.usage.completion_tokens == 4
    with sync.chat.completions.create(
        model=MODEL,
        messages=user("[[mock tokens=5]]"),
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == words(5)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    assert all(c.usage is None for c in chunks[:-1])


async def test_async_create_and_stream(sdk: openai.AsyncOpenAI) -> None:
    done = await sdk.chat.completions.create(model=MODEL, messages=user("[[mock tokens=3]]"))
    assert done.choices[0].message.content == words(3)
    stream = await sdk.chat.completions.create(
        model=MODEL, messages=user("[[mock tokens=7]]"), stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == words(7)
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["stop"]
    assert all(c.usage is None for c in chunks)  # no stream_options: no usage chunk
    await sdk.close()


def test_sync_tools_create_stream_and_helper(sync: openai.OpenAI) -> None:
    done = sync.chat.completions.create(
        model=MODEL, messages=user("[[mock tool_calls=1]]"), tools=TOOLS
    )
    [call] = done.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    assert call.function.arguments == ARGUMENTS
    assert done.choices[0].finish_reason == "tool_calls"
    with sync.chat.completions.stream(
        model=MODEL, messages=user("[[mock tool_calls=1]]"), tools=TOOLS
    ) as helper:
        final = helper.get_final_completion()
    [streamed] = final.choices[0].message.tool_calls or []
    assert streamed.function.name == "get_weather" and streamed.function.arguments == ARGUMENTS
    assert streamed.id.startswith("call_")


async def test_async_tool_call_deltas(sdk: openai.AsyncOpenAI) -> None:
    """Issue 12: the first chunk of a tool-call answer says ``content: null``, as OpenAI's."""
    stream = await sdk.chat.completions.create(
        model=MODEL, messages=user("[[mock tool_calls=1]]"), tools=TOOLS, stream=True
    )
    chunks = [chunk async for chunk in stream]
    opening = chunks[0].choices[0].delta.model_dump(exclude_unset=True)
    assert opening == {"role": "assistant", "content": None}
    pieces = [piece for chunk in chunks for piece in chunk.choices[0].delta.tool_calls or []]
    first = pieces[0]
    assert first.index == 0 and first.id and first.function is not None
    assert first.function.name == "get_weather"
    assert "".join((p.function.arguments or "") for p in pieces if p.function) == ARGUMENTS
    await sdk.close()


def test_sync_models_list(sync: openai.OpenAI) -> None:
    ids = [model.id for model in sync.models.list()]
    assert ids[:2] == [MODEL, "moonshotai/kimi-k2"] and "demo" in ids


def test_sync_models_retrieve(sync: openai.OpenAI) -> None:
    """Issue 12: ``models.retrieve`` was a 404 for every id."""
    model = sync.models.retrieve(MODEL)
    assert (model.id, model.object, model.owned_by) == (MODEL, "model", "mock")
    assert sync.models.retrieve("moonshotai/kimi-k2").id == "moonshotai/kimi-k2"
    with pytest.raises(openai.NotFoundError) as unknown:
        sync.models.retrieve("no-such-model")
    assert unknown.value.code == "model_not_found"
    assert unknown.value.body == {
        "message": "The model 'no-such-model' does not exist",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }


async def test_async_models_retrieve(sdk: openai.AsyncOpenAI) -> None:
    assert (await sdk.models.retrieve("moonshotai/kimi-k2")).owned_by == "mock"
    await sdk.close()


def test_sync_strict_types(sync: openai.OpenAI) -> None:
    """Issue 12: ``"stream": "yes"`` was taken as true; OpenAI answers 400."""
    with pytest.raises(openai.BadRequestError, match="stream: Input should be a valid boolean"):
        sync.chat.completions.create(
            model=MODEL, messages=user("[[mock tokens=2]]"), extra_body={"stream": "yes"}
        )


async def test_async_errors_are_the_sdk_types(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        await sdk.chat.completions.create(model="nope", messages=user("x"))
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.RateLimitError) as limited:
        await sdk.chat.completions.create(
            model=MODEL,
            stream=True,
            messages=user("[[mock status=429 kind=rate_limit retry_after=30]]"),
        )
    assert limited.value.response.headers["retry-after"] == "30"
    with pytest.raises(openai.BadRequestError):
        await sdk.chat.completions.create(model=MODEL, messages=[])
    stream = await sdk.chat.completions.create(
        model=MODEL, stream=True, messages=user("[[mock tokens=8 error_after=3]]")
    )
    with pytest.raises(openai.APIError, match="mid-stream"):
        async for _ in stream:
            pass
    await sdk.close()


def test_sync_closing_a_stream_early(sync: openai.OpenAI) -> None:
    """Leaving the ``with`` after three chunks closes the response at once, and the same
    client's next call works (its connection pool is not left with a half-read body)."""
    started = time.monotonic()
    with sync.chat.completions.create(
        model=MODEL, messages=user("[[mock tokens=400 rate=40]]"), stream=True
    ) as stream:
        for received, _ in enumerate(stream, 1):
            if received == 3:
                break
    assert time.monotonic() - started < 5  # the whole answer takes 10 s
    done = sync.chat.completions.create(model=MODEL, messages=user("[[mock tokens=2]]"))
    assert done.choices[0].message.content == words(2)


async def test_async_closing_a_stream_early(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model=MODEL, messages=user("[[mock tokens=400 rate=40]]"), stream=True
    )
    received = 0
    async for _ in stream:
        received += 1
        if received == 3:
            break
    await stream.close()
    done = await sdk.chat.completions.create(model=MODEL, messages=user("[[mock tokens=2]]"))
    assert done.choices[0].message.content == words(2)
    await sdk.close()


def test_sync_refusal(sync: openai.OpenAI) -> None:
    """Issue 12: a provider's ``delta.refusal`` reached neither ``delta.refusal`` nor
    ``content`` on /v1."""
    with sync.chat.completions.create(
        model=MODEL, messages=user("[[mock refusal=1]]"), stream=True
    ) as stream:
        chunks = list(stream)
    assert "".join(c.choices[0].delta.refusal or "" for c in chunks) == REFUSAL
    assert all(c.choices[0].delta.content is None for c in chunks)
    done = sync.chat.completions.create(model=MODEL, messages=user("[[mock refusal=1]]"))
    assert done.choices[0].message.refusal == REFUSAL
    assert done.choices[0].message.content is None
