"""Issue 16, item 5: the per-minute limit is a sliding window, in one process and through Redis
alike. With 3 a minute, 3 answers at the end of one clock minute and 3 more at the start of the
next were all accepted (6 starts in a few seconds): the window reset on the minute."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from streamchat.fanout import Broker
from streamchat.fanout.memory import MemoryBroker
from streamchat.fanout.redis import RedisBroker
from tests.conftest import ServerFactory
from tests.security.test_limits import QUICK, answer, limited

REDIS_URL = "redis://127.0.0.1:6379/12"


async def until_second(second: float) -> None:
    """Sleep until the wall clock's seconds within the minute reach ``second``."""
    await asyncio.sleep((second - time.time() % 60) % 60)


@pytest.mark.redis
@pytest.mark.timeout(150)
async def test_the_per_minute_limit_does_not_reset_on_the_clock_minute(
    make_server: ServerFactory,
) -> None:
    with redis.Redis.from_url(REDIS_URL) as client:
        client.flushdb()
    alone = make_server(requests_per_minute=3)
    shared = {"redis_url": REDIS_URL, "requests_per_minute": 3}
    first, second = make_server(**shared), make_server(**shared)
    async with (
        httpx.AsyncClient(base_url=alone.url, timeout=30) as one,
        httpx.AsyncClient(base_url=first.url, timeout=30) as a,
        httpx.AsyncClient(base_url=second.url, timeout=30) as b,
    ):
        await until_second(57.5)  # three answers at the end of a clock minute ...
        for client in (one, one, one, a, b, a):
            await answer(client)
        await until_second(1.0)  # ... and the next minute has begun, seconds later
        for client in (one, b, a):
            refused = await client.post("/api/chat", json=QUICK)
            limited(refused, "rate_limited")
            # The oldest of the three leaves the window about a minute after it started.
            assert int(refused.headers["retry-after"]) >= 50


@pytest.fixture
async def brokers() -> AsyncIterator[list[Broker]]:
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.flushdb()
    shared = [RedisBroker(REDIS_URL), RedisBroker(REDIS_URL)]
    for broker in shared:
        await broker.start(_ignore_stops)
    yield [MemoryBroker(), *shared]
    for broker in shared:
        await broker.close()
    await client.flushdb()
    await client.aclose()


async def _ignore_stops(stream_id: str) -> None:
    pass


@pytest.mark.redis
async def test_a_window_frees_one_use_when_its_oldest_leaves(brokers: list[Broker]) -> None:
    """Both brokers: a full window refuses (counting nothing) for as long as it says, and then
    takes exactly one more; two Redis brokers (two workers) count in the same window."""
    memory, a, b = brokers
    for takers in ([memory, memory, memory], [a, b, a]):
        started = time.monotonic()
        for broker in takers:
            assert await broker.take("user:alice", 3, 2.0) == 0.0
        wait = await takers[1].take("user:alice", 3, 2.0)
        assert 0 < wait <= 2.0
        assert await takers[0].take("user:alice", 3, 2.0) > 0  # a refusal counts nothing
        assert await takers[0].take("user:bob", 3, 2.0) == 0.0  # keys are separate
        await asyncio.sleep(max(0.0, started + 2.05 - time.monotonic()))
        assert await takers[2].take("user:alice", 3, 2.0) == 0.0
        assert await takers[2].take("user:alice", 3, 2.0) == 0.0
        assert await takers[2].take("user:alice", 3, 2.0) == 0.0
        assert await takers[1].take("user:alice", 3, 2.0) > 0


def test_the_memory_window_is_sliding() -> None:
    """Uses at 0, 30 and 59 s with 3 a minute: the one at 0 s frees a place at 60 s, the one at
    30 s the next at 90 s."""
    broker = MemoryBroker()
    for at in (0.0, 30.0, 59.0):
        assert broker.take_now("k", 3, 60.0, now=at) == 0.0
    assert broker.take_now("k", 3, 60.0, now=59.5) == pytest.approx(0.5)
    assert broker.take_now("k", 3, 60.0, now=61.0) == 0.0
    assert broker.take_now("k", 3, 60.0, now=62.0) == pytest.approx(28.0)
    assert broker.take_now("k", 3, 60.0, now=90.0) == 0.0
    assert broker.take_now("k", 3, 60.0, now=90.5) == pytest.approx(28.5)
