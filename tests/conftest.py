"""Fixtures: the mock upstream, streamchat servers on SQLite and PostgreSQL, an HTTP client."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import redis

from bench.processes import free_port, wait_for_port
from streamchat.settings import Settings
from tests.harness import (
    MockUpstream,
    fresh_postgres,
    mock_provider,
    mock_upstream_thread,
    streamchat_thread,
    test_settings,
)

# Property tests are judged by their examples, not by their speed on a busy machine.
hypothesis.settings.register_profile("streamchat", deadline=None, print_blob=True)
hypothesis.settings.load_profile("streamchat")


@pytest.fixture(scope="session")
def mock_upstream() -> Iterator[MockUpstream]:
    with mock_upstream_thread("openai") as mock:
        yield mock


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that takes this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'streamchat.db'}"
    else:
        with fresh_postgres() as url:
            yield url


@dataclass
class Server:
    url: str
    settings: Settings
    mock: MockUpstream


ServerFactory = Callable[..., Server]
REDIS_URL = "redis://127.0.0.1:6379/14"
Cluster = tuple[str, str, "subprocess.Popen[bytes]"]


@pytest.fixture
def make_server(
    tmp_path: Path, mock_upstream: MockUpstream, database_url: str
) -> Iterator[ServerFactory]:
    """Start streamchat (in a thread, on loopback) with the mock upstream as provider "mock"."""
    with contextlib.ExitStack() as stack:

        def start(**overrides: Any) -> Server:
            providers = overrides.pop("providers", [mock_provider(mock_upstream)])
            database = overrides.pop("database_url", database_url)
            pushed = overrides.pop("pushed", True)
            settings = test_settings(tmp_path, database, providers=providers, **overrides)
            url = stack.enter_context(streamchat_thread(settings, pushed=pushed))
            return Server(url, settings, mock_upstream)

        yield start


@contextlib.contextmanager
def worker(
    config: Path, database: str, *extra: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **os.environ,
        "STREAMCHAT_DATABASE_URL": database,
        "STREAMCHAT_REDIS_URL": REDIS_URL,
        "STREAMCHAT_WORKER_LEASE": "1",
        "STREAMCHAT_FLUSH_INTERVAL": "0.2",
        "STREAMCHAT_LOG_LEVEL": "warning",
        "STREAMCHAT_TITLES": "false",  # no title calls (tests/test_titles.py has them)
    }
    args = [
        sys.executable,
        "-m",
        "streamchat",
        "serve",
        "--port",
        str(port),
        "--config",
        str(config),
        *extra,
    ]
    with subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            wait_for_port(port)
            yield f"http://127.0.0.1:{port}", proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
            assert b"Traceback" not in stderr, stderr.decode()


@pytest.fixture
def cluster(tmp_path: Path, mock_upstream: MockUpstream) -> Iterator[Cluster]:
    """Two `streamchat serve` processes sharing Redis and a fresh PostgreSQL database."""
    with redis.Redis.from_url(REDIS_URL) as client:
        client.flushdb()
    config = tmp_path / "streamchat.toml"
    config.write_text(
        '[[providers]]\nname = "mock"\npreset = "openai"\n'
        f'base_url = "{mock_upstream.url}"\napi_key = "{mock_upstream.api_key}"\n'
        'models = ["gpt-4o-mini"]\nlist_models = false\n'
    )
    with (
        fresh_postgres() as database,
        worker(config, database) as (a, proc_a),
        worker(config, database) as (b, _),
    ):
        yield a, b, proc_a


@pytest.fixture
def server(make_server: ServerFactory) -> Server:
    return make_server()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: sync Playwright keeps an event loop running in the main
    thread for as long as its session-wide browser lives, which the asyncio tests cannot share."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("browser") is not None or "browser" in item.path.parts
        )
    )
