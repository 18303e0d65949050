"""Fixtures: the mock upstream, streamchat servers on SQLite and PostgreSQL, an HTTP client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamchat.settings import Settings
from tests.harness import (
    MockUpstream,
    fresh_postgres,
    mock_provider,
    mock_upstream_thread,
    streamchat_thread,
    test_settings,
)


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


@pytest.fixture
def make_server(
    tmp_path: Path, mock_upstream: MockUpstream, database_url: str
) -> Iterator[ServerFactory]:
    """Start streamchat (in a thread, on loopback) with the mock upstream as provider "mock"."""
    with contextlib.ExitStack() as stack:

        def start(**overrides: Any) -> Server:
            providers = overrides.pop("providers", [mock_provider(mock_upstream)])
            settings = test_settings(tmp_path, database_url, providers=providers, **overrides)
            url = stack.enter_context(streamchat_thread(settings))
            return Server(url, settings, mock_upstream)

        yield start


@pytest.fixture
def server(make_server: ServerFactory) -> Server:
    return make_server()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http
