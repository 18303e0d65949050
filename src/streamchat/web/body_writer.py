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
"""

from __future__ import annotations

import weakref
from typing import Final

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

__all__ = ["EXTENSION", "BodyWriter", "HttpProtocol", "body_writer"]

EXTENSION: Final = "streamchat.body_writer"


class BodyWriter:
    """Writes body chunks of one response in progress, as uvicorn's ``send`` would."""

    __slots__ = ("_cycle",)

    def __init__(self, cycle: RequestResponseCycle) -> None:
        # Weak: the scope holds this writer and the cycle holds the scope (no reference loop
        # for the GC to find); the request's task keeps the cycle alive while it runs.
        self._cycle = weakref.ref(cycle)

    @property
    def gone(self) -> bool:
        """The connection closed."""
        cycle = self._cycle()
        return cycle is None or _closed(cycle)

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


def _closed(cycle: RequestResponseCycle) -> bool:
    # uvicorn marks only a connection's newest request disconnected: a stream with a pipelined
    # request behind it learns of the close from its transport.
    return cycle.disconnected or cycle.transport.is_closing()


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; each request's scope offers its :class:`BodyWriter`."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        # An upgrade request has no new cycle (the old one belongs to an earlier request).
        if cycle is not None and cycle.scope is self.scope:
            extensions = self.scope.setdefault("extensions", {})
            extensions[EXTENSION] = {"writer": BodyWriter(cycle)}


def body_writer(scope: Scope) -> BodyWriter | None:
    """The request's writer, when the server offers one."""
    writer = scope.get("extensions", {}).get(EXTENSION, {}).get("writer")
    return writer if isinstance(writer, BodyWriter) else None
