"""Security fixtures: servers with accounts (alice, bob), SQLite unless a test asks for more,
and the session summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, ServerFactory
from tests.faults.tally import reporting
from tests.security.accounts import create_users


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'streamchat.db'}"


@dataclass
class AuthServer:
    url: str
    server: Server
    tokens: dict[str, str]

    def bearer(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


AuthServerFactory = Callable[..., AuthServer]


@pytest.fixture
def make_auth_server(make_server: ServerFactory, database_url: str) -> AuthServerFactory:
    """A server with ``auth="on"`` and the users alice and bob (created first: the server
    refuses to start with accounts required and none configured)."""

    def start(**overrides: Any) -> AuthServer:
        database = overrides.setdefault("database_url", database_url)
        tokens = create_users(database, "alice", "bob")
        server = make_server(auth="on", **overrides)
        return AuthServer(server.url, server, tokens)

    return start


@pytest.fixture(scope="session", autouse=True)
def fault_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    with reporting(request.config):
        yield
