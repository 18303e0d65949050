"""SSRF: the upstream's address comes from server configuration only. Request fields, message
parts, model names and headers that name another host are refused or ignored: a canary server on
loopback receives nothing, the configured upstream receives the answers with streamchat's own
key and none of the injected fields."""

from __future__ import annotations

import contextlib
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.faults.tally import TALLY
from tests.harness import MOCK_KEY, read_stream

ATTACKER_KEY = "sk-attacker-0123456789abcdef"
FORWARDED_KEYS = {"model", "messages", "stream", "stream_options", "max_tokens", "tools"}


class Canary(socketserver.ThreadingTCPServer):
    """Counts every connection made to it, and what was sent first."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.hits: list[bytes] = []

        canary = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(1)
                try:
                    canary.hits.append(self.request.recv(4096))
                except OSError:
                    canary.hits.append(b"")

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def v1_attempts(canary: str) -> list[dict[str, Any]]:
    base = f"{canary}/v1"
    message = {"role": "user", "content": "hello [[mock tokens=2]]"}
    fields: list[dict[str, Any]] = [
        {"api_base": base},
        {"base_url": base},
        {"baseURL": base},
        {"api_url": f"{base}/chat/completions"},
        {"openai_api_base": base},
        {"endpoint": base},
        {"url": base},
        {"host": canary.removeprefix("http://")},
        {"proxy": canary},
        {"api_key": ATTACKER_KEY, "api_base": base},
        {"provider": {"base_url": base, "api_key": ATTACKER_KEY}},
        {"extra_body": {"base_url": base}},
        {"custom_llm_provider": "openai", "api_base": base},
        {"metadata": {"base_url": base}},
    ]
    attempts = [{"model": "gpt-4o-mini", "messages": [message], **f} for f in fields]
    attempts.append(
        {
            "model": "gpt-4o-mini",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look [[mock tokens=2]]"},
                        {"type": "image_url", "image_url": {"url": f"{canary}/cat.png"}},
                        {"type": "file", "file": {"file_url": f"{canary}/doc.pdf"}},
                    ],
                }
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "fetch", "description": f"GET {canary}/x"},
                }
            ],
        }
    )
    return attempts


HEADERS = [
    "X-Base-URL",
    "X-Api-Base",
    "X-OpenAI-Base-URL",
    "OpenAI-Base-URL",
    "X-Upstream-URL",
    "X-Forwarded-Host",
    "X-Original-URL",
    "X-Rewrite-URL",
    "X-Provider-URL",
]


def header_attempt(canary: str) -> dict[str, str]:
    headers = {name: f"{canary}/v1" for name in HEADERS}
    headers["Forwarded"] = f"host={canary.removeprefix('http://')}"
    headers["Authorization"] = f"Bearer {ATTACKER_KEY}"
    return headers


async def test_no_request_field_or_header_chooses_the_upstream(
    server: Server, canary: Canary
) -> None:
    server.mock.reset()
    served = 0
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        headers = header_attempt(canary.url)
        for streaming in (False, True):
            for body in v1_attempts(canary.url):
                response = await client.post(
                    "/v1/chat/completions", json={**body, "stream": streaming}, headers=headers
                )
                TALLY.bad_input()
                assert response.status_code == 200, response.text
                served += 1
        for model in (f"{canary.url}/v1", f"{canary.url}/v1/gpt-4o-mini", "canary/gpt-4o-mini"):
            response = await client.post(
                "/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": "x"}]},
            )
            TALLY.bad_input()
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "model_not_found"

        # The page's API refuses unknown fields outright and resolves models by name only.
        refusals: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "/api/chat", {"message": "x", "api_base": canary.url}),
            ("POST", "/api/chat", {"message": "x", "model": f"{canary.url}/v1"}),
            ("POST", "/api/conversations", {"model": canary.url}),
            ("POST", "/api/conversations", {"params": {"base_url": canary.url}}),
            ("POST", "/api/conversations", {"base_url": canary.url}),
        ]
        for method, path, body in refusals:
            response = await client.request(method, path, json=body, headers=headers)
            TALLY.bad_input()
            assert response.status_code == 400, (path, body, response.text)
        stream = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": f"see {canary.url} [[mock tokens=2]]", "model": "gpt-4o-mini"},
            headers=headers,
        )
        assert stream.last()["finish_reason"] == "stop"
        served += 1
        tutorial = await client.post(
            "/stream-chat",
            json={"message": "x [[mock tokens=2]]", "api_base": canary.url},
            headers=headers,
        )
        assert tutorial.text == " w1 w2"
        served += 1
        for path in ("/api/models", "/v1/models", "/healthz"):
            assert (await client.get(path, headers=headers)).status_code == 200
            TALLY.bad_input()

    assert canary.hits == []
    async with httpx.AsyncClient(timeout=2) as control:  # the canary sees what is sent to it
        with contextlib.suppress(httpx.HTTPError):
            await control.get(f"{canary.url}/control")
    assert canary.hits[0].startswith(b"GET /control")
    log = server.mock.log()
    assert len(log) == served
    for record in log:
        assert record["authorization"] == f"Bearer {MOCK_KEY}"
        assert set(record["body"]) <= FORWARDED_KEYS, set(record["body"]) - FORWARDED_KEYS
