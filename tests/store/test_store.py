"""SqlStore on real SQLite and PostgreSQL: every Store method's results and the rows it leaves."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from streamchat.chat import Conversation, Message, Usage
from streamchat.errors import Conflict, NotFound, StoreError
from streamchat.store import MessagePatch, Progress, Store, engine, migrate, rows, sql, tables
from streamchat.store.engine import create_engine, normalize_url, translate_errors
from streamchat.store.sql import SqlStore
from tests.harness import Relay
from tests.store import conftest

ALICE = "alice"
BOB = "bob"
T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def conversation(id_: str, owner: str = ALICE, *, at: datetime = T0, **kw: Any) -> Conversation:
    kw.setdefault("title", f"title of {id_}")
    return Conversation(id_, owner, created_at=at, updated_at=at, **kw)


def message(id_: str, conversation_id: str, owner: str = ALICE, **kw: Any) -> Message:
    kw.setdefault("role", "user")
    kw.setdefault("content", f"content of {id_}")
    return Message(id_, conversation_id, owner, created_at=T0, updated_at=T0, **kw)


async def snapshot(db: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    everything = (tables.users, tables.conversations, tables.messages)
    return {table.name: await conftest.rows(db, table) for table in everything}


@pytest.fixture
async def people(store: SqlStore) -> SqlStore:
    """The store with users alice and bob."""
    await store.ensure_user(ALICE, "Alice")
    await store.ensure_user(BOB, "Bob")
    return store


@pytest.fixture
async def chat(people: SqlStore) -> SqlStore:
    """Alice's conversation c1 with m1 (user) and m2 (assistant); Bob's c2 with m3."""
    await people.create_conversation(conversation("c1"))
    await people.create_conversation(conversation("c2", BOB))
    await people.add_messages(
        [message("m1", "c1"), message("m2", "c1", role="assistant", status="complete")]
    )
    await people.add_messages([message("m3", "c2", BOB)])
    return people


def test_sql_store_satisfies_the_protocol() -> None:
    store: Store = SqlStore("sqlite+aiosqlite:///unused.db")
    assert isinstance(store, SqlStore)


# -- lifecycle ----------------------------------------------------------------------------------


async def test_open_creates_the_sqlite_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "chat.db"
    store = SqlStore(f"sqlite+aiosqlite:///{path}")
    await store.open()
    try:
        assert path.is_file()

        def read_pragmas(conn: Connection) -> dict[str, Any]:
            return {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }

        pragmas = await store._db.read(read_pragmas)
        assert pragmas == {
            "journal_mode": "wal",
            "synchronous": 1,
            "foreign_keys": 1,
            "busy_timeout": 5000,
        }
    finally:
        await store.close()


async def test_open_twice_on_one_database_and_close_twice(store_url: str) -> None:
    first, second = SqlStore(store_url), SqlStore(store_url)
    await first.open()
    await second.open()
    await first.ping()
    await second.ping()
    await first.close()
    await second.close()
    await second.close()


async def test_ping_answers(store: SqlStore) -> None:
    await store.ping()


async def test_every_method_raises_store_error_before_open() -> None:
    store = SqlStore("sqlite+aiosqlite:///never.db")
    with pytest.raises(StoreError, match=r"^the database is unavailable: the store is not open$"):
        await store.ping()
    with pytest.raises(StoreError):
        await store.get_conversation(ALICE, "c1")


# -- users --------------------------------------------------------------------------------------


async def test_ensure_user_inserts_once_and_keeps_the_first_name(
    store: SqlStore, db: AsyncEngine
) -> None:
    before = datetime.now(UTC)
    await store.ensure_user(ALICE, "Alice")
    await store.ensure_user(ALICE, "Someone else")
    [row] = await conftest.rows(db, tables.users)
    assert row["created_at"].tzinfo is UTC
    assert before <= row["created_at"] <= datetime.now(UTC)
    assert row == {
        "id": ALICE,
        "name": "Alice",
        "token_hash": None,
        "created_at": row["created_at"],
    }


async def test_ensure_user_is_race_safe(store: SqlStore, db: AsyncEngine) -> None:
    await asyncio.gather(*(store.ensure_user("racer", f"n{i}") for i in range(8)))
    assert [r["id"] for r in await conftest.rows(db, tables.users)] == ["racer"]


# -- conversations ------------------------------------------------------------------------------


async def test_create_and_get_conversation(people: SqlStore, db: AsyncEngine) -> None:
    given = conversation(
        "c1",
        model="mock/gpt-4o-mini",
        system_prompt="Be brief.",
        params={"temperature": 0.2, "stop": ["\n\n"], "nested": {"a": [1, None]}},
    )
    assert await people.create_conversation(given) == given
    assert await people.get_conversation(ALICE, "c1") == given
    assert await conftest.rows(db, tables.conversations) == [
        {
            "id": "c1",
            "owner_id": ALICE,
            "title": "title of c1",
            "model": "mock/gpt-4o-mini",
            "system_prompt": "Be brief.",
            "params": {"temperature": 0.2, "stop": ["\n\n"], "nested": {"a": [1, None]}},
            "created_at": T0,
            "updated_at": T0,
            "current_id": None,
        }
    ]


async def test_timestamps_come_back_as_utc(people: SqlStore) -> None:
    tokyo = datetime(2024, 6, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=9)))
    saved = await people.create_conversation(conversation("c1", at=tokyo))
    fetched = await people.get_conversation(ALICE, "c1")
    for value in (saved.created_at, saved.updated_at, fetched.created_at, fetched.updated_at):
        assert value.tzinfo is UTC
        assert value == datetime(2024, 6, 1, 0, 30, 15, 123456, tzinfo=UTC)


async def test_create_conversation_with_a_taken_id_is_a_conflict(
    people: SqlStore, db: AsyncEngine
) -> None:
    await people.create_conversation(conversation("c1"))
    with pytest.raises(Conflict) as caught:
        await people.create_conversation(conversation("c1", BOB, title="mine now"))
    assert isinstance(caught.value.__cause__, IntegrityError)
    assert [(r["owner_id"], r["title"]) for r in await conftest.rows(db, tables.conversations)] == [
        (ALICE, "title of c1")
    ]


@pytest.mark.parametrize(("owner", "conversation_id"), [(BOB, "c1"), (ALICE, "nope")])
async def test_get_conversation_of_another_owner_or_missing_is_not_found(
    chat: SqlStore, owner: str, conversation_id: str
) -> None:
    with pytest.raises(NotFound) as caught:
        await chat.get_conversation(owner, conversation_id)
    assert caught.value.message == f"conversation {conversation_id} not found"


async def test_list_conversations_newest_first_ties_by_id_and_pages(people: SqlStore) -> None:
    at = [T0 + timedelta(minutes=n) for n in range(4)]
    for id_, when in [("a", at[0]), ("b", at[2]), ("c", at[1]), ("d", at[2]), ("e", at[3])]:
        await people.create_conversation(conversation(id_, at=when))
    await people.create_conversation(conversation("bobs", BOB, at=at[3] + timedelta(days=1)))

    everything = await people.list_conversations(ALICE, limit=100, offset=0)
    assert [c.id for c in everything] == ["e", "d", "b", "c", "a"]
    pages = [await people.list_conversations(ALICE, limit=2, offset=o) for o in (0, 2, 4, 6)]
    assert [[c.id for c in page] for page in pages] == [["e", "d"], ["b", "c"], ["a"], []]
    assert [c.id for c in await people.list_conversations(BOB, limit=10, offset=0)] == ["bobs"]
    assert await people.list_conversations("nobody", limit=10, offset=0) == []


async def test_activity_moves_a_conversation_to_the_top(people: SqlStore) -> None:
    await people.create_conversation(conversation("old", at=T0))
    await people.create_conversation(conversation("new", at=T0 + timedelta(hours=1)))
    await people.add_messages([message("m1", "old")])
    listed = await people.list_conversations(ALICE, limit=10, offset=0)
    assert [c.id for c in listed] == ["old", "new"]
    assert listed[0].updated_at > T0 + timedelta(hours=1)


async def test_update_conversation_sets_fields_and_bumps_updated_at(
    chat: SqlStore, db: AsyncEngine
) -> None:
    before = await snapshot(db)
    started = datetime.now(UTC)
    updated = await chat.update_conversation(
        ALICE, "c1", {"title": "Renamed ✨", "params": {"top_p": 0.5}, "system_prompt": None}
    )
    assert started <= updated.updated_at <= datetime.now(UTC)
    assert updated == replace(
        await chat.get_conversation(ALICE, "c1"),
        title="Renamed ✨",
        params={"top_p": 0.5},
        updated_at=updated.updated_at,
    )
    assert updated == await chat.get_conversation(ALICE, "c1")
    after = await snapshot(db)
    assert after["messages"] == before["messages"]
    assert after["conversations"][1] == before["conversations"][1]  # Bob's c2
    assert after["conversations"][0] == {
        **before["conversations"][0],
        "title": "Renamed ✨",
        "params": {"top_p": 0.5},
        "system_prompt": None,
        "updated_at": updated.updated_at,
    }


async def test_update_conversation_only_bumps_when_given_no_fields(chat: SqlStore) -> None:
    before = await chat.get_conversation(ALICE, "c1")
    after = await chat.update_conversation(ALICE, "c1", {})
    assert after.updated_at > before.updated_at
    assert replace(after, updated_at=before.updated_at) == before


async def test_update_conversation_rejects_other_fields(chat: SqlStore, db: AsyncEngine) -> None:
    before = await snapshot(db)
    with pytest.raises(ValueError, match=r"^not a conversation field: id, owner_id$"):
        await chat.update_conversation(ALICE, "c1", {"title": "x", "owner_id": BOB, "id": "z"})
    assert await snapshot(db) == before


@pytest.mark.parametrize(("owner", "conversation_id"), [(BOB, "c1"), (ALICE, "nope")])
async def test_update_conversation_of_another_owner_or_missing_is_not_found(
    chat: SqlStore, db: AsyncEngine, owner: str, conversation_id: str
) -> None:
    before = await snapshot(db)
    with pytest.raises(NotFound, match=f"^conversation {conversation_id} not found$"):
        await chat.update_conversation(owner, conversation_id, {"title": "stolen"})
    assert await snapshot(db) == before


async def test_delete_conversation_cascades_to_its_messages(
    chat: SqlStore, db: AsyncEngine
) -> None:
    await chat.delete_conversation(ALICE, "c1")
    assert [r["id"] for r in await conftest.rows(db, tables.conversations)] == ["c2"]
    assert [r["id"] for r in await conftest.rows(db, tables.messages)] == ["m3"]
    with pytest.raises(NotFound, match=r"^conversation c1 not found$"):
        await chat.delete_conversation(ALICE, "c1")


async def test_delete_conversation_of_another_owner_is_not_found(
    chat: SqlStore, db: AsyncEngine
) -> None:
    before = await snapshot(db)
    with pytest.raises(NotFound, match=r"^conversation c1 not found$"):
        await chat.delete_conversation(BOB, "c1")
    assert await snapshot(db) == before


# -- messages -----------------------------------------------------------------------------------


async def test_add_messages_appends_in_order_with_positions(
    people: SqlStore, db: AsyncEngine
) -> None:
    await people.create_conversation(conversation("c1"))
    first = [message("m1", "c1", role="system"), message("m2", "c1")]
    second = [message("z0", "c1", role="assistant"), message("a9", "c1")]
    started = datetime.now(UTC)
    await people.add_messages(first)
    await people.add_messages(second)
    await people.add_messages([])
    assert await people.list_messages(ALICE, "c1") == first + second
    positions = {r["id"]: r["position"] for r in await conftest.rows(db, tables.messages)}
    assert positions == {"m1": 0, "m2": 1, "z0": 2, "a9": 3}
    assert (await people.get_conversation(ALICE, "c1")).updated_at >= started


async def test_add_messages_keeps_every_field(people: SqlStore, db: AsyncEngine) -> None:
    await people.create_conversation(conversation("c1"))
    answer = message(
        "m1",
        "c1",
        role="assistant",
        content="Hello",
        reasoning="thinking…",
        model="mock/gpt-4o-mini",
        status="error",
        finish_reason="length",
        usage=Usage(10, 5, 15, estimated=True),
        error={"code": "upstream_timeout", "message": "no token for 30 s", "retryable": True},
        ttft_ms=123.5,
        total_ms=4567.25,
        last_event_id=42,
        reasoning_ms=812.5,
    )
    await people.add_messages([answer])
    assert await people.get_message(ALICE, "m1") == answer
    [row] = await conftest.rows(db, tables.messages)
    assert row == {
        "id": "m1",
        "conversation_id": "c1",
        "owner_id": ALICE,
        "position": 0,
        "parent_id": None,
        "role": "assistant",
        "content": "Hello",
        "reasoning": "thinking…",
        "model": "mock/gpt-4o-mini",
        "status": "error",
        "finish_reason": "length",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "usage_estimated": True,
        "error": {"code": "upstream_timeout", "message": "no token for 30 s", "retryable": True},
        "ttft_ms": 123.5,
        "total_ms": 4567.25,
        "last_event_id": 42,
        "created_at": T0,
        "updated_at": T0,
        "reasoning_ms": 812.5,
    }


@pytest.mark.parametrize(
    ("usage", "columns"),
    [
        (None, (None, None, None, None)),
        (Usage(), (0, 0, 0, False)),
        (Usage(7, 8, 15), (7, 8, 15, False)),
    ],
)
async def test_usage_round_trips_and_none_is_four_nulls(
    people: SqlStore, db: AsyncEngine, usage: Usage | None, columns: tuple[Any, ...]
) -> None:
    await people.create_conversation(conversation("c1"))
    await people.add_messages([message("m1", "c1", role="assistant", usage=usage)])
    assert (await people.get_message(ALICE, "m1")).usage == usage
    [row] = await conftest.rows(db, tables.messages)
    names = ("prompt_tokens", "completion_tokens", "total_tokens", "usage_estimated")
    assert tuple(row[name] for name in names) == columns


UNICODE = [
    "emoji 😀👩‍👩‍👧‍👦🏳️‍🌈 and a flag 🇯🇵",
    "中文：你好，世界。日本語のテキスト、한국어 텍스트",
    "right to left: مرحبا بالعالم שלום",
    "combining: e\u0301 a\u030a, zero width\u200b joiner, BOM \ufeff, astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "quotes ' \" ` and backslashes \\ \\n and a real\nnewline\r\nand tab\t",
    "长" * 100_000,
]


@pytest.mark.parametrize(
    "text", UNICODE, ids=["emoji", "cjk", "rtl", "combining", "quotes", "long"]
)
async def test_unicode_round_trips(people: SqlStore, text: str) -> None:
    await people.create_conversation(conversation("c1", title=text[:200], system_prompt=text))
    await people.add_messages([message("m1", "c1", content=text, reasoning=text[::-1])])
    await people.update_message("m1", {"error": {"message": text}})
    got = await people.get_message(ALICE, "m1")
    assert (got.content, got.reasoning, got.error) == (text, text[::-1], {"message": text})
    saved = await people.get_conversation(ALICE, "c1")
    assert (saved.title, saved.system_prompt) == (text[:200], text)


async def test_add_messages_concurrently_gets_distinct_positions(
    people: SqlStore, db: AsyncEngine
) -> None:
    await people.create_conversation(conversation("c1"))
    batches = [[message(f"m{i}a", "c1"), message(f"m{i}b", "c1")] for i in range(6)]
    await asyncio.gather(*(people.add_messages(batch) for batch in batches))
    listed = await people.list_messages(ALICE, "c1")
    positions = [r["position"] for r in await conftest.rows(db, tables.messages)]
    assert sorted(positions) == list(range(12))
    for batch in batches:  # each batch stays together and in order
        at = [m.id for m in listed].index(batch[0].id)
        assert listed[at : at + 2] == batch


@pytest.mark.parametrize(
    "batch",
    [
        [message("ok", "c1"), message("bad", "c2")],  # c2 is Bob's
        [message("ok", "c1"), message("bad", "c1", BOB)],  # Bob writing into Alice's c1
        [message("ok", "c1"), message("bad", "nope")],
    ],
    ids=["others-conversation", "other-owner", "missing-conversation"],
)
async def test_add_messages_is_all_or_nothing(
    chat: SqlStore, db: AsyncEngine, batch: list[Message]
) -> None:
    before = await snapshot(db)
    with pytest.raises(NotFound, match=f"^conversation {batch[1].conversation_id} not found$"):
        await chat.add_messages(batch)
    assert await snapshot(db) == before


async def test_the_current_leaf_follows_inserts_deletes_and_set_current(
    people: SqlStore,
) -> None:
    """Messages form a tree (issue 11): the last message inserted becomes the conversation's
    current leaf; deleting it shows its parent; set_current moves it without bumping
    updated_at; another owner's conversation is NotFound."""
    await people.create_conversation(conversation("c1"))
    q1, a1 = message("q1", "c1"), message("a1", "c1", role="assistant", parent_id="q1")
    await people.add_messages([q1, a1])
    assert (await people.get_conversation(ALICE, "c1")).current_id == "a1"
    a2 = message("a2", "c1", role="assistant", parent_id="q1")
    await people.add_messages([a2])
    assert [m.parent_id for m in await people.list_messages(ALICE, "c1")] == [None, "q1", "q1"]
    touched = (await people.get_conversation(ALICE, "c1")).updated_at
    await people.set_current(ALICE, "c1", "a1")
    after = await people.get_conversation(ALICE, "c1")
    assert (after.current_id, after.updated_at) == ("a1", touched)
    await people.set_current(ALICE, "c1", "a2")
    await people.delete_messages(ALICE, ["a2"])
    assert (await people.get_conversation(ALICE, "c1")).current_id == "q1"
    with pytest.raises(NotFound):
        await people.set_current(BOB, "c1", "a1")


async def test_add_messages_creates_a_new_conversation_in_the_same_transaction(
    chat: SqlStore, db: AsyncEngine
) -> None:
    rows = [message("q1", "c9"), message("a1", "c9", role="assistant")]
    await chat.add_messages(rows, new=conversation("c9"))
    stored = await chat.get_conversation(ALICE, "c9")
    assert stored == dataclasses.replace(conversation("c9"), current_id="a1")
    assert await chat.list_messages(ALICE, "c9") == rows
    positions = {r["id"]: r["position"] for r in await conftest.rows(db, tables.messages)}
    assert (positions["q1"], positions["a1"]) == (0, 1)
    # A message that cannot be inserted takes the new conversation back with it.
    before = await snapshot(db)
    with pytest.raises(Conflict):
        await chat.add_messages([message("q2", "c8"), message("m1", "c8")], new=conversation("c8"))
    assert await snapshot(db) == before


async def test_add_messages_with_a_taken_id_is_a_conflict(chat: SqlStore, db: AsyncEngine) -> None:
    before = await snapshot(db)
    with pytest.raises(Conflict):
        await chat.add_messages([message("new", "c1"), message("m1", "c1")])
    assert await snapshot(db) == before


async def test_list_messages_of_another_owner_or_missing_is_not_found(chat: SqlStore) -> None:
    with pytest.raises(NotFound, match=r"^conversation c1 not found$"):
        await chat.list_messages(BOB, "c1")
    with pytest.raises(NotFound, match=r"^conversation nope not found$"):
        await chat.list_messages(ALICE, "nope")
    await chat.create_conversation(conversation("empty"))
    assert await chat.list_messages(ALICE, "empty") == []


async def test_get_message(chat: SqlStore) -> None:
    assert await chat.get_message(BOB, "m3") == message("m3", "c2", BOB)
    for owner, message_id in [(BOB, "m1"), (ALICE, "m3"), (ALICE, "nope")]:
        with pytest.raises(NotFound) as caught:
            await chat.get_message(owner, message_id)
        assert caught.value.message == f"message {message_id} not found"


async def test_update_message_writes_only_the_patched_columns(
    chat: SqlStore, db: AsyncEngine
) -> None:
    full: MessagePatch = {
        "content": "partial",
        "reasoning": "hmm",
        "status": "streaming",
        "finish_reason": None,
        "usage": Usage(1, 2, 3),
        "error": {"code": "x"},
        "ttft_ms": 1.5,
        "total_ms": 2.5,
        "last_event_id": 7,
        "model": "m",
    }
    await chat.update_message("m2", full)
    before = await snapshot(db)
    started = datetime.now(UTC)
    await chat.update_message("m2", {"content": "partial and more"})
    after = await snapshot(db)
    [old] = [r for r in before["messages"] if r["id"] == "m2"]
    [new] = [r for r in after["messages"] if r["id"] == "m2"]
    assert started <= new["updated_at"] <= datetime.now(UTC)
    assert new == {**old, "content": "partial and more", "updated_at": new["updated_at"]}
    assert [r for r in after["messages"] if r["id"] != "m2"] == [
        r for r in before["messages"] if r["id"] != "m2"
    ]
    assert after["conversations"] == before["conversations"]


async def test_save_progress_appends_a_part_per_answer_in_one_call(
    chat: SqlStore, db: AsyncEngine
) -> None:
    """A periodic save writes what arrived as a part (issue 15 item 5), not the answer's row;
    reads show the row's text followed by the parts (tests/store/test_answer_parts.py has the
    rest)."""
    await chat.update_message("m3", {"status": "streaming"})
    before = await snapshot(db)
    await chat.save_progress(
        [
            Progress("m2", "partial 你好", "thinking", 7),
            Progress("m3", "bob's so far", "", 4),
            Progress("gone", "a deleted answer's text", "", 9),  # no row: skipped
        ]
    )
    assert await snapshot(db) == before  # no message row written
    assert await conftest.rows(db, tables.answer_parts, "message_id", "seq") == [
        {"message_id": "m2", "seq": 0, "content": "partial 你好", "reasoning": "thinking",
         "last_event_id": 7, "reasoning_ms": None},
        {"message_id": "m3", "seq": 0, "content": "bob's so far", "reasoning": "",
         "last_event_id": 4, "reasoning_ms": None},
    ]  # fmt: skip
    m3 = await chat.get_message(BOB, "m3")
    assert (m3.content, m3.last_event_id) == ("content of m3bob's so far", 4)
    await chat.save_progress([])  # nothing to do is not an error


async def test_update_message_final_patch(chat: SqlStore, db: AsyncEngine) -> None:
    await chat.update_message("m2", {"usage": Usage(1, 2, 3), "error": {"code": "x"}})
    patch: MessagePatch = {
        "status": "complete",
        "finish_reason": "stop",
        "usage": None,
        "error": None,
        "ttft_ms": 12.0,
        "total_ms": 34.0,
        "last_event_id": 9,
    }
    await chat.update_message("m2", patch)
    got = await chat.get_message(ALICE, "m2")
    assert got == replace(
        message("m2", "c1", role="assistant"),
        status="complete",
        finish_reason="stop",
        ttft_ms=12.0,
        total_ms=34.0,
        last_event_id=9,
        updated_at=got.updated_at,
    )
    async with db.connect() as conn:  # error None is SQL NULL, not JSON null
        nulls = await conn.execute(
            sa.select(sa.func.count()).where(
                tables.messages.c.id == "m2", tables.messages.c.error.is_(None)
            )
        )
        assert nulls.scalar_one() == 1


async def test_update_message_of_a_missing_message_is_not_found(
    chat: SqlStore, db: AsyncEngine
) -> None:
    before = await snapshot(db)
    with pytest.raises(NotFound, match=r"^message nope not found$"):
        await chat.update_message("nope", {"content": "x"})
    with pytest.raises(ValueError, match=r"^not a message patch field: owner_id$"):
        await chat.update_message("m1", {"owner_id": BOB})  # type: ignore[typeddict-unknown-key]
    assert await snapshot(db) == before


async def test_delete_messages(chat: SqlStore, db: AsyncEngine) -> None:
    await chat.add_messages([message("m4", "c1"), message("m5", "c1")])
    await chat.delete_messages(ALICE, ["m5", "m2", "m2"])
    assert [m.id for m in await chat.list_messages(ALICE, "c1")] == ["m1", "m4"]
    assert [r["id"] for r in await conftest.rows(db, tables.messages)] == ["m1", "m3", "m4"]
    await chat.delete_messages(ALICE, [])
    assert await conftest.count(db, tables.messages) == 3
    # Positions keep growing after a delete: order is never ambiguous.
    await chat.add_messages([message("m6", "c1")])
    assert [m.id for m in await chat.list_messages(ALICE, "c1")] == ["m1", "m4", "m6"]


@pytest.mark.parametrize(
    ("ids", "missing"), [(["m1", "m3"], "m3"), (["nope", "m1"], "nope")], ids=["bobs", "missing"]
)
async def test_delete_messages_is_all_or_nothing(
    chat: SqlStore, db: AsyncEngine, ids: list[str], missing: str
) -> None:
    before = await snapshot(db)
    with pytest.raises(NotFound, match=f"^message {missing} not found$"):
        await chat.delete_messages(ALICE, ids)
    assert await snapshot(db) == before


async def test_recover_streaming(people: SqlStore, db: AsyncEngine) -> None:
    await people.create_conversation(conversation("c1"))
    await people.create_conversation(conversation("c2", BOB))
    statuses = {"s1": "streaming", "s2": "streaming", "s3": "streaming", "done": "complete"}
    await people.add_messages(
        [message(i, "c1", role="assistant", status=s) for i, s in statuses.items()]
        + [message("s4", "c2", BOB, role="assistant", status="streaming")]
    )
    assert await people.recover_streaming(before_ids=["s2", "unknown"]) == 3
    assert {r["id"]: r["status"] for r in await conftest.rows(db, tables.messages)} == {
        "done": "complete",
        "s1": "incomplete",
        "s2": "streaming",
        "s3": "incomplete",
        "s4": "incomplete",
    }
    assert await people.recover_streaming() == 1
    assert await people.recover_streaming() == 0


# -- errors -------------------------------------------------------------------------------------


async def test_unreachable_postgres_is_a_store_error_without_the_password() -> None:
    store = SqlStore("postgresql://postgres:secretpw@127.0.0.1:1/test")
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        await store.open()
    assert time.monotonic() - started < 5
    assert caught.value.message.startswith("the database is unavailable: ")
    assert "secretpw" not in str(caught.value)
    assert caught.value.code == "store_unavailable"
    assert caught.value.retryable
    with pytest.raises(StoreError, match="the store is not open"):
        await store.ping()
    await store.close()


async def test_unopenable_sqlite_file_is_a_store_error(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path}")  # a directory, not a file
    with pytest.raises(StoreError, match=r"^the database is unavailable: ") as caught:
        await store.open()
    assert isinstance(caught.value.__cause__, OperationalError)
    await _sqlite_threads_finished()


async def _sqlite_threads_finished() -> None:
    """The store's SQLite thread ends with the store, here after an open that failed."""
    for _ in range(500):
        if not any(t.name.startswith("streamchat-sqlite") for t in threading.enumerate()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("a streamchat-sqlite thread is still running")


async def test_sqlite_runs_every_transaction_on_one_thread_of_its_own(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'one.db'}")
    await store.open()
    try:
        seen = await asyncio.gather(
            *(store._db.read(lambda _conn: threading.current_thread().name) for _ in range(20))
        )
        assert len(set(seen)) == 1
        assert seen[0].startswith("streamchat-sqlite")
        assert seen[0] != threading.current_thread().name
        # Concurrent writers queue on that thread: none meets "database is locked".
        await store.ensure_user(ALICE, "alice")
        await store.create_conversation(conversation("c1"))
        await asyncio.gather(*(store.add_messages([message(f"m{i}", "c1")]) for i in range(50)))
        positions = [m.id for m in await store.list_messages(ALICE, "c1")]
        assert sorted(positions) == sorted(f"m{i}" for i in range(50))
    finally:
        await store.close()
    await _sqlite_threads_finished()


@pytest.mark.postgres
async def test_ping_fails_fast_when_postgres_goes_away(relay: Relay, pg_session_url: str) -> None:
    port = await relay.start()
    database = sa.make_url(pg_session_url)
    url = f"postgresql://{database.username}:secretpw@127.0.0.1:{port}/{database.database}"
    store = SqlStore(url)  # trust auth: the password is accepted and ignored
    await store.open()
    try:
        await store.ping()
        await relay.cut()
        relay.silent = True
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"^the database is unavailable: ") as caught:
            await store.ping()
        assert time.monotonic() - started < 4
        assert "secretpw" not in str(caught.value)
        relay.silent = False
        await store.ping()  # back again: the pool reconnects
    finally:
        await store.close()


def test_translate_errors_maps_and_hides_credentials() -> None:
    with pytest.raises(StoreError) as caught, translate_errors(["secretpw"]):
        raise OSError("cannot reach postgresql://me:secretpw@db:5432/x (secretpw)")
    assert caught.value.message == (
        "the database is unavailable: cannot reach postgresql://me:***@db:5432/x ([redacted])"
    )
    assert isinstance(caught.value.__cause__, OSError)
    with (
        pytest.raises(StoreError, match=r"^the database is unavailable: timed out$"),
        translate_errors(),
    ):
        raise TimeoutError
    with (  # the pool's own timeout (every connection busy) was an HTTP 500 at c=2,000
        pytest.raises(StoreError, match=r"^the database is busy: no connection became free"),
        translate_errors(),
    ):
        raise sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached")
    with pytest.raises(NotFound), translate_errors():
        raise NotFound("conversation x not found")


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u:secretpw@h/db", "postgresql+asyncpg"),
        ("postgres://u:secretpw@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
    ],
)
async def test_create_engine_picks_the_async_driver(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver
    engine = create_engine(url.replace("x.db", ":memory:"))
    try:
        assert engine.url.drivername == driver
    finally:
        await engine.dispose()


def test_unsupported_url_is_a_value_error_without_the_password() -> None:
    with pytest.raises(ValueError, match=r"^unsupported database URL scheme 'mysql'$"):
        create_engine("mysql://u:secretpw@h/db")


def test_the_public_surface_of_the_store_modules() -> None:
    assert sql.__all__ == ["PING_TIMEOUT", "SqlStore"]
    assert engine.__all__ == [
        "AsyncDatabase",
        "Database",
        "SqliteThread",
        "create_engine",
        "normalize_url",
        "open_database",
        "translate_errors",
        "url_secrets",
    ]
    assert migrate.__all__ == ["MIGRATIONS_DIR", "alembic_config", "upgrade", "upgrade_on"]
    assert tables.__all__ == [
        "UTCDateTime",
        "answer_parts",
        "conversations",
        "files",
        "message_files",
        "messages",
        "metadata",
        "responses",
        "sessions",
        "users",
    ]
    assert rows.__all__ == [
        "CONVERSATION_FIELDS",
        "conversation_from_row",
        "conversation_values",
        "message_from_row",
        "message_values",
        "patch_values",
        "usage_values",
    ]


async def test_a_generated_title_is_set_only_over_the_automatic_one(people: SqlStore) -> None:
    """Issue 14 item 5: the model's title never overwrites a rename."""
    await people.create_conversation(conversation("c1", title="first words"))
    assert not await people.set_generated_title(BOB, "c1", "first words", "Bob's")
    assert await people.set_generated_title(ALICE, "c1", "first words", "Model title")
    stored = await people.get_conversation(ALICE, "c1")
    assert (stored.title, stored.updated_at) == ("Model title", T0)  # not activity
    await people.update_conversation(ALICE, "c1", {"title": "Mine"})
    assert not await people.set_generated_title(ALICE, "c1", "Model title", "Again")
    assert (await people.get_conversation(ALICE, "c1")).title == "Mine"


async def test_the_reasoning_time_is_patched(people: SqlStore) -> None:
    await people.create_conversation(conversation("c1"))
    await people.add_messages([message("m1", "c1", role="assistant", status="streaming")])
    await people.update_message("m1", {"status": "complete", "reasoning_ms": 1234.5})
    assert (await people.get_message(ALICE, "m1")).reasoning_ms == 1234.5
