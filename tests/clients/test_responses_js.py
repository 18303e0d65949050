"""``POST /v1/responses`` through openai-node (``responses.create``, ``responses.stream``) and
the AI SDK's default OpenAI model, ``openai(model)``, which speaks the Responses API (it was a
404, issue 12): js/responses.mjs, one node process for the module."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients.conftest import failed, ok, run_node
from tests.web.test_chat_stream import words

WEATHER = {"city": "Paris", "unit": "celsius"}


@pytest.fixture(scope="module")
def results(base_url: str) -> dict[str, Any]:
    return run_node("responses.mjs", base_url)


def test_openai_node_create_and_stream(results: dict[str, Any]) -> None:
    done = ok(results, "node_create")
    assert (done["text"], done["status"]) == (words(4), "completed")
    assert done["usage"]["output_tokens"] == 4
    stream = ok(results, "node_stream")
    assert stream["text"] == words(3)
    assert stream["types"][:2] == ["response.created", "response.in_progress"]
    assert stream["types"][-1] == "response.completed"
    assert stream["sequence"] == list(range(len(stream["types"])))


def test_openai_node_stream_helper_with_a_function_call(results: dict[str, Any]) -> None:
    [call] = ok(results, "node_helper")["output"]
    assert call == {
        "type": "function_call",
        "name": "get_weather",
        "arguments": '{"city": "Paris", "unit": "celsius"}',
    }


def test_openai_node_error(results: dict[str, Any]) -> None:
    error = failed(results, "node_error")
    assert (error["name"], error["status"], error["code"]) == (
        "NotFoundError",
        404,
        "model_not_found",
    )


def test_ai_sdk_default_openai_model(results: dict[str, Any]) -> None:
    done = ok(results, "ai_generate")
    assert (done["text"], done["finish"]) == (words(4), "stop")
    assert done["usage"]["outputTokens"] == 4
    stream = ok(results, "ai_stream")
    assert (stream["text"], stream["finish"], stream["errors"]) == (words(5), ["stop"], [])
    tools = ok(results, "ai_tools")
    assert tools == {"finish": "tool-calls", "calls": [{"name": "get_weather", "input": WEATHER}]}
