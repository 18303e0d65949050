"""A client that goes away (disconnect_grace=0): the upstream connection is closed within 2 s,
before the first token as well as mid-stream, on every surface; the answer is kept as stopped."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.faults.tally import TALLY, ended_once
from tests.harness import read_stream

CLOSE_WITHIN_S = 2.0


def request(surface: str, text: str) -> tuple[str, dict[str, Any]]:
    if surface == "api":
        return "/api/chat", {"message": text, "model": "gpt-4o-mini"}
    if surface == "tutorial":
        return "/stream-chat", {"message": text}
    return "/v1/chat/completions", {
        "model": "gpt-4o-mini",
        "stream": surface == "v1",
        "messages": [{"role": "user", "content": text}],
    }


def record_of(server: Server, tag: str) -> dict[str, Any] | None:
    for record in server.mock.log():
        messages = (record.get("body") or {}).get("messages", [])
        if any(tag in str(m.get("content")) for m in messages):
            return record
    return None


async def until(condition: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting")


async def leave(server: Server, surface: str, directive: str, received: int) -> dict[str, Any]:
    """Send a request, hang up once the upstream has it and ``received`` bytes arrived; the
    upstream request's record once it closed (or after the allowed time)."""
    tag = secrets.token_hex(4)
    path, body = request(surface, f"{tag} [[mock {directive}]]")
    got = bytearray()

    async def client() -> None:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=30) as http,
            http.stream("POST", path, json=body) as response,
        ):
            async for chunk in response.aiter_raw():
                got.extend(chunk)

    task = asyncio.create_task(client())
    await until(lambda: record_of(server, tag), 5)
    await until(lambda: len(got) >= received or task.done(), 5)
    await asyncio.sleep(0.2)  # the upstream is waiting or streaming now
    assert not task.done(), "the answer ended before the client could leave"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    left_at = time.time()
    TALLY.fault()
    with contextlib.suppress(AssertionError):
        await until(lambda: (r := record_of(server, tag)) and r["client_closed"], CLOSE_WITHIN_S)
    record = record_of(server, tag)
    assert record is not None
    assert record["client_closed"], "the upstream call is still open"
    assert record["finished"] - left_at < CLOSE_WITHIN_S
    return record


CASES = [
    ("api", "hang=before_headers", 0),
    ("api", "hang=after_headers", 0),
    ("api", "tokens=200 rate=20", 200),
    ("tutorial", "hang=after_headers", 0),
    ("tutorial", "tokens=200 rate=20", 10),
    ("v1", "tokens=200 rate=20", 200),
    ("v1", "hang=after_headers", 0),
    ("v1_whole", "tokens=200 rate=20", 0),
]


@pytest.mark.parametrize(("surface", "directive", "received"), CASES)
async def test_client_leaving_closes_the_upstream_call(
    make_server: Any, surface: str, directive: str, received: int
) -> None:
    # The deadlines end an answer nobody stops after 4 s, at least 3 s after the client left:
    # later than allowed, soon enough not to hold up the server's shutdown.
    server: Server = make_server(
        disconnect_grace=0, first_token_timeout=4, total_timeout=4, upstream_retries=0
    )
    record = await leave(server, surface, directive, received)
    assert record["tokens_sent"] < 200


async def test_a_left_answer_is_stored_as_stopped_with_its_text(make_server: Any) -> None:
    server: Server = make_server(disconnect_grace=0)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        await leave(server, "api", "tokens=200 rate=20", 200)
        listing = (await client.get("/api/conversations")).json()["conversations"]
        stored = (await client.get(f"/api/conversations/{listing[0]['id']}")).json()
    answer = stored["messages"][-1]
    assert answer["status"] == "stopped"
    assert answer["finish_reason"] == "stopped"
    assert answer["content"].startswith(" w1 w2")
    assert len(answer["content"].split()) < 200


async def test_a_stream_whose_connection_closes_behind_a_pipelined_request(
    make_server: Any,
) -> None:
    """uvicorn marks only a connection's newest request as disconnected: a stream with a
    pipelined request queued behind it must find out from the transport, and its dead
    connection must not break the answer for a client re-attached elsewhere."""
    server: Server = make_server(disconnect_grace=30, requests_per_minute=0)
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b'{"message": "[[mock tokens=40 rate=40]]", "model": "gpt-4o-mini"}'
    head = (
        f"POST /api/chat HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body + f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    received = await reader.readuntil(b"event: delta")
    generation = next(
        line.split(b": ", 1)[1].decode()
        for line in received.split(b"\r\n")
        if line.lower().startswith(b"x-streamchat-generation-id")
    )
    writer.transport.abort()  # the connection drops mid-answer
    TALLY.fault()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        stream = await read_stream(client, "GET", f"/api/generations/{generation}/events")
    assert stream.status == 200
    ended_once(stream, "re-attached beside a dropped pipelined connection")
    assert stream.types()[-1] == "done"
    assert stream.text() == "".join(f" w{i}" for i in range(1, 41))


async def test_pipelined_requests_are_answered_in_order(server: Server) -> None:
    """Requests pipelined behind a stream on one connection wait in uvicorn's pipeline (a list
    of streamchat's since issue 15 item 4, not a deque) and are answered after it, in order."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b'{"message": "[[mock tokens=5 rate=50]]", "model": "gpt-4o-mini"}'
    head = (
        f"POST /api/chat HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    pipelined = b"".join(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        for path in ("/healthz", "/api/conversations", "/nope")
    )
    writer.write(head + body + pipelined)
    statuses: list[bytes] = []
    data = b""
    async with asyncio.timeout(30):
        while len(statuses) < 4:
            data += await reader.readuntil(b"\r\n\r\n")
            status_line = data.rsplit(b"HTTP/1.1 ", 1)[1].split(b"\r\n", 1)[0]
            statuses.append(status_line[:3])
            if len(statuses) == 1:
                data = await reader.readuntil(b"0\r\n\r\n")  # the answer's chunked body, whole
                assert b"event: done" in data
            else:
                length = int(data.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
                await reader.readexactly(length)
            data = b""
    writer.close()
    assert statuses == [b"200", b"200", b"200", b"404"]
