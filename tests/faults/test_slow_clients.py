"""A client that reads slower than its answer comes: what the connection cannot take now waits
(``send``, under the send watch) and goes out later, in order; nothing is lost or repeated, on
streamchat's own server protocol (bytes written from inside the publish) and on plain uvicorn
(each batch pulled and sent) alike."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import httpx
import pytest

from streamchat.sse import SSEDecoder
from tests.conftest import Server
from tests.faults.tally import TALLY, ended_once
from tests.faults.test_frozen_clients import metric
from tests.harness import Stream

TOKENS = 30_000  # ~1.2 MB of events: far more than the socket buffers of a small window hold


def slow_client(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)  # keeps the kernel's buffers small
    sock.settimeout(20)
    sock.connect((host, int(port)))
    body = json.dumps({"message": f"[[mock tokens={TOKENS}]]", "model": "gpt-4o-mini"}).encode()
    head = (
        f"POST /api/chat HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def read_after_a_pause(sock: socket.socket, pause: float) -> bytes:
    """Read a little, stop for ``pause`` seconds (the answer keeps coming), then read it all."""
    received = bytearray(sock.recv(1024))
    time.sleep(pause)
    while chunk := sock.recv(1 << 16):
        received += chunk
    return bytes(received)


def events_of(response: bytes) -> Stream:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), head[:200]
    assert b"transfer-encoding: chunked" in head.lower()
    decoded = bytearray()
    while True:  # undo the chunked framing
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        decoded += body[:size]
        assert body[size : size + 2] == b"\r\n"
        body = body[size + 2 :]
    return Stream(200, httpx.Headers(), SSEDecoder().feed(bytes(decoded)), b"")


@pytest.mark.parametrize("pushed", [True, False], ids=["own protocol", "plain uvicorn"])
async def test_a_slow_reader_gets_every_token_once_in_order(make_server: Any, pushed: bool) -> None:
    server: Server = make_server(pushed=pushed, send_timeout=30, requests_per_minute=0)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        waits_before = await metric(client, "streamchat_slow_client_writes_total")
        sock = await asyncio.to_thread(slow_client, server.url)
        TALLY.fault()
        try:
            response = await asyncio.to_thread(read_after_a_pause, sock, 1.5)
        finally:
            sock.close()
        stream = events_of(response)
        ended_once(stream, "slow reader")
        assert stream.types()[-1] == "done"
        assert stream.text() == "".join(f" w{i}" for i in range(1, TOKENS + 1))
        ids = [int(e.id) for e in stream.events]
        assert ids == list(range(1, len(ids) + 1))
        waits = await metric(client, "streamchat_slow_client_writes_total") - waits_before
        # Only streamchat's own protocol writes from the publish, so only it counts the waits.
        assert waits > 0 if pushed else waits == 0
        assert await metric(client, "streamchat_active_streams") == 0
