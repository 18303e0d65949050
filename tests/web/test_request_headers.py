"""An open stream does not keep its request's headers (a browser's are kilobytes, for as long as
the answer streams: docs/performance.md, memory per idle stream), and dropping them changes
nothing a client sees: a chunked request body with trailer fields is answered as before."""

from __future__ import annotations

import asyncio
import gc
import secrets
from typing import Any

import orjson
import pytest

from tests.conftest import Server


def _lists_holding(value: bytes) -> int:
    """How many lists the collector tracks hold a header pair with ``value`` (a list is
    always tracked; a tuple of bytes may not be)."""
    gc.collect()
    return sum(
        1
        for obj in gc.get_objects()
        if type(obj) is list
        and any(type(item) is tuple and len(item) == 2 and item[1] == value for item in obj)
    )


async def _send(server: Server, request: bytes) -> tuple[asyncio.StreamReader, Any]:
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    return reader, writer


def _post(payload: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(payload)
        + payload
    )


async def _while_open(server: Server, value: bytes) -> tuple[int, bytes]:
    """The lists holding ``value``'s header while an answer streams, and the whole response.
    The request goes out as bytes: no client library keeps a list of its headers here."""
    payload = orjson.dumps({"message": "[[mock tokens=3 rate=2]]", "model": "gpt-4o-mini"})
    reader, writer = await _send(server, _post(payload, b"X-Padding: " + value + b"\r\n"))
    async with asyncio.timeout(20):
        response = await reader.readuntil(b"event: delta")
        held = await asyncio.to_thread(_lists_holding, value)
        response += await reader.read(-1)
    writer.close()
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    return held, response


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_open_stream_keeps_no_request_headers(make_server: Any) -> None:
    value = secrets.token_hex(2048).encode()
    held, response = await _while_open(make_server(), value)
    assert b"event: done" in response
    assert held == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_plain_uvicorn_keeps_them_and_the_check_sees_it(make_server: Any) -> None:
    # under another server the connection's protocol holds the request's headers' list itself
    value = secrets.token_hex(2048).encode()
    held, response = await _while_open(make_server(pushed=False), value)
    assert b"event: done" in response
    assert held >= 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_chunked_body_with_trailers_is_answered(make_server: Any) -> None:
    server: Server = make_server()
    payload = orjson.dumps({"message": "[[mock tokens=2]]", "model": "gpt-4o-mini"})
    request = (
        b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\nConnection: close\r\n\r\n"
        + b"%x\r\n" % len(payload)
        + payload
        + b"\r\n0\r\nX-Checksum: abc\r\n\r\n"
    )
    reader, writer = await _send(server, request)
    async with asyncio.timeout(20):
        response = await reader.read(-1)
    writer.close()
    head, _, rest = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"event: delta" in rest and b"event: done" in rest, rest[-300:]
