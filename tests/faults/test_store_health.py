"""Issue 16, item 2: ``/healthz`` said all was well while the database could not be written. An
SQLite file held by ``BEGIN EXCLUSIVE`` in another process (WAL: reads still work) made every
answer end with ``store_unavailable`` while ``/healthz`` answered 200 ``{"status": "ok"}``, so
a load balancer kept sending traffic to a worker that lost every answer's history. Now the
probe is a write (committed, of no row): 503 with the reason, and a write that failed
recently is reported once the store is back."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import ServerFactory
from tests.faults.tally import TALLY, ended_once
from tests.harness import PG_ADMIN_URL, fresh_postgres, read_stream

SLOW = {"message": "[[mock tokens=20 rate=10]]", "model": "gpt-4o-mini"}
HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
db.execute("ROLLBACK")
"""


def sqlite_path(url: str) -> str:
    database = sa.make_url(url).database
    assert database is not None
    return database


async def test_healthz_is_503_while_another_process_holds_the_sqlite_file(
    make_server: ServerFactory, database_url: str
) -> None:
    server = make_server()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        health = await client.get("/healthz")
        assert (health.status_code, health.json()["status"]) == (200, "ok")
        answer = asyncio.create_task(read_stream(client, "POST", "/api/chat", json=SLOW))
        await asyncio.sleep(0.5)
        locker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HOLD_LOCK,
            sqlite_path(database_url),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert locker.stdin is not None and locker.stdout is not None
        try:
            assert (await locker.stdout.readline()).strip() == b"locked"
            TALLY.fault()
            health = await client.get("/healthz")
            assert health.status_code == 503, health.text
            body = health.json()
            assert body["status"] == "unavailable"
            assert body["store"]["ok"] is False
            assert "cannot be written" in body["store"]["error"]
            stream = await asyncio.wait_for(answer, 30)
            ended_once(stream, "answer while the file is locked")
            assert stream.last()["code"] == "store_unavailable"  # its final save failed
            locker.stdin.close()
            assert await asyncio.wait_for(locker.wait(), 10) == 0
        finally:
            if locker.returncode is None:
                locker.kill()
                await locker.wait()
        health = await client.get("/healthz")
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["status"] == "degraded"  # writable again; the failed save is reported
        failure = body["store"]["last_write_failure"]
        assert failure["seconds_ago"] >= 0
        assert "locked" in failure["error"]


async def _sql(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres() as url:
        yield url


@pytest.mark.postgres
async def test_healthz_is_503_while_postgres_is_read_only(
    pg_url: str, make_server: ServerFactory
) -> None:
    name = sa.make_url(pg_url).database
    server = make_server(database_url=pg_url)
    drop_sessions = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        assert (await client.get("/healthz")).status_code == 200
        await _sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        await _sql(drop_sessions)  # the pool reconnects: read-only sessions from now on
        TALLY.fault()
        health = await client.get("/healthz")
        assert health.status_code == 503, health.text
        assert "read-only" in health.json()["store"]["error"]
        refused = await client.post("/api/chat", json=SLOW)
        assert refused.status_code == 503
        await _sql(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        await _sql(drop_sessions)
        health = await client.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "degraded"  # the refused question's insert
