"""Issue 16, item 8 (carried): stop commands moved from the channel ``sc:control`` to one per
Redis database (``sc:control:<db>``), so during a rolling upgrade a worker of the previous
version, which listens and sends on ``sc:control``, neither heard a new worker's stop nor was
heard. Now stops are sent and heard on both. The previous version's worker is stood for by a
plain Redis client doing what that version's broker did."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from streamchat.fanout.redis import RedisBroker

pytestmark = pytest.mark.redis
REDIS_URL = "redis://127.0.0.1:6379/10"
OLD_CHANNEL = "sc:control"  # the channel before 6d93100


@pytest.fixture
async def new_worker() -> AsyncIterator[tuple[RedisBroker, list[str]]]:
    stops: list[str] = []

    async def on_stop(stream_id: str) -> None:
        stops.append(stream_id)

    broker = RedisBroker(REDIS_URL, lease=1)
    await broker.start(on_stop)
    yield broker, stops
    await broker.close()


async def test_stops_reach_and_come_from_a_worker_of_the_previous_version(
    new_worker: tuple[RedisBroker, list[str]],
) -> None:
    broker, stops = new_worker
    old = aioredis.Redis.from_url(REDIS_URL)
    pubsub = old.pubsub()
    try:
        await pubsub.subscribe(OLD_CHANNEL)
        await pubsub.get_message(timeout=1)  # the subscribe confirmation
        for _ in range(250):  # the new worker's control subscription is up (a busy machine)
            counts = dict(await old.pubsub_numsub(OLD_CHANNEL, broker._channel))
            if counts.get(OLD_CHANNEL.encode()) == 2 and counts.get(broker._channel.encode()):
                break
            await asyncio.sleep(0.02)
        # The new worker asks for a stop: the old one hears it on its channel.
        await broker.request_stop("msg_run_by_the_old_worker")
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
        assert message is not None
        assert message["data"] == b"stop msg_run_by_the_old_worker"
        for _ in range(100):  # the new worker heard its own stop: it is subscribed
            if stops:
                break
            await asyncio.sleep(0.02)
        assert stops == ["msg_run_by_the_old_worker"]  # once, not once per channel
        # The old worker asks for a stop: the new one hears it, once.
        assert await old.publish(OLD_CHANNEL, "stop msg_run_by_the_new_worker") == 2
        for _ in range(100):
            if "msg_run_by_the_new_worker" in stops:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert stops == ["msg_run_by_the_old_worker", "msg_run_by_the_new_worker"]
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed since redis 8.2
        await old.aclose()
