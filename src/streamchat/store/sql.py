"""The :class:`~streamchat.store.Store` on SQLAlchemy Core: SQLite (aiosqlite) or PostgreSQL
(asyncpg), chosen by the URL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from streamchat.chat import Conversation, Message, utcnow
from streamchat.errors import NotFound, StoreError
from streamchat.store import MessagePatch, Progress, tables
from streamchat.store.engine import create_engine, translate_errors, url_secrets
from streamchat.store.migrate import upgrade
from streamchat.store.rows import (
    CONVERSATION_FIELDS,
    conversation_from_row,
    conversation_values,
    message_from_row,
    message_values,
    patch_values,
)

__all__ = ["PING_TIMEOUT", "SqlStore"]

# Seconds ping() waits for ``SELECT 1``.
PING_TIMEOUT = 2.0
_SAVE_PROGRESS = (
    tables.messages.update()
    .where(tables.messages.c.id == sa.bindparam("p_id"))
    .values(
        content=sa.bindparam("p_content"),
        reasoning=sa.bindparam("p_reasoning"),
        updated_at=sa.bindparam("p_at"),
    )
)


class SqlStore:
    """Conversations and messages in a SQL database; every query is scoped to one owner."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._secrets = url_secrets(url)
        self._engine: AsyncEngine | None = None
        # SQLite takes one writer at a time: writers of this process queue here rather than
        # in SQLite's busy handler, which gives up with "database is locked" after its timeout
        # (bench.relays: HTTP 503s from c=500 on /api/chat without it).
        self._writer: asyncio.Lock | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        with self._errors():
            engine = create_engine(self._url)
        try:
            await upgrade(engine)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        self._writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()

    async def ping(self) -> None:
        with self._errors():
            async with asyncio.timeout(PING_TIMEOUT), self._db.connect() as conn:
                await conn.execute(sa.select(1))

    # -- users ----------------------------------------------------------------------------

    async def ensure_user(self, user_id: str, name: str) -> None:
        values = {"id": user_id, "name": name, "token_hash": None, "created_at": utcnow()}
        insert = postgresql.insert if self._db.dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(tables.users).values(values).on_conflict_do_nothing(index_elements=["id"])
        )
        async with self._begin() as conn:
            await conn.execute(statement)

    async def set_user_token(self, user_id: str, name: str, token_hash: str) -> None:
        """Create the user, or give an existing one a new token (the old one stops working)."""
        await self.ensure_user(user_id, name)
        async with self._begin() as conn:
            await conn.execute(
                tables.users.update()
                .where(tables.users.c.id == user_id)
                .values(token_hash=token_hash, name=name)
            )

    async def user_for_token(self, token_hash: str) -> str | None:
        async with self._connect() as conn:
            result = await conn.execute(
                sa.select(tables.users.c.id).where(tables.users.c.token_hash == token_hash)
            )
            user_id: str | None = result.scalar_one_or_none()
            return user_id

    async def list_users(self) -> list[tuple[str, bool]]:
        """(id, has a token) of every user."""
        async with self._connect() as conn:
            result = await conn.execute(
                sa.select(tables.users.c.id, tables.users.c.token_hash).order_by(tables.users.c.id)
            )
            return [(row.id, row.token_hash is not None) for row in result]

    async def delete_user(self, user_id: str) -> None:
        """Delete a user and everything they own."""
        async with self._begin() as conn:
            result = await conn.execute(tables.users.delete().where(tables.users.c.id == user_id))
            if result.rowcount == 0:
                raise NotFound(f"user {user_id} not found")

    # -- conversations --------------------------------------------------------------------

    async def create_conversation(self, conversation: Conversation) -> Conversation:
        async with self._begin() as conn:
            await conn.execute(
                tables.conversations.insert().values(conversation_values(conversation))
            )
            return await _conversation(conn, conversation.owner_id, conversation.id)

    async def get_conversation(self, owner_id: str, conversation_id: str) -> Conversation:
        async with self._connect() as conn:
            return await _conversation(conn, owner_id, conversation_id)

    async def list_conversations(
        self, owner_id: str, *, limit: int, offset: int
    ) -> list[Conversation]:
        """Newest ``updated_at`` first; ties by id, descending."""
        query = (
            tables.conversations.select()
            .where(tables.conversations.c.owner_id == owner_id)
            .order_by(tables.conversations.c.updated_at.desc(), tables.conversations.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._connect() as conn:
            result = await conn.execute(query)
            return [conversation_from_row(row) for row in result.mappings()]

    async def update_conversation(
        self, owner_id: str, conversation_id: str, fields: dict[str, Any]
    ) -> Conversation:
        unknown = set(fields) - CONVERSATION_FIELDS
        if unknown:
            raise ValueError(f"not a conversation field: {', '.join(sorted(unknown))}")
        statement = (
            tables.conversations.update()
            .where(_owned_conversation(owner_id, conversation_id))
            .values({**fields, "updated_at": utcnow()})
            .returning(*tables.conversations.c)
        )
        async with self._begin() as conn:
            row = (await conn.execute(statement)).mappings().first()
        if row is None:
            raise _conversation_not_found(conversation_id)
        return conversation_from_row(row)

    async def delete_conversation(self, owner_id: str, conversation_id: str) -> None:
        statement = tables.conversations.delete().where(
            _owned_conversation(owner_id, conversation_id)
        )
        async with self._begin() as conn:
            result = await conn.execute(statement)
        if result.rowcount == 0:
            raise _conversation_not_found(conversation_id)

    # -- messages -------------------------------------------------------------------------

    async def list_messages(self, owner_id: str, conversation_id: str) -> list[Message]:
        """Oldest first (by position)."""
        query = (
            tables.messages.select()
            .where(tables.messages.c.conversation_id == conversation_id)
            .where(tables.messages.c.owner_id == owner_id)
            .order_by(tables.messages.c.position)
        )
        async with self._connect() as conn:
            await _conversation(conn, owner_id, conversation_id)
            result = await conn.execute(query)
            return [message_from_row(row) for row in result.mappings()]

    async def get_message(self, owner_id: str, message_id: str) -> Message:
        query = tables.messages.select().where(_owned_message(owner_id, message_id))
        async with self._connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            raise _message_not_found(message_id)
        return message_from_row(row)

    async def add_messages(
        self, messages: Sequence[Message], *, new: Conversation | None = None
    ) -> None:
        """Insert in order, each conversation's after its last; all or nothing. ``new`` is a
        conversation to create first, in the same transaction (a first question)."""
        async with self._begin() as conn:
            if new is not None:
                await conn.execute(tables.conversations.insert().values(conversation_values(new)))
            for conversation_id, owner_id, batch in _by_conversation(messages):
                if new is not None and conversation_id == new.id:
                    start = 0  # created just now, in this transaction
                else:
                    # Updating the conversation first takes its row (PostgreSQL) or the
                    # database (SQLite) for writing, so concurrent calls cannot pick the same
                    # positions.
                    await _touch_conversation(conn, owner_id, conversation_id)
                    start = await _next_position(conn, conversation_id)
                rows = [message_values(m, start + i) for i, m in enumerate(batch)]
                await conn.execute(tables.messages.insert(), rows)

    async def update_message(self, message_id: str, patch: MessagePatch) -> None:
        """One UPDATE of the patched columns and ``updated_at``."""
        values = {**patch_values(patch), "updated_at": utcnow()}
        statement = (
            tables.messages.update().where(tables.messages.c.id == message_id).values(values)
        )
        async with self._begin() as conn:
            result = await conn.execute(statement)
        if result.rowcount == 0:
            raise _message_not_found(message_id)

    async def save_progress(self, progress: Sequence[Progress]) -> None:
        """One executemany UPDATE for every answer's text so far."""
        if not progress:
            return
        now = utcnow()
        rows = [
            {"p_id": p.message_id, "p_content": p.content, "p_reasoning": p.reasoning, "p_at": now}
            for p in progress
        ]
        async with self._begin() as conn:
            await conn.execute(_SAVE_PROGRESS, rows)

    async def delete_messages(self, owner_id: str, message_ids: Sequence[str]) -> None:
        """Delete all of ``message_ids`` or, if one of them is not the owner's, none."""
        wanted = set(message_ids)
        if not wanted:
            return
        owned = sa.select(tables.messages.c.id).where(
            tables.messages.c.owner_id == owner_id, tables.messages.c.id.in_(wanted)
        )
        async with self._begin() as conn:
            found = set((await conn.execute(owned)).scalars())
            missing = [i for i in message_ids if i not in found]
            if missing:
                raise _message_not_found(missing[0])
            await conn.execute(tables.messages.delete().where(tables.messages.c.id.in_(wanted)))

    async def recover_streaming(self, before_ids: Sequence[str] = ()) -> int:
        statement = (
            tables.messages.update()
            .where(tables.messages.c.status == "streaming")
            .values(status="incomplete", updated_at=utcnow())
        )
        if before_ids:
            statement = statement.where(tables.messages.c.id.not_in(list(before_ids)))
        async with self._begin() as conn:
            result = await conn.execute(statement)
        return result.rowcount

    # -- plumbing -------------------------------------------------------------------------

    @property
    def _db(self) -> AsyncEngine:
        if self._engine is None:
            raise StoreError("the database is unavailable: the store is not open")
        return self._engine

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return translate_errors(self._secrets)

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        with self._errors():
            async with self._db.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        async with contextlib.AsyncExitStack() as stack:
            if self._writer is not None:
                await stack.enter_async_context(self._writer)
            with self._errors():
                async with self._db.begin() as conn:
                    yield conn


def _owned_conversation(owner_id: str, conversation_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        tables.conversations.c.id == conversation_id, tables.conversations.c.owner_id == owner_id
    )


def _owned_message(owner_id: str, message_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(tables.messages.c.id == message_id, tables.messages.c.owner_id == owner_id)


def _conversation_not_found(conversation_id: str) -> NotFound:
    return NotFound(f"conversation {conversation_id} not found")


def _message_not_found(message_id: str) -> NotFound:
    return NotFound(f"message {message_id} not found")


async def _conversation(conn: AsyncConnection, owner_id: str, conversation_id: str) -> Conversation:
    query = tables.conversations.select().where(_owned_conversation(owner_id, conversation_id))
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise _conversation_not_found(conversation_id)
    return conversation_from_row(row)


async def _touch_conversation(conn: AsyncConnection, owner_id: str, conversation_id: str) -> None:
    statement = (
        tables.conversations.update()
        .where(_owned_conversation(owner_id, conversation_id))
        .values(updated_at=utcnow())
    )
    if (await conn.execute(statement)).rowcount == 0:
        raise _conversation_not_found(conversation_id)


async def _next_position(conn: AsyncConnection, conversation_id: str) -> int:
    query = sa.select(sa.func.coalesce(sa.func.max(tables.messages.c.position) + 1, 0)).where(
        tables.messages.c.conversation_id == conversation_id
    )
    return int((await conn.execute(query)).scalar_one())


def _by_conversation(batch: Sequence[Message]) -> Iterator[tuple[str, str, list[Message]]]:
    """Group messages by (conversation, owner), keeping their order and first appearance."""
    groups: dict[tuple[str, str], list[Message]] = {}
    for message in batch:
        groups.setdefault((message.conversation_id, message.owner_id), []).append(message)
    for (conversation_id, owner_id), group in groups.items():
        yield conversation_id, owner_id, group
