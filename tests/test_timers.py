"""streamchat.timers: many deadlines on one loop timer behave as the loop's own call_at."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from streamchat import timers


async def test_timers_fire_in_deadline_order_and_not_before() -> None:
    loop = asyncio.get_running_loop()
    fired: list[tuple[str, float]] = []
    start = loop.time()

    def at(name: str, delay: float) -> timers.Timer:
        return timers.call_at(start + delay, lambda: fired.append((name, loop.time() - start)))

    at("c", 0.15)
    at("a", 0.05)
    cancelled = at("x", 0.08)
    at("b", 0.10)
    cancelled.cancel()
    cancelled.cancel()  # twice is once
    await asyncio.sleep(0.3)
    assert [name for name, _ in fired] == ["a", "b", "c"]
    for (_, when), due in zip(fired, (0.05, 0.10, 0.15), strict=True):
        assert when >= due - 0.002  # never early (the loop's clock resolution)


async def test_a_callback_may_add_an_earlier_timer_and_cancel_a_due_one() -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    start = loop.time()
    # `later` is due a moment after `first`: in the same round of the heap, or the next one
    later = timers.call_at(start + 0.021, lambda: fired.append("cancelled"))

    def first() -> None:
        fired.append("first")
        later.cancel()
        timers.call_later(0.01, lambda: fired.append("added, earlier than the last"))

    timers.call_at(start + 0.02, first)
    timers.call_at(start + 0.2, lambda: fired.append("last"))
    await asyncio.sleep(0.1)
    assert fired == ["first", "added, earlier than the last"]
    await asyncio.sleep(0.2)
    assert fired == ["first", "added, earlier than the last", "last"]


async def test_a_failing_callback_is_reported_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    fired: list[str] = []
    try:

        def fail() -> None:
            raise RuntimeError("boom")

        timers.call_later(0.01, fail)
        timers.call_later(0.01, lambda: fired.append("next"))
        await asyncio.sleep(0.05)
    finally:
        loop.set_exception_handler(None)
    assert fired == ["next"]
    assert [str(c["exception"]) for c in reported] == ["boom"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_cancelled_timers_do_not_pile_up() -> None:
    loop = asyncio.get_running_loop()
    keep = timers.call_later(60, lambda: None)
    for _ in range(10):
        for timer in [timers.call_later(0.01, lambda: None) for _ in range(200)]:
            timer.cancel()
        await asyncio.sleep(0.02)
    heap = timers._timers[loop]
    assert len(heap.heap) < 100  # the cancelled ones went at their time
    for timer in [timers.call_later(30, lambda: None) for _ in range(1000)]:
        timer.cancel()
    timers.call_later(0.001, lambda: None)
    await asyncio.sleep(0.02)  # a round with most of the heap cancelled compacts it
    assert len(heap.heap) <= 2
    assert heap.cancelled == 0
    keep.cancel()
