"""Every upstream failure of wire-formats.md, injected by the mock and driven through the real
server on all three streaming surfaces at once (/api/chat, /v1 stream, the tutorial's
/stream-chat): each stream ends with exactly one terminal event, classified, with the text that
arrived delivered and stored, in bounded time; nothing is left running afterwards.
(tests/web/test_upstream_failures.py checks each failure's exact event sequence on /api/chat.)
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from streamchat.errors import STATUS_BY_CODE
from tests.conftest import Server
from tests.faults.tally import TALLY, ended_once, v1_ended_once
from tests.harness import read_stream

# Retryable failures before the first token are retried once, after 0.5 s; a Retry-After above
# that is not waited for. Deadlines are short so that hangs end quickly.
FAULT_SETTINGS: dict[str, Any] = {
    "first_token_timeout": 1.0,
    "token_gap_timeout": 1.0,
    "total_timeout": 10.0,
    "upstream_retries": 1,
    # /v1 retries nothing by default (the SDK does); here every surface retries once.
    "v1_upstream_retries": 1,
    "retry_max_wait": 0.5,
}
BOUND_S = 12.0  # the longest any one faulty answer may take, on any surface
ACCOUNT_IDS = ("org-abc123", "ak-xyz789")  # in the mock's Moonshot error messages


@dataclass(frozen=True)
class Fault:
    name: str
    directive: str
    code: str | None  # None: the answer still completes
    retryable: bool
    tokens: int  # answer tokens that arrive before the failure
    attempts: int  # upstream requests made


FAULTS = [
    Fault("hang_before_headers", "hang=before_headers", "upstream_timeout", True, 0, 2),
    Fault("hang_after_headers", "hang=after_headers", "upstream_timeout", True, 0, 2),
    Fault(
        "keepalive_comments_forever",
        "hang=after_headers keepalive_ms=100",
        "upstream_timeout",
        True,
        0,
        2,
    ),
    Fault("stall_mid_stream", "tokens=10 rate=0.4", "upstream_timeout", True, 1, 1),
    Fault("drop_before_first_token", "tokens=10 drop_after=0", "upstream_dropped", True, 0, 2),
    Fault("drop_mid_stream", "tokens=10 drop_after=4", "upstream_dropped", True, 4, 1),
    Fault("inband_error", "tokens=10 error_after=4", "upstream_error", True, 4, 1),
    Fault(
        "429_rate_limit",
        "dialect=moonshot status=429 kind=rate_limit",
        "upstream_rate_limited",
        True,
        0,
        2,
    ),
    Fault(
        "429_engine_overloaded",
        "dialect=moonshot kind=overloaded",
        "upstream_rate_limited",
        True,
        0,
        2,
    ),
    Fault("429_quota", "dialect=moonshot kind=quota", "upstream_quota", False, 0, 1),
    Fault("html_503", "status=503 kind=html", "upstream_unavailable", True, 0, 2),
    Fault("malformed_chunk", "tokens=10 malformed_after=4", "upstream_bad_response", True, 4, 1),
    Fault("invalid_utf8", "tokens=6 invalid_utf8_after=3", None, False, 7, 1),
    Fault("line_never_ends", "tokens=10 unterminated_after=2", "upstream_bad_response", True, 2, 1),
]


def words(n: int) -> str:
    return "".join(f" w{i}" for i in range(1, n + 1))


def expected_text(fault: Fault) -> str:
    if fault.name == "invalid_utf8":
        return words(3) + "bad \ufffd\ufffd\ufffd( bytes" + words(6)[len(words(3)) :]
    return words(fault.tokens)


def ask(tag: str, fault: Fault) -> str:
    return f"{tag} [[mock {fault.directive}]]"


async def via_api(client: httpx.AsyncClient, fault: Fault, tag: str) -> None:
    stream = await read_stream(
        client, "POST", "/api/chat", json={"message": ask(tag, fault), "model": "gpt-4o-mini"}
    )
    assert stream.status == 200
    ended_once(stream, f"{fault.name} /api/chat")
    assert stream.text() == expected_text(fault)
    raw = stream.raw.decode()
    assert not any(account in raw for account in ACCOUNT_IDS)
    end = stream.last()
    if fault.code is None:
        assert stream.types()[-1] == "done"
        status = "complete"
    else:
        assert stream.types()[-1] == "error"
        assert (end["code"], end["retryable"]) == (fault.code, fault.retryable)
        assert end["message"] and "None" not in end["message"]
        status = "incomplete" if fault.tokens else "error"
    conversation_id = stream.first("meta")["conversation_id"]
    stored = (await client.get(f"/api/conversations/{conversation_id}")).json()
    answer = stored["messages"][-1]
    assert (answer["status"], answer["content"]) == (status, stream.text())
    assert (answer["error"] or {}).get("code") == fault.code


async def via_v1(client: httpx.AsyncClient, fault: Fault, tag: str) -> None:
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": ask(tag, fault)}],
    }
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        raw = await response.aread()
    assert not any(account.encode() in raw for account in ACCOUNT_IDS)
    if fault.code is not None and fault.tokens == 0:
        # Nothing was streamed yet: a real HTTP status, the OpenAI error body.
        assert response.status_code == STATUS_BY_CODE[fault.code], raw
        assert orjson.loads(raw)["error"]["code"] == fault.code
        TALLY.stream(f"{fault.name} /v1 (HTTP {response.status_code})", True)
        return
    assert response.status_code == 200
    payloads = v1_ended_once(raw, f"{fault.name} /v1")
    chunks = [p for p in payloads if isinstance(p, dict) and "choices" in p]
    text = "".join(
        str(c["choices"][0]["delta"].get("content") or "")  # type: ignore[index]
        for c in chunks
        if c["choices"]
    )
    assert text == expected_text(fault)
    end = payloads[-1]
    if fault.code is None:
        assert end == "[DONE]"
    else:
        assert isinstance(end, dict)
        assert end["error"]["code"] == fault.code  # type: ignore[index]


async def via_tutorial(client: httpx.AsyncClient, fault: Fault, tag: str) -> None:
    response = await client.post("/stream-chat", json={"message": ask(tag, fault)})
    assert response.status_code == 200
    text = response.content.decode()
    marker = "\n\n[streamchat error: "
    ok = text.count(marker) == (0 if fault.code is None else 1)
    TALLY.stream(f"{fault.name} /stream-chat: {text[-120:]!r}", ok)
    assert ok, text
    assert text.startswith(expected_text(fault))
    if fault.code is not None:
        assert text.endswith("]")
        assert text.index(marker) == len(expected_text(fault))
    assert not any(account in text for account in ACCOUNT_IDS)


def upstream_requests(server: Server, tag: str) -> list[dict[str, Any]]:
    def mentions(record: dict[str, Any]) -> bool:
        body = record.get("body") or {}
        return any(tag in str(m.get("content")) for m in body.get("messages", []))

    return [r for r in server.mock.log() if mentions(r)]


async def metric(client: httpx.AsyncClient, name: str) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


async def nothing_left_running(client: httpx.AsyncClient) -> None:
    for _ in range(40):
        active = await metric(client, "streamchat_active_generations")
        streams = await metric(client, "streamchat_active_streams")
        if active == 0 and streams == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"left running: {active} generations, {streams} streams")


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_upstream_fault_on_every_surface(make_server: Any, fault: Fault) -> None:
    server: Server = make_server(**FAULT_SETTINGS)
    tag = secrets.token_hex(4)
    surfaces = {"api": via_api, "v1": via_v1, "tutorial": via_tutorial}
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx.AsyncClient(base_url=server.url, timeout=BOUND_S + 5) as client:
        async with asyncio.timeout(BOUND_S):
            await asyncio.gather(
                *(run(client, fault, f"{tag}-{name}") for name, run in surfaces.items())
            )
        assert loop.time() - started < BOUND_S
        await nothing_left_running(client)
        assert (await client.get("/healthz")).status_code == 200
    for name in surfaces:
        served = await upstream_calls_closed(server, f"{tag}-{name}")
        TALLY.fault(len(served))
        assert len(served) == fault.attempts, (name, served)


async def upstream_calls_closed(server: Server, tag: str) -> list[dict[str, Any]]:
    """The upstream requests of one surface, once each has ended (no connection left hanging)."""
    for _ in range(40):
        served = upstream_requests(server, tag)
        if all(r["finished"] is not None for r in served):
            return served
        await asyncio.sleep(0.05)
    raise AssertionError(f"upstream calls left open: {served}")
