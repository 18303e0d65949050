"""A soak: two ``streamchat serve`` workers under a mixed load, with a Redis restart and a
PostgreSQL outage in the middle; it prints what happened to every answer, whether any was lost,
each worker's RSS and open fds at the start and the end, and the p99 TTFT of normal clients
during each phase. Loopback only, bounded (``--duration``, 600 s by default).

    .venv/bin/python -m bench.soak --duration 90

The workers use a Redis of their own (``redis-server`` on a free port, restarted for real, no
persistence: what it held is gone, as after a restart without a dump) and the shared PostgreSQL
at 127.0.0.1:5432 (a fresh database) through a relay that cuts every connection and refuses new
ones for a few seconds (a restart as its clients see it; the shared server is left alone).

Load, per second of the run: page-style answers (``POST /api/chat``, read to the end),
``/v1`` streams, re-attaches on the other worker, stops, provider faults (a drop, an in-band
error, a 503), and now and then a frozen reader, a slow reader, a 20 MB body and a malformed one.
An answer is *lost* when its client saw ``done`` and the stored text differs, or when it is
still stored ``streaming`` once everything is quiet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.processes import MOCK_KEY, free_port, mock_upstream, wait_for_port
from bench.procstat import memory_kb, process_tree
from streamchat.sse import SSEDecoder

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
MODEL = "gpt-4o-mini"
NORMAL = "[[mock tokens=30 rate=60]]"
FAULTS = (
    "[[mock tokens=20 rate=60 drop_after=5]]",
    "[[mock tokens=20 error_after=3]]",
    "[[mock status=503]]",
)


@dataclass
class Tally:
    started: int = 0
    completed: int = 0
    stopped: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    ttft: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    page_answers: list[tuple[str, str, str, bool]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    phase: str = "steady"


# -- services -----------------------------------------------------------------------------------


def start_redis(port: int, directory: Path | None) -> subprocess.Popen[bytes]:
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", *(["--dir", str(directory)] if directory else [])]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL)


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "streamchat", "db", "upgrade"], env=env, check=True)


def start_workers(ports: tuple[int, int], env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    serve = [sys.executable, "-m", "streamchat", "serve", "--port"]
    return [
        subprocess.Popen([*serve, str(port)], env=env, stdout=subprocess.DEVNULL) for port in ports
    ]


@contextlib.contextmanager
def redis_server(port: int, directory: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    holder = {"proc": start_redis(port, directory)}
    wait_for_port(port)
    try:
        yield holder
    finally:
        holder["proc"].terminate()
        holder["proc"].wait(10)


class Relay:
    """TCP relay to PostgreSQL that can cut every connection and refuse new ones."""

    def __init__(self) -> None:
        self.down = False
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 5432)
        self.writers += [writer, up_writer]
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def cut(self) -> None:
        self.down = True
        for writer in self.writers:
            writer.close()
        self.writers.clear()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[str]:
    name = f"streamchat_soak_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield name
    finally:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def workers_of(parent: int) -> list[int]:
    return [pid for pid in process_tree(parent) if pid != parent]


def usage(pids: list[int]) -> dict[int, tuple[int, int]]:
    """(RSS kB, open fds) per worker."""
    return {pid: (memory_kb(pid), len(os.listdir(f"/proc/{pid}/fd"))) for pid in pids}


# -- clients ------------------------------------------------------------------------------------


async def sse(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    tally: Tally,
    kind: str,
    stop_after: int | None = None,
    **kwargs: Any,
) -> tuple[list[tuple[str, Any]], str]:
    """Read an SSE response: its (event, data) list and why it ended."""
    started = time.monotonic()
    decoder = SSEDecoder()
    events: list[tuple[str, Any]] = []
    first: float | None = None
    try:
        async with client.stream(method, url, **kwargs) as response:
            if response.status_code != 200:
                body = json.loads(await response.aread() or b"{}")
                code = (body.get("error") or {}).get("code", str(response.status_code))
                tally.refused[f"{kind} {response.status_code} {code}"] += 1
                return [], "refused"
            async for chunk in response.aiter_raw():
                for event in decoder.feed(chunk):
                    data = json.loads(event.data) if event.data.startswith("{") else event.data
                    events.append((event.event, data))
                    if first is None and event.event in ("delta", "message"):
                        first = time.monotonic() - started
                if stop_after is not None and len(events) >= stop_after:
                    return events, "left"
    except httpx.HTTPError as exc:
        tally.failed[f"{kind} transport {type(exc).__name__}"] += 1
        return events, "transport"
    if first is not None and kind in ("page", "v1"):
        tally.ttft[tally.phase].append(first)
    return events, "end"


def text_of(events: list[tuple[str, Any]]) -> str:
    return "".join(d["text"] for e, d in events if e == "delta")


def ending(events: list[tuple[str, Any]], tally: Tally, kind: str) -> str | None:
    terminal = [(e, d) for e, d in events if e in ("done", "error")]
    if len(terminal) != 1:
        tally.failed[f"{kind} no single terminal event"] += 1
        return None
    event, data = terminal[0]
    if event == "done":
        if data.get("finish_reason") == "stopped":
            tally.stopped += 1
        else:
            tally.completed += 1
        return "done"
    tally.failed[f"{kind} error {data.get('code')}"] += 1
    return "error"


async def page_answer(a: httpx.AsyncClient, tally: Tally, message: str = NORMAL) -> None:
    tally.started += 1
    events, how = await sse(
        a, "POST", "/api/chat", tally, "page", json={"message": message, "model": MODEL}
    )
    if how != "end":
        tally.started -= how == "refused"
        return
    meta = next((d for e, d in events if e == "meta"), None)
    end = ending(events, tally, "page" if message == NORMAL else "fault")
    if meta is not None:
        tally.page_answers.append(
            (meta["conversation_id"], meta["message_id"], text_of(events), end == "done")
        )


async def v1_stream(a: httpx.AsyncClient, tally: Tally) -> None:
    tally.started += 1
    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": NORMAL}]}
    events, how = await sse(a, "POST", "/v1/chat/completions", tally, "v1", json=body)
    if how == "refused":
        tally.started -= 1
    elif how == "end":
        if events and events[-1][1] == "[DONE]":
            tally.completed += 1
        else:
            tally.failed["v1 no [DONE]"] += 1


async def reattach_and_stop(a: httpx.AsyncClient, b: httpx.AsyncClient, tally: Tally) -> None:
    """Start on A, leave after a few events, re-attach on B, stop half of them from B."""
    tally.started += 1
    body = {"message": "[[mock tokens=60 rate=30]]", "model": MODEL}
    events, how = await sse(a, "POST", "/api/chat", tally, "reattach", stop_after=4, json=body)
    meta = next((d for e, d in events if e == "meta"), None)
    if how == "refused" or meta is None:
        tally.started -= how == "refused"
        return
    gid, last = meta["message_id"], len(events)
    if random.random() < 0.5:
        with contextlib.suppress(httpx.HTTPError):
            await b.post(f"/api/generations/{gid}/stop")
    rest, how = await sse(
        b,
        "GET",
        f"/api/generations/{gid}/events",
        tally,
        "reattach",
        headers={"Last-Event-ID": str(last)},
    )
    if how == "end":
        ending(rest, tally, "reattach")


async def frozen_reader(host: str, port: int, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=4096)
    body = json.dumps({"message": "[[mock tokens=20000]]", "model": MODEL}).encode()
    writer.write(
        b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    tally.started += 1
    await asyncio.sleep(30)  # never reads; the send timeout drops it
    head = b""
    with contextlib.suppress(OSError):  # the server reset it (what it had sent is gone too)
        head = await reader.read(12)
    writer.close()
    if head and not head.startswith(b"HTTP/1.1 200"):
        tally.refused[f"frozen reader {head[9:12].decode(errors='replace')}"] += 1
        return
    tally.refused["frozen reader, dropped by the send timeout (by design)"] += 1


async def slow_reader(host: str, port: int, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    body = json.dumps({"message": "[[mock tokens=300]]", "model": MODEL}).encode()
    writer.write(
        b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    tally.started += 1
    received = b""
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(60):
            while chunk := await reader.read(512):
                received += chunk
                if b"event: done" in received or b"event: error" in received:
                    break
                await asyncio.sleep(0.05)
    writer.close()
    if b"event: done" in received:
        tally.completed += 1
    elif b"event: error" in received:
        code = received.split(b"event: error", 1)[1].split(b'"code":"', 1)[-1].split(b'"')[0]
        tally.failed[f"slow reader error {code.decode(errors='replace')}"] += 1
    else:
        tally.failed["slow reader unfinished"] += 1


async def bad_bodies(a: httpx.AsyncClient, tally: Tally) -> None:
    async def big() -> AsyncIterator[bytes]:
        yield b'{"message": "'
        for _ in range(320):
            yield b"x" * 65536
        yield b'"}'

    for content in (big(), b'{"message": '):
        try:
            response = await a.post(
                "/api/chat", content=content, headers={"content-type": "application/json"}
            )
            tally.refused[f"bad body {response.status_code}"] += 1
        except httpx.HTTPError as exc:
            tally.failed[f"bad body transport {type(exc).__name__}"] += 1


# -- the run ------------------------------------------------------------------------------------


class FaultPlan:
    """At 30 % of the run Redis is stopped for 3 s and started again (empty); at 60 %
    PostgreSQL's connections are cut and refused for 5 s. Each phase lasts 15 s."""

    def __init__(
        self,
        duration: float,
        tally: Tally,
        relay: Relay,
        redis_proc: dict[str, subprocess.Popen[bytes]],
        redis_port: int,
    ) -> None:
        self.steps = [
            (0.3 * duration, "redis restart", self._restart_redis),
            (0.3 * duration + 15, "steady after", None),
            (0.6 * duration, "postgres restart", self._cut_postgres),
            (0.6 * duration + 15, "steady at the end", None),
        ]
        self.tally, self.relay = tally, relay
        self.redis_proc, self.redis_port = redis_proc, redis_port
        self.tasks: list[asyncio.Task[None]] = []

        self.steps.sort(key=lambda step: step[0])

    def __call__(self, elapsed: float) -> None:
        while self.steps and elapsed >= self.steps[0][0]:
            _, phase, action = self.steps.pop(0)
            self.tally.phase = phase
            if action is not None:
                self.tasks.append(asyncio.create_task(action()))

    async def _restart_redis(self) -> None:
        self.redis_proc["proc"].terminate()
        await asyncio.to_thread(self.redis_proc["proc"].wait, 10)
        await asyncio.sleep(3)
        self.redis_proc["proc"] = start_redis(self.redis_port, None)

    async def _cut_postgres(self) -> None:
        self.relay.cut()
        await asyncio.sleep(5)
        self.relay.down = False


async def load(urls: tuple[str, str], duration: float, tally: Tally, faults: FaultPlan) -> None:
    host, port = urls[0].removeprefix("http://").split(":")
    tasks: set[asyncio.Task[None]] = set()
    limits = httpx.Limits(max_connections=200)
    async with (
        httpx.AsyncClient(base_url=urls[0], timeout=60, limits=limits) as a,
        httpx.AsyncClient(base_url=urls[1], timeout=60, limits=limits) as b,
    ):
        began = time.monotonic()
        second = 0
        while (elapsed := time.monotonic() - began) < duration:
            faults(elapsed)
            work = [
                page_answer(a, tally),
                page_answer(b, tally),
                v1_stream(b, tally),
                v1_stream(a, tally),
                reattach_and_stop(a, b, tally),
                page_answer(a, tally, random.choice(FAULTS)),
            ]
            if second % 10 == 0:
                work += [
                    frozen_reader(host, int(port), tally),
                    slow_reader(host, int(port), tally),
                    bad_bodies(b, tally),
                ]
            for coro in work:
                task = asyncio.create_task(coro)
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            second += 1
            await asyncio.sleep(max(0.0, began + second - time.monotonic()))
        tally.phase = "drain"
        if tasks:
            await asyncio.wait(tasks, timeout=90)


async def warm_up(urls: tuple[str, str]) -> None:
    scratch = Tally()
    async with httpx.AsyncClient(timeout=60) as client:
        for url in urls:
            client.base_url = httpx.URL(url)
            await asyncio.gather(*(page_answer(client, scratch) for _ in range(20)))
            await asyncio.gather(*(v1_stream(client, scratch) for _ in range(20)))
    await asyncio.sleep(2)


async def check_stored(urls: tuple[str, str], tally: Tally) -> None:
    """Once no answer runs on either worker, compare every page answer with its stored row;
    a final save that failed in the outage is retried in the background (1, 2, 5, 10 s ...),
    so a difference counts as lost only if it is still there a minute later."""
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(60):
            running = [(await client.get(f"{url}/healthz")).json()["generations"] for url in urls]
            if not any(running):
                break
            await asyncio.sleep(1)
        for _ in range(7):
            tally.lost = [what async for what in _differences(client, urls[0], tally)]
            if not tally.lost:
                return
            await asyncio.sleep(10)


async def _differences(client: httpx.AsyncClient, url: str, tally: Tally) -> AsyncIterator[str]:
    for cid, mid, text, done in tally.page_answers:
        response = await client.get(f"{url}/api/conversations/{cid}")
        if response.status_code != 200:
            yield f"{mid}: conversation {response.status_code}"
            continue
        stored = next((m for m in response.json()["messages"] if m["id"] == mid), None)
        if stored is None:
            yield f"{mid}: not stored"
        elif stored["status"] == "streaming":
            yield f"{mid}: stuck streaming"
        elif done and stored["content"] != text:
            yield f"{mid}: stored text differs"


def p99(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000:.0f} ms"


def report(
    tally: Tally,
    before: dict[int, tuple[int, int]],
    after: dict[int, tuple[int, int]],
    duration: float,
) -> str:
    lines = [
        f"soak: {duration:.0f} s, two workers, Redis restarted, PostgreSQL cut off",
        "",
        "| answers | count |",
        "|---|---|",
        f"| started | {tally.started} |",
        f"| completed | {tally.completed} |",
        f"| stopped | {tally.stopped} |",
        f"| failed | {sum(tally.failed.values())} |",
        f"| lost | {len(tally.lost)} |",
        "",
        "| failure (code) | count |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in sorted(tally.failed.items())]
    lines += ["", "| refused (status code) | count |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(tally.refused.items())]
    lines += ["", "| worker | RSS start | RSS end | fds start | fds end |", "|---|---|---|---|---|"]
    for pid, (rss, fds) in before.items():
        rss_end, fds_end = after.get(pid, (0, 0))
        lines.append(
            f"| {pid} | {rss / 1024:.1f} MB | {rss_end / 1024:.1f} MB | {fds} | {fds_end} |"
        )
    lines += ["", "| phase | normal answers | TTFT p99 |", "|---|---|---|"]
    lines += [f"| {k} | {len(v)} | {p99(v)} |" for k, v in tally.ttft.items()]
    lines += ["", *(f"lost: {what}" for what in tally.lost[:20])]
    return "\n".join(lines)


async def soak(duration: float) -> str:
    tally = Tally()
    relay = Relay()
    relay_port = await relay.start()
    with tempfile.TemporaryDirectory() as tmp, mock_upstream() as upstream:
        config = Path(tmp) / "streamchat.toml"
        config.write_text(
            f'[[providers]]\nname = "mock"\npreset = "openai"\nbase_url = "{upstream}"\n'
            f'api_key = "{MOCK_KEY}"\nmodels = ["{MODEL}"]\nlist_models = false\n'
        )
        redis_port = free_port()
        async with database() as name:
            with redis_server(redis_port, Path(tmp)) as redis_proc:
                ports = free_port(), free_port()
                env = {
                    **os.environ,
                    "STREAMCHAT_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{relay_port}/{name}",
                    "STREAMCHAT_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                    "STREAMCHAT_SEND_TIMEOUT": "5",
                    "STREAMCHAT_LOG_LEVEL": "error",
                    "STREAMCHAT_TITLES": "false",  # every conversation new: no title calls
                    "STREAMCHAT_CONFIG": str(config),
                }
                await asyncio.to_thread(migrate, env)  # once: two first starts would race
                procs = start_workers(ports, env)
                try:
                    for port in ports:
                        await asyncio.to_thread(wait_for_port, port)
                    urls = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
                    pids = [p.pid for p in procs]
                    await warm_up(urls)  # pools and caches filled: the baseline to come back to
                    before = usage(pids)
                    plan = FaultPlan(duration, tally, relay, redis_proc, redis_port)
                    await load(urls, duration, tally, plan)
                    await check_stored(urls, tally)
                    await asyncio.sleep(5)
                    after = usage(pids)
                finally:
                    for proc in procs:
                        proc.terminate()
                    for proc in procs:
                        try:
                            proc.wait(30)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                            proc.wait()
    return report(tally, before, after, duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    args = parser.parse_args()
    print(asyncio.run(soak(args.duration)))


if __name__ == "__main__":
    main()
