"""50 clients that send a request and never read, alongside normal ones: the normal ones are not
slowed down, and every frozen stream is dropped once its send has been blocked for
``send_timeout`` seconds (``streamchat_active_streams`` goes back to 0, the server closes each
frozen connection)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from streamchat.sse import SSEDecoder
from tests.conftest import Server
from tests.faults.tally import TALLY, ended_once
from tests.harness import Stream

FROZEN = 50
SEND_TIMEOUT = 2.0
# Each frozen answer is 40 pieces of 16 kB: more than the kernel buffers on both ends hold
# once the client advertises a small segment size and receive buffer.
FROZEN_MESSAGE = "x" * 16_000 + " [[mock text=echo tokens=40]]"


def frozen_client(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    sock.settimeout(10)
    sock.connect((host, int(port)))
    body = json.dumps({"message": FROZEN_MESSAGE, "model": "gpt-4o-mini"}).encode()
    head = (
        f"POST /api/chat HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything the server sent, up to its close or reset (a dropped client's connection is
    reset: its queued bytes are not kept); a socket timeout means it never closed."""
    received = bytearray()
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(1 << 16):
            received += chunk
    return bytes(received)


async def metric(client: httpx.AsyncClient, name: str) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


async def normal_answer(client: httpx.AsyncClient, n: int) -> tuple[float, float]:
    """(time to first token, total) of one ordinary answer as its client sees them, in s."""
    body = {"message": f"normal {n} [[mock tokens=20 rate=100]]", "model": "gpt-4o-mini"}
    decoder = SSEDecoder()
    events = []
    first: float | None = None
    start = time.monotonic()
    async with client.stream("POST", "/api/chat", json=body) as response:
        async for chunk in response.aiter_raw():
            events.extend(decoder.feed(chunk))
            if first is None and any(e.event == "delta" for e in events):
                first = time.monotonic() - start
        stream = Stream(response.status_code, response.headers, events, b"")
    total = time.monotonic() - start
    ended_once(stream, f"normal answer {n} among frozen clients")
    assert stream.types()[-1] == "done"
    assert stream.text() == "".join(f" w{i}" for i in range(1, 21))
    assert first is not None
    return first, total


class FrozenClients:
    def __init__(self, url: str, count: int) -> None:
        self.sockets = [frozen_client(url) for _ in range(count)]

    def __iter__(self) -> Iterator[socket.socket]:
        return iter(self.sockets)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


async def test_frozen_clients_are_dropped_and_do_not_slow_others(make_server: Any) -> None:
    server: Server = make_server(
        send_timeout=SEND_TIMEOUT,
        disconnect_grace=0,
        max_message_chars=20_000,
        max_streams_per_user=FROZEN + 20,
        requests_per_minute=0,
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        frozen = await asyncio.to_thread(FrozenClients, server.url, FROZEN)
        TALLY.fault(FROZEN)
        try:
            # Every frozen stream is open and blocked on a full socket.
            for _ in range(100):
                if await metric(client, "streamchat_active_streams") >= FROZEN:
                    break
                await asyncio.sleep(0.05)
            assert await metric(client, "streamchat_active_streams") >= FROZEN
            blocked_at = time.monotonic()

            timings = await asyncio.gather(*(normal_answer(client, n) for n in range(10)))
            for ttft, total in timings:
                assert ttft < 1.0 and total < 2.0, timings
            timings = [await normal_answer(client, n) for n in range(10, 15)]
            for ttft, total in timings:
                assert ttft < 0.5 and total < 1.0, timings

            # Dropped once blocked for send_timeout (checked every second).
            for _ in range(100):
                if await metric(client, "streamchat_active_streams") == 0:
                    break
                await asyncio.sleep(0.1)
            dropped_after = time.monotonic() - blocked_at
            assert await metric(client, "streamchat_active_streams") == 0
            assert dropped_after < SEND_TIMEOUT + 4
            assert await metric(client, "streamchat_active_generations") == 0
            received = await asyncio.gather(*(asyncio.to_thread(read_to_eof, s) for s in frozen))
            # Each got the start of its answer, then the server closed the connection.
            assert all(r.startswith(b"HTTP/1.1 200 OK") for r in received)
            assert not [r[-200:] for r in received if b"event: done" in r]
        finally:
            frozen.close()
        assert (await client.get("/healthz")).status_code == 200


async def test_dropping_a_frozen_client_is_not_an_error_in_the_log(
    make_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server: Server = make_server(send_timeout=1, disconnect_grace=0)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        frozen = await asyncio.to_thread(FrozenClients, server.url, 3)
        TALLY.fault(3)
        try:
            for _ in range(100):
                await asyncio.sleep(0.1)
                if await metric(client, "streamchat_active_streams") == 0:
                    break
            assert await metric(client, "streamchat_active_streams") == 0
        finally:
            frozen.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    drops = [r for r in caplog.records if r.getMessage().startswith("dropped a client")]
    assert len(drops) == 3 and {r.levelname for r in drops} == {"INFO"}
