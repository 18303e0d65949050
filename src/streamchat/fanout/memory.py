"""The in-process broker: one worker, every stream's log in a list."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from streamchat.errors import NotFound
from streamchat.events import Event
from streamchat.fanout import StopHandler, StreamInfo

__all__ = ["MemoryBroker"]

log = logging.getLogger("streamchat.fanout")


class _Stream:
    __slots__ = ("events", "expires_at", "finished", "listeners", "owner_id", "pushed", "waiters")

    def __init__(self, owner_id: str) -> None:
        self.owner_id = owner_id
        self.events: list[Event] = []
        self.waiters: set[asyncio.Future[None]] = set()
        self.pushed: list[_Subscription] = []
        self.finished = False
        self.listeners = 0
        self.expires_at = float("inf")

    def wake(self) -> None:
        failed: list[_Subscription] | None = None  # none allocated per token
        for subscription in self.pushed:
            try:
                subscription.push()
            except Exception:  # one reader's failure is not the publisher's (nor the others')
                log.exception("a stream's subscriber failed; it gets no more pushes")
                failed = [*(failed or ()), subscription]
        for subscription in failed or ():
            subscription.unlisten()
        if self.waiters:
            waiters, self.waiters = self.waiters, set()
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)


class _Subscription:
    """A reader of one stream, pulled (``next``) or pushed to (``listen``). Waiting costs one
    Future; the heartbeat timeout is one timer per subscription that re-arms itself lazily
    (tokens only ever move the deadline later)."""

    __slots__ = (
        "_closed",
        "_deadline",
        "_deliver",
        "_loop",
        "_position",
        "_stream",
        "_timer",
        "_waiter",
    )

    def __init__(self, stream: _Stream, after: int, loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._loop = loop
        first_id = stream.events[0].id if stream.events else 1
        self._position = max(0, after - first_id + 1)
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._deliver: Callable[[list[Event]], None] | None = None
        stream.listeners += 1

    def listen(self, deliver: Callable[[list[Event]], None]) -> None:
        """From now on ``deliver(batch)`` is called with every new batch from inside
        ``publish`` (at once with what is already there); ``next`` is not to be used then.
        ``deliver`` must not block, raise or close the subscription."""
        self._deliver = deliver
        self._stream.pushed.append(self)
        self.push()

    def unlisten(self) -> None:
        if self._deliver is not None:
            self._deliver = None
            self._stream.pushed.remove(self)

    def push(self) -> None:
        events = self._stream.events
        if self._deliver is not None and self._position < len(events):
            batch = events[self._position :]
            self._position = len(events)
            self._deliver(batch)

    async def next(self, timeout: float) -> list[Event] | None:
        stream = self._stream
        if self._position >= len(stream.events):
            if stream.finished:
                return []
            loop = self._loop
            waiter = self._waiter = loop.create_future()
            stream.waiters.add(waiter)
            self._deadline = loop.time() + timeout
            if self._timer is None:
                self._timer = loop.call_at(self._deadline, self._expire)
            try:
                await waiter
            finally:
                self._waiter = None
                stream.waiters.discard(waiter)
            if self._position >= len(stream.events):
                return [] if stream.finished else None
        batch = stream.events[self._position :]
        self._position += len(batch)
        return batch

    def _expire(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._expire)
        else:
            waiter.set_result(None)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._stream.listeners -= 1
            self.unlisten()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


class MemoryBroker:
    def __init__(self, replay_ttl: float = 900.0) -> None:
        self.replay_ttl = replay_ttl
        self._streams: dict[str, _Stream] = {}
        self._on_stop: StopHandler | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._windows: dict[str, deque[float]] = {}

    async def start(self, on_stop: StopHandler) -> None:
        self._on_stop = on_stop
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for stream in self._streams.values():
            stream.wake()

    async def create(self, stream_id: str, owner_id: str) -> None:
        self._streams[stream_id] = _Stream(owner_id)

    def publish(self, stream_id: str, events: Sequence[Event]) -> None:
        stream = self._streams[stream_id]
        stream.events.extend(events)
        if events[-1].terminal:
            stream.finished = True
            stream.expires_at = time.monotonic() + self.replay_ttl
        stream.wake()

    async def subscribe(self, stream_id: str, after: int) -> _Subscription:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise NotFound(f"no live stream {stream_id}")
        return _Subscription(stream, after, asyncio.get_running_loop())

    async def info(self, stream_id: str) -> StreamInfo | None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return None
        last = stream.events[-1].id if stream.events else 0
        return StreamInfo(owner_id=stream.owner_id, last_id=last, finished=stream.finished)

    async def listeners(self, stream_id: str) -> int:
        stream = self._streams.get(stream_id)
        return 0 if stream is None else stream.listeners

    async def request_stop(self, stream_id: str) -> None:
        if self._on_stop is not None:
            await self._on_stop(stream_id)

    async def live(self) -> list[str]:
        return [key for key, stream in self._streams.items() if not stream.finished]

    async def orphans(self) -> list[str]:
        return []  # one process: its generations die with it

    async def claim(self, stream_id: str) -> tuple[str, list[Event]] | None:
        return None

    async def take(self, key: str, limit: int, window: float) -> float:
        return self.take_now(key, limit, window)

    def take_now(self, key: str, limit: int, window: float, now: float | None = None) -> float:
        """:meth:`take`, synchronously: a log of the last ``limit`` uses' times per key."""
        now = time.monotonic() if now is None else now
        uses = self._windows.get(key)
        if uses is None:
            if len(self._windows) >= 10_000:
                self._forget_windows(now, window)
            uses = self._windows[key] = deque()
        while uses and uses[0] <= now - window:
            uses.popleft()
        if len(uses) >= limit:
            return uses[-limit] + window - now
        uses.append(now)
        return 0.0

    def _forget_windows(self, now: float, window: float) -> None:
        self._windows = {k: v for k, v in self._windows.items() if v and v[-1] > now - window}

    def sweep(self, now: float | None = None) -> int:
        """Forget finished streams past their replay expiry; return how many."""
        now = time.monotonic() if now is None else now
        expired = [k for k, s in self._streams.items() if s.expires_at <= now]
        for key in expired:
            del self._streams[key]
        return len(expired)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(min(30.0, max(self.replay_ttl, 0.05)))
            self.sweep()
