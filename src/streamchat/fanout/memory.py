"""The in-process broker: one worker, every stream's log kept compact in memory (_Log)."""

from __future__ import annotations

import asyncio
import logging
import time
from array import array
from collections import deque
from collections.abc import Callable, Sequence

from streamchat import timers
from streamchat.errors import NotFound
from streamchat.events import Event
from streamchat.fanout import StopHandler, StreamInfo

__all__ = ["MemoryBroker"]

log = logging.getLogger("streamchat.fanout")


# One byte per event in _Log.kinds: a text event (delta or reasoning, data exactly {"text": str})
# of fewer than _LONG UTF-8 bytes is its length (+ _REASONING for reasoning); _OTHER means the
# event is in _Log.others (any other event, or a text event too long for a byte).
_REASONING = 127
_LONG = 127
_OTHER = 255
_MARK = 64  # a text offset is kept for every 64th event
_RECENT = 64  # the last published batch is kept as its objects up to this many events


class _Log:
    """A stream's events for replay, compact: the texts of its deltas and reasoning events in
    one bytearray (UTF-8), one byte per event giving its kind and length, a text offset every
    64 events, and the few other events (meta, usage, done, tool calls ...) as they are. Events
    are materialised on read; the last published batch is kept as its objects, so a reader in
    step with the publisher gets the very objects published (their encodings shared).
    Kept per token: its UTF-8 text + ~1.1 bytes (was ~530 bytes: an Event with its dict, its
    JSON and its SSE frame)."""

    __slots__ = ("first_id", "kinds", "marks", "others", "recent", "recent_start", "text")

    def __init__(self) -> None:
        self.first_id = 0
        self.text = bytearray()
        self.kinds = bytearray()
        self.marks = array("Q")
        self.others: dict[int, Event | tuple[str, int]] = {}
        self.recent: list[Event] = []
        self.recent_start = 0

    def __len__(self) -> int:
        return len(self.kinds)

    @property
    def last_id(self) -> int:
        return self.first_id + len(self.kinds) - 1 if self.kinds else 0

    def append(self, events: Sequence[Event]) -> None:
        kinds, text, others = self.kinds, self.text, self.others
        if not kinds:
            self.first_id = events[0].id
        self.recent_start = len(kinds)
        for event in events:
            index = len(kinds)
            if event.id != self.first_id + index:
                raise ValueError(f"event {event.id} out of order: expected {self.first_id + index}")
            if index % _MARK == 0:
                self.marks.append(len(text))
            data = event.data
            kind = event.type
            piece = data.get("text") if len(data) == 1 else None
            if type(piece) is not str or kind not in ("delta", "reasoning"):
                others[index] = event
                kinds.append(_OTHER)
                continue
            encoded = piece.encode()
            text += encoded
            if len(encoded) < _LONG:
                kinds.append(len(encoded) + (_REASONING if kind == "reasoning" else 0))
            else:
                others[index] = (kind, len(encoded))
                kinds.append(_OTHER)
        if len(events) <= _RECENT:  # a whole mirrored log is not kept as objects
            self.recent = events if type(events) is list else list(events)
        else:
            self.recent, self.recent_start = [], len(kinds)

    def _length(self, index: int) -> int:
        kind = self.kinds[index]
        if kind == _OTHER:
            other = self.others[index]
            return other[1] if isinstance(other, tuple) else 0
        return kind - _REASONING if kind >= _REASONING else kind

    def events(self, start: int) -> list[Event]:
        """Every event from position ``start`` on."""
        if start >= self.recent_start:
            return self.recent[start - self.recent_start :]
        kinds, text, others = self.kinds, self.text, self.others
        mark = start // _MARK
        offset = self.marks[mark]
        for index in range(mark * _MARK, start):
            offset += self._length(index)
        out: list[Event] = []
        first_id = self.first_id
        for index in range(start, self.recent_start):
            kind = kinds[index]
            if kind == _OTHER:
                other = others[index]
                if not isinstance(other, tuple):
                    out.append(other)
                    continue
                type_, length = other
            elif kind >= _REASONING:
                type_, length = "reasoning", kind - _REASONING
            else:
                type_, length = "delta", kind
            piece = text[offset : offset + length].decode()
            offset += length
            out.append(Event(first_id + index, type_, {"text": piece}))
        out.extend(self.recent)
        return out


class _Stream:
    __slots__ = ("expires_at", "finished", "listeners", "log", "owner_id", "pushed", "waiters")

    def __init__(self, owner_id: str) -> None:
        self.owner_id = owner_id
        self.log = _Log()
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
        first_id = stream.log.first_id if len(stream.log) else 1
        self._position = max(0, after - first_id + 1)
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._timer: timers.Timer | None = None
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
        events = self._stream.log
        if self._deliver is not None and self._position < len(events):
            batch = events.events(self._position)
            self._position = len(events)
            self._deliver(batch)

    async def next(self, timeout: float) -> list[Event] | None:
        stream = self._stream
        if self._position >= len(stream.log):
            if stream.finished:
                return []
            loop = self._loop
            waiter = self._waiter = loop.create_future()
            stream.waiters.add(waiter)
            self._deadline = loop.time() + timeout
            if self._timer is None:
                self._timer = timers.call_at(self._deadline, self._expire)
            try:
                await waiter
            finally:
                self._waiter = None
                stream.waiters.discard(waiter)
            if self._position >= len(stream.log):
                return [] if stream.finished else None
        batch = stream.log.events(self._position)
        self._position += len(batch)
        return batch

    def _expire(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._loop.time() < self._deadline:
            self._timer = timers.call_at(self._deadline, self._expire)
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
        self._kept: dict[str, tuple[str, float]] = {}  # remember(): value, expiry

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
        stream.log.append(events)
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
        return StreamInfo(
            owner_id=stream.owner_id, last_id=stream.log.last_id, finished=stream.finished
        )

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

    async def remember(self, key: str, value: str, ttl: float) -> str | None:
        return self.remember_now(key, value, ttl)

    def remember_now(
        self, key: str, value: str, ttl: float, now: float | None = None
    ) -> str | None:
        """:meth:`remember`, synchronously."""
        now = time.monotonic() if now is None else now
        kept = self._kept.get(key)
        if kept is not None and kept[1] > now:
            return kept[0]
        if len(self._kept) >= 10_000:
            self._kept = {k: v for k, v in self._kept.items() if v[1] > now}
        self._kept[key] = (value, now + ttl)
        return None

    async def forget(self, key: str, value: str) -> None:
        if self._kept.get(key, ("", 0.0))[0] == value:
            del self._kept[key]

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
