"""The stored responses of the Responses API (issue 12), on SQLite and PostgreSQL: the rows
left, owner scoping, the end's patch, expiry, a retried add, deletion with the owner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from streamchat.errors import NotFound
from streamchat.store import StoredResponse, tables
from streamchat.store.sql import SqlStore
from tests.store import conftest

T0 = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)
INPUT = [{"role": "user", "content": "hi"}]
OUTPUT = [{"id": "msg_x_0", "type": "message", "role": "assistant", "status": "completed"}]


def response(id_: str = "resp_1", owner: str = "alice", **fields: object) -> StoredResponse:
    values: dict[str, object] = {
        "model": "gpt-4o-mini",
        "status": "queued",
        "background": True,
        "previous_response_id": None,
        "request": {"input": INPUT, "instructions": "Brief.", "echo": {"store": True}},
        "output": [],
        "created_at": T0,
        **fields,
    }
    return StoredResponse(id_, owner, **values)  # type: ignore[arg-type]


@pytest.fixture
async def people(store: SqlStore) -> SqlStore:
    await store.ensure_user("alice", "Alice")
    await store.ensure_user("bob", "Bob")
    return store


async def test_add_get_and_the_row_left(people: SqlStore, db: AsyncEngine) -> None:
    await people.add_response(response())
    got = await people.get_response("alice", "resp_1")
    assert got == response()
    [row] = await conftest.rows(db, tables.responses)
    assert row["request"] == {"input": INPUT, "instructions": "Brief.", "echo": {"store": True}}
    assert (row["status"], row["output"], row["usage"], row["expires_at"]) == (
        "queued",
        [],
        None,
        None,
    )


async def test_another_owner_sees_nothing(people: SqlStore) -> None:
    await people.add_response(response())
    with pytest.raises(NotFound, match="resp_1"):
        await people.get_response("bob", "resp_1")
    with pytest.raises(NotFound):
        await people.delete_response("bob", "resp_1")
    assert (await people.get_response("alice", "resp_1")).id == "resp_1"


async def test_the_end_is_patched_in(people: SqlStore) -> None:
    await people.add_response(response())
    usage = {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
    ended = T0 + timedelta(seconds=2)
    await people.update_response(
        "resp_1",
        {
            "status": "completed",
            "output": OUTPUT,
            "usage": usage,
            "completed_at": ended,
            "expires_at": datetime.now(UTC) + timedelta(hours=1),
        },
    )
    got = await people.get_response("alice", "resp_1")
    assert (got.status, got.output, got.usage, got.completed_at) == (
        "completed",
        OUTPUT,
        usage,
        ended,
    )
    assert got.error is None and got.incomplete_details is None


async def test_an_expired_response_is_gone_and_purged(people: SqlStore, db: AsyncEngine) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    await people.add_response(response("resp_old", status="completed", expires_at=past))
    with pytest.raises(NotFound):
        await people.get_response("alice", "resp_old")
    with pytest.raises(NotFound):
        await people.delete_response("alice", "resp_old")
    await people.add_response(response("resp_new"))
    assert [r["id"] for r in await conftest.rows(db, tables.responses)] == ["resp_new"]


async def test_adding_an_id_again_keeps_the_first(people: SqlStore) -> None:
    await people.add_response(response())
    await people.add_response(response(status="completed", output=OUTPUT))
    got = await people.get_response("alice", "resp_1")
    assert (got.status, got.output) == ("queued", [])


async def test_delete_and_the_owners_cascade(people: SqlStore, db: AsyncEngine) -> None:
    await people.add_response(response("resp_1"))
    await people.add_response(response("resp_2"))
    await people.add_response(response("resp_3", owner="bob"))
    await people.delete_response("alice", "resp_1")
    with pytest.raises(NotFound):
        await people.get_response("alice", "resp_1")
    await people.delete_user("alice")
    assert [r["id"] for r in await conftest.rows(db, tables.responses)] == ["resp_3"]
