"""SqliteThread: the writes that queue while its thread is busy commit together, and each
still gets the outcome it would have had alone (a real SQLite file, the real thread)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from streamchat.store.engine import SqliteThread, normalize_url


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteThread]:
    database = SqliteThread(normalize_url(f"sqlite:///{tmp_path / 'thread.db'}"))
    await database.write(
        lambda conn: conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    )
    try:
        yield database
    finally:
        await database.dispose()


def _insert(conn: Connection, row_id: int, fail: bool = False) -> int:
    conn.exec_driver_sql("INSERT INTO t (id, v) VALUES (?, 'x')", (row_id,))
    if fail:
        raise ValueError(f"row {row_id} refused after its insert")
    return row_id


def _ids(conn: Connection) -> list[int]:
    return [row[0] for row in conn.exec_driver_sql("SELECT id FROM t ORDER BY id")]


class _Held:
    """Keeps the thread busy in a job of its own until released, so what is queued meanwhile
    is drained as one batch."""

    def __init__(self, db: SqliteThread) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.job = asyncio.ensure_future(db.read(self._hold))

    def _hold(self, _conn: Connection) -> None:
        self.started.set()
        self.release.wait(10)

    async def __aenter__(self) -> _Held:
        assert await asyncio.to_thread(self.started.wait, 10)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.release.set()
        await self.job


def _count_commits(db: SqliteThread) -> list[int]:
    commits = [0]

    def on_commit(_conn: Any) -> None:
        commits[0] += 1

    event.listen(db.engine, "commit", on_commit)
    return commits


async def test_writes_queued_meanwhile_commit_as_one_transaction(db: SqliteThread) -> None:
    commits = _count_commits(db)
    async with _Held(db):
        writes = [asyncio.ensure_future(db.write(_insert, i)) for i in (1, 2, 3)]
        await asyncio.sleep(0.05)  # all three queued behind the held job
    assert await asyncio.gather(*writes) == [1, 2, 3]
    assert commits[0] == 1
    assert await db.read(_ids) == [1, 2, 3]


async def test_a_failing_write_in_a_batch_fails_alone(db: SqliteThread) -> None:
    await db.write(_insert, 5)
    commits = _count_commits(db)
    async with _Held(db):
        writes = [
            asyncio.ensure_future(db.write(_insert, 1)),
            asyncio.ensure_future(db.write(_insert, 2, fail=True)),
            asyncio.ensure_future(db.write(_insert, 5)),  # the primary key is taken
            asyncio.ensure_future(db.write(_insert, 4)),
        ]
        await asyncio.sleep(0.05)
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    assert outcomes[0] == 1 and outcomes[3] == 4
    assert isinstance(outcomes[1], ValueError) and "row 2 refused" in str(outcomes[1])
    assert isinstance(outcomes[2], IntegrityError)
    # rolled back together, then each alone: two of the four committed, one each
    assert commits[0] == 2
    assert await db.read(_ids) == [1, 4, 5]


async def test_a_read_queued_after_a_write_sees_it(db: SqliteThread) -> None:
    async with _Held(db):
        write = asyncio.ensure_future(db.write(_insert, 7))
        read = asyncio.ensure_future(db.read(_ids))
        later = asyncio.ensure_future(db.write(_insert, 8))
        await asyncio.sleep(0.05)
    assert await write == 7
    assert await read == [7]
    assert await later == 8


async def test_a_write_cancelled_before_it_started_never_runs(db: SqliteThread) -> None:
    async with _Held(db):
        cancelled = asyncio.ensure_future(db.write(_insert, 1))
        kept = asyncio.ensure_future(db.write(_insert, 2))
        await asyncio.sleep(0.05)
        cancelled.cancel()
        await asyncio.sleep(0)
    assert await kept == 2
    assert cancelled.cancelled()
    assert await db.read(_ids) == [2]


async def test_a_write_cancelled_once_started_still_commits(db: SqliteThread) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(conn: Connection) -> None:
        _insert(conn, 3)
        started.set()
        release.wait(10)

    task = asyncio.ensure_future(db.write(slow))
    assert await asyncio.to_thread(started.wait, 10)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.read(_ids) == [3]


async def test_after_dispose_a_call_is_a_store_error(tmp_path: Path) -> None:
    from streamchat.errors import StoreError

    database = SqliteThread(normalize_url(f"sqlite:///{tmp_path / 'closed.db'}"))
    await database.read(lambda conn: conn.execute(sa.select(1)).scalar())
    await database.dispose()
    await database.dispose()  # a second close is nothing
    with pytest.raises(StoreError, match="the store is closed"):
        await database.read(lambda conn: conn.execute(sa.select(1)).scalar())
