"""Each provider dialect, through the real server: reasoning, usage once, in-band errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness import MockUpstream, mock_provider, mock_upstream_thread, read_stream
from tests.web.test_chat_stream import words

DIALECTS = {
    # dialect: (preset, model, has reasoning, usage without include_usage)
    "openai": ("openai", "gpt-4o-mini", False),
    "moonshot": ("kimi", "kimi-k2-thinking", True),
    "deepseek": ("deepseek", "deepseek-reasoner", True),
    "ollama": ("ollama", "llama3.2", True),
    "vllm": ("vllm", "Qwen/Qwen3-8B", True),
}


@pytest.fixture(scope="module", params=sorted(DIALECTS))
def dialect_mock(request: pytest.FixtureRequest) -> Iterator[MockUpstream]:
    with mock_upstream_thread(request.param) as mock:
        yield mock


@pytest.fixture
def dialect_server(make_server: Any, dialect_mock: MockUpstream) -> Any:
    preset = DIALECTS[dialect_mock.dialect][0]
    return make_server(providers=[mock_provider(dialect_mock, preset=preset)])


async def test_dialect_answer_with_reasoning_and_usage(
    dialect_server: Any, dialect_mock: MockUpstream
) -> None:
    _, model, reasoning = DIALECTS[dialect_mock.dialect]
    async with httpx.AsyncClient(base_url=dialect_server.url, timeout=30) as client:
        stream = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "[[mock tokens=5 reasoning=3]]", "model": model},
        )
    expected_reasoning = ["reasoning"] * 3 if reasoning else []
    assert stream.types() == ["meta", *expected_reasoning, *["delta"] * 5, "usage", "done"]
    assert stream.text() == words(5)
    usage = stream.first("usage")
    assert usage["estimated"] is False
    assert usage["completion_tokens"] >= 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_dialect_inband_error_keeps_partial_text(
    dialect_server: Any, dialect_mock: MockUpstream
) -> None:
    _, model, _ = DIALECTS[dialect_mock.dialect]
    async with httpx.AsyncClient(base_url=dialect_server.url, timeout=30) as client:
        stream = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "[[mock tokens=6 error_after=2]]", "model": model},
        )
    assert stream.types() == ["meta", "delta", "delta", "usage", "error"]
    assert stream.text() == words(2)
    assert stream.last()["code"] == "upstream_error"
    assert "org-" not in stream.last()["message"] and "ak-" not in stream.last()["message"]


async def test_dialect_tool_calls_over_v1(dialect_server: Any, dialect_mock: MockUpstream) -> None:
    _, model, _ = DIALECTS[dialect_mock.dialect]
    async with httpx.AsyncClient(base_url=dialect_server.url, timeout=30) as client:
        response = await client.post(
            "/v1/chat/completions",
            json={
                "model": model,
                "messages": [{"role": "user", "content": "[[mock tool_calls=1]]"}],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            },
        )
    assert response.status_code == 200
    message = response.json()["choices"][0]["message"]
    call = message["tool_calls"][0]
    assert call["function"]["name"]
    assert call["function"]["arguments"].startswith("{")
