"""The Redis Streams broker: several workers (and machines) share every answer's events.

Layout, for generation ``G`` (prefix ``sc:``)::

    sc:ev:G        Redis Stream; entry id ``<event id>-1``; fields t (type), d (JSON data)
    sc:meta:G      hash: owner, worker, last, finished
    sc:running     set of generations not finished yet (the janitor's list)
    sc:worker:W    a worker's lease: exists while worker W is alive (refreshed by its heartbeat)
    sc:att:G       exists while a client on another worker is attached to G
    sc:control:D   pub/sub channel of database D: ``stop <G>``, ``revoke <subject>`` (a stop is
                   also sent on ``sc:control``,
                   the channel of the version before, for rolling upgrades)
    sc:win:K       sorted set: the uses of sliding window K in its last period (score: µs)

Local first: the worker that runs a generation keeps its log in memory (a
:class:`~streamchat.fanout.memory.MemoryBroker`) and serves its own clients from there; every
published event is also appended to Redis, in order, by one writer task per worker that sends
whatever has accumulated in one pipeline. A client that attaches on another worker gets a local
mirror fed by one ``XREAD`` loop for that stream. When Redis is unavailable the local clients
are unaffected (degraded: re-attach elsewhere fails with a clear 503); the events not yet in
Redis are sent when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from streamchat.errors import NotFound, ServiceError
from streamchat.events import Event
from streamchat.fanout import StopHandler, StreamInfo, Subscription
from streamchat.fanout.memory import MemoryBroker

__all__ = ["RedisBroker"]

log = logging.getLogger("streamchat.fanout")

_CONTROL = "sc:control"  # + the database number: pub/sub channels span every database
# Before the database number was added, every worker used the bare channel. Stops are also sent
# and heard there, so workers of both versions stop each other's answers during a rolling
# upgrade (a stop for an answer a worker does not run is ignored, a repeated one too).
_LEGACY_CONTROL = _CONTROL
_CLOSE_WAIT_S = 3.0
WRITE_WINDOW_S = 0.01
# Seconds a new stream waits for Redis to take its owner before Redis counts as away.
CREATE_TIMEOUT_S = 1.0
_RUNNING = "sc:running"
# A worker whose event loop has not turned for this long loses its lease even though its
# process lives (a hung loop); a loop merely starved by load for less keeps it.
LOOP_STALL_S = 30.0
# One sliding window's check and count, atomic, on Redis's clock (every worker's alike): drop
# the uses older than the window; count one more if there is room (0), else the microseconds
# until the oldest use that keeps the window full leaves it.
# forget(): delete the idempotency key only while it still holds this request's value.
_FORGET = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


def _unavailable(exc: BaseException) -> ServiceError:
    return ServiceError(
        f"the stream broker (Redis) is unavailable: {type(exc).__name__}",
        code="broker_unavailable",
    )


class _Pending:
    """Events published locally and not yet written to Redis, per stream, in order."""

    __slots__ = ("events", "finished", "owner")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.events: list[Event] = []
        self.finished = False


class RedisBroker:
    def __init__(
        self,
        url: str,
        *,
        replay_ttl: float = 900.0,
        lease: float = 5.0,
        max_events: int = 200_000,
    ) -> None:
        self.worker = secrets.token_hex(6)
        self.replay_ttl = replay_ttl
        self.lease = lease
        self.max_events = max_events
        # redis-py's stubs type every reply as a union of shapes; replies are read below as the
        # bytes they are (decode_responses is off).
        self._redis: Any = aioredis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=10
        )
        self._channel = f"{_CONTROL}:{self._redis.connection_pool.connection_kwargs.get('db', 0)}"
        self._local = MemoryBroker(replay_ttl)
        self._mirrors: dict[str, asyncio.Task[None]] = {}
        self._pending: dict[str, _Pending] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._on_stop: StopHandler | None = None
        self._closing = False
        self._url = url
        self._loop_tick = time.monotonic()  # the event loop's last turn, seen by the lease thread
        self._lease_stop = threading.Event()
        self._lease_thread: threading.Thread | None = None
        self._revoked: list[Callable[[str], None]] = []
        self._heard: dict[str, float] = {}  # stops heard on this database's channel: when
        self._take = self._redis.register_script(_TAKE)
        self._forget = self._redis.register_script(_FORGET)
        self.available = True

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, on_stop: StopHandler) -> None:
        self._on_stop = on_stop
        await self._local.start(on_stop)
        with contextlib.suppress(RedisError, OSError):
            await self._redis.set(f"sc:worker:{self.worker}", 1, px=int(self.lease * 1000))
        self._lease_thread = threading.Thread(
            target=self._keep_lease, name=f"redis lease {self.worker}", daemon=True
        )
        self._lease_thread.start()
        self._tasks = [
            asyncio.create_task(self._writer(), name="redis writer"),
            asyncio.create_task(self._heartbeat(), name="redis heartbeat"),
            asyncio.create_task(self._control(), name="redis control"),
        ]

    async def close(self) -> None:
        # redis-py can swallow a cancellation that arrives while a command is in flight, so
        # every loop also stops on ``_closing``, and nothing here waits without a limit.
        self._closing = True
        self._lease_stop.set()
        self._wake.set()
        writer, others = self._tasks[:1], self._tasks[1:]
        tasks = [*others, *self._mirrors.values()]
        for task in tasks:
            task.cancel()
        tasks += writer  # the writer sends what is pending, then ends by itself
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=_CLOSE_WAIT_S)
            for task in stuck:
                task.cancel()
        if self._lease_thread is not None:  # it must not renew the lease deleted below
            await asyncio.to_thread(self._lease_thread.join, _CLOSE_WAIT_S)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(3):
                if self._pending:  # the last events (a shutdown's endings) go out too
                    await self._write(self._pending)
                await self._redis.delete(f"sc:worker:{self.worker}")
        await self._local.close()
        await self._redis.aclose()

    # -- the running worker's side -----------------------------------------------------------

    async def create(self, stream_id: str, owner_id: str) -> None:
        """The stream's owner is in Redis before this returns, so every worker knows the answer
        from its first byte on (a stop or a re-attach sent to another worker at once used to
        find nothing for up to the writer's window). While Redis is away, the writer sends it
        with the events once Redis is back."""
        await self._local.create(stream_id, owner_id)
        if self.available:
            try:
                async with asyncio.timeout(CREATE_TIMEOUT_S):
                    await self._write({stream_id: _Pending(owner_id)})
            except TimeoutError:
                # A late reply is not a lost Redis (a busy event loop under a ramp of new
                # answers is enough): the writer sends the owner with the first events, and
                # marks Redis down if its own write fails (socket_timeout).
                pass
            except (RedisError, OSError) as exc:
                self._mark_down(exc)
            else:
                return
        self._pending[stream_id] = _Pending(owner_id)
        self._wake.set()

    def publish(self, stream_id: str, events: Sequence[Event]) -> None:
        self._local.publish(stream_id, events)
        pending = self._pending.get(stream_id)
        if pending is None:
            pending = self._pending[stream_id] = _Pending("")
        pending.events.extend(events)
        if events[-1].terminal:
            pending.finished = True
        self._wake.set()

    async def _writer(self) -> None:
        """Send what accumulated, in order, in one pipeline; retry while Redis is down.
        On close, send what is pending once more and end."""
        while not self._closing:
            await self._wake.wait()
            if not self._closing:
                # Let the events of every stream gather for a moment: one pipeline carries
                # them all (at c=200 and 20 tokens/s, a pipeline per token was ~110 CPU ms per
                # 1,000 tokens; bench.brokers). Other workers see them this much later.
                await asyncio.sleep(WRITE_WINDOW_S)
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending, {}
                try:
                    await self._write(batch)
                except (RedisError, OSError) as exc:
                    self._mark_down(exc)
                    self._requeue(batch)
                    if self._closing:
                        return  # close() makes the last attempt
                    await asyncio.sleep(0.5)
                except asyncio.CancelledError:
                    self._requeue(batch)
                    raise
                else:
                    self._mark_up()

    def _requeue(self, batch: dict[str, _Pending]) -> None:
        """Put an unsent batch back in front of what was published since."""
        for key, newer in self._pending.items():
            older = batch.setdefault(key, _Pending(newer.owner))
            older.events.extend(newer.events)
            older.finished |= newer.finished
        self._pending = batch

    async def _write(self, batch: dict[str, _Pending]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for stream_id, pending in batch.items():
            meta = f"sc:meta:{stream_id}"
            if pending.owner:
                pipe.hset(meta, mapping={"owner": pending.owner, "worker": self.worker})
                pipe.sadd(_RUNNING, stream_id)
            for event in pending.events:
                pipe.xadd(
                    f"sc:ev:{stream_id}",
                    {"t": event.type, "d": event.json()},
                    id=f"{event.id}-1",
                    maxlen=self.max_events,
                    approximate=True,
                )
            if pending.events:
                pipe.hset(meta, "last", pending.events[-1].id)
            if pending.finished:
                pipe.hset(meta, "finished", 1)
                pipe.srem(_RUNNING, stream_id)
                ttl = max(1, int(self.replay_ttl))
                pipe.expire(meta, ttl)
                pipe.expire(f"sc:ev:{stream_id}", ttl)
        for result in await pipe.execute(raise_on_error=False):
            # An event a failed earlier attempt already wrote is refused as "equal or smaller
            # than the top item": it is there, which is all that matters.
            if isinstance(result, Exception) and "equal or smaller" not in str(result):
                raise result

    async def remember(self, key: str, value: str, ttl: float) -> str | None:
        """``SET NX`` in Redis, so every worker sees the same key; in this process while Redis
        is away (a retry sent to another worker meanwhile may then start again)."""
        try:
            kept = await self._redis.set(
                f"sc:idem:{key}", value, nx=True, px=int(ttl * 1000), get=True
            )
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            return await self._local.remember(key, value, ttl)
        return None if kept is None else str(kept.decode() if isinstance(kept, bytes) else kept)

    async def forget(self, key: str, value: str) -> None:
        try:
            await self._forget(keys=[f"sc:idem:{key}"], args=[value])
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
        await self._local.forget(key, value)

    async def take(self, key: str, limit: int, window: float) -> float:
        """The sliding window in Redis (one script); counted in this process while Redis is
        away, rather than refusing everyone."""
        try:
            waited = await self._take(
                keys=[f"sc:win:{key}"], args=[limit, int(window * 1e6), secrets.token_hex(8)]
            )
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            return await self._local.take(key, limit, window)
        return int(waited) / 1e6

    def _mark_down(self, exc: BaseException) -> None:
        if self.available:
            log.error("Redis is unavailable (%s); streams stay local until it returns", exc)
        self.available = False

    def _mark_up(self) -> None:
        if not self.available:
            log.warning("Redis is back; the events kept locally were sent")
        self.available = True

    def _keep_lease(self) -> None:
        """The lease, refreshed from a thread of its own: a loop starved by load (seen at load
        average 7 on two cores) let the lease lapse while the worker still streamed, and
        another worker ended its answers as ``interrupted``. A thread gets the interpreter
        every few milliseconds however busy the loop is; it stops refreshing once the loop has
        not turned for ``LOOP_STALL_S`` (hung) and dies with the process."""
        client = redis.Redis.from_url(self._url, socket_timeout=2, socket_connect_timeout=2)
        key, ttl = f"sc:worker:{self.worker}", int(self.lease * 1000)
        try:
            while not self._lease_stop.wait(self.lease / 3):
                if time.monotonic() - self._loop_tick < LOOP_STALL_S:
                    with contextlib.suppress(RedisError, OSError):
                        client.set(key, 1, px=ttl)
        finally:
            client.close()

    async def _heartbeat(self) -> None:
        while not self._closing:
            self._loop_tick = time.monotonic()
            try:
                pipe = self._redis.pipeline(transaction=False)
                pipe.set(f"sc:worker:{self.worker}", 1, px=int(self.lease * 1000))
                for stream_id in list(self._mirrors):
                    if await self._local.listeners(stream_id):
                        pipe.set(f"sc:att:{stream_id}", 1, px=int(self.lease * 1000))
                await pipe.execute()
                self._mark_up()
            except (RedisError, OSError) as exc:
                self._mark_down(exc)
            await asyncio.sleep(self.lease / 3)

    async def _control(self) -> None:
        while not self._closing:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self._channel, _LEGACY_CONTROL)
                async for message in pubsub.listen():
                    if self._closing:
                        return
                    if message.get("type") != "message":
                        continue
                    command, _, stream_id = message["data"].decode().partition(" ")
                    legacy = message["channel"] == _LEGACY_CONTROL.encode()
                    if command == "revoke" and not legacy:
                        for handler in self._revoked:
                            handler(stream_id)  # here: a subject, not a stream
                        continue
                    if command != "stop" or self._on_stop is None:
                        continue
                    if self._heard_before(stream_id, legacy):
                        continue  # the same stop again, on the previous version's channel
                    await self._on_stop(stream_id)
            except (RedisError, OSError) as exc:
                self._mark_down(exc)
                await asyncio.sleep(1)

    def on_revoked(self, handler: Callable[[str], None]) -> None:
        """Call ``handler(subject)`` for every revocation announced by any worker (or the CLI)."""
        self._revoked.append(handler)

    async def announce_revoked(self, subject: str) -> None:
        """Tell every worker that the credentials of ``subject`` (``user:<id>``,
        ``session:<hash>``) no longer hold, so that they drop what they cached. Without Redis
        the workers' cache bound (``--credential-cache-ttl``) still applies."""
        try:
            await self._redis.publish(self._channel, f"revoke {subject}")
        except (RedisError, OSError) as exc:
            self._mark_down(exc)

    def _heard_before(self, stream_id: str, legacy: bool) -> bool:
        """A new worker sends each stop on both channels, the new one first (one connection
        delivers them in order): the legacy copy of a stop just heard is not acted on twice."""
        now = time.monotonic()
        if not legacy:
            if len(self._heard) > 1000:
                self._heard = {k: t for k, t in self._heard.items() if now - t < 10}
            self._heard[stream_id] = now
            return False
        heard = self._heard.pop(stream_id, None)
        return heard is not None and now - heard < 10

    # -- any worker's side -------------------------------------------------------------------

    async def subscribe(self, stream_id: str, after: int) -> Subscription:
        if await self._local.info(stream_id) is None:
            await self._mirror(stream_id)
        return await self._local.subscribe(stream_id, after)

    async def _mirror(self, stream_id: str) -> None:
        """Load the stream's backlog from Redis, then follow it with one reader task."""
        meta = await self._meta(stream_id)
        if meta is None:
            raise NotFound(f"no live stream {stream_id}")
        events = await self._range(stream_id)
        if await self._local.info(stream_id) is not None:
            return  # another subscriber mirrored it while we read
        await self._local.create(stream_id, meta["owner"])
        if events:
            self._local.publish(stream_id, events)
        if not (events and events[-1].terminal):
            after = events[-1].id if events else 0
            self._mirrors[stream_id] = asyncio.create_task(self._follow(stream_id, after))

    async def _range(self, stream_id: str) -> list[Event]:
        try:
            entries = await self._redis.xrange(f"sc:ev:{stream_id}")
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            raise _unavailable(exc) from exc
        return [_event(entry_id, fields) for entry_id, fields in entries]

    async def _follow(self, stream_id: str, after: int) -> None:
        """Copy ``sc:ev:<id>`` into the local mirror until its terminal event."""
        position = f"{after}-1" if after else "0-0"
        key = f"sc:ev:{stream_id}"
        try:
            while not self._closing:
                try:
                    answer = await self._redis.xread({key: position}, block=1000, count=1000)
                except (RedisError, OSError) as exc:
                    self._mark_down(exc)
                    await asyncio.sleep(0.5)
                    continue
                events = [_event(i, f) for _, entries in answer for i, f in entries]
                if not events:
                    continue
                position = f"{events[-1].id}-1"
                # This worker may have published some itself (it adopted the stream of a dead
                # worker): the mirror takes only what its log does not hold yet.
                local = await self._local.info(stream_id)
                held = 0 if local is None else local.last_id
                fresh = [e for e in events if e.id > held]
                if fresh:
                    self._local.publish(stream_id, fresh)
                if events[-1].terminal:
                    return
        finally:
            self._mirrors.pop(stream_id, None)

    async def _meta(self, stream_id: str) -> dict[str, str] | None:
        try:
            raw: dict[bytes, bytes] = await self._redis.hgetall(f"sc:meta:{stream_id}")
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            raise _unavailable(exc) from exc
        if not raw or b"owner" not in raw:
            return None
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def info(self, stream_id: str) -> StreamInfo | None:
        local = await self._local.info(stream_id)
        if local is not None:
            return local
        meta = await self._meta(stream_id)
        if meta is None:
            return None
        return StreamInfo(meta["owner"], int(meta.get("last", 0)), meta.get("finished") == "1")

    async def listeners(self, stream_id: str) -> int:
        count = await self._local.listeners(stream_id)
        if count or not self.available:
            return count or (0 if self.available else 1)  # no evidence while down: keep going
        try:
            return int(await self._redis.exists(f"sc:att:{stream_id}"))
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            return 1

    async def request_stop(self, stream_id: str) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for channel in (self._channel, _LEGACY_CONTROL):
                pipe.publish(channel, f"stop {stream_id}")
            await pipe.execute()
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            raise _unavailable(exc) from exc

    # -- recovery ----------------------------------------------------------------------------

    async def orphans(self) -> list[str]:
        """Unfinished generations whose worker's lease has expired."""
        try:
            running = [m.decode() for m in await self._redis.smembers(_RUNNING)]
            orphaned: list[str] = []
            for stream_id in running:
                worker = await self._redis.hget(f"sc:meta:{stream_id}", "worker")
                if worker is None or not await self._redis.exists(f"sc:worker:{worker.decode()}"):
                    orphaned.append(stream_id)
            return orphaned
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            return []

    async def live(self) -> list[str]:
        """Every unfinished generation, on any worker."""
        try:
            return [m.decode() for m in await self._redis.smembers(_RUNNING)]
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            raise _unavailable(exc) from exc

    async def claim(self, stream_id: str) -> tuple[str, list[Event]] | None:
        """Take over an orphan, once across all workers: its owner and every event it has.
        Afterwards this worker publishes its ending like any of its own streams."""
        try:
            won = await self._redis.set(f"sc:claim:{stream_id}", self.worker, nx=True, ex=60)
            if not won:
                return None
            meta = await self._meta(stream_id)
            events = await self._range(stream_id)
        except (RedisError, OSError, ServiceError):
            return None
        owner = meta["owner"] if meta else ""
        if await self._local.info(stream_id) is None:
            await self._local.create(stream_id, owner)
            if events:
                self._local.publish(stream_id, events)
        return owner, events


def _event(entry_id: bytes, fields: dict[bytes, bytes]) -> Event:
    return Event.from_json(int(entry_id.split(b"-")[0]), fields[b"t"].decode(), fields[b"d"])
