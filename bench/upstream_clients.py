"""The cheapest correct upstream client: what one token costs on the client side of a streamed
``POST /chat/completions``, for each way streamchat could read it.

Candidates, each reading the same answers with the same SSE decoder (``streamchat.sse``) and
chunk parser (``streamchat.upstream.chunks.parse_chunk``):

- ``aiohttp``: ``ClientSession.post`` + ``response.content.iter_any()`` (streamchat before
  upstream/connections.py);
- ``httpx``: ``AsyncClient.stream`` + ``aiter_raw()`` (if installed);
- ``pool``: upstream/connections.py, the body pushed from ``data_received`` into a sink;
- ``provider``: ``OpenAICompatible.run`` itself (the pool plus the deadlines' watchdog).

Each candidate runs in a process of its own on uvloop, pinned to core 0; the mock upstream
(bench/upstream.py, uvloop) and this driver share core 1. A worker opens its connections with a
short warm-up round, then runs N concurrent streams whose starts spread over the ramp; every
answer is checked token by token (" w1" ... " wN", in order, a finish_reason and ``[DONE]``).
The worker reads its own CPU time (/proc utime + stime) around the measured round and its peak
RSS (VmHWM) after it. Cells are the median over the runs with (min..max); the ratio to aiohttp
is taken within each run (candidates side by side, their order rotated per run), which is what
to compare on a machine shared with other work: the 1-minute load average is recorded.

    .venv/bin/python -m bench.upstream_clients            # 3 runs, c=200 and c=1,000 paced,
                                                          # c=200 unpaced
    .venv/bin/python -m bench.upstream_clients --quick    # 1 small run, a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

from bench.load import MOCK_KEY, raise_fd_limit
from bench.processes import uvloop_mock_upstream
from bench.procstat import cpu_times, memory_kb
from bench.relays import ROOT
from bench.report import _cell, _table, _values, machine
from streamchat.chat import ChunkDelta, UpstreamRequest
from streamchat.settings import ModelConfig, ProviderConfig
from streamchat.sse import SSEDecoder
from streamchat.upstream.chunks import parse_chunk
from streamchat.upstream.connections import Pool, Target
from streamchat.upstream.openai import Deadlines, OpenAICompatible

__all__ = ["CANDIDATES", "Step", "available", "measure", "render"]

CANDIDATES = {
    "aiohttp": "aiohttp (post + content.iter_any)",
    "httpx": "httpx (stream + aiter_raw)",
    "pool": "streamchat Pool/Connection (push)",
    "provider": "streamchat OpenAICompatible.run (pool + deadlines)",
}
BASE = "aiohttp"
MODEL = "gpt-4o-mini"
HEADERS = {
    "Authorization": f"Bearer {MOCK_KEY}",
    "Content-Type": "application/json",
    "Accept": "text/event-stream",
    "Accept-Encoding": "identity",
}


@dataclass(frozen=True)
class Step:
    """``concurrency`` streams of ``tokens`` tokens at ``rate`` tokens/s (0: unpaced), their
    starts spread over ``ramp`` seconds."""

    name: str
    title: str
    concurrency: int
    tokens: int
    rate: float
    ramp: float

    def prompt(self) -> str:
        return f"[[mock tokens={self.tokens} rate={self.rate:g}]]"

    def timeout(self) -> float:
        return self.ramp + (self.tokens / self.rate if self.rate else 0.0) + 30.0


FULL = [
    Step("paced-200", "c=200, 100 tokens at 20/s", 200, 100, 20.0, 1.0),
    Step("paced-1000", "c=1,000, 100 tokens at 20/s", 1000, 100, 20.0, 1.0),
    Step("unpaced-200", "c=200, 500 tokens unpaced", 200, 500, 0.0, 0.0),
]
QUICK = [
    Step("paced-50", "c=50, 20 tokens at 20/s", 50, 20, 20.0, 0.5),
    Step("unpaced-50", "c=50, 100 tokens unpaced", 50, 100, 0.0, 0.0),
]


def available() -> list[str]:
    """The candidates that can run here (httpx is a dev dependency)."""
    return [n for n in CANDIDATES if n != "httpx" or importlib.util.find_spec("httpx")]


# -- one answer, checked ---------------------------------------------------------------------


class Answer:
    """The exact expected text, checked delta by delta; ``error`` is the first deviation."""

    __slots__ = ("done", "error", "expected", "finished", "pos", "tokens")

    def __init__(self, tokens: int) -> None:
        self.expected = "".join(f" w{i}" for i in range(1, tokens + 1))
        self.pos = 0
        self.tokens = 0
        self.finished = False  # a finish_reason
        self.done = False  # [DONE]
        self.error: str | None = None

    def delta(self, delta: ChunkDelta) -> None:
        content = delta.content
        if content:
            if self.error is None and self.expected.startswith(content, self.pos):
                self.pos += len(content)
                self.tokens += 1
            elif self.error is None:
                self.error = f"wrong text at {self.pos}"
        if delta.finish_reason:
            self.finished = True

    def feed(self, decoder: SSEDecoder, data: bytes) -> bool:
        """Decode and parse ``data``; True once ``[DONE]`` arrived."""
        for event in decoder.feed(data):
            if event.data == "[DONE]":
                self.done = True
                return True
            self.delta(parse_chunk(event.data))
        return False

    def failure(self) -> str | None:
        if self.error is not None:
            return self.error
        if self.pos != len(self.expected):
            return "incomplete"
        return None if self.finished and self.done else "no end marker"


@functools.cache
def request_body(step: Step) -> bytes:
    return orjson.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": step.prompt()}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )


# -- the candidates (in the worker) ----------------------------------------------------------

Streamer = Callable[[Answer, Step], Awaitable[None]]


@contextlib.asynccontextmanager
async def _aiohttp(url: str) -> AsyncIterator[Streamer]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def stream(answer: Answer, step: Step) -> None:
            post = session.post(url + "/chat/completions", data=request_body(step), headers=HEADERS)
            async with post as r:
                if r.status != 200:
                    answer.error = f"HTTP {r.status}"
                    return
                decoder = SSEDecoder()
                async for data in r.content.iter_any():  # to the end: the connection is kept
                    answer.feed(decoder, data)

        yield stream


@contextlib.asynccontextmanager
async def _httpx(url: str) -> AsyncIterator[Streamer]:
    import httpx  # a dev dependency: only when this candidate runs

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, timeout=None) as client:

        async def stream(answer: Answer, step: Step) -> None:
            body = request_body(step)
            post = client.stream("POST", url + "/chat/completions", content=body, headers=HEADERS)
            async with post as r:
                if r.status_code != 200:
                    answer.error = f"HTTP {r.status_code}"
                    return
                decoder = SSEDecoder()
                async for data in r.aiter_raw():
                    answer.feed(decoder, data)

        yield stream


@contextlib.asynccontextmanager
async def _pool(url: str) -> AsyncIterator[Streamer]:
    pool = Pool(connect_timeout=30.0)
    target = Target(url)

    async def stream(answer: Answer, step: Step) -> None:
        request = target.request("POST", "/chat/completions", HEADERS, request_body(step))
        conn = await pool.send(target, request)
        try:
            if conn.status != 200:
                answer.error = f"HTTP {conn.status}"
                return
            decoder = SSEDecoder()

            def sink(data: bytes) -> None:
                if answer.feed(decoder, data):
                    conn.end()

            conn.attach(sink)
            await conn.ended
            if not conn.complete:  # [DONE] came; the last chunk is on its way
                async with asyncio.timeout(1.0):
                    await conn.message_done
        finally:
            pool.release(conn)

    try:
        yield stream
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def _provider(url: str) -> AsyncIterator[Streamer]:
    config = ProviderConfig(
        name="mock",
        preset="openai",
        base_url=url,
        api_key=MOCK_KEY,  # type: ignore[arg-type]
        models=[ModelConfig(id=MODEL)],
        list_models=False,
    )
    async with aiohttp.ClientSession() as session:
        pool = Pool(connect_timeout=30.0)
        provider = OpenAICompatible(config, session, pool, Deadlines(60, 60, 600), {})

        async def stream(answer: Answer, step: Step) -> None:
            messages = [{"role": "user", "content": step.prompt()}]
            await provider.run(UpstreamRequest(MODEL, messages), answer.delta)
            answer.done = True  # run returns normally only after [DONE] or a finish_reason

        try:
            yield stream
        finally:
            await provider.close()


_CLIENTS: dict[str, Callable[[str], contextlib.AbstractAsyncContextManager[Streamer]]] = {
    "aiohttp": _aiohttp,
    "httpx": _httpx,
    "pool": _pool,
    "provider": _provider,
}


async def _round(stream: Streamer, step: Step, failures: Counter[str]) -> int:
    """One round of ``step``; the tokens of the answers that arrived whole and in order."""
    spacing = step.ramp / step.concurrency if step.concurrency else 0.0
    tokens = 0

    async def one(delay: float) -> None:
        nonlocal tokens
        await asyncio.sleep(delay)
        answer = Answer(step.tokens)
        try:
            async with asyncio.timeout(step.timeout()):
                await stream(answer, step)
            failure = answer.failure()
        except Exception as exc:
            failure = type(exc).__name__
        if failure is None:
            tokens += answer.tokens
        else:
            failures[failure] += 1

    await asyncio.gather(*(one(i * spacing) for i in range(step.concurrency)))
    return tokens


async def work(candidate: str, url: str, step: Step) -> dict[str, Any]:
    """A warm-up round (2 tokens each: the connections open, first-use work is done), then the
    measured round of ``step`` on the same client."""
    warm = Step("warm-up", "", step.concurrency, 2, 0.0, 0.0)
    failures: Counter[str] = Counter()
    warm_failures: Counter[str] = Counter()
    pid = os.getpid()
    async with _CLIENTS[candidate](url) as stream:
        await _round(stream, warm, warm_failures)
        before = cpu_times(pid)
        start = time.perf_counter()
        tokens = await _round(stream, step, failures)
        wall = time.perf_counter() - start
        after = cpu_times(pid)
    cpu = sum(after) - sum(before)
    return {
        "streams": step.concurrency,
        "failures": sum(failures.values()),
        "failure_kinds": dict(failures),
        "warmup_failures": sum(warm_failures.values()),
        "tokens": tokens,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_system_share": (after[1] - before[1]) / cpu if cpu else None,
        "cpu_ms_per_1k_tokens": cpu * 1000 / (tokens / 1000) if tokens else None,
        "peak_rss_mb": memory_kb(pid, "VmHWM") / 1024,
    }


def _worker(args: argparse.Namespace) -> None:
    raise_fd_limit()
    step = Step(**json.loads(args.step))
    result = uvloop.run(work(args.worker, args.url, step))
    print(json.dumps(result), flush=True)


# -- the driver ------------------------------------------------------------------------------


def run_worker(candidate: str, url: str, step: Step, pin: bool) -> dict[str, Any]:
    """One candidate, one step, in a fresh process (on core 0 when ``pin``)."""
    args = [sys.executable, "-m", "bench.upstream_clients", "--worker", candidate]
    args += ["--url", url, "--step", json.dumps(asdict(step))]
    if pin:
        args = ["taskset", "-c", "0", *args]
    done = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=step.timeout() + 120, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{candidate} on {step.name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(
    steps: list[Step],
    candidates: list[str],
    runs: int,
    results: dict[str, Any],
    *,
    pin: bool = True,
    log: Path | None = None,
    quiet: bool = False,
) -> None:
    """Every run: each step, every candidate side by side (order rotated per run), into
    ``results["runs"]``; the mock upstream on core 1 when ``pin``."""
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(log or os.devnull, "ab"))
        url, _ = stack.enter_context(uvloop_mock_upstream(1 if pin else None, sink))
        for number in range(runs):
            measured: dict[str, dict[str, Any]] = {}
            order = candidates[number % len(candidates) :] + candidates[: number % len(candidates)]
            for step in steps:
                for candidate in order:
                    load = os.getloadavg()[0]
                    metrics = run_worker(candidate, url, step, pin)
                    metrics["loadavg_1m"] = load
                    measured.setdefault(candidate, {})[step.name] = metrics
                    if not quiet:
                        _progress(number, step, candidate, metrics)
            results["runs"].append(measured)


def _progress(number: int, step: Step, candidate: str, metrics: dict[str, Any]) -> None:
    cost = metrics["cpu_ms_per_1k_tokens"]
    shown = "—" if cost is None else f"{cost:.1f}"
    print(
        f"run {number + 1} {step.name} {candidate}: {shown} CPU ms/1k tokens, "
        f"{metrics['failures']} failures, load {metrics['loadavg_1m']:.2f}",
        file=sys.stderr,
        flush=True,
    )


# -- the report ------------------------------------------------------------------------------


def _ratios(results: dict[str, Any], candidate: str, step: str) -> list[float]:
    """``candidate``'s cost over aiohttp's, within each run."""
    out = []
    for run in results["runs"]:
        mine = run.get(candidate, {}).get(step, {}).get("cpu_ms_per_1k_tokens")
        base = run.get(BASE, {}).get(step, {}).get("cpu_ms_per_1k_tokens")
        if mine and base:
            out.append(mine / base)
    return out


def render(results: dict[str, Any]) -> str:
    """The tables, the machine, the command and the load the machine was under, as markdown."""
    steps = [Step(**s) for s in results["plan"]["steps"]]
    names = [n for n in CANDIDATES if any(n in run for run in results["runs"])]
    m = results["machine"]
    loads = [
        metrics["loadavg_1m"]
        for run in results["runs"]
        for by_step in run.values()
        for metrics in by_step.values()
    ]
    runs = len(results["runs"])
    out = [
        f"Machine: {m['cpu']}; {m['kernel']}; Python {m['python']}.",
        f"Versions: {m['packages']}.",
        f"streamchat measured at commit {m['commit']}.",
        f"Command: `{results['command']}` ({runs} run{'s' * (runs != 1)}; cells are the median "
        "with (min..max) over the runs). Each client in its own process on uvloop, pinned to "
        "core 0; the mock upstream (uvloop) on core 1. 1-minute load average before each "
        f"measurement: {min(loads):.2f}..{max(loads):.2f} (2 cores; other work shared them: "
        "compare the ratios, measured side by side).",
        "",
        "### Client CPU ms per 1,000 tokens",
        "",
    ]
    header = ["client", *(s.title for s in steps)]
    cost = [
        [
            CANDIDATES[n],
            *(_cell(_values(results, n, s.name, "cpu_ms_per_1k_tokens")) for s in steps),
        ]
        for n in names
    ]
    out += _table(header, cost)
    out += ["", f"### Cost relative to {BASE} in the same run", ""]
    ratio = [
        [CANDIDATES[n], *("1 (base)" if n == BASE else _cell(_ratios(results, n, s.name), 2)
                          for s in steps)]
        for n in names
    ]  # fmt: skip
    out += _table(header, ratio)
    out += ["", "### Peak RSS MB (whole client process) and failed streams", ""]
    detail = [
        [
            CANDIDATES[n],
            *(
                f"{_cell(_values(results, n, s.name, 'peak_rss_mb'))}; "
                f"{_cell(_values(results, n, s.name, 'failures'), 0)} failed"
                for s in steps
            ),
        ]
        for n in names
    ]
    out += _table(header, detail)
    return "\n".join(out) + "\n"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one small run: a smoke test")
    parser.add_argument("--runs", type=int, default=None, help="default 3 (--quick: 1)")
    parser.add_argument("--candidates", default=",".join(available()))
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--step", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    if args.worker:
        _worker(args)
        return
    raise_fd_limit()
    os.sched_setaffinity(0, {1})  # this driver waits beside the mock upstream
    steps = QUICK if args.quick else FULL
    runs = args.runs or (1 if args.quick else 3)
    candidates = [c for c in args.candidates.split(",") if c]
    unknown = set(candidates) - set(available())
    if unknown:
        raise SystemExit(f"unknown or unavailable candidates: {', '.join(sorted(unknown))}")
    results: dict[str, Any] = {
        "runs": [],
        "plan": {"steps": [asdict(s) for s in steps], "candidates": candidates},
        "machine": machine(ROOT),
        "command": shlex.join([".venv/bin/python", "-m", "bench.upstream_clients", *sys.argv[1:]]),
    }
    with tempfile.TemporaryDirectory() as work:
        measure(steps, candidates, runs, results, log=Path(work) / "mock.log")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(render(results))


if __name__ == "__main__":
    main()
