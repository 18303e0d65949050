"""Migrations: a blank database upgraded to head has exactly the schema of tables.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from streamchat.store import search_sql, tables
from streamchat.store.engine import create_engine
from streamchat.store.migrate import alembic_config, upgrade

TABLES = {
    "alembic_version",
    "users",
    "conversations",
    "messages",
    "sessions",
    "files",
    "message_files",
    "responses",
    "answer_parts",
}


def _not_tables(name: str | None, type_: str, _parents: Any) -> bool:
    """SQLite's search index (migration 0007) is FTS5 virtual tables and their shadow tables,
    which SQLAlchemy cannot declare: tests/store/test_search.py checks them by searching."""
    return not (type_ == "table" and name in search_sql.SQLITE_TABLES)


def _for_dialect(dialect: str) -> Any:
    """An index tables.py declares for one dialect only (``ddl_if``: the pg_trgm indexes) is
    not expected on another (also in copies of the metadata, which drop ``ddl_if``)."""
    elsewhere = {
        index.name
        for table in tables.metadata.tables.values()
        for index in table.indexes
        if index._ddl_if is not None and index._ddl_if.dialect not in (None, dialect)
    }

    def include(_obj: Any, name: str | None, type_: str, _reflected: bool, _to: Any) -> bool:
        return not (type_ == "index" and name in elsewhere)

    return include


def _tables(engine: AsyncEngine) -> set[str]:
    if engine.dialect.name == "sqlite":
        return TABLES | search_sql.SQLITE_TABLES
    return TABLES


def _diff(connection: Connection, metadata: sa.MetaData) -> list[Any]:
    opts = {
        "compare_type": True,
        "include_name": _not_tables,
        "include_object": _for_dialect(connection.dialect.name),
    }
    context = MigrationContext.configure(connection, opts=opts)
    diffs: list[Any] = compare_metadata(context, metadata)
    return diffs


async def _schema_diff(engine: AsyncEngine, metadata: sa.MetaData = tables.metadata) -> list[Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_diff, metadata)


async def _state(engine: AsyncEngine) -> tuple[set[str], str | None]:
    """The table names and the Alembic revision of the database."""
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        revision = await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )
        return names, revision


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_the_revisions_form_one_line() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == ["0010"]
    assert [r.revision for r in script.walk_revisions()] == [
        "0010",
        "0009",
        "0008",
        "0007",
        "0006",
        "0005",
        "0004",
        "0003",
        "0002",
        "0001",
    ]


async def test_upgrade_head_from_blank_gives_exactly_the_schema(blank_url: str) -> None:
    engine = create_engine(blank_url)
    try:
        assert await _state(engine) == (set(), None)
        await upgrade(engine)
        assert await _state(engine) == (_tables(engine), _head())
        assert await _schema_diff(engine) == []
    finally:
        await engine.dispose()


async def test_upgrading_twice_is_a_no_op(blank_url: str) -> None:
    engine = create_engine(blank_url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(
                tables.users.insert().values(id="u", name="kept", created_at=sa.func.now())
            )
        await upgrade(engine)
        assert await _state(engine) == (_tables(engine), _head())
        assert await _schema_diff(engine) == []
        async with engine.connect() as conn:
            names = (await conn.execute(sa.select(tables.users.c.name))).scalars().all()
        assert names == ["kept"]
    finally:
        await engine.dispose()


async def test_the_comparison_sees_a_schema_that_differs(blank_url: str) -> None:
    """Guards the tests above: compare_metadata must see each kind of difference."""
    changed = sa.MetaData()
    for table in tables.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["messages"].append_column(sa.Column("extra", sa.Integer()))
    sa.Index("ix_users_name", changed.tables["users"].c.name)
    sa.Table("more", changed, sa.Column("id", sa.String(), primary_key=True))
    changed.tables["users"].c.token_hash.nullable = False
    changed.tables["conversations"].c.title.type = sa.Integer()
    engine = create_engine(blank_url)
    try:
        await upgrade(engine)
        diffs = await _schema_diff(engine, changed)
        kinds = sorted(d[0] if isinstance(d, tuple) else d[0][0] for d in diffs)
        assert kinds == ["add_column", "add_index", "add_table", "modify_nullable", "modify_type"]
    finally:
        await engine.dispose()


def _upgrade_to(revision: str) -> Any:
    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    return run


def _old_rows(conversation: str, owner: str, statuses: list[str]) -> list[dict[str, Any]]:
    """Messages as revision 0002 kept them: one list per conversation, by position."""
    return [
        {
            "id": f"{conversation}-m{i}",
            "conversation_id": conversation,
            "owner_id": owner,
            "position": i,
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"text {i}",
            "reasoning": "",
            "status": status,
            "created_at": datetime(2026, 11, 1, tzinfo=UTC),
            "updated_at": datetime(2026, 11, 1, tzinfo=UTC),
        }
        for i, status in enumerate(statuses)
    ]


async def test_the_tree_migration_turns_each_conversation_into_one_path(blank_url: str) -> None:
    """0004 gives every stored message its predecessor as parent and every conversation its
    last message as current leaf; a streaming and a stopped answer keep status and text."""
    engine = create_engine(blank_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_to("0002"))
        old = sa.MetaData()
        async with engine.begin() as conn:
            await conn.run_sync(old.reflect)
            await conn.execute(
                old.tables["users"].insert().values(id="u", name="u", created_at=sa.func.now())
            )
            for conversation in ("c1", "c2", "c3"):
                await conn.execute(
                    old.tables["conversations"]
                    .insert()
                    .values(
                        id=conversation,
                        owner_id="u",
                        title=conversation,
                        params={},
                        created_at=sa.func.now(),
                        updated_at=sa.func.now(),
                    )
                )
            messages = old.tables["messages"]
            await conn.execute(
                messages.insert(), _old_rows("c1", "u", ["complete"] * 3 + ["streaming"])
            )
            await conn.execute(messages.insert(), _old_rows("c2", "u", ["complete", "stopped"]))
        await upgrade(engine)
        assert await _schema_diff(engine) == []
        async with engine.connect() as conn:
            m = tables.messages.c
            result = await conn.execute(
                sa.select(m.id, m.parent_id, m.status, m.content).order_by(m.id)
            )
            got = {row.id: (row.parent_id, row.status, row.content) for row in result}
            c = tables.conversations.c
            leaves = {r.id: r.current_id for r in await conn.execute(sa.select(c.id, c.current_id))}
        assert got == {
            "c1-m0": (None, "complete", "text 0"),
            "c1-m1": ("c1-m0", "complete", "text 1"),
            "c1-m2": ("c1-m1", "complete", "text 2"),
            "c1-m3": ("c1-m2", "streaming", "text 3"),
            "c2-m0": (None, "complete", "text 0"),
            "c2-m1": ("c2-m0", "stopped", "text 1"),
        }
        assert leaves == {"c1": "c1-m3", "c2": "c2-m1", "c3": None}
    finally:
        await engine.dispose()
