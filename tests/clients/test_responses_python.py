"""``POST /v1/responses`` through openai-python's own ``client.responses.create`` and
``client.responses.stream`` (whose state machine checks the events' order and identities),
against the mock upstream: text, instructions, items, function tools and their outputs,
json_schema, usage, errors."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.responses import FunctionToolParam, ResponseInputParam

from tests.clients.conftest import REFUSAL
from tests.harness import MockUpstream
from tests.web.test_chat_stream import words

MODEL = "gpt-4o-mini"
WEATHER: list[FunctionToolParam] = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": False,
    }
]
ARGUMENTS = '{"city": "Paris", "unit": "celsius"}'


@pytest.fixture
def sync(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url, api_key="unused-locally", max_retries=0) as client:
        yield client


def sent(mock: MockUpstream) -> dict[str, Any]:
    """The chat completion the mock upstream received last."""
    body: dict[str, Any] = mock.log()[-1]["body"]
    return body


def test_create_a_string_input(sync: openai.OpenAI, mock_upstream: MockUpstream) -> None:
    response = sync.responses.create(
        model=MODEL,
        input="[[mock tokens=4]]",
        instructions="Be brief.",
        max_output_tokens=50,
        temperature=0.5,
        metadata={"run": "1"},
    )
    assert response.output_text == words(4)
    assert response.status == "completed" and response.object == "response"
    assert response.id.startswith("resp_") and response.model == MODEL
    assert response.instructions == "Be brief." and response.metadata == {"run": "1"}
    assert response.usage is not None and response.usage.output_tokens == 4
    assert response.usage.total_tokens == response.usage.input_tokens + 4
    [message] = response.output
    assert message.type == "message" and message.status == "completed"
    body = sent(mock_upstream)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "[[mock tokens=4]]"},
    ]
    assert (body["max_tokens"], body["temperature"]) == (50, 0.5)


def test_stream_events(sync: openai.OpenAI) -> None:
    stream = sync.responses.create(model=MODEL, input="[[mock tokens=3]]", stream=True)
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == words(3)


def test_the_stream_helper(sync: openai.OpenAI) -> None:
    with sync.responses.stream(model=MODEL, input="[[mock tokens=5]]") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == words(5) and final.output_text == words(5)
    assert final.usage is not None and final.usage.output_tokens == 5


def test_function_tools_and_their_outputs(sync: openai.OpenAI, mock_upstream: MockUpstream) -> None:
    with sync.responses.stream(model=MODEL, input="[[mock tool_calls=1]]", tools=WEATHER) as s:
        arguments = "".join(
            e.delta for e in s if e.type == "response.function_call_arguments.delta"
        )
        final = s.get_final_response()
    [call] = final.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.arguments == arguments == ARGUMENTS and call.call_id.startswith("call_")
    assert sent(mock_upstream)["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER[0]["parameters"],
                "strict": False,
            },
        }
    ]
    history: ResponseInputParam = [
        {"role": "user", "content": "weather?"},
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": ARGUMENTS,
        },
        {"type": "function_call_output", "call_id": call.call_id, "output": "22 C"},
        {"role": "user", "content": [{"type": "input_text", "text": "[[mock tokens=2]]"}]},
    ]
    answer = sync.responses.create(model=MODEL, input=history, tools=WEATHER, tool_choice="auto")
    assert answer.output_text == words(2)
    assert sent(mock_upstream)["messages"] == [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ARGUMENTS},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.call_id, "content": "22 C"},
        {"role": "user", "content": "[[mock tokens=2]]"},
    ]
    assert sent(mock_upstream)["tool_choice"] == "auto"


def test_json_schema_becomes_response_format(
    sync: openai.OpenAI, mock_upstream: MockUpstream
) -> None:
    schema: dict[str, object] = {"type": "object", "properties": {"a": {"type": "string"}}}
    sync.responses.create(
        model=MODEL,
        input="[[mock tokens=1]]",
        text={"format": {"type": "json_schema", "name": "thing", "schema": schema, "strict": True}},
        reasoning={"effort": "low"},
    )
    body = sent(mock_upstream)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "thing", "schema": schema, "strict": True},
    }
    assert body["reasoning_effort"] == "low"


def test_errors_are_the_sdk_types(sync: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        sync.responses.create(model="nope", input="x")
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.RateLimitError):
        sync.responses.create(
            model=MODEL, input="[[mock status=429 kind=rate_limit retry_after=30]]"
        )
    with pytest.raises(openai.BadRequestError, match="stream: Input should be a valid boolean"):
        sync.responses.create(model=MODEL, input="x", extra_body={"stream": "yes"})
    with pytest.raises(openai.BadRequestError, match=r"input\.0\.type"):
        sync.responses.create(model=MODEL, input=[], extra_body={"input": [{"type": "x"}]})
    with pytest.raises(openai.BadRequestError, match="must be stored"):
        sync.responses.create(model=MODEL, input="x", background=True, store=False)


def test_a_failure_mid_stream_is_response_failed(sync: openai.OpenAI) -> None:
    events = list(
        sync.responses.create(model=MODEL, input="[[mock tokens=8 error_after=3]]", stream=True)
    )
    assert events[-1].type == "response.failed"
    assert events[-1].response.error is not None
    assert "mid-stream" in events[-1].response.error.message
    assert events[-1].response.output[0].to_dict()["status"] == "incomplete"


def test_max_output_tokens_is_incomplete(sync: openai.OpenAI) -> None:
    response = sync.responses.create(model=MODEL, input="[[mock tokens=9]]", max_output_tokens=2)
    assert response.status == "incomplete" and response.output_text == words(2)
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


async def test_async_stream(base_url: str) -> None:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)
    async with client, client.responses.stream(model=MODEL, input="[[mock tokens=3]]") as stream:
        final = await stream.get_final_response()
    assert final.output_text == words(3)


def test_a_refusal_is_a_refusal_part(sync: openai.OpenAI) -> None:
    response = sync.responses.create(model=MODEL, input="[[mock refusal=1]]")
    [message] = response.output
    assert message.type == "message"
    assert [part.to_dict() for part in message.content] == [{"type": "refusal", "refusal": REFUSAL}]
    assert response.output_text == ""


def test_closing_a_response_stream_stops_the_provider_call(
    sync: openai.OpenAI, mock_upstream: MockUpstream
) -> None:
    """The SDK's close after three events: the provider sees its connection closed within
    2 s (not after the disconnect grace)."""
    tag = secrets.token_hex(4)
    with sync.responses.create(
        model=MODEL, input=f"{tag} [[mock tokens=3000 rate=100]]", stream=True
    ) as stream:
        for received, _ in enumerate(stream, 1):
            if received == 3:
                break
    left_at = time.time()
    deadline = left_at + 2
    while time.time() < deadline and not record_of(mock_upstream, tag)["client_closed"]:
        time.sleep(0.02)
    record = record_of(mock_upstream, tag)
    assert record["client_closed"] and record["finished"] - left_at < 2
    assert record["tokens_sent"] < 1000


def record_of(mock: MockUpstream, tag: str) -> dict[str, Any]:
    [record] = [r for r in mock.log() if tag in str(r.get("body"))]
    return record
