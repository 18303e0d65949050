"""Timers that are many and mostly never fire, kept on one of the event loop's.

Each open stream has a few deadlines (the provider's first-token and gap watchdog, the log
subscription's heartbeat, the ping of an idle SSE response): an event loop's ``call_at`` handle
is about 540 bytes under uvloop, an entry of this heap about 140 (docs/performance.md, memory
per idle stream). :func:`call_at` runs ``callback`` at ``when`` (the loop's clock) as the loop's
own ``call_at`` would, in order of their deadlines, from the one loop timer of the earliest
one; a cancelled entry stays in the heap until its time (or until cancelled entries are half of
it), doing nothing then.
"""

from __future__ import annotations

import asyncio
import heapq
import weakref
from collections.abc import Callable

__all__ = ["Timer", "call_at", "call_later"]

_timers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Heap] = weakref.WeakKeyDictionary()


class Timer:
    """A pending :func:`call_at`; ``cancel()`` it as an ``asyncio.TimerHandle``."""

    __slots__ = ("_heap", "callback", "when")

    def __init__(self, heap: _Heap, when: float, callback: Callable[[], None]) -> None:
        self._heap = heap
        self.when = when
        self.callback: Callable[[], None] | None = callback

    def cancel(self) -> None:
        if self.callback is not None:
            self.callback = None
            if self.when >= 0:  # still in the heap (not taken out to run)
                self._heap.cancelled += 1

    def __lt__(self, other: Timer) -> bool:  # heapq's order; equal deadlines: either first
        return self.when < other.when


class _Heap:
    __slots__ = ("__weakref__", "_at", "_handle", "_loop", "_running", "cancelled", "heap")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.heap: list[Timer] = []
        self.cancelled = 0
        self._handle: asyncio.TimerHandle | None = None
        self._at = 0.0
        self._running = False

    def add(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(self, when, callback)
        heapq.heappush(self.heap, timer)
        if not self._running and (self._handle is None or when < self._at):
            self._arm(when)
        return timer

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            if self._at == when:
                return
            self._handle.cancel()
        self._at = when
        self._handle = self._loop.call_at(when, self._run)

    def _run(self) -> None:
        self._handle = None
        self._running = True
        heap, now = self.heap, self._loop.time()
        due: list[Timer] = []
        while heap and heap[0].when <= now:
            timer = heapq.heappop(heap)
            if timer.callback is None:
                self.cancelled -= 1
            else:
                timer.when = -1.0  # out of the heap: a cancel() now does not count
                due.append(timer)
        if self.cancelled > 64 and self.cancelled * 2 > len(heap):
            self.heap = heap = [t for t in heap if t.callback is not None]
            heapq.heapify(heap)
            self.cancelled = 0
        try:
            for timer in due:  # a callback may add or cancel timers: the heap is whole now
                callback, timer.callback = timer.callback, None
                if callback is None:  # cancelled by an earlier callback of this round
                    continue
                try:
                    callback()
                except Exception as exc:  # as the loop reports a failing handle's exception
                    self._loop.call_exception_handler(
                        {"message": "Exception in a timer callback", "exception": exc}
                    )
        finally:
            self._running = False
            if self.heap:
                self._arm(self.heap[0].when)


def call_at(when: float, callback: Callable[[], None]) -> Timer:
    """``loop.call_at(when, callback)`` on the running loop, as an entry of its heap."""
    loop = asyncio.get_running_loop()
    heap = _timers.get(loop)
    if heap is None:
        heap = _timers[loop] = _Heap(loop)
    return heap.add(when, callback)


def call_later(delay: float, callback: Callable[[], None]) -> Timer:
    return call_at(asyncio.get_running_loop().time() + delay, callback)
