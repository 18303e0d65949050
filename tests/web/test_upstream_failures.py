"""Every upstream failure of the core issue: a clear error event, retries only before the first
token, the partial text delivered and stored, never reported as success."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.harness import MOCK_KEY, read_stream
from tests.web.test_chat_stream import conversation, words


async def ask(client: httpx.AsyncClient, directive: str) -> Any:
    return await read_stream(
        client,
        "POST",
        "/api/chat",
        json={"message": f"q [[mock {directive}]]", "model": "gpt-4o-mini"},
    )


@pytest.mark.parametrize(
    ("directive", "code", "retryable", "requests"),
    [
        ("status=401 kind=auth", "upstream_auth", False, 1),
        ("status=429 kind=quota", "upstream_quota", False, 1),
        ("status=400 kind=content_filter", "upstream_content_filter", False, 1),
        ("status=503 kind=html", "upstream_unavailable", True, 3),
        ("status=500 kind=server", "upstream_unavailable", True, 3),
        ("status=429 kind=rate_limit retry_after=60", "upstream_rate_limited", True, 1),
    ],
)
async def test_failures_before_the_first_token(
    client: httpx.AsyncClient,
    server: Server,
    directive: str,
    code: str,
    retryable: bool,
    requests: int,
) -> None:
    server.mock.reset()
    stream = await ask(client, directive)
    assert stream.types() == ["meta", "usage", "error"]
    error = stream.last()
    assert (error["code"], error["retryable"]) == (code, retryable)
    assert "HTTP" in error["message"]
    assert MOCK_KEY not in stream.raw.decode()
    assert len(server.mock.log()) == requests  # retried only when retryable and soon enough
    if "retry_after" in directive:
        assert error["retry_after"] == 60
    answer = (await conversation(client, stream.first("meta")["conversation_id"]))["messages"][-1]
    assert (answer["status"], answer["content"]) == ("error", "")
    assert answer["error"]["code"] == code


async def test_rate_limit_retried_with_retry_after_then_succeeds(
    client: httpx.AsyncClient, server: Server
) -> None:
    server.mock.reset()
    stream = await ask(
        client, "status=429 kind=rate_limit retry_after=1 fail_times=1 fail_key=rl1 tokens=4"
    )
    assert stream.types() == ["meta", *["delta"] * 4, "usage", "done"]
    assert stream.text() == words(4)
    log = server.mock.log()
    assert len(log) == 2
    assert log[1]["started"] - log[0]["started"] >= 0.9


@pytest.mark.parametrize(
    ("directive", "code"),
    [
        ("tokens=10 drop_after=4", "upstream_dropped"),
        ("tokens=10 error_after=4", "upstream_error"),
        ("tokens=10 malformed_after=4", "upstream_bad_response"),
    ],
)
async def test_failures_after_tokens_keep_the_partial_text(
    client: httpx.AsyncClient, server: Server, directive: str, code: str
) -> None:
    server.mock.reset()
    stream = await ask(client, directive)
    assert stream.types() == ["meta", *["delta"] * 4, "usage", "error"]
    assert stream.text() == words(4)
    assert stream.last()["code"] == code
    assert len(server.mock.log()) == 1  # never retried after the first token
    usage = stream.first("usage")
    assert usage["estimated"] is True
    answer = (await conversation(client, stream.first("meta")["conversation_id"]))["messages"][-1]
    assert (answer["status"], answer["content"]) == ("incomplete", words(4))
    assert answer["finish_reason"] is None
    assert answer["error"]["code"] == code


async def test_invalid_utf8_is_replaced_not_fatal(client: httpx.AsyncClient) -> None:
    stream = await ask(client, "tokens=6 invalid_utf8_after=3")
    assert stream.last()["finish_reason"] == "stop"
    assert "\ufffd" in stream.text()
    assert stream.text().startswith(words(3))


async def test_first_token_deadline_ignores_keepalive_comments(make_server: Any) -> None:
    server = make_server(first_token_timeout=0.8, upstream_retries=0)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        stream = await ask(client, "hang=after_headers keepalive_ms=100")
    assert stream.types() == ["meta", "usage", "error"]
    assert stream.last()["code"] == "upstream_timeout"
    assert "first token" in stream.last()["message"]


async def test_gap_deadline_after_tokens(make_server: Any) -> None:
    server = make_server(token_gap_timeout=0.5)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        stream = await ask(client, "tokens=10 rate=1")
    assert stream.types()[-2:] == ["usage", "error"]
    assert stream.last()["code"] == "upstream_timeout"
    assert "no token for 0.5 s" in stream.last()["message"]
    assert stream.text() == words(stream.types().count("delta"))
    assert stream.types().count("delta") <= 2


async def test_a_line_that_never_ends_is_cut_off(client: httpx.AsyncClient) -> None:
    stream = await ask(client, "tokens=10 unterminated_after=2")
    assert stream.types() == ["meta", "delta", "delta", "usage", "error"]
    assert stream.last()["code"] == "upstream_bad_response"
    assert "exceeded" in stream.last()["message"]
    assert stream.text() == words(2)


async def test_total_deadline(make_server: Any) -> None:
    server = make_server(total_timeout=0.7)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        stream = await ask(client, "tokens=100 rate=20")
    assert stream.last()["code"] == "upstream_timeout"
    assert "total" in stream.last()["message"]
    assert 5 <= stream.types().count("delta") < 100


async def test_headers_never_arrive(make_server: Any) -> None:
    server = make_server(first_token_timeout=0.5, upstream_retries=0)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        stream = await ask(client, "hang=before_headers")
    assert stream.last()["code"] == "upstream_timeout"


async def test_unreachable_upstream(make_server: Any, server: Server) -> None:
    from tests.harness import mock_provider

    provider = mock_provider(server.mock, name="down").model_copy(
        update={"base_url": "http://127.0.0.1:9/v1"}
    )
    other = make_server(providers=[provider], upstream_retries=1, retry_max_wait=0.1)
    async with httpx.AsyncClient(base_url=other.url, timeout=30) as client:
        stream = await ask(client, "tokens=2")
        assert stream.last()["code"] == "upstream_connect"
        assert stream.last()["retryable"] is True
        health = (await client.get("/healthz")).json()
    assert health["upstreams"]["down"]["ok"] is False
