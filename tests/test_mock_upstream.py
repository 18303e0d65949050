"""The shipped mock upstream, byte for byte: each dialect's chunks, usage and errors, and every
failure a directive can ask for. Real sockets on loopback; the client reads raw bytes."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from openai import AsyncOpenAI

from streamchat.mock_scenarios import DEFAULT_MODELS, DIALECTS
from streamchat.mock_upstream import MockServer, create_mock_app, serve_mock

KEY = "sk-mock-test-0123456789"
Start = Callable[..., Awaitable[MockServer]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    servers: list[MockServer] = []

    async def start_mock(dialect: str = "openai", **kwargs: Any) -> MockServer:
        server = await serve_mock("127.0.0.1", 0, dialect=dialect, **kwargs)
        servers.append(server)
        return server

    yield start_mock
    for server in servers:
        await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


def chat_body(directive: str = "", **extra: Any) -> dict[str, Any]:
    content = f"Hello there [[mock {directive}]]" if directive else "Hello there"
    body: dict[str, Any] = {
        "model": "m-1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": content},
        ],
        "stream": True,
    }
    body.update(extra)
    return body


async def post(
    http: aiohttp.ClientSession,
    mock: MockServer,
    directive: str = "",
    key: str | None = None,
    **extra: Any,
) -> tuple[int, Any, bytes]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = mock.url + "/chat/completions"
    async with http.post(url, json=chat_body(directive, **extra), headers=headers) as response:
        return response.status, response.headers, await response.read()


def events(raw: bytes) -> list[Any]:
    """The data payloads of a well-formed stream: parsed JSON, or the string "[DONE]"."""
    assert raw.endswith(b"\n\n"), raw[-200:]
    out: list[Any] = []
    for block in raw[:-2].split(b"\n\n"):
        assert block.startswith(b"data: "), block
        data = block.removeprefix(b"data: ")
        out.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return out


def deltas(chunks: list[Any]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if isinstance(c, dict) and c.get("choices")]


USAGE = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}


async def wait_for(predicate: Callable[[], bool], seconds: float = 2.0) -> float:
    """Seconds until ``predicate`` held; fails after ``seconds``."""
    began = time.monotonic()
    while not predicate():
        assert time.monotonic() - began < seconds, "condition not met in time"
        await asyncio.sleep(0.005)
    return time.monotonic() - began


# -- models and the basics -------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_models_are_listed_per_dialect(
    start: Start, http: aiohttp.ClientSession, dialect: str
) -> None:
    mock = await start(dialect)
    async with http.get(mock.url + "/models") as response:
        listed = await response.json()
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == list(DEFAULT_MODELS[dialect])
    assert {tuple(m) for m in listed["data"]} == {("id", "object", "created", "owned_by")}
    assert {m["object"] for m in listed["data"]} == {"model"}


async def test_models_can_be_configured(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start("moonshot", models=["kimi-k3"])
    async with http.get(mock.url + "/models") as response:
        assert [m["id"] for m in (await response.json())["data"]] == ["kimi-k3"]


async def test_url_has_the_bound_port(start: Start) -> None:
    mock = await start()
    assert mock.url.startswith("http://127.0.0.1:")
    assert mock.url.endswith("/v1")
    assert not mock.url.startswith("http://127.0.0.1:0/")


async def test_openai_stream_exact_bytes(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start("openai")
    status, headers, raw = await post(http, mock, "tokens=2")
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream; charset=utf-8"
    chunks = events(raw)
    first = chunks[0]
    head = (
        b'data: {"id":"%s","object":"chat.completion.chunk","created":%d,"model":"m-1","choices":'
        % (first["id"].encode(), first["created"])
    )
    tail = b',"finish_reason":null}]}\n\n'
    assert raw == (
        head + b'[{"index":0,"delta":{"role":"assistant","content":""}' + tail
        + head + b'[{"index":0,"delta":{"content":" w1"}' + tail
        + head + b'[{"index":0,"delta":{"content":" w2"}' + tail
        + head + b'[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        + b"data: [DONE]\n\n"
    )  # fmt: skip
    assert first["id"].startswith("chatcmpl-")


async def test_default_answer_is_twelve_numbered_words(
    start: Start, http: aiohttp.ClientSession
) -> None:
    mock = await start()
    _, _, raw = await post(http, mock)
    text = "".join(d.get("content") or "" for d in deltas(events(raw)))
    assert text == "".join(f" w{i}" for i in range(1, 13))


async def test_openai_usage_only_when_asked(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start("openai")
    _, _, plain = await post(http, mock, "tokens=2")
    assert b"usage" not in plain
    _, _, raw = await post(http, mock, "tokens=2", stream_options={"include_usage": True})
    chunks = events(raw)
    assert chunks[-1] == "[DONE]"
    assert chunks[-2]["choices"] == []
    assert chunks[-2]["usage"] == USAGE
    assert chunks[-3]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert "usage" not in chunks[-3]


async def test_openai_hides_reasoning(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start("openai")
    _, _, raw = await post(http, mock, "tokens=2 reasoning=3")
    assert [d for d in deltas(events(raw))][1:3] == [{"content": " w1"}, {"content": " w2"}]
    assert b"reasoning" not in raw


async def test_moonshot_reasoning_and_usage_in_both_places(
    start: Start, http: aiohttp.ClientSession
) -> None:
    mock = await start("moonshot")
    _, _, raw = await post(
        http, mock, "tokens=2 reasoning=2", stream_options={"include_usage": True}
    )
    chunks = events(raw)
    usage = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
    assert chunks[0]["id"].startswith("cmpl-")
    assert deltas(chunks) == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": " r1"},
        {"reasoning_content": " r2"},
        {"content": " w1"},
        {"content": " w2"},
        {},
    ]
    assert chunks[-3]["choices"][0] == {
        "index": 0,
        "delta": {},
        "finish_reason": "stop",
        "usage": usage,
    }
    assert "usage" not in chunks[-3]
    assert chunks[-2]["choices"] == [] and chunks[-2]["usage"] == usage
    assert chunks[-1] == "[DONE]"


async def test_moonshot_usage_in_the_choice_without_include_usage(
    start: Start, http: aiohttp.ClientSession
) -> None:
    mock = await start("moonshot")
    _, _, raw = await post(http, mock, "tokens=2")
    chunks = events(raw)
    assert chunks[-2]["choices"][0]["usage"] == USAGE
    assert chunks[-1] == "[DONE]"


async def test_deepseek_reasoning_content_null_and_top_level_usage(
    start: Start, http: aiohttp.ClientSession
) -> None:
    mock = await start("deepseek")
    _, _, raw = await post(
        http, mock, "tokens=1 reasoning=1", stream_options={"include_usage": True}
    )
    chunks = events(raw)
    assert deltas(chunks) == [
        {"role": "assistant", "content": None, "reasoning_content": ""},
        {"content": None, "reasoning_content": " r1"},
        {"content": " w1", "reasoning_content": None},
        {},
    ]
    assert chunks[-2]["usage"] == USAGE
    assert "usage" not in chunks[-2]["choices"][0]
    assert chunks[-1] == "[DONE]"


@pytest.mark.parametrize("dialect", ["ollama", "vllm"])
async def test_reasoning_field_for_ollama_and_vllm(
    start: Start, http: aiohttp.ClientSession, dialect: str
) -> None:
    mock = await start(dialect)
    _, _, raw = await post(
        http, mock, "tokens=1 reasoning=1", stream_options={"include_usage": True}
    )
    chunks = events(raw)
    assert deltas(chunks) == [
        {"role": "assistant", "content": ""},
        {"reasoning": " r1"},
        {"content": " w1"},
        {},
    ]
    assert chunks[-2]["choices"] == [] and chunks[-2]["usage"] == USAGE
    assert b"reasoning_content" not in raw


async def test_dialect_can_be_chosen_per_request(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start("openai")
    _, _, raw = await post(http, mock, "tokens=1 reasoning=1 dialect=moonshot")
    assert {"reasoning_content": " r1"} in deltas(events(raw))


async def test_finish_reason_and_usage_off(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start("moonshot")
    _, _, raw = await post(
        http, mock, "tokens=1 finish=length usage=0", stream_options={"include_usage": True}
    )
    chunks = events(raw)
    assert chunks[-2]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "length"}]
    assert b"usage" not in raw


async def test_max_tokens_cuts_the_answer(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    _, _, raw = await post(http, mock, "tokens=5", max_tokens=2)
    chunks = events(raw)
    assert len(deltas(chunks)) == 4
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(("dialect", "has_index"), [("openai", True), ("moonshot", False)])
async def test_tool_call_pieces(
    start: Start, http: aiohttp.ClientSession, dialect: str, has_index: bool
) -> None:
    mock = await start(dialect)
    _, _, raw = await post(http, mock, "tool_calls=1")
    chunks = events(raw)
    calls = [d["tool_calls"][0] for d in deltas(chunks) if "tool_calls" in d]
    assert calls[0]["type"] == "function"
    assert calls[0]["function"]["name"] == "get_weather"
    assert calls[0]["id"]
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert orjson.loads(arguments) == {"city": "Paris", "unit": "celsius"}
    assert all(("index" in c) is has_index for c in calls)
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(("dialect", "content"), [("openai", None), ("moonshot", "")])
async def test_tool_call_first_chunk(
    start: Start, http: aiohttp.ClientSession, dialect: str, content: str | None
) -> None:
    """OpenAI opens a tool-call answer with ``content: null``; Moonshot's docs show ``""``."""
    mock = await start(dialect)
    _, _, raw = await post(http, mock, "tool_calls=1")
    assert events(raw)[0]["choices"][0]["delta"] == {"role": "assistant", "content": content}


async def test_refusal(start: Start, http: aiohttp.ClientSession) -> None:
    """OpenAI's refusal: ``content`` null throughout, the text in ``delta.refusal``; non-stream
    in ``message.refusal``."""
    mock = await start()
    _, _, raw = await post(http, mock, "refusal=1", stream_options={"include_usage": True})
    chunks = events(raw)
    first, *rest = deltas(chunks)
    assert first == {"role": "assistant", "content": None, "refusal": ""}
    assert "".join(d["refusal"] for d in rest if d) == "I'm sorry, I can't help with that."
    assert not any("content" in d for d in rest)
    assert chunks[-2]["usage"]["completion_tokens"] == 7  # one per word
    _, _, raw = await post(http, mock, "refusal=1", stream=False)
    (choice,) = orjson.loads(raw)["choices"]
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": "I'm sorry, I can't help with that.",
    }
    assert choice["finish_reason"] == "stop"


# -- answer texts ---------------------------------------------------------------------------


async def answer_text(http: aiohttp.ClientSession, mock: MockServer, directive: str) -> str:
    _, _, raw = await post(http, mock, directive)
    return "".join(d.get("content") or "" for d in deltas(events(raw)))


async def test_texts(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    markdown = await answer_text(http, mock, "text=markdown")
    assert markdown.startswith("## ") and "```python" in markdown and "| Kimi |" in markdown
    cjk = await answer_text(http, mock, "text=cjk")
    assert "你好，世界" in cjk and "👩‍💻🎉" in cjk
    xss = await answer_text(http, mock, "text=xss")
    for payload in ("<script>", "onerror=", "javascript:", "<svg onload", "<iframe", "evil.test"):
        assert payload in xss
    assert await answer_text(http, mock, "text=echo") == "Hello there"
    assert await answer_text(http, mock, "text=cjk tokens=3") == "你好，世界！"


async def test_echo_of_content_parts(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    body = chat_body()
    body["messages"][-1]["content"] = [
        {"type": "text", "text": "first "},
        {"type": "text", "text": "[[mock text=echo]]second"},
    ]
    async with http.post(mock.url + "/chat/completions", json=body) as response:
        raw = await response.read()
    assert "".join(d.get("content") or "" for d in deltas(events(raw))) == "first second"


# -- non-stream -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "field"),
    [
        ("openai", None),
        ("moonshot", "reasoning_content"),
        ("deepseek", "reasoning_content"),
        ("ollama", "reasoning"),
        ("vllm", "reasoning"),
    ],
)
async def test_non_stream_completion(
    start: Start, http: aiohttp.ClientSession, dialect: str, field: str | None
) -> None:
    mock = await start(dialect)
    status, headers, raw = await post(http, mock, "tokens=2 reasoning=1", stream=False)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    body = orjson.loads(raw)
    assert body["object"] == "chat.completion"
    message = {"role": "assistant", "content": " w1 w2"}
    if field:
        message[field] = " r1"
    assert body["choices"] == [{"index": 0, "message": message, "finish_reason": "stop"}]
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}


async def test_non_stream_tool_call(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start("moonshot")
    _, _, raw = await post(http, mock, "tool_calls=1", stream=False)
    (choice,) = orjson.loads(raw)["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call == {
        "id": "get_weather:0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'},
    }


async def test_non_stream_failures(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start("deepseek")
    status, _, raw = await post(http, mock, "kind=quota", stream=False)
    assert (status, orjson.loads(raw)["error"]["message"]) == (402, "Insufficient Balance")
    status, _, raw = await post(http, mock, "error_after=1", stream=False)
    assert status == 500
    status, _, raw = await post(http, mock, "malformed_after=0", stream=False)
    assert status == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(http, mock, "drop_after=0", stream=False)
    assert mock.log[-1]["client_closed"] is False


async def test_paths_without_v1(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    base = mock.url.removesuffix("/v1")
    async with http.get(base + "/models") as response:
        assert response.status == 200
    async with http.post(base + "/chat/completions", json=chat_body("tokens=1")) as response:
        assert (await response.read()).endswith(b"data: [DONE]\n\n")
    assert mock.log[-1]["path"] == "/chat/completions"


# -- errors before the stream ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "kind", "status", "error_type"),
    [
        ("openai", "rate_limit", 429, "requests"),
        ("openai", "quota", 429, "insufficient_quota"),
        ("openai", "overloaded", 503, "server_error"),
        ("openai", "content_filter", 400, "invalid_request_error"),
        ("openai", "server", 500, "server_error"),
        ("deepseek", "quota", 402, "unknown_error"),
        ("deepseek", "rate_limit", 429, "rate_limit_error"),
        ("ollama", "overloaded", 503, "api_error"),
        ("vllm", "server", 500, "InternalServerError"),
    ],
)
async def test_error_bodies_in_the_openai_shape(
    start: Start,
    http: aiohttp.ClientSession,
    dialect: str,
    kind: str,
    status: int,
    error_type: str,
) -> None:
    mock = await start(dialect)
    got, headers, raw = await post(http, mock, f"kind={kind}")
    assert got == status
    assert headers["Content-Type"].startswith("application/json")
    error = orjson.loads(raw)["error"]
    assert list(error) == ["message", "type", "param", "code"]
    assert error["type"] == error_type and error["message"]
    if dialect == "deepseek" and kind == "quota":
        assert error["message"] == "Insufficient Balance"
    if dialect == "vllm":
        assert error["code"] == status


@pytest.mark.parametrize(
    ("kind", "status", "error_type"),
    [
        ("rate_limit", 429, "rate_limit_reached_error"),
        ("overloaded", 429, "engine_overloaded_error"),
        ("quota", 429, "exceeded_current_quota_error"),
        ("content_filter", 400, "content_filter"),
        ("auth", 401, "invalid_authentication_error"),
    ],
)
async def test_moonshot_error_bodies(
    start: Start, http: aiohttp.ClientSession, kind: str, status: int, error_type: str
) -> None:
    mock = await start("moonshot")
    got, _, raw = await post(http, mock, f"kind={kind}")
    assert got == status
    error = orjson.loads(raw)["error"]
    assert list(error) == ["type", "message"]
    assert error["type"] == error_type
    assert "org-abc123 <ak-xyz789>" in error["message"]


async def test_status_picks_a_fitting_kind_and_retry_after(
    start: Start, http: aiohttp.ClientSession
) -> None:
    mock = await start("openai")
    status, headers, raw = await post(http, mock, "status=429 retry_after=7")
    assert status == 429
    assert headers["Retry-After"] == "7"
    assert orjson.loads(raw)["error"]["code"] == "rate_limit_exceeded"
    status, _, raw = await post(http, mock, "status=502")
    assert status == 502
    assert orjson.loads(raw)["error"]["type"] == "server_error"
    status, _, raw = await post(http, mock, "status=418")
    assert status == 418 and orjson.loads(raw)["error"]["type"] == "invalid_request_error"


async def test_html_error_page(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    status, headers, raw = await post(http, mock, "kind=html")
    assert status == 503
    assert headers["Content-Type"].startswith("text/html")
    assert raw.startswith(b"<html>") and b"nginx" in raw


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_api_key_is_required_when_set(
    start: Start, http: aiohttp.ClientSession, dialect: str
) -> None:
    mock = await start(dialect, api_key=KEY)
    status, _, raw = await post(http, mock, "tokens=1")
    assert status == 401
    assert "error" in orjson.loads(raw)
    status, _, _ = await post(http, mock, "tokens=1", key="sk-wrong")
    assert status == 401
    status, _, raw = await post(http, mock, "tokens=1", key=KEY)
    assert status == 200 and raw.endswith(b"data: [DONE]\n\n")
    assert [r["authorization"] for r in mock.log] == [None, "Bearer sk-wrong", f"Bearer {KEY}"]
    async with http.get(mock.url + "/models") as response:
        assert response.status == 401


async def test_auth_error_shapes(start: Start, http: aiohttp.ClientSession) -> None:
    expected = {
        "openai": ("invalid_request_error", "invalid_api_key"),
        "deepseek": ("authentication_error", "invalid_request_error"),
    }
    for dialect, (error_type, code) in expected.items():
        mock = await start(dialect, api_key=KEY)
        _, _, raw = await post(http, mock)
        error = orjson.loads(raw)["error"]
        assert (error["type"], error["code"]) == (error_type, code)
    mock = await start("moonshot", api_key=KEY)
    _, _, raw = await post(http, mock)
    assert orjson.loads(raw)["error"]["type"] == "invalid_authentication_error"


async def test_unknown_key_and_bad_values_are_400(
    start: Start, http: aiohttp.ClientSession
) -> None:
    mock = await start()
    status, _, raw = await post(http, mock, "tokens=2 colour=blue")
    assert status == 400
    message = orjson.loads(raw)["error"]["message"]
    assert "unknown mock directive key 'colour'" in message and "tokens" in message
    for bad in ("tokens=many", "text=poem", "status=200", "rate=-1", "usage=yes", "split"):
        status, _, raw = await post(http, mock, bad)
        assert status == 400, bad
        assert "mock directive" in orjson.loads(raw)["error"]["message"]


async def test_missing_model_is_400(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    async with http.post(mock.url + "/chat/completions", json={"messages": []}) as response:
        assert response.status == 400
    async with http.post(mock.url + "/chat/completions", data=b"{not json") as response:
        assert response.status == 400


# -- fail_times -----------------------------------------------------------------------------


async def test_fail_times_counts_per_key(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    first = "fail_times=2 fail_key=a status=429 tokens=1"
    assert [(await post(http, mock, first))[0] for _ in range(3)] == [429, 429, 200]
    other = "fail_times=1 fail_key=b tokens=1"
    assert [(await post(http, mock, other))[0] for _ in range(2)] == [500, 200]
    assert (await post(http, mock, first))[0] == 200
    assert [r["status"] for r in mock.log] == [429, 429, 200, 500, 200, 200]
    async with http.post(mock.url.removesuffix("/v1") + "/_mock/reset") as response:
        assert response.status == 200
    assert mock.log == []
    assert (await post(http, mock, first))[0] == 429


async def test_fail_times_with_a_stream_failure(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    directive = "fail_times=1 fail_key=e tokens=2 error_after=1"
    _, _, broken = await post(http, mock, directive)
    assert b'{"error"' in broken and b"[DONE]" not in broken
    _, _, whole = await post(http, mock, directive)
    assert whole.endswith(b"data: [DONE]\n\n") and b'"error"' not in whole


# -- failures inside the stream --------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["openai", "moonshot", "deepseek"])
async def test_inband_error_then_close(
    start: Start, http: aiohttp.ClientSession, dialect: str
) -> None:
    mock = await start(dialect)
    status, _, raw = await post(http, mock, "tokens=5 error_after=2")
    assert status == 200
    chunks = events(raw)
    assert [d.get("content") for d in deltas(chunks)] == ["", " w1", " w2"]
    assert set(chunks[-1]) == {"error"}
    assert "[DONE]" not in chunks
    if dialect == "moonshot":
        assert list(chunks[-1]["error"]) == ["type", "message"]


async def test_inband_error_kind(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start("moonshot")
    _, _, raw = await post(http, mock, "tokens=5 error_after=1 kind=overloaded")
    assert events(raw)[-1]["error"]["type"] == "engine_overloaded_error"


async def test_ollama_inband_error_is_a_bare_json_line(
    start: Start, http: aiohttp.ClientSession
) -> None:
    mock = await start("ollama")
    _, _, raw = await post(http, mock, "tokens=5 error_after=1")
    body, _, last = raw.rpartition(b"\n\n")
    assert last.startswith(b'{"error":{') and last.endswith(b"}\n")
    assert orjson.loads(last)["error"]["message"]
    assert len(deltas(events(body + b"\n\n"))) == 2


async def test_vllm_inband_error_then_done(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start("vllm")
    _, _, raw = await post(http, mock, "tokens=5 error_after=1")
    chunks = events(raw)
    assert chunks[-1] == "[DONE]"
    assert chunks[-2]["error"]["code"] == 500


async def test_drop_after_aborts_the_connection(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(mock.url + "/chat/completions", json=chat_body("drop_after=3")) as r:
            async for piece in r.content.iter_any():
                received += piece
    text = [d.get("content") for d in deltas(events(received))]
    assert text == ["", " w1", " w2", " w3"]
    record = mock.log[-1]
    assert record["tokens_sent"] == 3
    assert record["client_closed"] is False
    assert record["finished"] is not None


async def test_malformed_after(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    _, _, raw = await post(http, mock, "tokens=3 malformed_after=1")
    blocks = raw.split(b"\n\n")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(blocks[2].removeprefix(b"data: "))
    assert raw.endswith(b"data: [DONE]\n\n")
    assert blocks[3].startswith(b"data: {")  # the stream goes on


async def test_invalid_utf8_after(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    _, _, raw = await post(http, mock, "tokens=3 invalid_utf8_after=2")
    bad = raw.split(b"\n\n")[3]
    assert b'"content":"bad \xff\xfe' in bad
    with pytest.raises(UnicodeDecodeError):
        bad.decode("utf-8")
    assert raw.endswith(b"data: [DONE]\n\n")


async def test_split_byte_arrives_in_tiny_pieces(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    pieces: list[bytes] = []
    url = mock.url + "/chat/completions"
    async with http.post(url, json=chat_body("text=cjk tokens=6 split=byte")) as response:
        async for piece in response.content.iter_any():
            pieces.append(piece)
    raw = b"".join(pieces)
    assert len(pieces) > len(raw) // 4
    torn = 0
    for piece in pieces:
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            torn += 1
    assert torn > 0  # some multi-byte characters arrived in several pieces
    text = "".join(d.get("content") or "" for d in deltas(events(raw)))
    assert text == "你好，世界！这是一个流式"


async def test_rate_paces_the_tokens(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    began = time.monotonic()
    _, _, raw = await post(http, mock, "tokens=6 rate=50")
    assert time.monotonic() - began >= 5 / 50
    assert len(deltas(events(raw))) == 8


async def test_ttft_with_keepalive_comments(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start("deepseek")
    began = time.monotonic()
    url = mock.url + "/chat/completions"
    async with http.post(url, json=chat_body("tokens=1 ttft_ms=350 keepalive_ms=100")) as r:
        headers_after = time.monotonic() - began
        raw = await r.read()
    assert headers_after < 0.2  # headers come at once
    assert time.monotonic() - began >= 0.35
    assert raw.startswith(b": keep-alive\n\n" * 3 + b"data: {")


async def test_hang_after_headers_sends_only_keepalives(
    start: Start, http: aiohttp.ClientSession
) -> None:
    mock = await start()
    url = mock.url + "/chat/completions"
    async with http.post(url, json=chat_body("hang=after_headers keepalive_ms=30")) as r:
        assert r.status == 200
        received = b""
        while received.count(b"keep-alive") < 3:
            received += await r.content.readany()
        assert b"data:" not in received
        r.close()
    await wait_for(lambda: mock.log[-1]["client_closed"])


async def test_hang_before_headers_sees_the_client_go(
    start: Start, http: aiohttp.ClientSession
) -> None:
    mock = await start()
    with pytest.raises(asyncio.TimeoutError):
        await http.post(
            mock.url + "/chat/completions",
            json=chat_body("hang=before_headers"),
            timeout=aiohttp.ClientTimeout(total=0.3),
        )
    assert await wait_for(lambda: mock.log[-1]["client_closed"]) < 0.15
    assert mock.log[-1]["tokens_sent"] == 0


async def test_non_stream_hang_after_headers(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    url = mock.url + "/chat/completions"
    body = chat_body("hang=after_headers", stream=False)
    async with http.post(url, json=body) as response:
        assert response.status == 200
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(response.content.readany(), 0.2)
        response.close()
    await wait_for(lambda: mock.log[-1]["client_closed"])


async def test_unterminated_line_is_bounded(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start()
    url = mock.url + "/chat/completions"
    async with http.post(url, json=chat_body("tokens=3 unterminated_after=1")) as r:
        received = b""
        while len(received) < 8 * 1024 * 1024:
            received += await r.content.readany()
        tail = received.split(b"\n\n")[-1]
        assert tail.startswith(b"data: {") and len(tail) > 8_000_000
        assert b"\n" not in tail
        with pytest.raises(asyncio.TimeoutError):  # then nothing more
            await asyncio.wait_for(r.content.readany(), 0.3)
        r.close()
    assert mock.log[-1]["tokens_sent"] == 1
    await wait_for(lambda: mock.log[-1]["client_closed"])


# -- the log ---------------------------------------------------------------------------------


async def test_log_records_a_finished_stream(start: Start, http: aiohttp.ClientSession) -> None:
    mock = await start(api_key=KEY)
    await post(http, mock, "tokens=4", key=KEY)
    async with http.get(mock.url.removesuffix("/v1") + "/_mock/log") as response:
        (record,) = await response.json()
    assert record["n"] == 1
    assert record["path"] == "/v1/chat/completions"
    assert record["model"] == "m-1"
    assert record["body"] == chat_body("tokens=4")
    assert record["authorization"] == f"Bearer {KEY}"
    assert record["tokens_sent"] == 4
    assert record["client_closed"] is False
    assert record["started"] <= record["finished"]


async def test_log_sees_the_client_close_mid_stream(
    start: Start, http: aiohttp.ClientSession
) -> None:
    mock = await start()
    url = mock.url + "/chat/completions"
    async with http.post(url, json=chat_body("tokens=200 rate=20")) as response:
        received = b""
        while received.count(b"\n\n") < 3:
            received += await response.content.readany()
        assert mock.log[-1]["client_closed"] is False
        response.close()
    assert await wait_for(lambda: mock.log[-1]["client_closed"]) < 0.15
    assert 1 <= mock.log[-1]["tokens_sent"] < 10
    assert mock.log[-1]["finished"] is not None


async def test_app_in_a_plain_runner_still_sees_the_close(http: aiohttp.ClientSession) -> None:
    """Without handler cancellation the mock polls the transport while it waits."""
    runner = web.AppRunner(create_mock_app(dialect="vllm"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        url = base + "/v1/chat/completions"
        async with http.post(url, json=chat_body("tokens=50 rate=5")) as response:
            await response.content.readany()
            response.close()
        began = time.monotonic()
        while True:
            async with http.get(base + "/_mock/log") as response:
                if (await response.json())[-1]["client_closed"]:
                    break
            assert time.monotonic() - began < 0.5
            await asyncio.sleep(0.01)
    finally:
        await runner.cleanup()


# -- real clients ----------------------------------------------------------------------------


async def test_openai_sdk_streams_from_the_mock(start: Start) -> None:
    mock = await start("openai", api_key=KEY)
    client = AsyncOpenAI(base_url=mock.url, api_key=KEY, max_retries=0)
    try:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi [[mock tokens=5]]"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            usage = chunk.usage or usage
    finally:
        await client.close()
    assert text == " w1 w2 w3 w4 w5"
    assert usage is not None and usage.completion_tokens == 5
    assert mock.log[-1]["authorization"] == f"Bearer {KEY}"


async def test_run_mock_prints_its_url_and_stops_on_sigterm() -> None:
    code = "from streamchat.mock_upstream import run_mock; run_mock('127.0.0.1', 0, 'vllm')"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 15)
    assert line.startswith(b"mock upstream on http://127.0.0.1:")
    assert line.endswith(b"/v1 (dialect vllm)\n")
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 15) == 0
