"""Where the store's transactions run, and the one place where SQLAlchemy and driver
exceptions become :class:`~streamchat.errors.StoreError`.

A :class:`Database` runs a plain function on a SQLAlchemy :class:`~sqlalchemy.engine.Connection`
as one transaction (``write``) or one read. PostgreSQL runs it on the event loop through asyncpg
(:meth:`AsyncConnection.run_sync`); SQLite runs it whole on one thread of its own, with the
standard ``sqlite3`` driver: one thread hand-off per transaction instead of one per statement
(aiosqlite), and SQLite's one writer at a time is that thread's queue. ``bench/store_cost.py``
has the measurement behind this.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
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

__all__ = [
    "AsyncDatabase",
    "Database",
    "SqliteThread",
    "create_engine",
    "normalize_url",
    "open_database",
    "translate_errors",
    "url_secrets",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")

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
    _make_directory(url)
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
    return engine


def _make_directory(url: URL) -> None:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


class Database(Protocol):
    """Runs ``fn(connection, *args)`` as one transaction (``write``) or outside one (``read``)."""

    @property
    def dialect(self) -> str: ...

    async def read(
        self, fn: Callable[Concatenate[Connection, _P], _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T: ...

    async def write(
        self, fn: Callable[Concatenate[Connection, _P], _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T: ...

    async def dispose(self) -> None: ...


def open_database(url: str) -> Database:
    """SQLite on a thread of its own; PostgreSQL on the event loop."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteThread(parsed)
    return AsyncDatabase(create_engine(url))


class AsyncDatabase:
    """An async engine (asyncpg): each function runs in a greenlet, its statements awaited."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def read(
        self, fn: Callable[Concatenate[Connection, _P], _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        async with self.engine.connect() as conn:
            return await conn.run_sync(fn, *args, **kwargs)

    async def write(
        self, fn: Callable[Concatenate[Connection, _P], _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        async with self.engine.begin() as conn:
            return await conn.run_sync(fn, *args, **kwargs)

    async def dispose(self) -> None:
        await self.engine.dispose()


class SqliteThread:
    """SQLite through the standard ``sqlite3`` driver, every call on one thread of its own.

    A function that has started runs to its end even if the awaiting task is cancelled (a
    transaction is all or nothing either way); one that has not started yet never runs.

    The hand-off is a queue the thread drains. Writes that queued up while it was busy commit
    together, in their order, as one transaction (group commit: SQLite writes each changed page
    once per commit); if one of them fails, or the commit does, that transaction is rolled back
    and each runs again as its own, so each gets its own result or error as if it had run alone.
    The results of what was drained go back to the loop in one wake-up, where
    ``run_in_executor`` paid two futures, their chaining and a wake-up per call
    (``bench/store_cost.py``: CPU per answer)."""

    def __init__(self, url: URL) -> None:
        _make_directory(url)
        self.engine: Engine = create_sync_engine(url.set(drivername="sqlite+pysqlite"))
        event.listen(self.engine, "connect", _set_sqlite_pragmas)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="streamchat-sqlite", daemon=True)
        self._thread.start()

    @property
    def dialect(self) -> str:
        return "sqlite"

    async def read(
        self, fn: Callable[Concatenate[Connection, _P], _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        def run() -> _T:
            with self.engine.connect() as conn:
                return fn(conn, *args, **kwargs)

        return await self._submit(run, None)

    async def write(
        self, fn: Callable[Concatenate[Connection, _P], _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        def transaction(conn: Connection) -> _T:
            return fn(conn, *args, **kwargs)

        def alone() -> _T:
            with self.engine.begin() as conn:
                return fn(conn, *args, **kwargs)

        return await self._submit(alone, transaction)

    def _submit(
        self, run: Callable[[], _T], transaction: Callable[[Connection], _T] | None
    ) -> asyncio.Future[_T]:
        if self._closed:
            raise StoreError(_CLOSED)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._jobs.put(_Job(run, transaction, future, loop))
        return future

    def _work(self) -> None:
        """The thread: run what was queued, in order, skipping what was cancelled before it
        started, and hand the results back to each loop in one call."""
        jobs = self._jobs
        while True:
            batch = [jobs.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < _MOST_DRAINED:
                    batch.append(jobs.get_nowait())
            writes: list[_Job] = []
            stop = False
            for job in batch:
                if job is None:
                    stop = True  # dispose: nothing is queued after it (the store is closed)
                    continue
                if stop:
                    job.ok, job.value = False, StoreError(_CLOSED)
                    continue
                if job.future.cancelled():
                    continue
                if job.transaction is not None:
                    writes.append(job)
                    continue
                self._commit(writes)  # what was written before this read, first
                writes = []
                job.run_alone()
            self._commit(writes)
            done: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
            for job in batch:
                if job is not None and job.ok is not None:
                    done.setdefault(job.loop, []).append(job)
            for loop, settled in done.items():
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    loop.call_soon_threadsafe(_settle, settled)
            if stop:
                return

    def _commit(self, writes: list[_Job]) -> None:
        if len(writes) > 1:
            try:
                with self.engine.begin() as conn:
                    values = [job.transaction(conn) for job in writes]  # type: ignore[misc]
            except BaseException:  # rolled back: each runs again alone and gets its own outcome
                pass
            else:
                for job, value in zip(writes, values, strict=True):
                    job.ok, job.value = True, value
                return
        for job in writes:
            job.run_alone()

    async def dispose(self) -> None:
        if self._closed:
            return
        try:
            await self._submit(self.engine.dispose, None)
        finally:
            self._closed = True
            self._jobs.put(None)  # the thread ends after what was queued before it


# Writes committed together at most: the first one's result waits for the others'.
_MOST_DRAINED = 64
_CLOSED = "the database is unavailable: the store is closed"


class _Job:
    """One call handed to the thread: ``run``, the call alone (a read, anything, or a write in
    a transaction of its own), and for a write its ``transaction``, which can run inside one
    opened for several; its outcome once it ran."""

    __slots__ = ("future", "loop", "ok", "run", "transaction", "value")

    def __init__(
        self,
        run: Callable[[], Any],
        transaction: Callable[[Connection], Any] | None,
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.run = run
        self.transaction = transaction
        self.future = future
        self.loop = loop
        self.ok: bool | None = None  # None: not run
        self.value: Any = None  # the result, or the exception raised

    def run_alone(self) -> None:
        try:
            self.value = self.run()
            self.ok = True
        except BaseException as exc:  # handed to the awaiting task
            self.ok, self.value = False, exc


def _settle(settled: list[_Job]) -> None:
    for job in settled:
        future = job.future
        if future.done():
            continue  # cancelled after its function started: the transaction ran all the same
        if job.ok:
            future.set_result(job.value)
        else:
            future.set_exception(job.value)


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
