"""The relays under test and the scenarios run against each, one fresh relay process (and mock
upstream) per scenario so that peak RSS and CPU belong to that scenario alone.

The relay runs on core 0; the mock upstream and the load generator share core 1. Around every
measurement, /proc/stat says how busy the machine was: ``client_core`` is the mock upstream plus
the load generator (near 100 % means they, not the relay, were the limit) and ``background`` is
everything else on the machine (other people's work; it disturbs latencies, not the relay's
own CPU seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import statistics
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import aiohttp
import uvloop

from bench.load import Dialect, Load, LoadResult, Target, hold_idle, run_load
from bench.processes import nginx, streamchat_process, tutorial_app, uvloop_mock_upstream
from bench.procstat import cpu_seconds, memory_kb

__all__ = ["RELAYS", "Bench", "Plan", "Relay"]

RELAY_CPU = 0
CLIENT_CPU = 1
T = TypeVar("T")
Metrics = dict[str, Any]


@dataclass(frozen=True)
class Relay:
    key: str
    name: str
    path: str
    dialect: Dialect


RELAYS = (
    Relay("direct", "direct to the mock upstream (no relay)", "/v1/chat/completions", "v1"),
    Relay("v1", "streamchat /v1/chat/completions", "/v1/chat/completions", "v1"),
    Relay("api", "streamchat /api/chat (SQLite)", "/api/chat", "api"),
    Relay(
        "tutorial",
        "tutorial design: Flask + openai SDK, threaded dev server",
        "/stream-chat",
        "text",
    ),
    Relay("nginx", "nginx proxy_pass, buffering off", "/v1/chat/completions", "v1"),
)


@dataclass(frozen=True)
class Plan:
    """What one run measures. ``quick`` is a smoke run of the same code paths."""

    ttft_requests: int = 20
    ladder: tuple[int, ...] = (50, 200, 500, 1000, 2000)
    ladder_tokens: int = 100
    ladder_rate: float = 20.0
    saturation: int = 200
    saturation_tokens: int = 500
    idle_streams: int = 1000
    idle_ttft_ms: int = 30_000
    ramp: float = 1.0
    scenarios: tuple[str, ...] = ("ttft", "ladder", "saturation", "idle")

    @classmethod
    def quick(cls) -> Plan:
        return cls(5, (50, 200), 40, 20.0, 50, 200, 100, 30_000, 0.5)


@dataclass
class Bench:
    """Runs scenarios; owns the event loop, the log directory and the pinning decision."""

    plan: Plan
    logs: Path
    pin: bool = True
    quiet_below: float = 0.25  # cores busy with other work before a scenario may start
    quiet_wait: float = 10.0
    runner: asyncio.Runner = field(init=False)

    def __post_init__(self) -> None:
        self.runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        if self.pin:
            os.sched_setaffinity(0, {CLIENT_CPU})

    def close(self) -> None:
        self.runner.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    @property
    def relay_cpu(self) -> int | None:
        return RELAY_CPU if self.pin else None

    @property
    def client_cpu(self) -> int | None:
        return CLIENT_CPU if self.pin else None

    # -- one scenario ------------------------------------------------------------------------

    def scenario(self, relay: Relay, name: str, concurrency: int = 0) -> Metrics:
        if name == "idle" and relay.key == "direct":
            return {"skipped": "no relay process"}
        waited, background = self._wait_quiet()
        log_path = self.logs / f"{relay.key}-{name}-{concurrency}.log"
        with log_path.open("ab") as log, contextlib.ExitStack() as stack:
            upstream, mock_pid = stack.enter_context(uvloop_mock_upstream(self.client_cpu, log))
            base, pid = stack.enter_context(self._start(relay, upstream, log))
            target = Target(base + relay.path, relay.dialect)
            warm = self.run(run_load(target, Load(min(max(concurrency, 1), 20), 5)))
            if warm.failed:
                return {"error": f"warm-up failed: {dict(warm.failures)}"}
            meter = _Meter(pid, mock_pid)
            metrics = self._measure(name, target, pid, upstream, concurrency)
            metrics.update(meter.read())
        metrics["quiet_wait_s"] = waited
        metrics["background_before"] = background
        return metrics

    def _measure(
        self, name: str, target: Target, pid: int | None, upstream: str, concurrency: int
    ) -> Metrics:
        plan = self.plan
        if name == "ttft":
            return self._ttft(target)
        if name == "ladder":
            load = Load(concurrency, plan.ladder_tokens, plan.ladder_rate, ramp=plan.ramp)
            return _load_metrics(self.run(run_load(target, load, pid)))
        if name == "saturation":
            load = Load(concurrency, plan.saturation_tokens)
            return _load_metrics(self.run(run_load(target, load, pid)))
        if name == "idle" and pid is not None:
            return self.run(_idle(target, pid, upstream, concurrency, plan.idle_ttft_ms))
        raise ValueError(f"unknown scenario {name!r}")

    def _ttft(self, target: Target) -> Metrics:
        ttfts: list[float] = []
        failures = 0
        for _ in range(self.plan.ttft_requests):
            result = self.run(run_load(target, Load(1, 5)))
            failures += result.failed
            ttfts.extend(result.ttfts)
        ms = [t * 1000 for t in ttfts]
        return {
            "ttft_median_ms": statistics.median(ms) if ms else None,
            "ttft_min_ms": min(ms, default=None),
            "ttft_max_ms": max(ms, default=None),
            "failures": failures,
        }

    @contextlib.contextmanager
    def _start(
        self, relay: Relay, upstream: str, log: IO[bytes]
    ) -> Iterator[tuple[str, int | None]]:
        cpu = self.relay_cpu
        if relay.key == "direct":
            yield upstream.removesuffix("/v1"), None
        elif relay.key in ("v1", "api"):
            with streamchat_process(upstream, cpu, log=log) as started:
                yield started
        elif relay.key == "tutorial":
            with tutorial_app(upstream, cpu, log) as started:
                yield started
        elif relay.key == "nginx":
            with nginx(upstream, cpu, log) as started:
                yield started
        else:
            raise ValueError(f"unknown relay {relay.key!r}")

    def _wait_quiet(self) -> tuple[float, float]:
        """Wait (bounded) until other work on the machine uses less than ``quiet_below`` cores;
        returns (seconds waited, cores busy in the last sample)."""
        start = time.monotonic()
        while True:
            before = _busy_jiffies()
            time.sleep(1.0)
            busy = (_busy_jiffies() - before) / _TICKS
            if busy < self.quiet_below or time.monotonic() - start > self.quiet_wait:
                return round(time.monotonic() - start, 1), round(busy, 2)


def _load_metrics(result: LoadResult) -> Metrics:
    metrics: Metrics = dict(result.summary())
    metrics["failure_reasons"] = dict(result.failures)
    return metrics


async def _idle(target: Target, pid: int, upstream: str, count: int, ttft_ms: int) -> Metrics:
    """RSS added by ``count`` open streams that wait for a slow first token."""
    before = memory_kb(pid)
    holder: dict[str, int] = {}

    async def measure() -> None:
        await _until_upstream_holds(upstream, count)
        await _until_idle(pid)
        holder["rss"] = memory_kb(pid)

    result = await hold_idle(target, Load(count, 1, ttft_ms=ttft_ms), measure)
    after = holder.get("rss", before)
    return {
        "rss_before_mb": before / 1024,
        "rss_idle_mb": after / 1024,
        "kb_per_stream": (after - before) / count,
        "streams": count,
        "failures": result.failed,
        "failure_reasons": dict(result.failures),
    }


async def _until_upstream_holds(upstream: str, count: int) -> None:
    """Poll the mock's log until ``count`` requests are open there."""
    url = upstream.removesuffix("/v1") + "/_mock/log"
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(url) as response:
                records = await response.json()
            if sum(1 for r in records if r["finished"] is None) >= count:
                return
            await asyncio.sleep(0.25)


async def _until_idle(pid: int, quiet: float = 0.02, limit: float = 10.0) -> None:
    """Wait until the relay used less than ``quiet`` CPU seconds in half a second."""
    deadline = time.monotonic() + limit
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = cpu_seconds(pid)
        if now - last < quiet:
            return
        last = now


# -- how busy the machine was ------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _busy_jiffies() -> int:
    """Every core's non-idle time (user, nice, system, irq, softirq, steal) in clock ticks."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return user + nice + system + irq + softirq + steal


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Meter:
    """CPU of the client core (mock + load generator) and of everything else, as a share of one
    core over the measurement."""

    def __init__(self, relay_pid: int | None, mock_pid: int) -> None:
        self.relay_pid = relay_pid
        self.mock_pid = mock_pid
        self.start = time.monotonic()
        self.busy = _busy_jiffies()
        self.relay = cpu_seconds(relay_pid) if relay_pid is not None else 0.0
        self.client = cpu_seconds(mock_pid) + _self_cpu()

    def read(self) -> Metrics:
        wall = time.monotonic() - self.start
        busy = (_busy_jiffies() - self.busy) / _TICKS
        relay = (cpu_seconds(self.relay_pid) if self.relay_pid is not None else 0.0) - self.relay
        client = cpu_seconds(self.mock_pid) + _self_cpu() - self.client
        return {
            "client_core": client / wall,
            "background": max(0.0, busy - relay - client) / wall,
        }
