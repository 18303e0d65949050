"""The Redis Streams broker against the in-process broker, side by side in one run, at the same
load: what relaying costs through each (``/api/chat`` and ``/v1/chat/completions``, both of
which publish every event through the broker), and how fast a dropped client is back in step
when it re-attaches with ``Last-Event-ID`` while that load runs: on the worker that runs the
answer, and (Redis only) on a second worker, which mirrors the answer from Redis.

Per run, per broker (the order alternates between runs): a fresh PostgreSQL database, a flushed
Redis database, the mock upstream (bench/upstream.py) and the load generator on core 1,
``streamchat serve`` on core 0 (with Redis: two of them, A and B, sharing Redis and the
database; the load goes to A). Steps: c streams at r tokens/s on each path; the same unpaced
(saturation); then a longer paced load on ``/api/chat`` during which probe loops each start an
answer on A, read k events, drop the connection and re-attach (alternately on A and on B).

    .venv/bin/python -m bench.brokers                  # 3 runs, medians with (min..max)
    .venv/bin/python -m bench.brokers --quick          # smoke run (1 run, small load)
    .venv/bin/python -m bench.brokers --commit HEAD    # measure a commit, not the working tree

The raw results go to ``--json`` (default bench/results/brokers-latest.json), the markdown to
stdout. Needs Linux (/proc, taskset), PostgreSQL (``--pg-admin-url``) and Redis (``--redis``).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import dataclasses
import itertools
import json
import os
import secrets
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import asyncpg
import httptools
import orjson
import redis

from bench.load import (
    Dialect,
    Load,
    LoadResult,
    Target,
    percentile,
    raise_fd_limit,
    raise_priority,
    run_load,
)
from bench.processes import streamchat_process, uvloop_mock_upstream
from bench.procstat import cpu_seconds
from bench.relays import snapshot
from bench.report import _cell, _table, _values, machine
from bench.scenarios import Bench, Plan, _busy_jiffies
from streamchat.sse import SSEDecoder

__all__ = ["BrokerPlan", "Setup", "main", "measure", "render"]

ROOT = Path(__file__).resolve().parent.parent
BROKERS = {"memory": "in-process", "redis": "Redis Streams"}
PATHS: dict[str, tuple[str, Dialect]] = {
    "api": ("/api/chat", "api"),
    "v1": ("/v1/chat/completions", "v1"),
}
MODEL = "gpt-4o-mini"
_TICKS = os.sysconf("SC_CLK_TCK")
Metrics = dict[str, Any]


@dataclass(frozen=True)
class BrokerPlan:
    """One run's load. The re-attach step's load is longer (``reattach_tokens``) so that enough
    probes fit in it; ``probes`` loops run side by side, each reading ``probe_read`` events,
    waiting ``probe_gap`` seconds (a backlog builds up) and re-attaching."""

    concurrency: int = 200
    tokens: int = 100
    rate: float = 20.0
    ramp: float = 1.0
    saturation: int = 200
    saturation_tokens: int = 500
    reattach_tokens: int = 300
    probes: int = 6
    probe_tokens: int = 30
    probe_rate: float = 50.0
    probe_read: int = 5
    probe_gap: float = 0.1
    warmup: int = 20

    @classmethod
    def quick(cls) -> BrokerPlan:
        return cls(50, 40, 20.0, 0.5, 50, 200, 60, 3, warmup=5)

    @classmethod
    def smallest(cls) -> BrokerPlan:
        """The least that runs every code path (tests/test_bench_brokers.py)."""
        return cls(2, 5, 50.0, 0.0, 2, 10, 10, 1, 12, 50.0, 3, 0.05, 1)


@dataclass
class Setup:
    """Where the servers are: PostgreSQL (an admin URL; a database is created per broker per
    run), the Redis server and the database number the benchmark owns (flushed)."""

    pg_admin_url: str = "postgresql://postgres@127.0.0.1:5432/test"
    redis_server: str = "redis://127.0.0.1:6379"
    redis_db: int = 11
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="brokers-")))

    @property
    def redis_url(self) -> str:
        return f"{self.redis_server}/{self.redis_db}"


# -- one SSE response, every event timed -------------------------------------------------------


class _Events(asyncio.Protocol):
    """One request on its own connection; every SSE event with an id, and when it arrived."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.parser = httptools.HttpResponseParser(self)
        self.decoder = SSEDecoder()
        self.transport: asyncio.Transport | None = None
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.events: list[tuple[int, str, str, float]] = []  # id, type, data, arrival
        self.ended = False
        self.changed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._end()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.changed.set()

    def on_body(self, body: bytes) -> None:
        now = time.perf_counter()
        for event in self.decoder.feed(body):
            if event.id:
                self.events.append((int(event.id), event.event, event.data, now))
        self.changed.set()

    def on_message_complete(self) -> None:
        self._end()

    def _end(self) -> None:
        self.ended = True
        self.changed.set()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def until(self, done: Callable[[], bool], what: str) -> None:
        while not done():
            if self.ended:
                raise _ProbeFailed(f"ended before {what} (HTTP {self.status})")
            self.changed.clear()
            await self.changed.wait()


class _ProbeFailed(Exception):
    pass


def _request(url: str, method: str, body: dict[str, Any] | None, last_event_id: int = 0) -> bytes:
    parts = urlsplit(url)
    payload = orjson.dumps(body) if body is not None else b""
    head = (
        f"{method} {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
    )
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    if last_event_id:
        head += f"Last-Event-ID: {last_event_id}\r\n"
    return (head + "Connection: close\r\n\r\n").encode() + payload


async def _open(url: str, request: bytes) -> _Events:
    stream = _Events(request)
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    await loop.create_connection(lambda: stream, parts.hostname or "127.0.0.1", parts.port or 80)
    return stream


# -- the re-attach probe -----------------------------------------------------------------------


async def _probe(origin: str, target: str, plan: BrokerPlan) -> Metrics:
    """Start an answer on ``origin``, read ``probe_read`` events, drop the connection, wait,
    re-attach on ``target`` with Last-Event-ID. An observer attached on ``origin`` the whole time
    says when each event was live, so "caught up" is the first moment the re-attached client
    holds every event the observer holds."""
    prompt = f"[[mock tokens={plan.probe_tokens} rate={plan.probe_rate:g}]]"
    streams: list[_Events] = []
    try:
        start = await _open(
            origin, _request(origin + "/api/chat", "POST", {"message": prompt, "model": MODEL})
        )
        streams.append(start)
        await start.until(lambda: len(start.events) >= plan.probe_read, "k events")
        generation = start.headers[b"x-streamchat-generation-id"].decode()
        k = len(start.events)  # it reads on until dropped: these are ids 1..k
        path = f"/api/generations/{generation}/events"
        observer = await _open(origin, _request(origin + path, "GET", None, k))
        streams.append(observer)
        await observer.until(lambda: observer.status != 0, "the observer's headers")
        start.close()
        await asyncio.sleep(plan.probe_gap)
        sent = time.perf_counter()
        again = await _open(target, _request(target + path, "GET", None, k))
        streams.append(again)
        await again.until(lambda: again.ended, "the end")
        await observer.until(lambda: observer.ended, "the observer's end")
        return _timings(start.events[:k], observer, again, sent, plan.probe_tokens)
    finally:
        for stream in streams:
            stream.close()


def _timings(
    before: list[tuple[int, str, str, float]],
    observer: _Events,
    again: _Events,
    sent: float,
    tokens: int,
) -> Metrics:
    """Check the re-attached stream (ids after ``before``'s, the exact text, done) and time it."""
    k = len(before)
    ids = [e[0] for e in again.events]
    if again.status != 200 or ids != list(range(k + 1, k + 1 + len(ids))):
        raise _ProbeFailed(f"HTTP {again.status}, ids {ids[:3]}..{ids[-3:]} after {k}")
    text = "".join(orjson.loads(e[2])["text"] for e in before + again.events if e[1] == "delta")
    if text != "".join(f" w{i}" for i in range(1, tokens + 1)) or again.events[-1][1] != "done":
        raise _ProbeFailed("wrong text or no done event")
    seen = {e[0]: e[3] for e in observer.events}
    times = [e[3] for e in observer.events]
    caught = None
    for event_id, _, _, arrived in again.events:
        held = bisect.bisect_right(times, arrived)  # events the observer held by then
        if not held or event_id >= observer.events[held - 1][0]:
            caught = arrived
            break
    assert caught is not None  # the last event always qualifies
    lags = [t - seen[i] for i, _, _, t in again.events if t > caught and i in seen]
    return {
        "first_ms": (again.events[0][3] - sent) * 1000,
        "caught_ms": (caught - sent) * 1000,
        "backlog": sum(1 for t in times if t < sent),
        "lag_ms": [lag * 1000 for lag in lags],
    }


async def _probe_loop(
    origin: str, targets: dict[str, str], plan: BrokerPlan, load: asyncio.Task[LoadResult],
    samples: dict[str, list[Metrics | str]], offset: int,
) -> None:  # fmt: skip
    """Probe, cycling through the targets, until the load ends; at least once per target."""
    order = itertools.cycle(
        list(targets)[offset % len(targets) :] + list(targets)[: offset % len(targets)]
    )
    while not load.done() or any(not samples[name] for name in targets):
        name = next(order)
        try:
            async with asyncio.timeout(30):
                samples[name].append(await _probe(origin, targets[name], plan))
        except (_ProbeFailed, OSError, TimeoutError, KeyError, ValueError) as exc:
            samples[name].append(f"{type(exc).__name__}: {exc}"[:200])


def _probe_metrics(samples: list[Metrics | str]) -> Metrics:
    good = [s for s in samples if isinstance(s, dict)]
    failures = [s for s in samples if isinstance(s, str)]
    first = [s["first_ms"] for s in good]
    caught = [s["caught_ms"] for s in good]
    lags = [lag for s in good for lag in s["lag_ms"]]
    return {
        "probes": len(samples),
        "failures": len(failures),
        "failure_reasons": sorted(set(failures))[:5],
        "first_p50_ms": percentile(first, 50),
        "first_p99_ms": percentile(first, 99),
        "caught_p50_ms": percentile(caught, 50),
        "caught_p99_ms": percentile(caught, 99),
        "lag_p50_ms": percentile(lags, 50),
        "lag_p99_ms": percentile(lags, 99),
        "backlog_median": statistics.median([s["backlog"] for s in good]) if good else None,
    }


# -- one broker ----------------------------------------------------------------------------------


@dataclass
class _Cluster:
    a: str
    a_pid: int
    b: str | None
    b_pid: int | None
    mock_pid: int


class _Meter:
    """CPU of each party over one step: relay A, worker B, the Redis server, and the rest of
    the machine (``background``: other people's work, and PostgreSQL)."""

    def __init__(self, cluster: _Cluster, redis_pid: int | None) -> None:
        self.pids = {"b": cluster.b_pid, "redis": redis_pid, "mock": cluster.mock_pid}
        self.pids["a"] = cluster.a_pid
        self.start = time.monotonic()
        self.busy = _busy_jiffies()
        self.before = self._read()

    def _read(self) -> dict[str, float]:
        values = {k: cpu_seconds(pid) if pid else 0.0 for k, pid in self.pids.items()}
        values["self"] = sum(os.times()[:2])
        return values

    def read(self, tokens: int) -> Metrics:
        wall = time.monotonic() - self.start
        after = self._read()
        used = {k: after[k] - self.before[k] for k in after}
        busy = (_busy_jiffies() - self.busy) / _TICKS
        per_1k = 1000 / (tokens / 1000) if tokens else None
        return {
            "b_cpu_ms_per_1k_tokens": used["b"] * per_1k if per_1k and self.pids["b"] else None,
            "redis_cpu_ms_per_1k_tokens": (
                used["redis"] * per_1k if per_1k and self.pids["redis"] else None
            ),
            "background": max(0.0, busy - sum(used.values())) / wall,
            "loadavg": os.getloadavg()[0],
        }


def _redis_pid(url: str) -> int | None:
    with redis.Redis.from_url(url) as client:
        pid = int(cast(dict[str, Any], client.info("server"))["process_id"])
    return pid if Path(f"/proc/{pid}/stat").exists() else None


@contextlib.contextmanager
def _database(admin_url: str) -> Iterator[str]:
    name = f"streamchat_bench_{secrets.token_hex(4)}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_url, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        host = urlsplit(admin_url).netloc
        yield f"postgresql+asyncpg://{host}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def _cluster(broker: str, setup: Setup, bench: Bench) -> Iterator[_Cluster]:
    with contextlib.ExitStack() as stack:
        log = stack.enter_context((setup.logs / f"{broker}.log").open("ab"))
        database = stack.enter_context(_database(setup.pg_admin_url))
        options = {"database_url": database}
        if broker == "redis":
            with redis.Redis.from_url(setup.redis_url) as client:
                client.flushdb()
            options["redis_url"] = setup.redis_url
        upstream, mock_pid = stack.enter_context(uvloop_mock_upstream(bench.client_cpu, log))
        start = streamchat_process
        a, a_pid = stack.enter_context(start(upstream, bench.relay_cpu, log=log, **options))
        b, b_pid = None, None
        if broker == "redis":
            b, b_pid = stack.enter_context(start(upstream, bench.relay_cpu, log=log, **options))
        yield _Cluster(a, a_pid, b, b_pid, mock_pid)


def _load_metrics(result: LoadResult, meter: _Meter) -> Metrics:
    metrics: Metrics = dict(result.summary())
    metrics["failure_reasons"] = dict(result.failures)
    metrics.update(meter.read(result.tokens))
    return metrics


def _broker_steps(broker: str, setup: Setup, bench: Bench, plan: BrokerPlan) -> dict[str, Metrics]:
    redis_pid = _redis_pid(setup.redis_url) if broker == "redis" else None
    out: dict[str, Metrics] = {}
    with _cluster(broker, setup, bench) as cluster:
        targets = {key: Target(cluster.a + path, dialect) for key, (path, dialect) in PATHS.items()}
        for key, target in targets.items():
            warm = bench.run(run_load(target, Load(plan.warmup, 5)))
            if warm.failed:
                return {"error": {"warm-up": key, "failures": dict(warm.failures)}}
        paced = Load(plan.concurrency, plan.tokens, plan.rate, ramp=plan.ramp)
        unpaced = Load(plan.saturation, plan.saturation_tokens)
        for step, load in (("paced", paced), ("saturation", unpaced)):
            for key, target in targets.items():
                _progress(f"  {broker} {key}-{step} ...")
                meter = _Meter(cluster, redis_pid)
                result = bench.run(run_load(target, load, cluster.a_pid))
                out[f"{key}-{step}"] = _load_metrics(result, meter)
                _progress(f"    {_brief(out[f'{key}-{step}'])}")
        _progress(f"  {broker} re-attach under load ...")
        out.update(bench.run(_reattach(cluster, targets["api"], plan, redis_pid)))
        _progress(f"    {_brief(out['reattach-load'])}")
    return out


async def _reattach(
    cluster: _Cluster, target: Target, plan: BrokerPlan, redis_pid: int | None
) -> dict[str, Metrics]:
    load = Load(plan.concurrency, plan.reattach_tokens, plan.rate, ramp=plan.ramp)
    meter = _Meter(cluster, redis_pid)
    running = asyncio.create_task(run_load(target, load, cluster.a_pid))
    await asyncio.sleep(plan.ramp)  # every stream of the load has started
    targets = {"same": cluster.a} | ({"other": cluster.b} if cluster.b else {})
    samples: dict[str, list[Metrics | str]] = {name: [] for name in targets}
    await asyncio.gather(
        *(_probe_loop(cluster.a, targets, plan, running, samples, i) for i in range(plan.probes))
    )
    out = {"reattach-load": _load_metrics(await running, meter)}
    for name, found in samples.items():
        out[f"reattach-{name}"] = _probe_metrics(found)
    return out


# -- runs and the report -----------------------------------------------------------------------


def measure(plan: BrokerPlan, setup: Setup, bench: Bench, runs: int, results: Metrics) -> None:
    """Every broker ``runs`` times (the order alternates), into ``results["runs"]``."""
    for number in range(runs):
        run: dict[str, dict[str, Metrics]] = {}
        results["runs"].append(run)
        order = list(BROKERS) if number % 2 == 0 else list(reversed(BROKERS))
        for broker in order:
            waited, background = bench._wait_quiet()
            _progress(f"run {number + 1}/{runs} {broker} (waited {waited} s, busy {background})")
            run[broker] = _broker_steps(broker, setup, bench, plan)


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _brief(metrics: Metrics) -> str:
    keys = ("failures", "tokens_per_s", "cpu_ms_per_1k_tokens", "ttft_p99_ms", "gap_p99_ms")
    return " ".join(f"{k}={metrics.get(k)!r:.8}" for k in keys)


_STEPS = [("api-paced", "/api/chat"), ("v1-paced", "/v1"), ("api-saturation", "/api/chat"),
          ("v1-saturation", "/v1"), ("reattach-load", "/api/chat")]  # fmt: skip
_LOAD_COLUMNS = [
    ("failures", "failures", 0),
    ("tokens/s", "tokens_per_s", 0),
    ("relay CPU ms / 1k tokens", "cpu_ms_per_1k_tokens", 1),
    ("TTFT p50 ms", "ttft_p50_ms", 1),
    ("TTFT p99 ms", "ttft_p99_ms", 1),
    ("gap p50 ms", "gap_p50_ms", 1),
    ("gap p99 ms", "gap_p99_ms", 1),
    ("worker B CPU ms / 1k", "b_cpu_ms_per_1k_tokens", 1),
    ("redis-server CPU ms / 1k", "redis_cpu_ms_per_1k_tokens", 1),
    ("load avg", "loadavg", 1),
]
_PROBE_COLUMNS = [
    ("probes", "probes", 0),
    ("failures", "failures", 0),
    ("first event p50 ms", "first_p50_ms", 2),
    ("first event p99 ms", "first_p99_ms", 2),
    ("caught up p50 ms", "caught_p50_ms", 2),
    ("caught up p99 ms", "caught_p99_ms", 2),
    ("live lag p50 ms", "lag_p50_ms", 2),
    ("live lag p99 ms", "lag_p99_ms", 2),
    ("backlog (events)", "backlog_median", 0),
]


def _ratios(results: Metrics, step: str) -> list[float]:
    out = []
    for run in results["runs"]:
        mine = run.get("redis", {}).get(step, {}).get("cpu_ms_per_1k_tokens")
        base = run.get("memory", {}).get(step, {}).get("cpu_ms_per_1k_tokens")
        if isinstance(mine, int | float) and isinstance(base, int | float) and base:
            out.append(mine / base)
    return out


def _load_table(results: Metrics, plan: Metrics) -> list[str]:
    names = {
        "api-paced": f"c={plan['concurrency']}, {plan['rate']:g} tokens/s, {plan['tokens']} tokens",
        "v1-paced": f"c={plan['concurrency']}, {plan['rate']:g} tokens/s, {plan['tokens']} tokens",
        "api-saturation": f"c={plan['saturation']} unpaced, {plan['saturation_tokens']} tokens",
        "v1-saturation": f"c={plan['saturation']} unpaced, {plan['saturation_tokens']} tokens",
        "reattach-load": f"c={plan['concurrency']}, {plan['rate']:g} tokens/s, "
        f"{plan['reattach_tokens']} tokens, with the probes",
    }
    rows = []
    for step, path in _STEPS:
        for broker, name in BROKERS.items():
            row = [path, names[step], name]
            row += [_cell(_values(results, broker, step, m), d) for _, m, d in _LOAD_COLUMNS]
            row.append(_cell(_ratios(results, step), 2) if broker == "redis" else "1 (base)")
            rows.append(row)
    header = ["path", "load", "broker", *(t for t, *_ in _LOAD_COLUMNS), "relay CPU vs in-process"]
    return _table(header, rows)


def _probe_table(results: Metrics) -> list[str]:
    rows = []
    for broker, where, label in (
        ("memory", "same", "in-process, on the worker that runs the answer"),
        ("redis", "same", "Redis Streams, on the worker that runs the answer (A)"),
        ("redis", "other", "Redis Streams, on the other worker (B)"),
    ):
        sid = f"reattach-{where}"
        row = [label] + [_cell(_values(results, broker, sid, m), d) for _, m, d in _PROBE_COLUMNS]
        rows.append(row)
    return _table(["re-attach", *(t for t, *_ in _PROBE_COLUMNS)], rows)


def render(results: Metrics) -> str:
    """The machine, the command and both tables, as markdown."""
    m, plan = results["machine"], results["plan"]
    runs = len(results["runs"])
    load = results.get("loadavg", {})
    out = [
        f"Machine: {m['cpu']}; {m['kernel']}; Python {m['python']}; {results['servers']}.",
        f"Versions: {m['packages']}.",
        f"streamchat measured at commit {m['commit']}.",
        f"Command: `{results['command']}` ({runs} run{'s' * (runs != 1)}; cells are the median "
        "with (min..max) over the runs). Relays (A, and B with Redis) pinned to core 0; mock "
        "upstream and load generator on core 1; PostgreSQL for both brokers.",
        f"Load average (1 min) at the start {load.get('start', '?')}, at the end "
        f"{load.get('end', '?')}.",
        "",
        "#### Relay throughput and cost (load on worker A)",
        "",
        *_load_table(results, plan),
        "",
        f"#### Re-attach during the paced load: {plan['probes']} probe loops, each an answer of "
        f"{plan['probe_tokens']} tokens at {plan['probe_rate']:g} tokens/s, dropped after "
        f"{plan['probe_read']} events, re-attached {plan['probe_gap'] * 1000:g} ms later",
        "",
        *_probe_table(results),
    ]
    return "\n".join(out) + "\n"


def _servers(setup: Setup) -> str:
    with redis.Redis.from_url(setup.redis_url) as client:
        version = cast(dict[str, Any], client.info("server"))["redis_version"]

    async def pg() -> str:
        conn = await asyncpg.connect(setup.pg_admin_url, timeout=5)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return f"Redis {version}, PostgreSQL {asyncio.run(pg())}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (1 run)")
    parser.add_argument("--runs", type=int, default=None, help="runs (default 3; --quick: 1)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/brokers-latest.json")
    parser.add_argument("--commit", default=None, help="measure streamchat as of this commit")
    parser.add_argument("--redis", default=Setup.redis_server, help="Redis server URL, no db")
    parser.add_argument("--redis-db", type=int, default=Setup.redis_db, help="flushed; ours")
    parser.add_argument("--pg-admin-url", default=Setup.pg_admin_url)
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument("--no-priority", action="store_true", help="leave nice alone")
    args = parser.parse_args()
    plan = BrokerPlan.quick() if args.quick else BrokerPlan()
    runs = args.runs or (1 if args.quick else 3)
    setup = Setup(args.pg_admin_url, args.redis, args.redis_db)
    _progress(f"logs in {setup.logs}")
    paths, commit = [str(ROOT)], None
    if args.commit is not None:
        tree, commit = snapshot(args.commit, setup.logs / "src")
        paths.insert(0, str(tree / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    nice = None if args.no_priority else raise_priority()
    _progress(f"open files {raise_fd_limit()}; pinning {pin}; nice {nice}")
    results: Metrics = {
        "command": shlex.join([".venv/bin/python", "-m", "bench.brokers", *sys.argv[1:]]),
        "machine": machine(ROOT, commit),
        "servers": _servers(setup),
        "plan": dataclasses.asdict(plan),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "loadavg": {"start": round(os.getloadavg()[0], 2)},
        "runs": [],
    }
    bench = Bench(Plan(), setup.logs, pin=pin)
    try:
        measure(plan, setup, bench, runs, results)
    finally:
        bench.close()
        results["loadavg"]["end"] = round(os.getloadavg()[0], 2)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    print(render(results))


if __name__ == "__main__":
    main()
