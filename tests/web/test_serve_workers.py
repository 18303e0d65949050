"""`streamchat serve --workers 2` as shipped: one parent process, two workers on one listening
socket, sharing Redis and a PostgreSQL database. The kernel gives each new connection to one of
the workers; ``/healthz`` says which (its ``pid``), so a test can hold a connection to each."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from bench.processes import free_port, wait_for_port
from bench.procstat import process_tree
from streamchat.sse import ServerSentEvent, SSEDecoder
from tests.harness import MockUpstream, fresh_postgres
from tests.web.test_chat_stream import words

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(90)]

REDIS_URL = "redis://127.0.0.1:6379/12"  # tests/conftest.py uses 14, test_brokers.py 15
ATTEMPTS = 200  # new connections tried before concluding a worker takes none
MODEL = "gpt-4o-mini"


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def serve_workers(directory: Path, mock: MockUpstream) -> Iterator[Served]:
    """``python -m streamchat serve --workers 2`` on a free loopback port (log level info), with
    a fresh PostgreSQL database and a flushed Redis database; SIGTERM (then SIGKILL for anything
    left of its process tree) at the end."""
    with redis.Redis.from_url(REDIS_URL) as client:
        client.flushdb()
    config = directory / "streamchat.toml"
    config.write_text(
        '[[providers]]\nname = "mock"\npreset = "openai"\n'
        f'base_url = "{mock.url}"\napi_key = "{mock.api_key}"\n'
        f'models = ["{MODEL}"]\nlist_models = false\n'
    )
    port = free_port()
    args = [sys.executable, "-m", "streamchat", "serve", "--workers", "2", "--port", str(port)]
    log = directory / "serve.log"
    with fresh_postgres() as database, log.open("wb") as sink:
        env = {
            **os.environ,
            "STREAMCHAT_DATABASE_URL": database,
            "STREAMCHAT_REDIS_URL": REDIS_URL,
            "STREAMCHAT_CONFIG": str(config),
            "STREAMCHAT_DATA_DIR": str(directory),
            "STREAMCHAT_WORKER_LEASE": "1",
            "STREAMCHAT_FLUSH_INTERVAL": "0.2",
            "STREAMCHAT_SHUTDOWN_GRACE": "1",
            "STREAMCHAT_LOG_LEVEL": "info",
            "STREAMCHAT_TITLES": "false",  # no title calls (tests/test_titles.py has them)
        }
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=sink)
        tree: list[int] = []
        try:
            wait_for_port(port)
            tree = process_tree(proc.pid)
            yield Served(f"http://127.0.0.1:{port}", proc, log)
        finally:
            tree += process_tree(proc.pid)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            for pid in set(tree) - {proc.pid}:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, mock_upstream: MockUpstream
) -> Iterator[Served]:
    with serve_workers(tmp_path_factory.mktemp("serve-workers"), mock_upstream) as server:
        yield server
        assert "Traceback" not in server.log_text(), server.log_text()


# -- connections to a known worker -------------------------------------------------------------


@dataclass
class Connection:
    """One kept-alive HTTP connection and the worker process at its other end."""

    client: httpx.AsyncClient
    pid: int
    local_port: int

    def on_it(self, response: httpx.Response) -> None:
        """Fail unless ``response`` came over this very connection (so from this worker)."""
        assert _local_port(response) == self.local_port, "the connection was replaced"


def _local_port(response: httpx.Response) -> int:
    port: int = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


@contextlib.asynccontextmanager
async def connection(url: str, pid: int | None = None) -> AsyncIterator[Connection]:
    """A new connection (to worker ``pid`` when given: new ones are opened until one lands
    there)."""
    for _ in range(ATTEMPTS):
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            health = await client.get("/healthz")
            assert health.status_code == 200, health.text
            worker = health.json()["pid"]
            if pid is None or worker == pid:
                yield Connection(client, worker, _local_port(health))
                return
    pytest.fail(f"none of {ATTEMPTS} new connections reached worker {pid}")


async def worker_pids(url: str) -> set[int]:
    """The workers seen on new connections, until two are seen (or ``ATTEMPTS`` tried)."""
    seen: set[int] = set()
    for _ in range(ATTEMPTS):
        async with connection(url) as conn:
            seen.add(conn.pid)
        if len(seen) == 2:
            break
    return seen


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


async def still_running(tree: list[int], within: float = 5.0) -> list[int]:
    """The processes of ``tree`` still running after ``within`` s. multiprocessing's resource
    tracker ends on its own once it reads the parent's end of its pipe, just after the parent."""
    deadline = time.monotonic() + within
    for _ in range(int(within / 0.05)):
        left = [pid for pid in tree if running(pid)]
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.05)
    return [pid for pid in tree if running(pid)]


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


# -- reading a stream --------------------------------------------------------------------------


class Reader:
    """Reads one SSE response over ``conn``, keeping every event."""

    def __init__(self) -> None:
        self.events: list[ServerSentEvent] = []
        self.status = 0
        self.headers = httpx.Headers()

    async def read(
        self, conn: Connection, method: str, path: str, stop_after: int | None = None, **kw: Any
    ) -> None:
        decoder = SSEDecoder()
        async with conn.client.stream(method, path, **kw) as response:
            conn.on_it(response)
            self.status, self.headers = response.status_code, response.headers
            async for chunk in response.aiter_raw():
                self.events.extend(decoder.feed(chunk))
                if stop_after is not None and len(self.events) >= stop_after:
                    return  # the connection is dropped here

    def ids(self) -> list[int]:
        return [int(e.id) for e in self.events]

    def last(self) -> tuple[str, dict[str, Any]]:
        return self.events[-1].event, orjson.loads(self.events[-1].data)


def text_of(*readers: Reader) -> str:
    events = [e for r in readers for e in r.events if e.event == "delta"]
    return "".join(orjson.loads(e.data)["text"] for e in events)


async def start_answer(served: Served, pid: int, tokens: int) -> tuple[Reader, str, str]:
    """Start a paced answer on worker ``pid`` and drop the connection after three events:
    (what was read, the generation id, the conversation id)."""
    first = Reader()
    body = {"message": f"[[mock tokens={tokens} rate=40]]", "model": MODEL}
    async with connection(served.url, pid) as conn:
        await first.read(conn, "POST", "/api/chat", stop_after=3, json=body)
    assert first.status == 200 and first.ids() == [1, 2, 3]
    meta = orjson.loads(first.events[0].data)
    return first, meta["message_id"], meta["conversation_id"]


async def running_on(served: Served, pid: int) -> int:
    async with connection(served.url, pid) as conn:
        generations: int = (await conn.client.get("/healthz")).json()["generations"]
    return generations


# -- the tests ---------------------------------------------------------------------------------


async def test_two_worker_processes_of_the_parent_serve_connections(served: Served) -> None:
    pids = await worker_pids(served.url)

    assert len(pids) == 2, f"only worker {pids} answered {ATTEMPTS} new connections"
    assert served.proc.pid not in pids
    assert {parent_of(pid) for pid in pids} == {served.proc.pid}


async def test_the_parent_migrates_the_database_once_and_workers_log_no_requests(
    served: Served,
) -> None:
    """Each worker used to migrate a new database itself: at the same moment, one of them
    failed (duplicate key in pg_type for "alembic_version"), and with it the whole server, with
    exit status 0. And every worker wrote an access log line per request, which one process
    does not."""
    async with connection(served.url) as conn:
        assert (await conn.client.get("/healthz")).status_code == 200
    lines = served.log_text().splitlines()
    started = next(i for i, line in enumerate(lines) if "Started parent process" in line)
    upgrades = [i for i, line in enumerate(lines) if "Running upgrade" in line]

    assert upgrades and max(upgrades) < started
    assert len(upgrades) == len({lines[i].split("Running upgrade", 1)[1] for i in upgrades})
    assert sum("Application startup complete" in line for line in lines) == 2
    assert not [line for line in lines if "uvicorn.access" in line]


@pytest.mark.parametrize(("reader", "stopper"), [("owner", "other"), ("other", "owner")])
async def test_an_answer_is_reattached_and_stopped_through_either_worker(
    served: Served, mock_upstream: MockUpstream, reader: str, stopper: str
) -> None:
    owner, other = sorted(await worker_pids(served.url))
    workers = {"owner": owner, "other": other}
    mock_upstream.reset()
    first, generation_id, conversation_id = await start_answer(served, owner, tokens=2000)
    assert await running_on(served, owner) == 1
    assert await running_on(served, other) == 0

    rest = Reader()
    async with connection(served.url, workers[reader]) as follower:
        path = f"/api/generations/{generation_id}/events"
        following = asyncio.create_task(
            rest.read(follower, "GET", path, headers={"Last-Event-ID": "3"})
        )
        while len(rest.events) < 3:
            assert not following.done(), rest.events
            await asyncio.sleep(0.02)
        async with connection(served.url, workers[stopper]) as conn:
            stopped = await conn.client.post(f"/api/generations/{generation_id}/stop")
            conn.on_it(stopped)
        assert stopped.json() == {"id": generation_id, "stopped": True}
        await asyncio.wait_for(following, 15)

    assert rest.status == 200
    ids = first.ids() + rest.ids()
    assert ids == list(range(1, len(ids) + 1))
    kind, data = rest.last()
    assert (kind, data["finish_reason"]) == ("done", "stopped")
    received = text_of(first, rest)
    assert received == words(len(received.split()))
    await asyncio.sleep(0.3)
    record = mock_upstream.log()[-1]
    assert record["client_closed"] is True and record["tokens_sent"] < 2000
    async with connection(served.url) as conn:
        stored = (await conn.client.get(f"/api/conversations/{conversation_id}")).json()
    answer = stored["messages"][-1]
    assert (answer["status"], answer["content"]) == ("stopped", received)


@pytest.fixture
def own_server(tmp_path: Path, mock_upstream: MockUpstream) -> Iterator[Served]:
    """A server of the test's own (the test stops it)."""
    with serve_workers(tmp_path, mock_upstream) as server:
        yield server


async def test_sigterm_on_the_parent_ends_every_worker(own_server: Served) -> None:
    server = own_server
    pids = await worker_pids(server.url)
    assert len(pids) == 2
    tree = process_tree(server.proc.pid)
    async with connection(server.url, min(pids)) as conn:  # an answer that has ended
        done = await conn.client.post("/api/chat", json={"message": "[[mock tokens=3]]"})
    assert done.status_code == 200 and "event: done" in done.text

    server.proc.send_signal(signal.SIGTERM)
    status = await asyncio.to_thread(server.proc.wait, 30)

    assert status == 0
    assert len(tree) > 2 and await still_running(tree) == []
    log = server.log_text()
    assert "Traceback" not in log, log
    assert log.count("Application shutdown complete") == 2


async def test_sigterm_on_the_parent_during_an_answer_ends_it_and_every_worker(
    own_server: Served,
) -> None:
    server = own_server
    pids = await worker_pids(server.url)
    tree = process_tree(server.proc.pid)
    _, generation_id, _ = await start_answer(server, min(pids), tokens=2000)
    rest = Reader()
    async with connection(server.url, max(pids)) as follower:
        path = f"/api/generations/{generation_id}/events"
        following = asyncio.create_task(
            rest.read(follower, "GET", path, headers={"Last-Event-ID": "3"})
        )
        while not rest.events:
            assert not following.done()
            await asyncio.sleep(0.02)

        server.proc.send_signal(signal.SIGTERM)
        status = await asyncio.to_thread(server.proc.wait, 15)
        await asyncio.wait_for(following, 10)

    assert status == 0
    kind, error = rest.last()
    assert (kind, error["code"], error["retryable"]) == ("error", "server_restarting", True)
    assert await still_running(tree) == []
    assert "Traceback" not in server.log_text()
