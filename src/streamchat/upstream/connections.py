"""HTTP/1.1 connections to providers, parsed as the bytes arrive.

A token stream is pushed, not pulled: each network read goes from ``data_received`` through
``httptools`` (llhttp) to a body callback that decodes, parses and publishes the token in the same
call, so no task wakes up on this side per token: 0.72-0.94x aiohttp's client CPU per token
(``StreamReader``, a Future and a task wake-up per read) and ~21 KB less per open stream, side by
side in ``bench/upstream_clients.py`` (docs/performance.md). aiohttp still serves ``GET /models``.

Connections are kept alive per (scheme, host, port) and reused; one idle longer than
``idle_timeout``, or one that sent anything while idle (a 408 before a server closes it), is
closed instead. Before an idle connection is reused, the loop turns twice (once is enough on
uvloop, not on asyncio's loop), so a close the server already sent (it timed the connection
out) is seen first and a new connection is taken. A request is sent again on a new
connection only when it provably was not sent: the connection was found closed before a byte
of it was written. Once written, a close with no answer is the
caller's failure (``ConnectionClosed``), never resent here: the server may have read it and
started (a POST would run twice upstream, and one client call would cost more provider calls
than ``1 + upstream_retries``); the generation's retry policy decides, and counts it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Final, cast
from urllib.parse import urlsplit

import httptools

__all__ = ["BadResponse", "Connection", "ConnectionClosed", "Pool", "Target"]

_NO_BODY: Final = frozenset({204, 304})


class ConnectionClosed(Exception):
    """The server closed the connection before the response was complete."""


class _NotSent(Exception):
    """The connection was found closed before any byte of the request was written."""


class BadResponse(Exception):
    """The server's bytes are not HTTP/1.1."""


def _discard(data: bytes) -> None:
    pass


class Target:
    """Where requests go: a base URL split once."""

    __slots__ = ("host_header", "key", "path")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        self.key = (parts.scheme, parts.hostname, port)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self.host_header = host if port == default else f"{host}:{port}"
        self.path = parts.path.rstrip("/")

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        lines = [f"{method} {self.path}{path} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Connection(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time."""

    def __init__(self, pool: Pool, key: tuple[str, str, int]) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._loop = pool.loop
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.received = 0
        self.complete = False
        self.keep_alive = False
        self.body_sink: Callable[[bytes], None] | None = None
        self.head: asyncio.Future[None] = self._loop.create_future()
        self.ended: asyncio.Future[None] = self._loop.create_future()
        self.message_done: asyncio.Future[None] = self._loop.create_future()
        self._until_close = False
        self._early: list[bytes] = []  # body bytes that arrived before a reader attached

    def send(self, request: bytes) -> None:
        self.idle_since = 0.0
        self._reset()
        if self.closed or self.transport is None or self.transport.is_closing():
            raise ConnectionClosed("the connection closed")
        self.transport.write(request)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def attach(self, sink: Callable[[bytes], None]) -> None:
        """Hand the body to ``sink`` from now on, starting with what arrived before."""
        early, self._early = self._early, []
        self.body_sink = sink
        try:
            for data in early:
                if self.body_sink is not sink:
                    break  # the sink ended the body
                sink(data)
        except BaseException as exc:
            self._fail(exc)  # as if it had come through data_received
            raise

    def drop_headers(self) -> None:
        """The head has been read: its headers are not kept for as long as the body lasts
        (a stream's minutes; providers send 10-25 headers)."""
        self.headers = {}

    def end(self) -> None:
        """The body's reader saw the answer's end: the rest of the body is not read."""
        self.body_sink = _discard
        if not self.ended.done():
            self.ended.set_result(None)

    async def read_body(self, limit: int) -> bytes:
        """The whole body (at most ``limit`` bytes; the connection is closed past that)."""
        collected: list[bytes] = []
        size = 0

        def collect(data: bytes) -> None:
            nonlocal size
            collected.append(data)
            size += len(data)
            if size >= limit:
                self.end()
                self.close()

        self.attach(collect)
        if not self.ended.done():
            await self.ended
        return b"".join(collected)[:limit]

    # -- asyncio -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.idle_since or self.complete:
            # Nothing is asked (idle), or the answer is whole: what comes now is a goodbye
            # (a 408) or garbage, not an answer; the connection cannot carry another request.
            self.close()
            return
        self.received += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            self._fail(exc.__context__ or exc)
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(f"the provider's response is not valid HTTP: {exc}"))

    def eof_received(self) -> bool:
        return False  # close; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if exc is None and self.head.done() and self._until_close and not self.complete:
            self.on_message_complete()  # a body delimited by a clean end of the connection
            return
        reason = f": {exc}" if exc is not None and str(exc) else ""
        self._fail(ConnectionClosed(f"the connection closed{reason}"))

    def _fail(self, exc: BaseException) -> None:
        for future in (self.head, self.ended, self.message_done):
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: a failure nobody awaits is not an error
        self.close()

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # a second response in the same read: nobody asked for it
            raise BadResponse("the provider sent a response that was not asked for")

    def on_header(self, name: bytes, value: bytes) -> None:
        # httptools hands over each header whole, even when it arrives one byte per read.
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()
        headers = self.headers
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._until_close = (
            not chunked and "content-length" not in headers and self.status not in _NO_BODY
        )
        if not self.head.done():
            self.head.set_result(None)

    def on_body(self, body: bytes) -> None:
        sink = self.body_sink
        if sink is not None:
            sink(body)
        else:
            self._early.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        for future in (self.ended, self.message_done):
            if not future.done():
                future.set_result(None)


class Pool:
    """Keep-alive connections per (scheme, host, port)."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        idle_timeout: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    async def send(self, target: Target, request: bytes) -> Connection:
        """Send ``request``; return its connection once the response's headers arrived."""
        conn = await self._take_live(target.key)
        if conn is not None:
            try:
                return await self._exchange(conn, request)
            except _NotSent:
                pass  # closed before a byte was written: a new connection, not a retry
        try:
            return await self._exchange(await self._connect(target.key), request)
        except _NotSent as exc:
            raise ConnectionClosed(str(exc)) from exc

    async def _exchange(self, conn: Connection, request: bytes) -> Connection:
        try:
            try:
                conn.send(request)
            except ConnectionClosed as exc:
                raise _NotSent(str(exc)) from exc
            await conn.head
        except BaseException:
            conn.close()
            raise
        return conn

    async def _take_live(self, key: tuple[str, str, int]) -> Connection | None:
        """An idle connection that is still open once the loop has looked at its socket."""
        while (conn := self._take_idle(key)) is not None:
            # A close already received reaches the connection now. Twice: asyncio's loop runs
            # a task woken by sleep(0) before the socket callbacks its next poll found (uvloop
            # polls first), so one turn sees the close only if an earlier poll already had it.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
            conn.close()
        return None

    def release(self, conn: Connection) -> None:
        """Done with ``conn``: keep it for the next request if it can carry one, else close it."""
        conn.body_sink = _discard
        if self._closed or conn.closed or not (conn.complete and conn.keep_alive):
            conn.close()
            return
        conn.idle_since = self.loop.time()
        self._idle.setdefault(conn.key, []).append(conn)

    def forget(self, conn: Connection) -> None:
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    async def close(self) -> None:
        self._closed = True  # a straggler's release() closes its connection from now on
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

    def _take_idle(self, key: tuple[str, str, int]) -> Connection | None:
        idle = self._idle.get(key)
        now = self.loop.time()
        while idle:
            conn = idle.pop()
            alive = (
                not conn.closed and conn.transport is not None and not conn.transport.is_closing()
            )
            if alive and now - conn.idle_since < self.idle_timeout:
                return conn
            conn.close()
        return None

    async def _connect(self, key: tuple[str, str, int]) -> Connection:
        scheme, host, port = key
        tls = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            tls = self._ssl
        async with asyncio.timeout(self.connect_timeout):
            _, conn = await self.loop.create_connection(
                lambda: Connection(self, key),
                host,
                port,
                ssl=tls,
                server_hostname=host if tls is not None else None,
            )
        return conn
