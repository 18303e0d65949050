"""Append-only progress saves (issue 15 item 5, migration 0009) on real SQLite and PostgreSQL: a
periodic save appends what arrived as a part, every reader sees the row's text followed by the
parts, the end folds them into the row in one transaction, and nothing saved is lost: not by a
crash (recovery, orphans), not by a store failure mid-save; parts go with their message."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from streamchat import events
from streamchat.chat import Conversation, Message
from streamchat.errors import StoreError
from streamchat.events import Event
from streamchat.fanout.memory import MemoryBroker
from streamchat.generations.orphans import Orphans
from streamchat.generations.saving import Saver
from streamchat.store import Progress, tables
from streamchat.store.engine import create_engine
from streamchat.store.sql import SqlStore
from tests.harness import Relay
from tests.store import conftest

ALICE = "alice"
T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
# Two-, three- and four-byte UTF-8, a combining accent, an emoji with a skin-tone modifier.
TEXT = "héllo, 你好 wörld 👋🏽 e\u0301 𝄞 end"


@dataclass
class Answer:
    """A running answer as the saver sees it (generations/core.py ``Generation``)."""

    id: str
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    dirty: bool = False
    finishing: bool = False
    flushing: asyncio.Task[None] | None = None
    stored: bool = True
    saved: tuple[int, int] = (0, 0)
    parts: int = 0
    last_event_id: int = 1
    reasoning_ms: float | None = None

    @property
    def message_id(self) -> str:
        return self.id

    def arrive(self, text: str, reasoning: str = "") -> None:
        self.content.append(text)
        if reasoning:
            self.reasoning.append(reasoning)
        self.last_event_id += 1 + bool(reasoning)


def spawn(coro: Any) -> asyncio.Task[Any]:
    return asyncio.get_running_loop().create_task(coro)


async def streaming(store: SqlStore, *ids: str, content: str = "") -> None:
    """Alice's conversation c1: question q1 and a streaming answer per id."""
    await store.ensure_user(ALICE, "Alice")
    with_question = [Message("q1", "c1", ALICE, "user", content="why?", created_at=T0)]
    answers = [
        Message(i, "c1", ALICE, "assistant", content=content, status="streaming", parent_id="q1")
        for i in ids
    ]
    new = Conversation("c1", ALICE, title="t", created_at=T0, updated_at=T0)
    await store.add_messages([*with_question, *answers], new=new)


async def parts(db: AsyncEngine) -> list[tuple[str, int, str, str, int]]:
    rows = await conftest.rows(db, tables.answer_parts, "message_id", "seq")
    return [
        (r["message_id"], r["seq"], r["content"], r["reasoning"], r["last_event_id"]) for r in rows
    ]


async def shown(store: SqlStore, message_id: str) -> tuple[str, str, int | None, str]:
    """What each reader sees of an answer: get_message and list_messages must agree."""
    one = await store.get_message(ALICE, message_id)
    [listed] = [m for m in await store.list_messages(ALICE, "c1") if m.id == message_id]
    assert listed == one
    return one.content, one.reasoning, one.last_event_id, one.status


async def test_each_save_appends_what_arrived_and_leaves_the_row_alone(
    store: SqlStore, db: AsyncEngine
) -> None:
    await streaming(store, "a1")
    row = await conftest.rows(db, tables.messages)
    saver = Saver(store, 1.0, spawn)
    answer = Answer("a1")
    answer.arrive("Hello", "hmm")
    await saver._flush([answer])
    answer.arrive(", wor")
    answer.arrive("ld")
    await saver._flush([answer])
    assert await parts(db) == [("a1", 0, "Hello", "hmm", 3), ("a1", 1, ", world", "", 5)]
    assert await conftest.rows(db, tables.messages) == row  # no message row rewritten
    assert await shown(store, "a1") == ("Hello, world", "hmm", 5, "streaming")


@pytest.mark.parametrize("pieces", [2, 3])
async def test_multibyte_text_split_anywhere_reads_back_exact(
    store: SqlStore, db: AsyncEngine, pieces: int
) -> None:
    """Every split of TEXT between code points (for 3 pieces: at i and at the middle of the
    rest), mid-stream and after the final save."""
    ids = [f"a{i}" for i in range(1, len(TEXT))]
    await streaming(store, *ids, content="kept ")
    progress = []
    for i, message_id in zip(range(1, len(TEXT)), ids, strict=True):
        cuts = [0, i, *([(i + len(TEXT)) // 2] if pieces == 3 else []), len(TEXT)]
        progress += [
            Progress(message_id, TEXT[a:b], TEXT[b:] if seq == 0 else "", 10 + seq, seq=seq)
            for seq, (a, b) in enumerate(itertools.pairwise(cuts))
        ]
    await store.save_progress(progress)
    messages = {m.id: m for m in await store.list_messages(ALICE, "c1")}
    for i, message_id in zip(range(1, len(TEXT)), ids, strict=True):
        message = messages[message_id]
        assert message.content == "kept " + TEXT
        assert message.reasoning == TEXT[i:]
        assert message.last_event_id == 10 + pieces - 1
    # The final save without reasoning keeps the saved reasoning (row + parts).
    await store.update_message("a1", {"content": "kept " + TEXT + "!", "status": "complete"})
    last = 10 + pieces - 1
    assert await shown(store, "a1") == ("kept " + TEXT + "!", TEXT[1:], last, "complete")
    assert {p[0] for p in await parts(db)} == set(ids) - {"a1"}


async def test_the_final_save_folds_the_parts_in_one_transaction(
    store: SqlStore, db: AsyncEngine
) -> None:
    await streaming(store, "a1", "a2")
    await store.save_progress(
        [
            Progress("a1", "so ", "x", 3),
            Progress("a1", "far", "", 4, seq=1),
            Progress("a2", "other", "", 2),
        ]
    )
    # A final save that fails (status may not be NULL) changes nothing: its parts stay.
    with pytest.raises(Exception):  # noqa: B017 - the driver's own constraint error
        await store.update_message("a1", {"content": "so far, done", "status": None})  # type: ignore[typeddict-item]
    assert await shown(store, "a1") == ("so far", "x", 4, "streaming")
    # The final save writes the whole text (from the generation) and the parts go.
    await store.update_message(
        "a1",
        {"content": "so far, done", "reasoning": "x", "status": "complete", "last_event_id": 9},
    )
    assert await shown(store, "a1") == ("so far, done", "x", 9, "complete")
    assert [p[0] for p in await parts(db)] == ["a2"]
    # A patch without text (a Continue's orphan, a stop of its row) appends the parts.
    await store.update_message("a2", {"status": "incomplete"})
    assert await shown(store, "a2") == ("other", "", 2, "incomplete")
    assert await parts(db) == []


async def test_a_retried_save_replaces_its_part(store: SqlStore, db: AsyncEngine) -> None:
    """A save whose commit was in doubt (the connection lost after COMMIT) is written again
    under its number, holding what came since: nothing twice, nothing lost."""
    await streaming(store, "a1")
    await store.save_progress([Progress("a1", "ab", "", 2)])
    await store.save_progress([Progress("a1", "cd", "", 3, seq=1)])
    await store.save_progress([Progress("a1", "cdef", "", 4, seq=1)])
    assert await parts(db) == [("a1", 0, "ab", "", 2), ("a1", 1, "cdef", "", 4)]
    assert (await shown(store, "a1"))[:3] == ("abcdef", "", 4)


async def test_the_reasoning_time_is_read_with_the_parts_and_folded(
    store: SqlStore, db: AsyncEngine
) -> None:
    """Migration 0010: how long the model thought travels with the text that ended the thinking
    (issue 14: a page reloaded mid-answer re-attaches after the saved text, past the event that
    said it); the end's own time wins, recovery keeps the saved one, a Continue's row keeps the
    first part's until a part says otherwise."""
    await streaming(store, "a1", "a2", "a3")
    saver = Saver(store, 1.0, spawn)
    answer = Answer("a1")
    answer.arrive("", "thinking")
    await saver._flush([answer])
    assert (await store.get_message(ALICE, "a1")).reasoning_ms is None  # still thinking
    answer.reasoning_ms = 1234.5
    answer.arrive("Hi")
    await saver._flush([answer])
    answer.arrive(" there")
    await saver._flush([answer])
    [listed] = [m for m in await store.list_messages(ALICE, "c1") if m.id == "a1"]
    assert listed == await store.get_message(ALICE, "a1")
    assert (listed.content, listed.reasoning_ms) == ("Hi there", 1234.5)
    assert [
        r["reasoning_ms"] for r in await conftest.rows(db, tables.answer_parts, "message_id", "seq")
    ] == [
        None,
        1234.5,
        1234.5,
    ]
    await store.update_message("a1", {"status": "complete", "reasoning_ms": 1250.0})
    assert (await store.get_message(ALICE, "a1")).reasoning_ms == 1250.0

    await store.update_message("a2", {"reasoning_ms": 900.0})  # a Continue's first part
    await store.save_progress([Progress("a2", "more", "", 3), Progress("a3", "x", "r", 4, 0, 77.0)])
    assert (await store.get_message(ALICE, "a2")).reasoning_ms == 900.0
    await store.save_progress([Progress("a2", "!", "again", 5, seq=1, reasoning_ms=40.0)])
    assert (await store.get_message(ALICE, "a2")).reasoning_ms == 40.0
    assert await store.recover_streaming() == 2
    assert (await store.get_message(ALICE, "a2")).reasoning_ms == 40.0
    assert (await store.get_message(ALICE, "a3")).reasoning_ms == 77.0
    assert await parts(db) == []


async def test_restart_recovery_folds_the_parts_of_dead_answers(
    store: SqlStore, db: AsyncEngine
) -> None:
    await streaming(store, "a1", "a2", content="row ")
    await store.save_progress([Progress("a1", "one", "r", 5), Progress("a2", "live", "", 3)])
    await store.save_progress([Progress("a1", " two", "", 7, seq=1)])
    assert await store.recover_streaming(["a2"]) == 1  # a2 still runs somewhere
    assert await shown(store, "a1") == ("row one two", "r", 7, "incomplete")
    assert await shown(store, "a2") == ("row live", "", 3, "streaming")
    assert [p[0] for p in await parts(db)] == ["a2"]


async def _orphan(store: SqlStore, stream_id: str, kept: list[Event]) -> None:
    broker = MemoryBroker()
    await broker.create(stream_id, ALICE)
    broker.publish(stream_id, kept)
    await Orphans(broker, Saver(store, 1.0, spawn))._end(stream_id, kept, ALICE)


async def test_an_orphan_ends_interrupted_with_everything_saved_or_published(
    store: SqlStore, db: AsyncEngine
) -> None:
    await streaming(store, "a1", "a2", "a3")
    await store.save_progress(
        [Progress(i, "saved ", "", 2) for i in ("a1", "a2", "a3")]
        + [Progress(i, "text", "", 3, seq=1) for i in ("a1", "a2", "a3")]
    )
    meta = events.meta(1, conversation_id="c1", message_id="a1", model="m")
    # The broker holds every event: more than was saved.
    whole = [meta, Event(2, "delta", {"text": "saved "}), Event(3, "delta", {"text": "text"})]
    await _orphan(store, "a1", [*whole, Event(4, "delta", {"text": " and more"})])
    # The broker holds less than the store (its copy behind when the worker died).
    await _orphan(store, "a2", [events.meta(1, conversation_id="c1", message_id="a2", model="m")])
    # A continuation's stream: only the continuation's text; the row's is kept.
    kept = [
        events.meta(1, conversation_id="c1", message_id="a3", model="m", generation_id="a3.c1"),
        Event(2, "delta", {"text": "saved text"}),
    ]
    await _orphan(store, "a3.c1", kept)
    for message_id, content in (
        ("a1", "saved text and more"),
        ("a2", "saved text"),
        ("a3", "saved text"),
    ):
        message = await store.get_message(ALICE, message_id)
        assert (message.content, message.status) == (content, "incomplete")
        assert message.error is not None and message.error["code"] == "interrupted"
    assert await parts(db) == []


async def test_parts_go_with_their_message_conversation_and_owner(
    store: SqlStore, db: AsyncEngine
) -> None:
    await streaming(store, "a1", "a2")
    await store.save_progress([Progress("a1", "x", "", 2), Progress("a2", "y", "", 2)])
    await store.delete_messages(ALICE, ["a1"])
    assert [p[0] for p in await parts(db)] == ["a2"]
    await store.delete_conversation(ALICE, "c1")
    assert await parts(db) == []
    await streaming(store, "a3")
    await store.save_progress([Progress("a3", "z", "", 2)])
    await store.delete_user(ALICE)
    assert await parts(db) == []
    # A save of an answer deleted meanwhile is skipped, as before.
    await store.save_progress([Progress("a3", "late", "", 3, seq=1)])
    assert await parts(db) == []


async def test_a_save_that_fails_is_reported_and_written_by_the_next(
    store: SqlStore, db: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """The database refuses a save (a trigger raises, on either store): the saver logs it,
    keeps the answer dirty, and the next save writes that part with what came since."""
    await streaming(store, "a1")
    saver = Saver(store, 1.0, spawn)
    answer = Answer("a1")
    answer.arrive("one ")
    await saver._flush([answer])
    await _refuse_parts(db, True)
    answer.arrive("two ")
    await saver._flush([answer])
    assert answer.dirty and answer.parts == 1
    assert "saving 1 answers' progress failed: " in caplog.text
    assert await shown(store, "a1") == ("one ", "", 2, "streaming")
    await _refuse_parts(db, False)
    answer.arrive("three")
    await saver._flush([answer])
    assert await parts(db) == [("a1", 0, "one ", "", 2), ("a1", 1, "two three", "", 4)]
    assert await shown(store, "a1") == ("one two three", "", 4, "streaming")


async def _refuse_parts(db: AsyncEngine, refuse: bool) -> None:
    async with db.begin() as conn:
        if db.dialect.name == "sqlite":
            if refuse:
                await conn.exec_driver_sql(
                    "CREATE TRIGGER refuse BEFORE INSERT ON answer_parts "
                    "BEGIN SELECT RAISE(FAIL, 'disk I/O error'); END"
                )
            else:
                await conn.exec_driver_sql("DROP TRIGGER refuse")
        elif refuse:
            await conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'disk full' USING ERRCODE = '53100'; END $$"
            )
            await conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON answer_parts "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        else:
            await conn.exec_driver_sql("DROP TRIGGER refuse ON answer_parts")
            await conn.exec_driver_sql("DROP FUNCTION refuse()")


@pytest.mark.postgres
async def test_postgres_going_away_mid_save_loses_nothing(
    relay: Relay, pg_session_url: str
) -> None:
    """The connection to PostgreSQL is cut during the saves: the failed save is a StoreError
    (logged), and once it is back the next one writes what the failed one held."""
    port = await relay.start()
    database = sa.make_url(pg_session_url)
    store = SqlStore(f"postgresql://{database.username}@127.0.0.1:{port}/{database.database}")
    await store.open()
    db = create_engine(pg_session_url)
    try:
        async with db.begin() as conn:
            await conn.execute(sa.text("TRUNCATE users, conversations, messages CASCADE"))
        await streaming(store, "a1")
        saver = Saver(store, 1.0, spawn)
        answer = Answer("a1")
        answer.arrive("before ")
        await saver._flush([answer])
        await relay.cut()
        relay.silent = True
        answer.arrive("during ")
        with pytest.raises(StoreError):
            await store.save_progress([Progress("a1", "probe", "", 0, seq=99)])
        await saver._flush([answer])
        assert answer.dirty and answer.parts == 1
        relay.silent = False
        answer.arrive("after")
        await saver._flush([answer])
        assert (await shown(store, "a1"))[:3] == ("before during after", "", 4)
        await store.update_message("a1", {"content": "before during after.", "status": "complete"})
        assert (await shown(store, "a1"))[0] == "before during after."
        assert await parts(db) == []
    finally:
        await store.close()
        await db.dispose()
