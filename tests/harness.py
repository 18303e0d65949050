"""Real servers for tests: the shipped mock upstream and streamchat, each on loopback in a thread
with its own event loop, and fresh PostgreSQL databases."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from streamchat.client import background_server
from streamchat.mock_upstream import serve_mock
from streamchat.settings import ModelConfig, ProviderConfig, Settings
from streamchat.sse import ServerSentEvent, SSEDecoder
from streamchat.web.app import create_app
from streamchat.web.body_writer import HttpProtocol

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
MOCK_KEY = "sk-mock-PLANTED-9f8e7d6c5b4a39281706"


@dataclass
class MockUpstream:
    url: str
    api_key: str
    dialect: str

    def log(self) -> list[dict[str, Any]]:
        response = httpx.get(self.url.removesuffix("/v1") + "/_mock/log")
        response.raise_for_status()
        records: list[dict[str, Any]] = response.json()
        return records

    def reset(self) -> None:
        httpx.post(self.url.removesuffix("/v1") + "/_mock/reset").raise_for_status()


@contextlib.contextmanager
def mock_upstream_thread(
    dialect: str = "openai", api_key: str = MOCK_KEY
) -> Iterator[MockUpstream]:
    """The mock upstream served from a thread of its own."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        holder["server"] = loop.run_until_complete(
            serve_mock("127.0.0.1", 0, dialect=dialect, api_key=api_key)
        )
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name=f"mock-{dialect}", daemon=True)
    thread.start()
    if not ready.wait(15):
        raise RuntimeError("the mock upstream did not start")
    server = holder["server"]
    try:
        yield MockUpstream(server.url, api_key, dialect)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def mock_provider(mock: MockUpstream, name: str = "mock", preset: str = "openai") -> ProviderConfig:
    models = {
        "openai": ["gpt-4o-mini"],
        "moonshot": ["moonshot-v1-8k", "kimi-k2-thinking"],
        "deepseek": ["deepseek-chat", "deepseek-reasoner"],
        "ollama": ["llama3.2"],
        "vllm": ["Qwen/Qwen3-8B"],
    }[mock.dialect]
    return ProviderConfig(
        name=name,
        preset=preset,
        base_url=mock.url,
        api_key=mock.api_key,  # type: ignore[arg-type]
        models=[ModelConfig(id=m) for m in models],
        list_models=False,
    )


def test_settings(tmp: Path, database_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp,
        "database_url": database_url,
        "demo_token_rate": 0,
        "flush_interval": 0.2,
        "heartbeat_interval": 15,
        "upstream_retries": 2,
        "retry_max_wait": 3,
        "shutdown_grace": 1,
        # No title calls unless a test asks for them (tests/test_titles.py): they would add a
        # request to the mock's log and a `title` event to every first answer.
        "titles": False,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@contextlib.contextmanager
def streamchat_thread(settings: Settings, *, pushed: bool = True) -> Iterator[str]:
    """streamchat in a thread on loopback; ``pushed=False``: on plain uvicorn, whose requests
    offer no body writer (EventStream then pulls each batch and sends it)."""
    http = HttpProtocol if pushed else "httptools"
    with background_server(create_app(settings, environ={}), http=http) as url:
        yield url


async def _create_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    name = f"streamchat_t_{secrets.token_hex(6)}"
    asyncio.run(_create_database(name))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_drop_database(name))


class Relay:
    """A loopback TCP relay to a server (PostgreSQL, Redis) that can cut every connection or go
    silent, like a network or a server that stopped."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.silent = False
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if self.silent:
            return
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self._writers.append(up_writer)
        await asyncio.gather(_pipe(reader, up_writer, self), _pipe(up_reader, writer, self))

    async def cut(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def close(self) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, relay: Relay) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            if relay.silent:
                continue
            writer.write(data)
            await writer.drain()
    writer.close()


class RelayThread:
    """A :class:`Relay` on a loop of its own, for servers that run in other threads."""

    def __init__(self, host: str, port: int) -> None:
        self.relay = Relay(host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> RelayThread:
        self._thread.start()
        self.port = self._run(self.relay.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(self.relay.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def down(self) -> None:
        """The server stops answering: connections cut, new ones hang."""
        self.relay.silent = True
        self._run(self.relay.cut())

    def up(self) -> None:
        self.relay.silent = False


# -- reading streams ------------------------------------------------------------------------


@dataclass
class Stream:
    status: int
    headers: httpx.Headers
    events: list[ServerSentEvent]
    raw: bytes

    def typed(self) -> list[tuple[str, dict[str, Any]]]:
        return [(e.event, orjson.loads(e.data)) for e in self.events]

    def types(self) -> list[str]:
        return [e.event for e in self.events]

    def ids(self) -> list[int]:
        return [int(e.id) for e in self.events]

    def text(self, kind: str = "delta") -> str:
        return "".join(orjson.loads(e.data)["text"] for e in self.events if e.event == kind)

    def last(self) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads(self.events[-1].data)
        return data

    def first(self, kind: str) -> dict[str, Any]:
        data: dict[str, Any] = next(orjson.loads(e.data) for e in self.events if e.event == kind)
        return data


async def read_stream(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    stop_after: int | None = None,
    **kwargs: Any,
) -> Stream:
    """Read an SSE response to its end, or close it after ``stop_after`` events."""
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    raw = b""
    async with client.stream(method, url, **kwargs) as response:
        async for chunk in response.aiter_raw():
            raw += chunk
            events.extend(decoder.feed(chunk))
            if stop_after is not None and len(events) >= stop_after:
                break
        return Stream(response.status_code, response.headers, events, raw)
