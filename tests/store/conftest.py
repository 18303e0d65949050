"""Store fixtures on real databases: SQLite files in tmp_path and the PostgreSQL at 127.0.0.1:5432.

The PostgreSQL cases are never skipped: when the server cannot be reached they fail and say so.
One database ``streamchat_test_<hex>`` is created for the session and dropped at its end; each
test starts from empty tables. Tests that need a blank database get one of their own.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from streamchat.store.engine import create_engine
from streamchat.store.sql import SqlStore
from tests.harness import Relay

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USERS = ("postgres", "root")
PG_ADMIN_DATABASE = "test"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def _admin(statement: str) -> str:
    """Run ``statement`` in the ``test`` database as the first user that works; return the user."""
    failures: list[str] = []
    for user in PG_USERS:
        url = f"postgresql+asyncpg://{user}@{PG_HOST}:{PG_PORT}/{PG_ADMIN_DATABASE}"
        engine = create_async_engine(
            url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"timeout": 5}
        )
        try:
            async with engine.connect() as conn:
                await conn.exec_driver_sql(statement)
            return user
        except (DBAPIError, OSError) as exc:
            failures.append(f"{user}: {exc.orig if isinstance(exc, DBAPIError) else exc!r}")
        finally:
            await engine.dispose()
    pytest.fail(
        f"PostgreSQL at {PG_HOST}:{PG_PORT} (database {PG_ADMIN_DATABASE!r}, trust auth) "
        f"could not be used, so the postgres store tests cannot run: {'; '.join(failures)}",
        pytrace=False,
    )


async def create_pg_database() -> str:
    """Create an empty database and return its SQLAlchemy URL."""
    name = f"streamchat_test_{secrets.token_hex(6)}"
    user = await _admin(f'CREATE DATABASE "{name}"')
    return f"postgresql+asyncpg://{user}@{PG_HOST}:{PG_PORT}/{name}"


async def drop_pg_database(url: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)')


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pg_session_url() -> AsyncIterator[str]:
    """The session's PostgreSQL database, migrated on first use by the store fixture."""
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL per backend; on PostgreSQL the session's database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_session_url")
    return url


@pytest.fixture
async def db(store_url: str) -> AsyncIterator[AsyncEngine]:
    """A second engine on the store's database, to look at the rows the store leaves behind."""
    engine = create_engine(store_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def store(store_url: str, db: AsyncEngine) -> AsyncIterator[SqlStore]:
    """An open store over empty tables."""
    sql_store = SqlStore(store_url)
    await sql_store.open()
    try:
        if db.dialect.name == "postgresql":
            async with db.begin() as conn:
                await conn.execute(sa.text("TRUNCATE users, conversations, messages CASCADE"))
        yield sql_store
    finally:
        await sql_store.close()


@pytest.fixture(params=BACKENDS)
async def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a database of its own with nothing in it."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"
        return
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


async def rows(engine: AsyncEngine, table: sa.Table, *order: str) -> list[dict[str, Any]]:
    """Every row of ``table``, ordered by id (or by the columns named), as plain dicts."""
    async with engine.connect() as conn:
        keys = [table.c[name] for name in order or ("id",)]
        result = await conn.execute(table.select().order_by(*keys))
        return [dict(row) for row in result.mappings()]


async def count(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        result = await conn.execute(sa.select(sa.func.count()).select_from(table))
        return int(result.scalar_one())


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    relay = Relay(PG_HOST, PG_PORT)
    try:
        yield relay
    finally:
        await relay.close()
