"""How one answer's events reach every client attached to it, on any worker.

A :class:`Broker` keeps, per generation, the ordered log of its events (ids 1, 2, 3 ...) while it
runs and for ``replay_ttl`` seconds after its terminal event. Subscribers read the log from any
event id and then follow it live; they share the log, so a slow subscriber costs no extra memory
(its own send buffer is bounded by the web layer's send timeout). The broker also carries stop
requests to the worker that runs a generation, and counts who is listening.

Implementations: :mod:`.memory` (one process, the default) and :mod:`.redis` (Redis Streams,
several workers), chosen by :func:`streamchat.web.app.create_app` from the settings.

Besides streams, a broker holds the little state every worker must share: sliding-window
counters (:meth:`Broker.take`, the per-minute limit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from streamchat.events import Event

__all__ = ["Broker", "StopHandler", "StreamInfo", "Subscription"]

StopHandler = Callable[[str], Awaitable[None]]


@dataclass(slots=True, frozen=True)
class StreamInfo:
    owner_id: str
    last_id: int
    finished: bool


class Subscription(Protocol):
    async def next(self, timeout: float) -> list[Event] | None:
        """The events after the last ones returned (at least one), ``[]`` once the stream has
        ended, or ``None`` when ``timeout`` seconds pass with nothing new."""

    def listen(self, deliver: Callable[[list[Event]], None]) -> None:
        """Push instead of pull: ``deliver(batch)`` is called with each new batch from inside
        ``publish`` (at once with what is already there); ``next`` is not used afterwards.
        ``deliver`` must not block, raise or close the subscription."""

    async def close(self) -> None: ...


class Broker(Protocol):
    async def start(self, on_stop: StopHandler) -> None:
        """Begin serving; ``on_stop(generation_id)`` is called for stop requests."""

    async def close(self) -> None: ...

    async def create(self, stream_id: str, owner_id: str) -> None:
        """Open a new stream owned by ``owner_id`` (checked on every re-attach and stop)."""

    def publish(self, stream_id: str, events: Sequence[Event]) -> None:
        """Append events; a terminal event ends the stream and starts its replay expiry.
        Synchronous and never blocking: it runs in the upstream's network read (the events
        reach local subscribers at once; other workers get them from a writer task)."""

    async def subscribe(self, stream_id: str, after: int) -> Subscription:
        """Follow ``stream_id`` from the event after ``after``; counts as a listener until
        closed. Raises :class:`~streamchat.errors.NotFound` for a stream it does not hold."""

    async def info(self, stream_id: str) -> StreamInfo | None: ...

    async def listeners(self, stream_id: str) -> int: ...

    async def request_stop(self, stream_id: str) -> None:
        """Ask whichever worker runs ``stream_id`` to stop it."""

    async def live(self) -> list[str]:
        """Every unfinished stream, on any worker."""

    async def orphans(self) -> list[str]:
        """Unfinished streams whose worker is gone (its lease expired)."""

    async def claim(self, stream_id: str) -> tuple[str, list[Event]] | None:
        """Take over an orphan (only one worker wins): its owner and every event it holds.
        The winner then publishes the stream's ending."""

    async def remember(self, key: str, value: str, ttl: float) -> str | None:
        """Keep ``value`` under ``key`` for ``ttl`` seconds unless ``key`` is kept already (on
        every worker alike); None when it was not, else the value kept (idempotency keys)."""

    async def forget(self, key: str, value: str) -> None:
        """Drop ``key`` if it still holds ``value`` (a request that did not start)."""

    async def take(self, key: str, limit: int, window: float) -> float:
        """Count one use of ``key`` if fewer than ``limit`` were counted in the last ``window``
        seconds (a sliding window, on every worker alike) and return 0.0; otherwise count
        nothing and return the seconds until the oldest use leaves the window."""
