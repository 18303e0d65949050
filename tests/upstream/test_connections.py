"""upstream/connections.py over real loopback sockets: small asyncio servers written here say
exactly which bytes go out and when, and record every connection and request they see; the
shipped mock upstream, behind a counting TCP proxy, checks OpenAICompatible.run end to end."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from streamchat.chat import ChunkDelta, UpstreamRequest
from streamchat.mock_scenarios import answer_pieces, parse_scenario
from streamchat.sse import SSEDecoder
from streamchat.upstream.connections import (
    BadResponse,
    Connection,
    ConnectionClosed,
    Pool,
    Target,
)
from streamchat.upstream.openai import Deadlines, OpenAICompatible
from tests.harness import MockUpstream, mock_provider

WAIT_S = 10.0  # an upper bound for things that take milliseconds; never a measured duration
OK_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"


# -- a scripted server ---------------------------------------------------------------------------


@dataclass
class Peer:
    """One connection the server accepted."""

    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    got_request: asyncio.Event = field(default_factory=asyncio.Event)
    saw_eof: asyncio.Event = field(default_factory=asyncio.Event)

    async def request(self) -> tuple[str, dict[str, str], bytes] | None:
        """The next request (request line, lower-cased headers, body), or None at EOF."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            self.saw_eof.set()
            return None
        line, *rest = head.decode("latin-1").split("\r\n")
        headers = {}
        for item in filter(None, rest):
            name, _, value = item.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((line, headers, body))
        self.got_request.set()
        return line, headers, body

    async def until_eof(self) -> None:
        """Read (and drop) until the client closes its side."""
        while await self.reader.read(65536):
            pass
        self.saw_eof.set()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def reset(self) -> None:
        """Close with an RST instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Script = Callable[[Peer], Awaitable[None]]


class Server:
    """Runs ``script`` for each accepted connection; keeps every peer."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.peers: list[Peer] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for peer in self.peers:
            peer.writer.transport.abort()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://127.0.0.1:{self.port}/v1"

    def requests(self) -> list[tuple[int, str]]:
        """(connection index, request line) for every request, in order."""
        return [(peer.index, line) for peer in self.peers for line, _, _ in peer.requests]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(len(self.peers), reader, writer)
        self.peers.append(peer)
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):  # ended by __aexit__
            await self.script(peer)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def fixed(body: bytes, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


async def answer_each(peer: Peer, response: bytes) -> None:
    """Keep-alive: the same response to every request until the client closes."""
    while await peer.request() is not None:
        await peer.send(response)


class Sink:
    """Collects body pieces; ``wait_for(n)`` returns once ``n`` bytes arrived."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0
        self._grew = asyncio.Event()

    def __call__(self, data: bytes) -> None:
        self.pieces.append(data)
        self.size += len(data)
        self._grew.set()

    async def wait_for(self, size: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while self.size < size:
                self._grew.clear()
                await self._grew.wait()

    def offsets(self) -> list[int]:
        """Where each piece ended, counted from the start of the body."""
        ends, total = [], 0
        for piece in self.pieces:
            total += len(piece)
            ends.append(total)
        return ends


@contextlib.asynccontextmanager
async def pool_for(
    server: Server, idle_timeout: float = 15.0
) -> AsyncIterator[tuple[Pool, Target]]:
    pool = Pool(connect_timeout=WAIT_S, idle_timeout=idle_timeout)
    try:
        yield pool, Target(server.url)
    finally:
        await pool.close()


async def post(pool: Pool, target: Target, body: bytes = b"{}") -> Connection:
    async with asyncio.timeout(WAIT_S):
        return await pool.send(target, target.request("POST", "/chat/completions", {}, body))


async def ended(conn: Connection) -> None:
    async with asyncio.timeout(WAIT_S):
        await conn.ended


async def until(condition: Callable[[], object]) -> None:
    """Poll ``condition`` until it holds (for state that has no event to wait on)."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.01)


async def eof(peer: Peer) -> None:
    async with asyncio.timeout(WAIT_S):
        await peer.saw_eof.wait()


# -- bodies --------------------------------------------------------------------------------------

NI_HAO = "data: 你好\n\n".encode()  # 你 is e4 bd a0
SPLIT = NI_HAO.index(b"\xe4") + 1  # inside 你


async def test_chunked_body_reaches_the_sink_in_order_and_exactly() -> None:
    events = [NI_HAO, b"data: two\n\n", "data: ünï 😀\n\n".encode(), b"data: [DONE]\n\n"]
    sink = Sink()

    async def script(peer: Peer) -> None:
        await peer.request()
        # Headers and the first bytes of the first event in one write: they arrive before the
        # sink is attached and must reach it first.
        await peer.send(OK_CHUNKED + b"X-Split-Header: Value\r\n\r\n" + b"%x\r\n" % len(NI_HAO))
        await peer.send(NI_HAO[:SPLIT])
        await sink.wait_for(SPLIT)  # the client read the first half of 你 on its own
        await peer.send(NI_HAO[SPLIT:] + b"\r\n")
        for event in events[1:]:
            await peer.send(chunk(event[:3]) + chunk(event[3:]))
        await peer.send(b"0\r\n\r\n")
        await peer.until_eof()

    async with Server(script) as server, pool_for(server) as (pool, target):
        conn = await post(pool, target)
        assert (conn.status, conn.headers["x-split-header"]) == (200, "Value")
        conn.attach(sink)
        await ended(conn)
        assert conn.complete and conn.message_done.done()
        pool.release(conn)

    assert b"".join(sink.pieces) == b"".join(events)
    assert SPLIT in sink.offsets()  # a piece ended inside 你
    decoder = SSEDecoder()
    texts = [e.data for piece in sink.pieces for e in decoder.feed(piece)]
    assert texts == ["你好", "two", "ünï 😀", "[DONE]"]


async def test_content_length_body() -> None:
    body = bytes(range(256)) * 40

    async def script(peer: Peer) -> None:
        await peer.request()
        response = fixed(body)
        await peer.send(response[:100])
        await peer.send(response[100:5000])
        await peer.send(response[5000:])
        await peer.until_eof()

    async with Server(script) as server, pool_for(server) as (pool, target):
        conn = await post(pool, target)
        assert conn.headers["content-length"] == str(len(body))
        assert await conn.read_body(1 << 20) == body
        assert conn.complete and conn.keep_alive and not conn.closed
        pool.release(conn)


async def test_close_delimited_body_ends_at_eof_and_is_complete() -> None:
    body = b"no length, not chunked: the end of the connection ends me"

    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body[:10])
        await peer.send(body[10:])
        peer.writer.close()

    async with Server(script) as server, pool_for(server) as (pool, target):
        conn = await post(pool, target)
        assert await conn.read_body(1 << 20) == body
        assert conn.complete and not conn.keep_alive
        pool.release(conn)
        assert conn.closed


async def test_reset_during_close_delimited_body_is_not_complete() -> None:
    """A close-delimited body is complete at a clean end of the connection only: a reset (RST)
    may have cut it short, so it fails ``ended`` instead of passing for the whole body."""
    sink = Sink()

    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nthe first part")
        await sink.wait_for(len(b"the first part"))
        peer.reset()

    async with Server(script) as server, pool_for(server) as (pool, target):
        conn = await post(pool, target)
        conn.attach(sink)
        with pytest.raises(ConnectionClosed):
            await ended(conn)
        assert not conn.complete
        assert b"".join(sink.pieces) == b"the first part"


# -- keep-alive ----------------------------------------------------------------------------------


async def test_keep_alive_connection_is_reused() -> None:
    async def script(peer: Peer) -> None:
        await answer_each(peer, fixed(b"hello"))
        peer.saw_eof.set()

    async with Server(script) as server, pool_for(server) as (pool, target):
        for _ in range(3):
            conn = await post(pool, target)
            assert await conn.read_body(100) == b"hello"
            pool.release(conn)
        assert not conn.closed  # kept, idle
    await eof(server.peers[0])  # pool.close() closed it
    line = "POST /v1/chat/completions HTTP/1.1"
    assert server.requests() == [(0, line), (0, line), (0, line)]


async def test_connection_close_response_is_not_reused() -> None:
    async def script(peer: Peer) -> None:
        # Says it will close, then does not: the client must not reuse it, and closes it.
        await peer.request()
        await peer.send(fixed(b"bye", "Connection: close"))
        await peer.until_eof()

    async with Server(script) as server, pool_for(server) as (pool, target):
        first = await post(pool, target)
        assert await first.read_body(100) == b"bye"
        assert first.complete and not first.keep_alive
        pool.release(first)
        await eof(server.peers[0])
        second = await post(pool, target)
        assert await second.read_body(100) == b"bye"
        pool.release(second)
    assert second is not first
    assert [index for index, _ in server.requests()] == [0, 1]


async def test_idle_connection_the_server_closed_is_not_reused() -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(fixed(b"once"))  # keep-alive by default, then an idle close
        peer.writer.close()

    async with Server(script) as server, pool_for(server) as (pool, target):
        first = await post(pool, target)
        assert await first.read_body(100) == b"once"
        pool.release(first)
        await until(lambda: first.closed)  # the client noticed the server's close
        second = await post(pool, target)
        assert await second.read_body(100) == b"once"
        pool.release(second)
    assert [index for index, _ in server.requests()] == [0, 1]


async def test_bytes_after_a_complete_answer_close_the_connection() -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(fixed(b"whole"))
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nleftover!")  # unasked
        await peer.until_eof()
        peer.saw_eof.set()

    async with Server(script) as server, pool_for(server) as (pool, target):
        conn = await post(pool, target)
        assert await conn.read_body(100) == b"whole"
        await eof(server.peers[0])  # closed on the unasked bytes, before release
        assert conn.closed
        pool.release(conn)
        second = await post(pool, target)
        assert second is not conn and await second.read_body(100) == b"whole"
        pool.release(second)


async def test_an_idle_connection_that_sends_anything_is_closed_not_reused() -> None:
    idle = asyncio.Event()
    goodbye = fixed(b"timeout", "Connection: close").replace(b"200 OK", b"408 Request Timeout")

    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(fixed(b"first"))
        if not idle.is_set():
            await idle.wait()  # the client has put it back in the pool
            await peer.send(goodbye)  # a server timing it out says so before it closes
        await peer.until_eof()
        peer.saw_eof.set()

    async with Server(script) as server, pool_for(server) as (pool, target):
        first = await post(pool, target)
        assert await first.read_body(100) == b"first"
        pool.release(first)
        assert not first.closed
        idle.set()
        await eof(server.peers[0])  # the client closed it when the 408 arrived
        second = await post(pool, target)
        assert second.status == 200 and await second.read_body(100) == b"first"
        pool.release(second)
    assert second is not first
    assert [index for index, _ in server.requests()] == [0, 1]


class BlockingServer:
    """A server thread with blocking sockets, so that it can close a connection while the
    client's event loop is not running: the client cannot have noticed the close yet. The first
    connection answers one request and closes; every later one answers each request."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.first_closed = threading.Event()
        self.stopping = False
        self._current: socket.socket | None = None
        self.requests: list[tuple[int, bytes]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        index = 0
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            if self.stopping:
                sock.close()
                return
            self._current = sock
            with sock, contextlib.suppress(OSError):
                self._answer(sock, index, once=index == 0)
                if index == 0:
                    # Close only once the client has read the answer and blocked: a close that
                    # arrived with the answer would be seen on the way and prove nothing.
                    time.sleep(0.05)
            if index == 0:
                self.first_closed.set()
            index += 1

    def _answer(self, sock: socket.socket, index: int, once: bool) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = sock.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(buffer) < length:
                buffer += sock.recv(65536)
            self.requests.append((index, head + b"\r\n\r\n" + buffer[:length]))
            buffer = buffer[length:]
            sock.sendall(fixed(b"answer %d" % len(self.requests)))
            if once:
                return

    def close(self) -> None:
        self.stopping = True
        if self._current is not None:
            with contextlib.suppress(OSError):
                self._current.shutdown(socket.SHUT_RDWR)  # wakes recv()
        socket.create_connection(("127.0.0.1", self.port)).close()  # wakes accept()
        self._thread.join(WAIT_S)
        self.listener.close()


async def test_request_on_a_connection_the_server_just_closed_goes_once_to_a_new_one() -> None:
    """The race a pool cannot avoid: the server closes an idle connection as the client picks
    it for the next request. Nothing of the answer arrived, so the request is sent once more on
    a new connection; the server reads it exactly once."""
    server = BlockingServer()
    pool = Pool(connect_timeout=WAIT_S)
    target = Target(f"http://127.0.0.1:{server.port}")
    try:
        first = await post(pool, target, b'{"n": 1}')
        assert await first.read_body(100) == b"answer 1"
        pool.release(first)
        # Block this loop on purpose: the close happens while the client cannot see it.
        assert server.first_closed.wait(WAIT_S)
        assert not first.closed  # so the pool hands out this connection and finds it dead
        second = await post(pool, target, b'{"n": 2}')
        assert await second.read_body(100) == b"answer 2"
        assert first.closed and second is not first
        pool.release(second)
    finally:
        await pool.close()
        server.close()
    assert [
        (index, request.endswith(b'{"n": %d}' % n))
        for n, (index, request) in enumerate(server.requests, start=1)
    ] == [(0, True), (1, True)]


async def test_idle_connection_older_than_idle_timeout_is_closed_not_reused() -> None:
    async def script(peer: Peer) -> None:
        await answer_each(peer, fixed(b"hi"))
        peer.saw_eof.set()

    async with Server(script) as server, pool_for(server, idle_timeout=0.05) as (pool, target):
        first = await post(pool, target)
        assert await first.read_body(100) == b"hi"
        pool.release(first)
        await asyncio.sleep(0.2)  # past idle_timeout (a lower bound: longer only helps)
        second = await post(pool, target)
        assert await second.read_body(100) == b"hi"
        await eof(server.peers[0])  # the stale one was closed by the client
        assert first.closed and not second.closed
        pool.release(second)
    assert [index for index, _ in server.requests()] == [0, 1]


# -- failures ------------------------------------------------------------------------------------


async def test_connection_dying_mid_body_fails_ended_with_connection_closed() -> None:
    sink = Sink()

    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK_CHUNKED + b"\r\n" + chunk(b"data: partial\n\n"))
        await sink.wait_for(len(b"data: partial\n\n"))
        peer.writer.close()

    async with Server(script) as server, pool_for(server) as (pool, target):
        conn = await post(pool, target)
        conn.attach(sink)
        with pytest.raises(ConnectionClosed):
            await ended(conn)
        with pytest.raises(ConnectionClosed):
            await conn.message_done
        assert not conn.complete and conn.closed
        pool.release(conn)
        second = await post(pool, target)  # nothing dead was kept for it
        assert second is not conn
        second.close()
    assert b"".join(sink.pieces) == b"data: partial\n\n"


async def test_garbage_instead_of_http_fails_with_bad_response() -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"SSH-2.0-OpenSSH_9.6\r\n")
        await peer.until_eof()

    async with Server(script) as server, pool_for(server) as (pool, target):
        with pytest.raises(BadResponse):
            await post(pool, target)
        await eof(server.peers[0])


async def test_garbage_inside_a_chunked_body_fails_ended_with_bad_response() -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK_CHUNKED + b"\r\n" + chunk(b"data: ok\n\n") + b"zz\r\nnot a chunk")
        await peer.until_eof()

    async with Server(script) as server, pool_for(server) as (pool, target):
        conn = await post(pool, target)
        sink = Sink()
        conn.attach(sink)
        with pytest.raises(BadResponse):
            await ended(conn)
        await eof(server.peers[0])
        assert b"".join(sink.pieces) == b"data: ok\n\n"


@pytest.mark.parametrize("arrival", ["before attach", "after attach"])
async def test_a_sink_that_raises_ends_the_exchange_with_its_error_and_closes(
    arrival: str,
) -> None:
    """The sink's exception ends the exchange the same way whether the bytes it refused came
    through the network read or were waiting for ``attach``: it comes out (of ``attach`` for
    the waiting bytes) and ``ended`` holds it, and the connection is closed."""

    class Refused(Exception):
        pass

    sink = Sink()

    def refusing(data: bytes) -> None:
        sink(data)
        if b"bad" in data:
            raise Refused(data)

    head = OK_CHUNKED + b"\r\n" + chunk(b"good")

    async def script(peer: Peer) -> None:
        await peer.request()
        if arrival == "before attach":
            await peer.send(head + chunk(b"bad"))
        else:
            await peer.send(head)
            await sink.wait_for(len(b"good"))
            await peer.send(chunk(b"bad"))
        await peer.until_eof()  # no end of the body: only the client can end this

    async with Server(script) as server, pool_for(server) as (pool, target):
        conn = await post(pool, target)
        if arrival == "before attach":
            await until(lambda: conn.received == len(head + chunk(b"bad")))  # all waiting
        with pytest.raises(Refused):
            conn.attach(refusing)
            await ended(conn)
        assert conn.ended.done() and isinstance(conn.ended.exception(), Refused)
        await eof(server.peers[0])
        assert conn.closed
        pool.release(conn)
    assert sink.pieces == [b"good", b"bad"]


async def test_read_body_past_its_limit_closes_and_returns_exactly_limit_bytes() -> None:
    body = b"0123456789" * 100

    async def script(peer: Peer) -> None:
        await peer.request()
        response = fixed(body)
        await peer.send(response[: len(response) - 700])
        await peer.send(response[len(response) - 700 :])
        await peer.until_eof()

    async with Server(script) as server, pool_for(server) as (pool, target):
        conn = await post(pool, target)
        assert await conn.read_body(123) == body[:123]
        assert conn.closed
        await eof(server.peers[0])
        pool.release(conn)
        second = await post(pool, target)
        assert second is not conn  # the half-read connection was not kept
        second.close()


async def test_cancelling_send_while_waiting_for_headers_closes_the_connection() -> None:
    async def script(peer: Peer) -> None:
        await peer.request()
        await peer.until_eof()  # never answers

    async with Server(script) as server, pool_for(server) as (pool, target):
        sending = asyncio.create_task(post(pool, target))
        await until(lambda: server.peers and server.peers[0].got_request.is_set())
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        await eof(server.peers[0])


# -- Target --------------------------------------------------------------------------------------


def test_target_request_bytes() -> None:
    target = Target("https://api.example.com/v1/")
    assert target.key == ("https", "api.example.com", 443)
    request = target.request("POST", "/chat/completions", {"Authorization": "Bearer k"}, b"{}")
    assert request == (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.example.com\r\n"
        b"Authorization: Bearer k\r\nContent-Length: 2\r\n\r\n{}"
    )
    assert Target("http://localhost:8080").host_header == "localhost:8080"
    assert Target("http://[::1]:11434/v1").host_header == "[::1]:11434"
    assert Target("http://[::1]:11434/v1").key == ("http", "::1", 11434)
    with pytest.raises(ValueError, match="not an http"):
        Target("ftp://example.com")


# -- TLS -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (certificate, key)."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key)),
            *("-out", str(cert), "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextlib.contextmanager
def tls_contexts(certificate: tuple[Path, Path]) -> Iterator[tuple[ssl.SSLContext, list[str]]]:
    """The server's context and the SNI names it saw."""
    cert, key = certificate
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    names: list[str] = []

    def sni(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        names.append(str(name))

    server.sni_callback = sni
    yield server, names


async def test_a_stream_over_tls_with_the_right_host_and_sni(
    certificate: tuple[Path, Path],
) -> None:
    events = [b"data: secure\n\n", "data: 你好\n\n".encode(), b"data: [DONE]\n\n"]

    async def script(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(OK_CHUNKED + b"\r\n")
            for event in events:
                await peer.send(chunk(event))
            await peer.send(b"0\r\n\r\n")

    with tls_contexts(certificate) as (server_tls, names):
        async with Server(script, server_tls) as server:
            pool = Pool(
                connect_timeout=WAIT_S,
                ssl_context=ssl.create_default_context(cafile=str(certificate[0])),
            )
            target = Target(f"https://localhost:{server.port}/v1")
            try:
                for _ in range(2):
                    conn = await post(pool, target)
                    sink = Sink()
                    conn.attach(sink)
                    await ended(conn)
                    assert b"".join(sink.pieces) == b"".join(events)
                    pool.release(conn)
            finally:
                await pool.close()
    assert names == ["localhost"]  # one handshake: the second request reused it
    assert len(server.peers) == 1
    line, headers, _ = server.peers[0].requests[0]
    assert line == "POST /v1/chat/completions HTTP/1.1"
    assert headers["host"] == f"localhost:{server.port}"


async def test_tls_by_ip_address_and_an_untrusted_certificate(
    certificate: tuple[Path, Path],
) -> None:
    async def script(peer: Peer) -> None:
        await answer_each(peer, fixed(b"by address"))

    with tls_contexts(certificate) as (server_tls, _):
        async with Server(script, server_tls) as server:
            trusting = ssl.create_default_context(cafile=str(certificate[0]))
            by_ip = Pool(connect_timeout=WAIT_S, ssl_context=trusting)
            strict = Pool(connect_timeout=WAIT_S)  # the system's roots do not know this one
            target = Target(server.url)  # https://127.0.0.1:port: the certificate's IP SAN
            try:
                conn = await post(by_ip, target)
                assert await conn.read_body(100) == b"by address"
                by_ip.release(conn)
                with pytest.raises(ssl.SSLCertVerificationError):
                    await post(strict, target)
            finally:
                await by_ip.close()
                await strict.close()
            assert server.peers[0].requests[0][1]["host"] == f"127.0.0.1:{server.port}"


# -- OpenAICompatible.run over the pool, against the shipped mock upstream ----------------------


class CountingProxy:
    """A loopback TCP proxy to the mock upstream that counts the connections it is handed."""

    def __init__(self, port: int) -> None:
        self.upstream_port = port
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> CountingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        pipes = [
            asyncio.create_task(_pipe(reader, up_writer)),
            asyncio.create_task(_pipe(up_reader, writer)),
        ]
        self._tasks.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def test_openai_run_over_a_reused_connection_gives_identical_deltas(
    mock_upstream: MockUpstream,
) -> None:
    """Two answers in a row through OpenAICompatible.run: the second goes over the first's
    connection (the proxy is handed one) and its deltas equal the first's, byte-split CJK text
    (every byte its own write) and usage included."""
    upstream_port = int(mock_upstream.url.split(":")[-1].split("/")[0])
    messages = [{"role": "user", "content": "[[mock tokens=20 text=cjk split=byte]]"}]
    request = UpstreamRequest("gpt-4o-mini", messages)
    mock_upstream.reset()
    async with CountingProxy(upstream_port) as proxy, aiohttp.ClientSession() as session:
        config = mock_provider(mock_upstream).model_copy(
            update={"base_url": f"http://127.0.0.1:{proxy.port}/v1"}
        )
        pool = Pool(connect_timeout=WAIT_S)
        provider = OpenAICompatible(
            config, session, pool, Deadlines(WAIT_S, WAIT_S, 3 * WAIT_S), {}
        )
        answers: list[list[ChunkDelta]] = []
        try:
            for _ in range(2):
                deltas: list[ChunkDelta] = []
                await provider.run(request, deltas.append)
                answers.append(deltas)
        finally:
            await provider.close()
    first, second = answers
    assert second == first
    expected = answer_pieces(parse_scenario(messages))
    assert len(expected) == 20 and any("\u4e00" <= ch <= "\u9fff" for ch in "".join(expected))
    assert [d.content for d in first if d.content] == expected  # CJK whole, though byte-split
    assert any(d.usage for d in first)
    assert [d.finish_reason for d in first if d.finish_reason] == ["stop"]
    assert proxy.connections == 1
    assert [r["tokens_sent"] for r in mock_upstream.log()] == [20, 20]
