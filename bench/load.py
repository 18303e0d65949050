"""The load generator: N concurrent streaming requests, every token checked, every arrival timed.

One process, one uvloop event loop, one raw :class:`asyncio.Protocol` per stream with
``httptools`` parsing the response, so that this client and the mock upstream (sharing the other
core) stay out of the way up to ~35,000 tokens/s.

The mock upstream answers ``[[mock tokens=N rate=R ttft_ms=T]]`` with the tokens " w1", " w2",
... " wN". A :class:`Verifier` holds that exact text and checks every piece the relay sends
against it, in order, so a missing, repeated, reordered or altered token fails the stream; it
records when each token became complete. Three wire contracts:

- ``v1``: OpenAI chat-completion chunks (``data: {...choices[0].delta.content}``, then
  ``data: [DONE]``);
- ``api``: streamchat's typed events (``event: delta`` ``data: {"text"}``, then ``event: done``);
- ``text``: the tutorial's raw text under ``text/event-stream``, complete when the body ends.

    .venv/bin/python -m bench.load URL --dialect v1 -c 200 --tokens 100 --rate 20 [--pid PID]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import functools
import itertools
import os
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, cast
from urllib.parse import urlsplit

import httptools
import orjson
import uvloop

from bench.procstat import cpu_times, memory_kb

__all__ = [
    "Load",
    "LoadResult",
    "Target",
    "Verifier",
    "hold_idle",
    "percentile",
    "raise_fd_limit",
    "raise_priority",
    "run_load",
]

Dialect = Literal["v1", "api", "text"]
MOCK_KEY = "sk-bench-0000000000"


@dataclass(frozen=True)
class Target:
    """Where to send the requests and which wire contract the answer comes in."""

    url: str
    dialect: Dialect
    model: str = "gpt-4o-mini"
    api_key: str | None = MOCK_KEY

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    def request(self, prompt: str) -> bytes:
        parts = urlsplit(self.url)
        if self.dialect == "v1":
            payload: dict[str, object] = {
                "model": self.model,
                "stream": True,
                "messages": [{"role": "user", "content": prompt}],
            }
        elif self.dialect == "api":
            payload = {"message": prompt, "model": self.model}
        else:
            payload = {"message": prompt}
        body = orjson.dumps(payload)
        auth = f"Authorization: Bearer {self.api_key}\r\n" if self.api_key else ""
        head = (
            f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"{auth}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        return head.encode() + body


@dataclass(frozen=True)
class Load:
    """``concurrency`` streams of ``tokens`` tokens at ``rate`` tokens/s (0: unpaced) after
    ``ttft_ms``; their starts spread evenly over ``ramp`` seconds. ``directives`` adds mock keys
    (``drop_after=2`` ...). ``timeout`` bounds each stream (default: its nominal length + 30 s)."""

    concurrency: int
    tokens: int
    rate: float = 0.0
    ttft_ms: int = 0
    ramp: float = 0.0
    directives: str = ""
    timeout: float | None = None

    def prompt(self) -> str:
        keys = f"tokens={self.tokens} rate={self.rate:g} ttft_ms={self.ttft_ms} {self.directives}"
        return f"[[mock {keys.strip()}]]"

    def stream_timeout(self) -> float:
        if self.timeout is not None:
            return self.timeout
        nominal = self.ttft_ms / 1000 + (self.tokens / self.rate if self.rate else 0)
        return self.ramp + nominal + 30.0


@dataclass
class LoadResult:
    """Every stream's outcome. Times in seconds; CPU and memory of the relay when a pid was
    given (``None`` otherwise)."""

    streams: int = 0
    ok: int = 0
    tokens: int = 0
    wall: float = 0.0
    ttfts: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    cpu: float | None = None
    cpu_system: float | None = None
    peak_rss_kb: int | None = None

    @property
    def failed(self) -> int:
        return self.streams - self.ok

    def cpu_ms_per_1k(self) -> float | None:
        if self.cpu is None or not self.tokens:
            return None
        return self.cpu * 1000 / (self.tokens / 1000)

    def summary(self) -> dict[str, float | int | None]:
        ms = 1000.0
        return {
            "streams": self.streams,
            "failures": self.failed,
            "tokens": self.tokens,
            "wall_s": self.wall,
            "tokens_per_s": self.tokens / self.wall if self.wall else 0.0,
            "ttft_p50_ms": _scaled(percentile(self.ttfts, 50), ms),
            "ttft_p99_ms": _scaled(percentile(self.ttfts, 99), ms),
            "gap_p50_ms": _scaled(percentile(self.gaps, 50), ms),
            "gap_p99_ms": _scaled(percentile(self.gaps, 99), ms),
            "gap_max_ms": _scaled(max(self.gaps) if self.gaps else None, ms),
            "cpu_s": self.cpu,
            "cpu_ms_per_1k_tokens": self.cpu_ms_per_1k(),
            "cpu_share": self.cpu / self.wall if self.cpu is not None and self.wall else None,
            "cpu_system_share": (
                self.cpu_system / self.cpu if self.cpu and self.cpu_system is not None else None
            ),
            "peak_rss_mb": None if self.peak_rss_kb is None else self.peak_rss_kb / 1024,
        }


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# -- verification (sans-IO) -------------------------------------------------------------------


class Verifier:
    """Checks one answer against the exact expected text, piece by piece, and records when each
    token became complete. ``error`` is set at the first deviation and never cleared."""

    __slots__ = (
        "_buffer",
        "_ends",
        "_event_handler",
        "_expected",
        "_feed",
        "_pos",
        "error",
        "finished",
        "times",
    )

    def __init__(self, tokens: int, dialect: Dialect) -> None:
        pieces = [f" w{i}" for i in range(1, tokens + 1)]
        ends, total = [], 0
        for piece in pieces:
            total += len(piece)
            ends.append(total)
        text = "".join(pieces)
        self._expected: str | bytes = text.encode() if dialect == "text" else text
        self._ends = ends
        self._pos = 0
        self._buffer = b""
        self._feed = self._text_chunk if dialect == "text" else self._sse_chunk
        self._event_handler = self._v1_event if dialect == "v1" else self._api_event
        self.times: list[float] = []
        self.finished = False
        self.error: str | None = None

    @property
    def complete(self) -> bool:
        return self.error is None and self.finished and self._pos == len(self._expected)

    def feed(self, data: bytes, now: float) -> None:
        if self.error is None:
            self._feed(data, now)

    def end(self) -> None:
        """The response body ended; a raw-text answer is finished here."""
        if self._feed == self._text_chunk:
            self.finished = True
        if self.error is None and self._pos != len(self._expected):
            self.error = f"incomplete: {len(self.times)} of {len(self._ends)} tokens"
        elif self.error is None and not self.finished:
            self.error = "no end-of-stream marker"

    def _piece(self, piece: str | bytes, now: float) -> None:
        if not self._expected.startswith(piece, self._pos):  # type: ignore[arg-type]
            self.error = self._mismatch(piece)
            return
        self._pos += len(piece)
        ends, times = self._ends, self.times
        while len(times) < len(ends) and ends[len(times)] <= self._pos:
            times.append(now)

    def _mismatch(self, piece: str | bytes) -> str:
        """Which token went wrong, and what arrived from its start on."""
        expected = self._expected[self._pos : self._pos + len(piece)]
        same = next(
            (i for i, (a, b) in enumerate(zip(piece, expected, strict=False)) if a != b), None
        )
        at = self._pos + (min(len(piece), len(expected)) if same is None else same)
        token = bisect.bisect_right(self._ends, at) + 1
        start = self._ends[token - 2] if token > 1 else 0
        return f"wrong text at token {token}: got {piece[max(0, start - self._pos) :][:20]!r}"

    def _text_chunk(self, data: bytes, now: float) -> None:
        self._piece(data, now)

    def _sse_chunk(self, data: bytes, now: float) -> None:
        buffer = self._buffer + data if self._buffer else data
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        blocks = buffer.split(b"\n\n")
        self._buffer = blocks.pop()
        for block in blocks:
            name = b""
            payload = None
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    payload = line[6:] if line[5:6] == b" " else line[5:]
                elif line.startswith(b"event:"):
                    name = line[6:].strip()
            if payload is not None:
                self._event_handler(name, payload, now)
            if self.error is not None:
                return

    def _v1_event(self, name: bytes, payload: bytes, now: float) -> None:
        if payload == b"[DONE]":
            self.finished = True
            return
        chunk = orjson.loads(payload)
        if chunk.get("error"):
            self.error = f"in-band error: {str(chunk['error'])[:200]}"
            return
        choices = chunk.get("choices")
        if choices:
            content = (choices[0].get("delta") or {}).get("content")
            if content:
                self._piece(content, now)

    def _api_event(self, name: bytes, payload: bytes, now: float) -> None:
        if name == b"delta":
            self._piece(orjson.loads(payload)["text"], now)
        elif name == b"done":
            self.finished = True
        elif name == b"error":
            self.error = f"error event: {payload[:200].decode(errors='replace')}"


# -- one stream over a raw protocol -----------------------------------------------------------


class _Stream(asyncio.Protocol):
    """One request on its own connection; ``done`` resolves when the response ends or fails."""

    def __init__(self, request: bytes, verifier: Verifier, done: asyncio.Future[None]) -> None:
        self.request = request
        self.verifier = verifier
        self.done = done
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.status = 0
        self.failure: str | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish(f"bad HTTP: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(None)

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status != 200:
            self._finish(f"HTTP {self.status}")

    def on_body(self, body: bytes) -> None:
        if self.status == 200:
            self.verifier.feed(body, time.perf_counter())

    def on_message_complete(self) -> None:
        self._finish(None)

    def _finish(self, failure: str | None) -> None:
        if self.done.done():
            return
        if failure is None and not self.status:
            failure = "connection closed before the response"
        elif failure is None:
            self.verifier.end()
            failure = self.verifier.error
        self.failure = failure
        self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def _one(
    target: Target, load: Load, request: bytes, delay: float, result: LoadResult
) -> None:
    await asyncio.sleep(delay)
    loop = asyncio.get_running_loop()
    verifier = Verifier(load.tokens, target.dialect)
    done: asyncio.Future[None] = loop.create_future()
    stream = _Stream(request, verifier, done)
    host, port = target.address
    start = time.perf_counter()
    try:
        async with asyncio.timeout(load.stream_timeout()):
            await loop.create_connection(lambda: stream, host, port)
            await done
        failure = stream.failure
    except TimeoutError:
        failure = "timeout"
    except OSError as exc:
        failure = f"connect: {exc.strerror or exc}"
    finally:
        stream.abort()
    result.streams += 1
    times = verifier.times
    if times:
        result.ttfts.append(times[0] - start)
        result.gaps.extend([b - a for a, b in itertools.pairwise(times)])
        result.tokens += len(times)
    if failure is None:
        result.ok += 1
    else:
        result.failures[_reason(failure)] += 1


def _same(stream: _Stream) -> _Stream:
    return stream


def _reason(failure: str) -> str:
    """Failures grouped by kind (the token number and text left out)."""
    return failure.split(":")[0]


async def run_load(target: Target, load: Load, pid: int | None = None) -> LoadResult:
    """Run ``load`` against ``target``; with ``pid``, measure that process tree's CPU time
    (utime + stime) across the run and its peak RSS (VmHWM) at the end."""
    result = LoadResult()
    request = target.request(load.prompt())
    spacing = load.ramp / load.concurrency if load.concurrency else 0.0
    before = cpu_times(pid) if pid is not None else None
    start = time.perf_counter()
    await asyncio.gather(
        *(_one(target, load, request, i * spacing, result) for i in range(load.concurrency))
    )
    result.wall = time.perf_counter() - start
    if pid is not None and before is not None:
        user, system = cpu_times(pid)
        result.cpu = user + system - sum(before)
        result.cpu_system = system - before[1]
        result.peak_rss_kb = memory_kb(pid, "VmHWM")
    return result


async def hold_idle(
    target: Target, load: Load, measure: Callable[[], Awaitable[None]]
) -> LoadResult:
    """Open ``load.concurrency`` streams, await ``measure()`` while they are all open (it decides
    when they have settled), then cut them. A stream that ends before that counts as failed."""
    loop = asyncio.get_running_loop()
    request = target.request(load.prompt())
    host, port = target.address
    result = LoadResult(streams=load.concurrency)
    streams: list[_Stream] = []
    try:
        for _ in range(load.concurrency):
            stream = _Stream(request, Verifier(load.tokens, target.dialect), loop.create_future())
            streams.append(stream)
            await loop.create_connection(functools.partial(_same, stream), host, port)
        async with asyncio.timeout(load.stream_timeout()):
            await measure()
        result.ok = sum(1 for s in streams if not s.done.done())
        for stream in streams:
            if stream.done.done():
                result.failures[_reason(stream.failure or "ended early")] += 1
    finally:
        for stream in streams:
            stream.abort()
    return result


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raise_priority(nice: int = -20) -> int | None:
    """Run this process (and the children it starts) at ``nice`` so that other work on a
    shared machine cannot take the benchmark's cores; None when not permitted (not root)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError:
        return None
    return os.getpriority(os.PRIO_PROCESS, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="full URL, e.g. http://127.0.0.1:8000/v1/chat/completions")
    parser.add_argument("--dialect", choices=["v1", "api", "text"], default="v1")
    parser.add_argument("-c", "--concurrency", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.0, help="tokens/s per stream (0: unpaced)")
    parser.add_argument("--ttft-ms", type=int, default=0)
    parser.add_argument("--ramp", type=float, default=0.0, help="seconds to spread the starts")
    parser.add_argument("--pid", type=int, default=None, help="relay process to measure")
    args = parser.parse_args()
    raise_fd_limit()
    target = Target(args.url, args.dialect)
    load = Load(args.concurrency, args.tokens, args.rate, args.ttft_ms, args.ramp)
    result = uvloop.run(run_load(target, load, args.pid))
    for key, value in result.summary().items():
        print(f"{key:22} {value}")
    for reason, count in result.failures.most_common():
        print(f"failure {reason!r}: {count}")


if __name__ == "__main__":
    main()
