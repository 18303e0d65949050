"""Issue 16, item 8 (carried): a worker whose event loop was starved by load for longer than
its lease looked dead to the others, which ended its answers as ``interrupted`` while it still
streamed them. The lease is now kept by a thread of its own while the loop turns at all (a
loop stalled past LOOP_STALL_S, or a dead process, still loses it). A real process stands for
the starved worker: its loop is blocked for several leases."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from streamchat.fanout.redis import RedisBroker

pytestmark = pytest.mark.redis
REDIS_URL = "redis://127.0.0.1:6379/9"
LEASE_S = 0.5
STARVED_S = 4 * LEASE_S
WORKER = f"""
import asyncio, sys, time
from streamchat.fanout.redis import RedisBroker

async def main():
    async def on_stop(stream_id):
        pass
    broker = RedisBroker({REDIS_URL!r}, lease={LEASE_S})
    await broker.start(on_stop)
    await broker.create("msg_busy", "local")
    print("running", flush=True)
    sys.stdin.readline()
    time.sleep({STARVED_S})  # the loop does not turn: as under a load it cannot keep up with
    print("fed", flush=True)
    sys.stdin.readline()

asyncio.run(main())
"""


@pytest.fixture
async def janitor() -> AsyncIterator[RedisBroker]:
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.flushdb()
    await client.aclose()

    async def on_stop(stream_id: str) -> None:
        pass

    broker = RedisBroker(REDIS_URL, lease=LEASE_S)
    await broker.start(on_stop)
    yield broker
    await broker.close()


async def test_a_starved_worker_keeps_its_lease_and_a_dead_one_loses_it(
    janitor: RedisBroker,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"running\n"
        assert await janitor.orphans() == []
        proc.stdin.write(b"starve\n")
        await proc.stdin.drain()
        seen: list[list[str]] = []
        fed = asyncio.create_task(proc.stdout.readline())
        while not fed.done():  # all the while its loop is blocked
            seen.append(await janitor.orphans())
            await asyncio.sleep(0.1)
        assert await fed == b"fed\n"
        assert len(seen) >= 10 and all(orphans == [] for orphans in seen), seen
        proc.kill()  # a worker that dies loses its lease as before
        await proc.wait()
        for _ in range(100):
            if await janitor.orphans() == ["msg_busy"]:
                break
            await asyncio.sleep(0.05)
        assert await janitor.orphans() == ["msg_busy"]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
