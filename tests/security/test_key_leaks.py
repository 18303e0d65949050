"""A provider key planted as a fresh random ``sk-...`` in the configuration appears nowhere a
user or an operator can see: in no response body or header, no SSE event, no /v1 chunk, no JSON
the page reads (conversations, messages, models, health, metrics, the schema), no file the page
loads, and no log record, after every failure the mock can produce, in two dialects, including a
provider that echoes the rejected key back in its error message."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from streamchat.settings import ModelConfig
from streamchat.web.app import STATIC
from tests.conftest import Server
from tests.faults.tally import TALLY
from tests.harness import MockUpstream, mock_provider, mock_upstream_thread

PLANTED = "sk-" + secrets.token_urlsafe(32)
ACCOUNT_IDS = ("org-abc123", "ak-xyz789")  # the mock's Moonshot account, in its error texts
FAILURES = [
    *(f"kind={kind}" for kind in ("rate_limit", "quota", "overloaded", "auth")),
    *(f"kind={kind}" for kind in ("content_filter", "server", "html")),
    *(f"dialect=moonshot kind={kind}" for kind in ("rate_limit", "quota", "overloaded")),
    *(f"dialect=moonshot kind={kind}" for kind in ("auth", "content_filter", "server")),
    "status=402",
    "tokens=6 error_after=3",
    "dialect=moonshot tokens=6 error_after=3 kind=rate_limit",
    "dialect=vllm tokens=6 error_after=3",
    "tokens=6 drop_after=3",
    "tokens=6 malformed_after=3",
    "tokens=6 unterminated_after=3",
    "hang=before_headers",
    "hang=after_headers keepalive_ms=50",
    "tokens=4 text=echo",
]


@pytest.fixture(scope="module")
def keyed_mock() -> Iterator[MockUpstream]:
    """A mock upstream that accepts only the planted key."""
    with mock_upstream_thread("openai", api_key=PLANTED) as mock:
        yield mock


def providers(keyed: MockUpstream, rejecting: MockUpstream) -> list[Any]:
    good = mock_provider(keyed, name="keyed").model_copy(
        update={"list_models": True, "api_key": SecretStr(PLANTED)}
    )
    echoing = mock_provider(rejecting, name="echoing").model_copy(
        update={
            "api_key": SecretStr(PLANTED),
            "models": [ModelConfig(id="echo-model")],
            "list_models": True,
        }
    )
    return [good, echoing]


async def ask(client: httpx.AsyncClient, model: str, text: str) -> list[str]:
    """Everything a client sees of one question on every surface: bodies and headers."""
    seen: list[str] = []

    def keep(response: httpx.Response) -> None:
        seen.append(response.text)
        seen.append(str(response.headers.raw))

    messages = [{"role": "user", "content": text}]
    results = await asyncio.gather(
        client.post("/api/chat", json={"message": text, "model": model}),
        client.post("/v1/chat/completions", json={"model": model, "messages": messages}),
        client.post(
            "/v1/chat/completions",
            json={
                "model": model,
                "messages": messages,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        ),
        client.post("/stream-chat", json={"message": text}),
    )
    for response in results:
        keep(response)
    return seen


async def everything_visible(client: httpx.AsyncClient) -> list[str]:
    """Every JSON document, event replay and file the page can read."""
    seen: list[str] = []
    paths = ["/", "/healthz", "/metrics", "/openapi.json", "/api/models", "/v1/models"]
    paths += ["/api/session", "/api/conversations?limit=200"]
    paths += [f"/static/{p.relative_to(STATIC)}" for p in sorted(STATIC.rglob("*")) if p.is_file()]
    for path in paths:
        response = await client.get(path)
        seen += [response.text, str(response.headers.raw)]
    listing = (await client.get("/api/conversations?limit=200")).json()["conversations"]
    for conversation in listing:
        stored = (await client.get(f"/api/conversations/{conversation['id']}")).json()
        seen.append(str(stored))
        for message in stored["messages"]:
            if message["role"] == "assistant":
                replay = await client.get(f"/api/generations/{message['id']}/events")
                seen.append(replay.text)
    return seen


def log_lines(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [formatter.format(record) for record in records]


def leaks(texts: list[str]) -> list[str]:
    """The texts that hold the planted key (or a recognisable piece of it) or an account id."""
    needles = (PLANTED, PLANTED[3:19], PLANTED[-16:], *ACCOUNT_IDS)
    return [t[:300] for t in texts if any(n in t for n in needles)]


async def test_a_planted_key_appears_in_no_response_page_or_log(
    make_server: Any,
    mock_upstream: MockUpstream,
    keyed_mock: MockUpstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server: Server = make_server(
        providers=providers(keyed_mock, mock_upstream),
        first_token_timeout=0.5,
        upstream_retries=0,
        models_cache_ttl=0,
        requests_per_minute=0,
        default_model="gpt-4o-mini",
    )
    seen: list[str] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for directive in FAILURES:
            seen += await ask(client, "gpt-4o-mini", f"[[mock {directive}]]")
            TALLY.fault(4)
        seen += await ask(client, "echo-model", "hello")
        TALLY.fault(4)
        seen += await everything_visible(client)
    assert keyed_mock.log()[-1]["authorization"] == f"Bearer {PLANTED}"
    echoed = [r for r in mock_upstream.log() if r["authorization"] == f"Bearer {PLANTED}"]
    assert echoed, "the echoing provider was never called"
    assert any("Incorrect API key provided" in text for text in seen)  # the echo arrived
    assert any("upstream_quota" in text for text in seen)
    lines = log_lines(caplog.records)
    assert any("listing models of echoing failed" in line for line in lines)
    assert leaks(seen) == []
    assert leaks(lines) == []


def test_the_planted_key_is_not_a_file_the_page_loads() -> None:
    """Nothing under static/ (served to every browser) holds a key-like string."""
    for path in Path(STATIC).rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode(errors="replace")
            assert PLANTED not in text
            assert "sk-mock" not in text
