"""openai-node (npm ``openai``) against /v1: the cases of js/openai_node.mjs, one node process
for the module, each cell asserted on its own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients.conftest import REFUSAL, failed, ok, run_node
from tests.web.test_chat_stream import words


@pytest.fixture(scope="module")
def results(base_url: str) -> dict[str, Any]:
    return run_node("openai_node.mjs", base_url)


def test_stream_with_usage(results: dict[str, Any]) -> None:
    stream = ok(results, "stream")
    assert stream["text"] == words(6)
    assert stream["first_delta"]["role"] == "assistant"
    assert stream["finish"] == ["stop"]
    assert stream["last_choices"] == 0 and stream["usage"]["completion_tokens"] == 6
    assert stream["ids"] == 1


def test_create(results: dict[str, Any]) -> None:
    done = ok(results, "create")
    assert done["message"]["content"] == words(4)
    assert done["finish"] == "stop"
    assert done["usage"]["completion_tokens"] == 4


def test_tool_call_stream(results: dict[str, Any]) -> None:
    """Issue 12: the first chunk says ``content: null`` (it said ``""``), as OpenAI's."""
    stream = ok(results, "tools_stream")
    assert stream["first_delta"] == {"role": "assistant", "content": None}
    [call] = stream["calls"]
    assert call["name"] == "get_weather" and call["id"]
    assert call["arguments"] == '{"city": "Paris", "unit": "celsius"}'
    assert stream["finish"] == ["tool_calls"]


def test_tool_call_create_and_stream_helper(results: dict[str, Any]) -> None:
    for case in ("tools_create", "tools_helper"):
        message = ok(results, case)["message"]
        [call] = message["tool_calls"]
        assert call["function"] == {
            "name": "get_weather",
            "arguments": '{"city": "Paris", "unit": "celsius"}',
        }


def test_models_list(results: dict[str, Any]) -> None:
    ids = ok(results, "models_list")
    assert ids[:2] == ["gpt-4o-mini", "moonshotai/kimi-k2"] and "demo" in ids


def test_models_retrieve(results: dict[str, Any]) -> None:
    """Issue 12: ``models.retrieve`` was a 404 for every id (openai-node sends a ``/`` in an id
    as ``%2F``)."""
    retrieved = ok(results, "models_retrieve")
    assert retrieved["plain"] == {
        "id": "gpt-4o-mini",
        "object": "model",
        "created": 0,
        "owned_by": "mock",
    }
    assert retrieved["slashed"]["id"] == "moonshotai/kimi-k2"
    unknown = failed(results, "models_retrieve_unknown")
    assert (unknown["name"], unknown["code"]) == ("NotFoundError", "model_not_found")


def test_strict_types(results: dict[str, Any]) -> None:
    """Issue 12: ``stream: "yes"`` was taken as true."""
    refused = failed(results, "error_strict_types")
    assert (refused["name"], refused["status"]) == ("BadRequestError", 400)
    assert "stream: Input should be a valid boolean" in refused["message"]


def test_errors_are_the_sdk_classes(results: dict[str, Any]) -> None:
    unknown = failed(results, "error_unknown_model")
    assert (unknown["name"], unknown["status"], unknown["code"]) == (
        "NotFoundError",
        404,
        "model_not_found",
    )
    limited = failed(results, "error_rate_limited")
    assert (limited["name"], limited["status"]) == ("RateLimitError", 429)
    mid = failed(results, "error_mid_stream")
    assert mid["name"] == "APIError" and "mid-stream" in mid["message"]


def test_closing_a_stream_early(results: dict[str, Any]) -> None:
    """``break`` in ``for await`` aborts the request: the loop ends at once, no exception."""
    closed = ok(results, "close_early")
    assert closed["received"] == 3
    assert closed["ms"] < 5000  # the whole answer would take 10 s at 40 tokens a second
    assert closed["after"] == words(2)  # and the same client's next call works


def test_refusal(results: dict[str, Any]) -> None:
    """Issue 12: ``delta.refusal`` relayed, and ``message.refusal`` non-streamed."""
    stream = ok(results, "refusal_stream")
    assert stream["refusal"] == REFUSAL and stream["text"] == ""
    assert stream["first_delta"] == {"role": "assistant", "content": None}
    message = ok(results, "refusal_create")["message"]
    assert message["refusal"] == REFUSAL and message["content"] is None
