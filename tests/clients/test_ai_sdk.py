"""The Vercel AI SDK (npm ``ai``) against /v1, with ``@ai-sdk/openai-compatible`` and with
``@ai-sdk/openai``'s chat model (``openai.chat(model)``): streamText and generateText."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients.conftest import REFUSAL, failed, ok, run_node
from tests.web.test_chat_stream import words

WEATHER = {"city": "Paris", "unit": "celsius"}


@pytest.fixture(scope="module", params=["compatible", "openai"])
def results(request: pytest.FixtureRequest, base_url: str) -> dict[str, Any]:
    outcome: dict[str, Any] = run_node("ai_sdk.mjs", base_url, request.param)
    outcome["provider"] = request.param
    return outcome


def test_stream_text(results: dict[str, Any]) -> None:
    stream = ok(results, "stream")
    assert stream["text"] == words(6)
    assert stream["finish"] == ["stop"] and not stream["errors"]
    # usage needs stream_options: includeUsage sends it; @ai-sdk/openai always does
    assert stream["usage"]["outputTokens"] == 6


def test_generate_text(results: dict[str, Any]) -> None:
    done = ok(results, "generate")
    assert done["text"] == words(4)
    assert done["finish"] == "stop"
    assert done["usage"]["outputTokens"] == 4


def test_tool_calls(results: dict[str, Any]) -> None:
    stream = ok(results, "tools_stream")
    assert stream["tool_calls"] == [{"name": "get_weather", "input": WEATHER}]
    assert stream["finish"] == ["tool-calls"] and not stream["errors"]
    assert "text-start" not in stream["types"]  # no empty text part before the call
    done = ok(results, "tools_generate")
    assert done["tool_calls"] == [{"name": "get_weather", "input": WEATHER}]
    assert done["finish"] == "tool-calls"


def test_errors(results: dict[str, Any]) -> None:
    unknown = failed(results, "error_unknown_model")
    assert (unknown["name"], unknown["status"]) == ("APICallError", 404)
    mid = ok(results, "error_mid_stream")
    assert mid["text"] == words(3)
    assert mid["errors"] and "mid-stream" in mid["errors"][0]
    assert mid["finish"] == ["error"]


def test_refusal(results: dict[str, Any]) -> None:
    """Both providers turn ``delta.refusal`` into text and finish ``content-filter``."""
    refused = ok(results, "refusal_stream")
    assert refused["text"] == REFUSAL and refused["finish"] == ["content-filter"]
