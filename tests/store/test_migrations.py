"""Migrations: a blank database upgraded to head has exactly the schema of tables.py."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from streamchat.store import tables
from streamchat.store.engine import create_engine
from streamchat.store.migrate import alembic_config, upgrade

TABLES = {"alembic_version", "users", "conversations", "messages", "sessions"}


def _diff(connection: Connection, metadata: sa.MetaData) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
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
    assert script.get_heads() == ["0003"]
    assert [r.revision for r in script.walk_revisions()] == ["0003", "0002", "0001"]


async def test_upgrade_head_from_blank_gives_exactly_the_schema(blank_url: str) -> None:
    engine = create_engine(blank_url)
    try:
        assert await _state(engine) == (set(), None)
        await upgrade(engine)
        assert await _state(engine) == (TABLES, _head())
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
        assert await _state(engine) == (TABLES, _head())
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
