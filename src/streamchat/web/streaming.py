r"""A raw ASGI response that relays one generation's events to one client.

It writes whatever the subscription has ready in one write (tokens that arrive together are
coalesced without delaying a lone one), a ``: ping`` comment after ``heartbeat`` seconds of
silence, and ends after the terminal event. A disconnect is noticed by a task waiting on
``receive``; the subscription is closed either way, which is how the generation learns that
nobody is listening. A client that stops reading is dropped after ``send_timeout`` seconds,
its connection aborted (under streamchat's own protocol; elsewhere the server closes it).

Under streamchat's own server protocol (:mod:`.body_writer`) the subscription is pushed to:
each batch is encoded and written from inside the publish that brought it, and the response's
task wakes only for the end, a ping, or bytes the transport would not take now (those go
through ``send``, in order, and wait for the client). Elsewhere the task pulls each batch and
``send``\ s it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from contextvars import ContextVar
from typing import Any, ClassVar, TypeVar

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from streamchat import timers
from streamchat.events import Event
from streamchat.fanout import Subscription
from streamchat.sse import COMMENT_PING
from streamchat.web.body_writer import BodyWriter, body_writer
from streamchat.web.metrics import Metrics

__all__ = [
    "SSE_HEADERS",
    "DroppedClientFilter",
    "Encoder",
    "EventStream",
    "encode_sse",
    "unless_gone",
    "until_disconnect",
]

# Set in the request's task when its stream dropped a client that stopped reading.
_dropped: ContextVar[bool] = ContextVar("streamchat_dropped_client", default=False)
_INCOMPLETE = "ASGI callable returned without completing response."
_T = TypeVar("_T")

Encoder = Callable[[Sequence[Event]], bytes]

SSE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def encode_sse(events: Sequence[Event]) -> bytes:
    if len(events) == 1:
        return events[0].sse()
    return b"".join([event.sse() for event in events])


class EventStream(Response):
    """A Response (so FastAPI passes it through untouched) with its own ``__call__``."""

    media_type = "text/event-stream"
    # a tuple once sent: nothing can be added to headers that went out
    raw_headers: Sequence[tuple[bytes, bytes]]  # type: ignore[assignment]

    def __init__(
        self,
        subscription: Subscription,
        encode: Encoder,
        *,
        metrics: Metrics,
        heartbeat: float,
        send_timeout: float,
        headers: Sequence[tuple[bytes, bytes]] = SSE_HEADERS,
        extra_headers: Sequence[tuple[bytes, bytes]] = (),
        preamble: bytes = b"",
        ping: bytes | None = COMMENT_PING,
        trailer: Callable[[], bytes] | None = None,
        first: Sequence[Event] = (),
    ) -> None:
        self.status_code = 200
        self.background: BackgroundTask | None = None
        self.subscription = subscription
        self.encode = encode
        self.metrics = metrics
        self.heartbeat = heartbeat
        self.send_timeout = send_timeout
        self.send_deadline: float | None = None
        self.raw_headers = [*headers, *extra_headers]
        self.preamble = preamble
        self.ping = ping
        self.trailer = trailer
        self.first = first

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        main = asyncio.current_task()
        assert main is not None
        self._task = main
        self._loop = asyncio.get_running_loop()
        self._ended_by: str | None = None

        writer = body_writer(scope)
        watcher: asyncio.Task[None] | None = None
        take_back: Callable[[], None] | None = None
        if writer is not None:
            # the connection's close ends the stream: a list entry, where a task waiting on
            # `receive` costs a task and its frames per open stream (issue 15 item 4)
            take_back = writer.when_gone(self._disconnected)
            if take_back is None:
                self._end("disconnected")  # gone already: the first await is cancelled
        else:

            async def watch() -> None:
                await until_disconnect(receive)
                self._end("disconnected")

            watcher = asyncio.create_task(watch())
        _SendWatch.of_loop().add(self)
        self.metrics.clients.inc()
        try:
            if writer is not None:
                # the head, the opening and what the log holds already: one write, not three
                writer.hold_head()
            # the relay in this frame, not in a coroutine of its own: a frame per open stream
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            first, preamble = self.first, self.preamble
            # sent once, not kept for the stream's life: the headers' list (and the generation
            # id's header), the preamble, the first events
            self.raw_headers, self.preamble, self.first = (), b"", ()
            # the request's headers were read (routing, auth, every middleware's look at the
            # response's start): a browser's fill kilobytes, not kept for the stream's life
            scope["headers"] = ()
            opening = preamble + (self.encode(first) if first else b"")
            if first and first[-1].terminal:
                final = opening  # the whole stream: it goes with the end
            else:
                if opening:
                    await self._send(send, opening)
                if writer is not None:
                    final = await _Pushed(self, writer).follow(send)
                else:
                    final = await self._follow(send)
            del first, preamble, opening
            # the last events, the trailer and the body's end in one write
            tail = self.trailer() if self.trailer is not None else b""
            await self._send(send, final + tail if tail else final, more=False)
        except asyncio.CancelledError:
            if self._ended_by is None:
                raise
            main.uncancel()
            if self._ended_by == "send timeout":
                _dropped.set(True)
                if writer is not None:
                    # The server's own close would wait for the full buffer to drain, which a
                    # frozen client never lets happen: the socket, its fd and the queued bytes
                    # stayed for as long as the client stayed connected.
                    writer.abort()
        except OSError:
            pass  # the client went away
        finally:
            if writer is not None:
                # what is still kept goes now, if it can: a whole stream that ended in its
                # first events (head and all in one write), or what a failure left
                writer.release_head()
            if watcher is not None:
                watcher.cancel()
            if take_back is not None:
                take_back()
            _SendWatch.of_loop().discard(self)
            self.metrics.clients.dec()
            await self.subscription.close()

    def _end(self, reason: str) -> None:
        if self._ended_by is None:
            self._ended_by = reason
            self._task.cancel()

    def _disconnected(self) -> None:
        # a bound method for when_gone: a closure would add a function and a cell per stream
        self._end("disconnected")

    async def _follow(self, send: Send) -> bytes:
        """Pull and send each batch; returns the last one's bytes, unsent (they go with the
        end)."""
        while True:
            batch = await self.subscription.next(self.heartbeat)
            if batch is None:
                if self.ping is not None:
                    await self._send(send, self.ping)
                continue
            if not batch:
                return b""
            body = self.encode(batch)
            if batch[-1].terminal:
                return body
            if body:
                await self._send(send, body)

    async def _send(self, send: Send, body: bytes, *, more: bool = True) -> None:
        # The send watch drops this client if the send is still blocked at the deadline;
        # a timeout context per send would cost more than the rest of the relay per token.
        self.send_deadline = self._loop.time() + self.send_timeout
        await send({"type": "http.response.body", "body": body, "more_body": more})
        self.send_deadline = None


class _Pushed:
    """The pushed relay of one :class:`EventStream` (see the module's docstring)."""

    __slots__ = (
        "_backlog",
        "_ended",
        "_error",
        "_final",
        "_last_write",
        "_loop",
        "_sending",
        "_stream",
        "_waiter",
        "_writer",
    )

    def __init__(self, stream: EventStream, writer: BodyWriter) -> None:
        self._stream = stream
        self._writer = writer
        self._backlog: list[bytes] = []  # bytes the transport did not take, in order
        self._sending = False  # a backlog is on its way through send: queue behind it
        self._ended = False
        self._final = b""  # the terminal batch's bytes: they go with the response's end
        self._error: Exception | None = None
        self._loop = stream._loop
        self._last_write = self._loop.time()
        self._waiter: asyncio.Future[None] | None = None

    async def follow(self, send: Send) -> bytes:
        """Relay until the end; returns the terminal batch's bytes, unsent."""
        stream, loop = self._stream, self._loop
        stream.subscription.listen(self._deliver)  # what the log holds is delivered now
        self._writer.release_head()
        while True:
            if self._error is not None:
                raise self._error
            if self._writer.gone:  # nobody to send to, whatever uvicorn's cycle says
                raise ConnectionResetError("the client's connection closed")
            if self._backlog:
                body = b"".join(self._backlog)
                self._backlog.clear()
                self._sending = True
                stream.metrics.slow_writes.inc()
                try:
                    await stream._send(send, body)  # waits for the client, under the send watch
                finally:
                    self._sending = False
                continue
            if self._ended:
                return self._final
            # Writes do not wake this task: the ping's timer counts from the last one. Without
            # pings (raw text) only the end, a failure or a backlog wakes it.
            ping = stream.ping
            until_ping = self._last_write + stream.heartbeat - loop.time()
            if ping is not None and until_ping <= 0:
                self._write(ping)
                continue
            waiter = self._waiter = loop.create_future()
            # the bound method resolves this waiter: the timer is cancelled before the next
            timer = timers.call_later(until_ping, self._wake) if ping is not None else None
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
                self._waiter = None

    def _deliver(self, batch: list[Event]) -> None:
        """Called by the subscription inside ``publish``: must not block or raise."""
        if self._error is not None or self._ended:
            return  # nothing more after a failure (no gap) or after the end
        try:
            body = self._stream.encode(batch)
            if batch[-1].terminal:
                self._final = body  # sent with the response's end, in one write
            elif body:
                self._write(body)
        except Exception as exc:  # re-raised in the response's task, not in the publisher's
            self._error = exc
            self._wake()
            return
        if batch[-1].terminal:
            self._ended = True
            self._wake()

    def _write(self, body: bytes) -> None:
        if self._sending or self._backlog or not self._writer.write(body):
            self._backlog.append(body)
            self._wake()
        self._last_write = self._loop.time()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def until_disconnect(receive: Receive) -> None:
    """Return once the client has gone (the request body must have been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_gone(
    receive: Receive, waiting: Coroutine[Any, Any, _T], writer: BodyWriter | None = None
) -> _T | None:
    """``waiting``'s result, or ``None`` as soon as the client disconnects: for an endpoint
    that waits (for a first token, a whole answer) before it has a response to send. With
    streamchat's server (``writer``) the connection's close says it; else a task watches
    ``receive``."""
    task = asyncio.current_task()
    assert task is not None
    gone = False
    if writer is not None:

        def leave() -> None:
            nonlocal gone
            gone = True
            task.cancel()

        take_back = writer.when_gone(leave)
        if take_back is None:  # closed already
            waiting.close()
            return None
        try:
            return await waiting
        except asyncio.CancelledError:
            if not gone or task.uncancel() > 0:
                raise
            return None
        finally:
            take_back()

    async def watch() -> None:
        nonlocal gone
        await until_disconnect(receive)
        gone = True
        task.cancel()

    watcher = asyncio.create_task(watch())
    try:
        return await waiting
    except asyncio.CancelledError:
        if not gone or task.uncancel() > 0:
            raise  # cancelled from elsewhere too (shutdown): not ours to swallow
        return None
    finally:
        watcher.cancel()


class DroppedClientFilter(logging.Filter):
    """A stream that dropped a frozen client cannot complete its response (the last send would
    block like the others): the server then logs that the app returned without completing it,
    at ERROR. For such a stream, and only for it, that line becomes an INFO that says why.
    Installed on the ``uvicorn.error`` logger by the app."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and _dropped.get() and record.msg == _INCOMPLETE:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "dropped a client that stopped reading (send timeout)"
            record.args = None
        return True


class _SendWatch:
    """One timer per event loop for every open stream: a client whose send has been blocked
    past its deadline (it stopped reading; the transport's buffer is full) is dropped."""

    _watches: ClassVar[dict[asyncio.AbstractEventLoop, _SendWatch]] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.streams: set[EventStream] = set()
        self.task: asyncio.Task[None] | None = None

    @classmethod
    def of_loop(cls) -> _SendWatch:
        loop = asyncio.get_running_loop()
        watch = cls._watches.get(loop)
        if watch is None:
            watch = cls._watches[loop] = cls(loop)
        return watch

    def add(self, stream: EventStream) -> None:
        self.streams.add(stream)
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._run())

    def discard(self, stream: EventStream) -> None:
        self.streams.discard(stream)

    async def _run(self) -> None:
        try:
            while self.streams:
                await asyncio.sleep(1.0)
                now = self.loop.time()
                for stream in list(self.streams):
                    deadline = stream.send_deadline
                    if deadline is not None and deadline < now:
                        stream._end("send timeout")
        finally:
            self._watches.pop(self.loop, None)
