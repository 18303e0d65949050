"""Async engines for SQLite (aiosqlite) and PostgreSQL (asyncpg), and the one place where
SQLAlchemy and driver exceptions become :class:`~streamchat.errors.StoreError`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import (
    TimeoutError as PoolTimeout,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from streamchat.errors import Conflict, StoreError, scrub

__all__ = ["create_engine", "normalize_url", "translate_errors", "url_secrets"]

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)
# Seconds asyncpg waits for a connection before giving up (its own default is a minute).
_PG_CONNECT_TIMEOUT = 3.0  # seconds: a database that does not answer is reported fast
_CREDENTIALS = re.compile(r"(://[^:/@\s]*):[^@\s]*@")


def normalize_url(url: str) -> URL:
    """Parse ``url`` and pick the async driver: ``postgres://`` and ``postgresql://`` become
    ``postgresql+asyncpg://``, ``sqlite://`` becomes ``sqlite+aiosqlite://``."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        return parsed.set(drivername="postgresql+asyncpg")
    if parsed.drivername == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if parsed.drivername in ("postgresql+asyncpg", "sqlite+aiosqlite"):
        return parsed
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")


def url_secrets(url: str) -> list[str]:
    """What of ``url`` must never appear in a message: its password, if it has one."""
    try:
        password = make_url(url).password
    except ArgumentError:
        return []
    return [password] if isinstance(password, str) and password else []


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url``; SQLite files get their directory and the pragmas we rely on."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return create_async_engine(
        parsed, pool_pre_ping=True, connect_args={"timeout": _PG_CONNECT_TIMEOUT}
    )


def _sqlite_engine(url: URL) -> AsyncEngine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
    return engine


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


@contextlib.contextmanager
def translate_errors(secrets: Iterable[str] = ()) -> Iterator[None]:
    """Turn database and connection failures into StoreError, and constraint violations into
    Conflict. Messages are short and never carry credentials (nor any of ``secrets``)."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict("the write conflicts with data already stored") from exc
    except PoolTimeout as exc:  # every pooled connection busy for pool_timeout seconds
        raise StoreError("the database is busy: no connection became free in time") from exc
    except (OperationalError, InterfaceError, DBAPIError) as exc:
        reason = _reason(exc.orig if exc.orig is not None else exc)
        raise StoreError(f"the database is unavailable: {_clean(reason, secrets)}") from exc
    except (TimeoutError, ConnectionRefusedError, OSError) as exc:
        reason = _reason(exc)
        raise StoreError(f"the database is unavailable: {_clean(reason, secrets)}") from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else ""
    return first or type(exc).__name__


def _clean(reason: str, secrets: Iterable[str]) -> str:
    return scrub(_CREDENTIALS.sub(r"\1:***@", reason), secrets, limit=200)
