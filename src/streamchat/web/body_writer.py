"""Writing a streamed response's body without ASGI's ``send``, when uvicorn serves the app.

ASGI's ``send`` is a coroutine that each middleware wraps, and a stream that waits for its next
token in a task wakes that task per token: for one small frame per token, the two cost more
than the write itself (numbers in docs/performance.md, "Hot-path changes made").
:class:`HttpProtocol` is uvicorn's httptools protocol with one addition: each request's scope
carries a :class:`BodyWriter` in ``scope["extensions"]["streamchat.body_writer"]["writer"]``
(an ASGI extension is a dict). :func:`body_writer` finds it.

:class:`~streamchat.web.streaming.EventStream` starts its response through ``send`` as usual
(status and headers pass every middleware), then writes each frame of the body from inside the
publish that brought it, with uvicorn's chunked framing, straight to the connection. Whenever
the writer says no (the client reads slower than the stream is written and the transport has
paused, the client has gone, the response is not chunked), the stream goes back to ``send``,
which waits for the client as before. No middleware of streamchat changes a response body.

The writer also lets a response that refuses the rest of its request's body (the body limit's
413) end without a reset: :meth:`BodyWriter.linger` keeps the connection reading, and dropping,
what the client still sends (up to ``LINGER_BYTES`` or ``LINGER_S`` seconds) instead of closing
it at once with bytes unread, which makes the kernel reset it and lose the answer for a client
that sends its whole body before reading (all of them do).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import struct
import weakref
from collections.abc import Callable
from typing import Any, Final, Literal

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

__all__ = ["EXTENSION", "BodyWriter", "HttpProtocol", "body_writer"]

EXTENSION: Final = "streamchat.body_writer"
# A refused body is read and dropped after its answer up to this much, for at most this long.
LINGER_BYTES: Final = 64 * 1024 * 1024
LINGER_S: Final = 10.0
_RESET_ON_CLOSE: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s


class BodyWriter:
    """Writes body chunks of one response in progress, as uvicorn's ``send`` would."""

    __slots__ = ("_cycle", "_protocol")

    def __init__(self, cycle: RequestResponseCycle, protocol: HttpProtocol) -> None:
        # Weak: the scope holds this writer and the cycle holds the scope (no reference loop
        # for the GC to find); the request's task keeps the cycle alive while it runs.
        self._cycle = weakref.ref(cycle)
        self._protocol = weakref.ref(protocol)

    def linger(self) -> bool:
        """The response being sent refuses the rest of the request's body: once it is complete,
        drop what the client still sends (bounded) and close after, instead of closing now.
        Call it after the response's start (which may say ``connection: close``), before its
        end. False when the connection is gone."""
        cycle, protocol = self._cycle(), self._protocol()
        if cycle is None or protocol is None or _closed(cycle):
            return False
        cycle.keep_alive = True  # else uvicorn closes the transport at the response's end
        protocol.linger()
        return True

    def abort(self) -> None:
        """Reset the connection at once, dropping what its buffers hold (a frozen client): a
        plain close leaves the kernel's send queue, and the socket in FIN_WAIT1, for as long
        as the client keeps its window shut; a zero linger makes the close send a reset."""
        cycle = self._cycle()
        if cycle is None or cycle.transport.is_closing():
            return
        sock = cycle.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        cycle.transport.abort()

    def when_gone(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """Call ``callback`` once, when the connection closes; returns what takes it back. None
        (and no call) when the connection has closed already. Costs a list entry, where a
        task waiting on ``receive`` for the disconnect costs a task and four frames per open
        request (issue 15 item 4: memory per idle stream)."""
        cycle, protocol = self._cycle(), self._protocol()
        if cycle is None or protocol is None or _closed(cycle):
            return None
        callbacks = protocol.gone_callbacks
        if callbacks is None:
            callbacks = protocol.gone_callbacks = []
        callbacks.append(callback)
        return _TakeBack(callbacks, callback)

    @property
    def gone(self) -> bool:
        """The connection closed."""
        cycle = self._cycle()
        return cycle is None or _closed(cycle)

    def hold_head(self) -> None:
        """Keep what is written to the connection (uvicorn's response head, then body chunks)
        until :meth:`release_head`, which writes it in one go: a stream's head, its opening and
        the events its log held already leave in one syscall and one TCP segment, not one each.
        Call it before the response's start and release it within the same task step."""
        cycle = self._cycle()
        if cycle is None or _closed(cycle) or isinstance(cycle.transport, _Held):
            return
        cycle.transport = _Held(cycle.transport)  # type: ignore[assignment]

    def release_head(self) -> None:
        """Write what :meth:`hold_head` kept, and write straight on from now; idempotent."""
        cycle = self._cycle()
        held = None if cycle is None else cycle.transport
        if isinstance(held, _Held):
            cycle.transport = held.transport
            held.flush()

    def write(self, body: bytes) -> bool:
        """Write ``body`` now; False (nothing written) when it must go through ``send``."""
        cycle = self._cycle()
        if (
            cycle is None
            or _closed(cycle)
            or cycle.flow.write_paused
            or not cycle.chunked_encoding
            or not cycle.response_started
            or cycle.response_complete
        ):
            return False
        try:
            cycle.transport.write(b"%x\r\n%b\r\n" % (len(body), body))
        except (OSError, RuntimeError):  # closed under us: send() reports it in the task
            return False
        return True


class _Held:
    """A request cycle's transport while :meth:`BodyWriter.hold_head` holds: writes are kept,
    in order, until the release; a close (uvicorn's, after a failure) writes them first; the
    rest is the transport's."""

    __slots__ = ("chunks", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def flush(self) -> None:
        chunks, self.chunks = self.chunks, []
        if chunks and not self.transport.is_closing():
            self.transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class _TakeBack:
    """What :meth:`BodyWriter.when_gone` returns: a slotted object (64 bytes), where a closure
    over the two is a function, its two cells and their tuple (~300 bytes per open stream)."""

    __slots__ = ("_callback", "_callbacks")

    def __init__(self, callbacks: list[Callable[[], None]], callback: Callable[[], None]) -> None:
        self._callbacks = callbacks
        self._callback = callback

    def __call__(self) -> None:
        if self._callback in self._callbacks:
            self._callbacks.remove(self._callback)


def _closed(cycle: RequestResponseCycle) -> bool:
    # uvicorn marks only a connection's newest request disconnected: a stream with a pipelined
    # request behind it learns of the close from its transport.
    return cycle.disconnected or cycle.transport.is_closing()


class LazyEvent(asyncio.Event):
    """An ``asyncio.Event`` that makes its waiters' deque when someone first waits. uvicorn
    makes two per connection (its flow control's, the request cycle's message event) and waits
    on few: an empty deque is 632 bytes, 1.5 KB of an idle stream's 26 (docs/performance.md)."""

    def __init__(self) -> None:
        self._value = False
        self._waiters = ()  # type: ignore[assignment]  # set() and clear() iterate it as is

    async def wait(self) -> Literal[True]:
        if not self._value and not self._waiters:
            self._waiters = collections.deque()
        return await super().wait()


class _Pipeline(list):  # type: ignore[type-arg]
    """uvicorn's queue of the pipelined requests behind the one being answered, which it uses
    as ``appendleft``, ``pop`` and truth: almost always empty, and an empty deque is 760 bytes
    of each open connection, an empty list 56 (docs/performance.md, memory per idle stream)."""

    __slots__ = ()

    def appendleft(self, item: object) -> None:
        self.insert(0, item)


class _Trailers(list):  # type: ignore[type-arg]
    """Where uvicorn's parser puts a request's trailer fields (a chunked body's last part),
    which it would otherwise add to the scope's headers after the app has read them: dropped
    (one shared, always empty), so the connection keeps no reference to the headers' list of
    the request it is answering and a stream can let it go (:class:`EventStream`)."""

    __slots__ = ()

    def append(self, item: object) -> None:
        pass


_NO_TRAILERS = _Trailers()


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; each request's scope offers its :class:`BodyWriter`."""

    _lingering: int | None = None  # bytes still dropped while lingering (None: parse them)
    _linger_timer: asyncio.TimerHandle | None = None
    # BodyWriter.when_gone's callbacks, for every request of the connection (pipelined too)
    gone_callbacks: list[Callable[[], None]] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pipeline = _Pipeline()  # type: ignore[assignment]
        # Every attribute a connection gets, set here: CPython 3.11 keeps an instance's
        # attributes in a compact array only for names its class's shared keys hold, and those
        # take new names for a few instances only (the room shrinks as instances are made).
        # uvicorn sets `url` at the first request, this class `gone_callbacks` at the first
        # close: whether they made it depended on how many connections the server had accepted
        # by then, and when they had not, every connection carried a dict of its own
        # (~1.2 KB per open stream; docs/performance.md, memory per idle stream).
        self.url = b""
        self.gone_callbacks = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        writable = LazyEvent()
        writable.set()  # as uvicorn's FlowControl starts
        self.flow._is_writable_event = writable

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        # An upgrade request has no new cycle (the old one belongs to an earlier request).
        if cycle is not None and cycle.scope is self.scope:
            # the scope has them (an upgrade reads them here still); the next request gets a
            # new list
            self.headers = _NO_TRAILERS
            cycle.message_event = LazyEvent()  # nothing has set it yet: no body has arrived
            extensions = self.scope.setdefault("extensions", {})
            extensions[EXTENSION] = {"writer": BodyWriter(cycle, self)}

    def linger(self) -> None:
        """From now on, drop what arrives (nothing more is parsed: the response says close);
        close once ``LINGER_BYTES`` arrived or after ``LINGER_S`` seconds, or when the client
        has closed, or at uvicorn's keep-alive timeout once the client has stopped sending."""
        self._lingering = LINGER_BYTES
        self._linger_timer = self.loop.call_later(LINGER_S, self._end_lingering)

    def data_received(self, data: bytes) -> None:
        if self._lingering is None:
            super().data_received(data)
            return
        self._unset_keepalive_if_required()  # still sending: the linger's bounds apply
        self._lingering -= len(data)
        if self._lingering < 0:
            self._end_lingering()

    def _end_lingering(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)
        callbacks, self.gone_callbacks = self.gone_callbacks, None
        for callback in callbacks or ():
            callback()


def body_writer(scope: Scope) -> BodyWriter | None:
    """The request's writer, when the server offers one."""
    writer = scope.get("extensions", {}).get(EXTENSION, {}).get("writer")
    return writer if isinstance(writer, BodyWriter) else None
