"""No API key reaches a response, an event, an error message or a log line."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import Server
from tests.harness import MOCK_KEY, mock_provider, read_stream

WRONG_KEY = "sk-wrong-PLANTED-1234567890abcdef"


async def test_rejected_key_echoed_by_the_provider_is_scrubbed(
    make_server: Any, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = mock_provider(server.mock, name="wrongkey").model_copy(
        update={"api_key": SecretStr(WRONG_KEY)}
    )
    other = make_server(providers=[provider])
    seen: list[str] = []
    async with httpx.AsyncClient(base_url=other.url, timeout=30) as client:
        stream = await read_stream(
            client, "POST", "/api/chat", json={"message": "hi", "model": "gpt-4o-mini"}
        )
        seen.append(stream.raw.decode())
        assert stream.last()["code"] == "upstream_auth"
        assert "Incorrect API key provided" in stream.last()["message"]
        v1 = await client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        )
        seen.append(v1.text)
        assert v1.status_code == 502
        for path in (
            "/api/models",
            "/v1/models",
            "/healthz",
            "/metrics",
            "/openapi.json",
            "/api/conversations",
        ):
            seen.append((await client.get(path)).text)
        listing = (await client.get("/api/conversations")).json()["conversations"]
        seen.append((await client.get(f"/api/conversations/{listing[0]['id']}")).text)
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(caplog.text.splitlines())
    assert server.mock.log()[-1]["authorization"] == f"Bearer {WRONG_KEY}"  # it was sent
    for text in seen:
        assert WRONG_KEY not in text
        assert MOCK_KEY not in text
        assert "org-" not in text or "org-[" in text
