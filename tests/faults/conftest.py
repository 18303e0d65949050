"""Fault-injection fixtures: SQLite unless a test brings PostgreSQL, and the session summary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.tally import reporting


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Faults are the upstream's and the client's here: one store is enough (the PostgreSQL
    outage test makes its own database)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'streamchat.db'}"


@pytest.fixture(scope="session", autouse=True)
def fault_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    with reporting(request.config):
        yield
