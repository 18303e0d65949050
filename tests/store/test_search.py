"""Conversation search (issue 14) on real SQLite and PostgreSQL: titles and message text, CJK,
ranking, the index kept in step with every write, ownership; and the snippets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from streamchat.chat import Conversation, Message
from streamchat.store import Progress, SearchHit, search_sql
from streamchat.store.engine import create_engine
from streamchat.store.migrate import alembic_config, upgrade
from streamchat.store.sql import SqlStore

ALICE = "alice"
BOB = "bob"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def chat(
    store: SqlStore,
    conversation_id: str,
    title: str,
    *texts: str,
    owner: str = ALICE,
    minute: int = 0,
) -> list[str]:
    """A conversation of questions and answers (alternating, complete); their ids."""
    await store.create_conversation(
        Conversation(
            conversation_id, owner, title=title, created_at=at(minute), updated_at=at(minute)
        )
    )
    messages = [
        Message(
            f"{conversation_id}-m{i}",
            conversation_id,
            owner,
            role="user" if i % 2 == 0 else "assistant",
            content=text,
            created_at=at(minute + i),
            updated_at=at(minute + i),
        )
        for i, text in enumerate(texts)
    ]
    await store.add_messages(messages)
    return [m.id for m in messages]


async def found(store: SqlStore, query: str, owner: str = ALICE, **kw: Any) -> list[str | None]:
    """The message ids of the hits (a title's hit: ``title:<conversation>``), in order."""
    hits = await store.search(owner, query, limit=kw.get("limit", 50), offset=kw.get("offset", 0))
    return [h.message_id or f"title:{h.conversation_id}" for h in hits]


def marked(hit: SearchHit) -> list[str]:
    return [hit.snippet[s:e] for s, e in hit.marks]


async def check_index(db: AsyncEngine) -> None:
    """SQLite: FTS5's own check that the index matches the rows it indexes."""
    if db.dialect.name != "sqlite":
        return
    async with db.begin() as conn:
        for table in ("message_search", "conversation_search"):
            await conn.exec_driver_sql(
                f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)"
            )


@pytest.fixture
async def people(store: SqlStore) -> SqlStore:
    await store.ensure_user(ALICE, "Alice")
    await store.ensure_user(BOB, "Bob")
    return store


async def test_finds_words_in_titles_and_in_message_text(people: SqlStore, db: AsyncEngine) -> None:
    await chat(
        people,
        "c1",
        "Trip to Kyoto",
        "Which temples should I see in Kyoto?",
        "Kinkaku-ji, the Golden Pavilion, and Fushimi Inari with its thousand gates.",
    )
    await chat(people, "c2", "Sourdough", "How long do I proof the dough?", "About 4 hours.")
    assert await found(people, "kyoto") == ["title:c1", "c1-m0"]
    hits = await people.search(ALICE, "PAVILION", limit=10, offset=0)
    assert [(h.conversation_id, h.message_id, h.role, h.title) for h in hits] == [
        ("c1", "c1-m1", "assistant", "Trip to Kyoto")
    ]
    assert hits[0].snippet == (
        "Kinkaku-ji, the Golden Pavilion, and Fushimi Inari with its thousand gates."
    )
    assert marked(hits[0]) == ["Pavilion"]
    title_hit = (await people.search(ALICE, "sourdough", limit=10, offset=0))[0]
    assert (title_hit.message_id, title_hit.role, title_hit.snippet) == (None, None, "")
    assert [title_hit.title[s:e] for s, e in title_hit.title_marks] == ["Sourdough"]
    # Every word, anywhere in one message; a word missing anywhere: nothing.
    assert await found(people, "gates golden") == ["c1-m1"]
    assert await found(people, "gates bread") == []
    assert await found(people, "") == []
    await check_index(db)


async def test_chinese_text_is_found_by_words_of_any_length(people: SqlStore) -> None:
    await chat(
        people,
        "c1",
        "旅行计划",
        "我们明天去北京的故宫参观，然后吃烤鸭。",
        "好的！故宫周一闭馆，请提前在网上预约门票。",
    )
    await chat(people, "c2", "Python 学习", "怎么用 Python 读取 CSV 文件？")
    assert await found(people, "故宫") == ["c1-m1", "c1-m0"]  # two characters: scanned
    assert await found(people, "北京的故宫") == ["c1-m0"]  # the trigram index
    assert await found(people, "旅行") == ["title:c1"]
    assert await found(people, "预约门票 故宫") == ["c1-m1"]
    assert await found(people, "python 文件") == ["c2-m0"]
    assert await found(people, "上海") == []
    hit = (await people.search(ALICE, "烤鸭", limit=1, offset=0))[0]
    assert hit.snippet == "我们明天去北京的故宫参观，然后吃烤鸭。"
    assert marked(hit) == ["烤鸭"]


async def test_best_match_first_then_most_recent(people: SqlStore) -> None:
    await chat(people, "old", "Notes", "the red fox jumps", minute=0)
    await chat(people, "new", "More notes", "a fox that is red", minute=10)
    await chat(people, "newer", "Other", "the red fox again", minute=20)
    await chat(people, "titled", "Red fox facts", "nothing here", minute=5)
    await chat(people, "apart", "Fox, red", "a fox", minute=30)
    assert await found(people, "red fox") == [
        "title:titled",  # the whole query in a title
        "newer-m0",  # the whole query in a message, newest first
        "old-m0",
        "title:apart",  # every word, apart, in a title
        "new-m0",  # every word, apart, in a message
    ]
    assert await found(people, "red fox", limit=2, offset=1) == ["newer-m0", "old-m0"]


async def test_progressive_saves_the_final_save_and_continue_keep_the_index(
    people: SqlStore, db: AsyncEngine
) -> None:
    [question] = await chat(people, "c1", "Animals", "tell me about zebras")
    answer = Message("a1", "c1", ALICE, role="assistant", status="streaming", parent_id=question)
    await people.add_messages([answer])
    assert await found(people, "stripes") == []
    # The text as saved while it streams (not indexed yet: scanned).
    await people.save_progress([Progress("a1", "Zebras have str", "", 3)])
    await people.save_progress([Progress("a1", "ipes", "", 4, seq=1)])
    assert await found(people, "stripes") == ["a1"]  # across two parts (migration 0009)
    assert await found(people, "ip") == ["a1"]  # a word too short for the index: scanned too
    await people.save_progress([Progress("a1", " and live in herds", "", 9, seq=2)])
    assert await found(people, "herds") == ["a1"]
    assert await found(people, "stripes") == ["a1"]
    # The final save writes another text: only that one is found, once.
    await people.update_message("a1", {"content": "Zebras live in Africa.", "status": "complete"})
    assert await found(people, "africa") == ["a1"]
    assert await found(people, "stripes") == []
    assert await found(people, "zebras") == ["a1", "c1-m0"]
    await check_index(db)
    # Continue streams it again, then stores the longer text.
    await people.update_message("a1", {"status": "streaming"})
    await people.save_progress([Progress("a1", " And savannas.", "", 12)])
    assert await found(people, "savannas") == ["a1"]
    await people.update_message(
        "a1", {"content": "Zebras live in Africa. And savannas!", "status": "complete"}
    )
    assert await found(people, "savannas") == ["a1"]
    assert await found(people, "africa") == ["a1"]
    await check_index(db)


async def test_rename_and_deletes_keep_the_index(people: SqlStore, db: AsyncEngine) -> None:
    ids = await chat(people, "c1", "Gardening", "when to plant tulips", "in autumn")
    await chat(people, "c2", "Cooking", "tulips are not food", "indeed", minute=10)
    await people.update_conversation(ALICE, "c1", {"title": "Spring bulbs"})
    assert await found(people, "gardening") == []
    assert await found(people, "bulbs") == ["title:c1"]
    await people.delete_messages(ALICE, [ids[1]])
    assert await found(people, "autumn") == []
    assert await found(people, "tulips") == ["c2-m0", "c1-m0"]
    await people.delete_conversation(ALICE, "c2")  # its messages go by cascade
    assert await found(people, "tulips") == ["c1-m0"]
    assert await found(people, "cooking") == []
    await people.delete_user(ALICE)
    assert await found(people, "tulips") == []
    await check_index(db)


async def test_only_the_owners_conversations_are_searched(people: SqlStore) -> None:
    await chat(people, "a", "Alice's secret plan", "the launch code is 4711")
    await chat(people, "b", "Bob's secret plan", "the launch code is 0815", owner=BOB)
    assert await found(people, "secret plan") == ["title:a"]
    assert await found(people, "secret plan", owner=BOB) == ["title:b"]
    assert await found(people, "0815") == []
    assert await found(people, "launch code", owner=BOB) == ["b-m0"]
    assert await found(people, "ob") == []  # the short-word scan too
    assert await found(people, "launch", owner="nobody") == []


async def test_wildcards_and_fts_syntax_are_plain_text(people: SqlStore) -> None:
    await chat(people, "c1", "Stats", "growth was 100% in 2025", "file_name.txt AND NOT x*")
    await chat(people, "c2", "More", "growth was 1000 in 2025", "filexname")
    assert await found(people, "100%") == ["c1-m0"]
    assert await found(people, "file_name") == ["c1-m1"]
    assert await found(people, "AND NOT") == ["c1-m1"]
    assert await found(people, 'x* "NOT x"') == ["c1-m1"]
    assert await found(people, '"') == []


def _upgrade_to(revision: str) -> Any:
    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    return run


async def test_the_migration_indexes_existing_rows(blank_url: str) -> None:
    engine = create_engine(blank_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_to("0006"))
        old = sa.MetaData()
        async with engine.begin() as conn:
            await conn.run_sync(old.reflect)
            now = sa.func.now()
            await conn.execute(
                old.tables["users"].insert().values(id=ALICE, name="A", created_at=now)
            )
            await conn.execute(
                old.tables["conversations"]
                .insert()
                .values(
                    id="c1",
                    owner_id=ALICE,
                    title="Old 会话",
                    params={},
                    created_at=now,
                    updated_at=now,
                )
            )
            rows = [
                ("m0", "user", "an old question about penguins", "complete"),
                ("m1", "assistant", "penguins live in the south", "streaming"),
            ]
            await conn.execute(
                old.tables["messages"].insert(),
                [
                    {
                        "id": i,
                        "conversation_id": "c1",
                        "owner_id": ALICE,
                        "position": n,
                        "role": role,
                        "content": text,
                        "reasoning": "",
                        "status": status,
                        "created_at": at(n),
                        "updated_at": at(n),
                    }
                    for n, (i, role, text, status) in enumerate(rows)
                ],
            )
        await upgrade(engine)
    finally:
        await engine.dispose()
    store = SqlStore(blank_url)
    await store.open()
    try:
        assert await found(store, "penguins") == ["m1", "m0"]
        assert await found(store, "会话") == ["title:c1"]
        await store.update_message("m1", {"status": "incomplete"})
        assert await found(store, "south") == ["m1"]
    finally:
        await store.close()


# -- the pure parts ------------------------------------------------------------------------------


def test_the_words_of_a_query() -> None:
    assert search_sql.words('  red  FOX "the  quick fox" red 故宫 ') == [
        "red",
        "FOX",
        "the quick fox",
        "故宫",
    ]
    assert search_sql.words('""  ') == ['""']


def test_a_snippet_is_cut_around_the_first_match_and_marks_every_word() -> None:
    text = ("lorem ipsum " * 30) + "the Needle\n\nin   the haystack " + ("dolor sit " * 30)
    snippet, marks = search_sql.excerpt(text, ["needle", "haystack"])
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "the Needle in the haystack" in snippet
    assert [snippet[s:e] for s, e in marks] == ["Needle", "haystack"]
    assert len(snippet) <= search_sql.SNIPPET_CHARS + 2
    short, marks = search_sql.excerpt("数据 and 数据库", ["数据"])
    assert (short, marks) == ("数据 and 数据库", [(0, 2), (7, 9)])
    emoji = "🎉 party at the café 🎉"
    snippet, marks = search_sql.excerpt(emoji, ["CAFÉ"])
    assert [snippet[s:e] for s, e in marks] == ["café"]
