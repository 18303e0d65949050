"""Issue 12: /v1 bodies are typed as strictly as OpenAI's. ``"stream": "yes"`` was taken as true
(lax coercion also took ``"1"``, ``1``, ``"on"`` ...); now each is a 400 naming the field, and
nothing reaches the provider."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Server

MESSAGES = [{"role": "user", "content": "[[mock tokens=2]]"}]


CASES: list[tuple[str, Any, str]] = [
    ("stream", "yes", "stream: Input should be a valid boolean"),
    ("stream", "1", "stream: Input should be a valid boolean"),
    ("stream", 1, "stream: Input should be a valid boolean"),
    ("stream", "on", "stream: Input should be a valid boolean"),
    ("stream_options", {"include_usage": "true"}, "stream_options.include_usage: Input"),
    ("parallel_tool_calls", 0, "parallel_tool_calls: Input should be a valid boolean"),
    ("temperature", "0.5", "temperature: Input should be a valid number"),
    ("max_tokens", 10.0, "max_tokens: Input should be a valid integer"),
    ("max_tokens", "10", "max_tokens: Input should be a valid integer"),
    ("seed", True, "seed: Input should be a valid integer"),
    ("n", True, "n: Input should be a valid integer"),
    ("logit_bias", {"50256": "-100"}, "logit_bias.50256: Input should be a valid number"),
    ("model", 7, "model: Input should be a valid string"),
]


@pytest.mark.parametrize(
    ("field", "value", "message"), CASES, ids=[f"{f}={v!r}" for f, v, _ in CASES]
)
async def test_a_wrong_json_type_is_a_400_naming_the_field(
    client: httpx.AsyncClient, server: Server, field: str, value: Any, message: str
) -> None:
    server.mock.reset()
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, field: value}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request"
    assert error["message"].startswith(message)
    assert server.mock.log() == []


async def test_a_message_field_of_the_wrong_type(client: httpx.AsyncClient) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 5}]}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("messages.0.content")


async def test_the_right_json_types_still_pass(client: httpx.AsyncClient, server: Server) -> None:
    """An integer is a valid number (``temperature: 1``), as in OpenAI's API."""
    body = {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "stream": False,
        "temperature": 1,
        "top_p": 0.5,
        "max_tokens": 10,
        "seed": -3,
        "parallel_tool_calls": False,
        "logit_bias": {"50256": -100},
    }
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == " w1 w2"
