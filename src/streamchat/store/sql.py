"""The :class:`~streamchat.store.Store` on SQLAlchemy Core: SQLite (its own thread, the
standard ``sqlite3`` driver) or PostgreSQL (asyncpg), chosen by the URL."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from streamchat.chat import Conversation, Message, utcnow
from streamchat.errors import NotFound, StoreError
from streamchat.files import StoredFile
from streamchat.store import (
    MessagePatch,
    Progress,
    ResponsePatch,
    SearchHit,
    StoredResponse,
    files_sql,
    responses_sql,
    search_sql,
    tables,
)
from streamchat.store.engine import Database, open_database, translate_errors, url_secrets
from streamchat.store.migrate import upgrade_on
from streamchat.store.rows import (
    CONVERSATION_FIELDS,
    conversation_from_row,
    conversation_values,
    message_from_row,
    message_values,
    patch_values,
)

__all__ = ["PING_TIMEOUT", "SqlStore"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
# Seconds ping() waits for ``SELECT 1``.
PING_TIMEOUT = 2.0
# Statements built once: a statement built per call costs more than its execution on SQLite
# (coercing .values() and its cache key, ~0.15 ms of an answer's ~0.3 ms first transaction).
_INSERT_CONVERSATION = tables.conversations.insert()
_INSERT_MESSAGE = tables.messages.insert()
_UPDATE_MESSAGE = tables.messages.update().where(tables.messages.c.id == sa.bindparam("m_id"))
# A periodic save appends a part per answer (issue 15 item 5); a retried save's part replaces
# the one of the same number that may have landed (it holds that text and what came since).
_PARTS = tables.answer_parts
_SAVE_PART = {
    name: insert.on_conflict_do_update(
        index_elements=[_PARTS.c.message_id, _PARTS.c.seq],
        set_={
            "content": insert.excluded.content,
            "reasoning": insert.excluded.reasoning,
            "last_event_id": insert.excluded.last_event_id,
            "reasoning_ms": insert.excluded.reasoning_ms,
        },
    )
    for name, insert in (
        ("postgresql", postgresql.insert(_PARTS)),
        ("sqlite", sqlite.insert(_PARTS)),
    )
}
_PARTS_OF = (
    sa.select(
        _PARTS.c.message_id,
        _PARTS.c.content,
        _PARTS.c.reasoning,
        _PARTS.c.last_event_id,
        _PARTS.c.reasoning_ms,
    )
    .where(_PARTS.c.message_id.in_(sa.bindparam("p_ids", expanding=True)))
    .order_by(_PARTS.c.message_id, _PARTS.c.seq)
)
_EXISTING = sa.select(tables.messages.c.id).where(
    tables.messages.c.id.in_(sa.bindparam("p_ids", expanding=True))
)
# The rest of an answer's final save and of a question in a conversation that exists (building
# these per call was ~40 % of the store thread's Python, bench/store_phases.py).
_DELETE_PARTS = _PARTS.delete().where(_PARTS.c.message_id == sa.bindparam("p_id"))
_TEXT_OF = sa.select(tables.messages.c.content, tables.messages.c.reasoning).where(
    tables.messages.c.id == sa.bindparam("m_id")
)
_TOUCH_CONVERSATION = (
    tables.conversations.update()
    .where(
        tables.conversations.c.id == sa.bindparam("c_id"),
        tables.conversations.c.owner_id == sa.bindparam("c_owner"),
    )
    .values(updated_at=sa.bindparam("c_now"), current_id=sa.bindparam("c_current"))
)
_NEXT_POSITION = sa.select(sa.func.coalesce(sa.func.max(tables.messages.c.position) + 1, 0)).where(
    tables.messages.c.conversation_id == sa.bindparam("c_id")
)


class SqlStore:
    """Conversations and messages in a SQL database; every query is scoped to one owner.

    Each method is one plain function on a connection, run by the :class:`Database` as one
    transaction or one read (SQLite: on its own thread; PostgreSQL: on the event loop)."""

    def __init__(self, url: str, *, opener: Callable[[str], Database] = open_database) -> None:
        self._url = url
        self._opener = opener  # bench/store_cost.py compares ways of running the transactions
        self._secrets = url_secrets(url)
        self._database: Database | None = None
        # The newest write that failed: (time.monotonic(), its error), for /healthz.
        self.last_write_failure: tuple[float, str] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        with self._errors():
            database = self._opener(self._url)
        try:
            with self._errors():
                await database.write(upgrade_on)
        except BaseException:
            await database.dispose()
            raise
        self._database = database

    async def close(self) -> None:
        if self._database is not None:
            database, self._database = self._database, None
            await database.dispose()

    async def ping(self) -> None:
        with self._errors():
            async with asyncio.timeout(PING_TIMEOUT):
                await self._db.read(_select_one)

    async def check_writable(self) -> None:
        """Raise StoreError unless a write transaction can start and commit now, within
        PING_TIMEOUT: a read-only PostgreSQL, or an SQLite file another process holds locked,
        answers SELECT 1 and refuses every write. The probe writes nothing (an UPDATE of no
        row still takes the write lock, and PostgreSQL refuses it when read-only)."""
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                with self._errors():
                    await self._db.write(_touch_nothing)
        except TimeoutError as exc:
            raise StoreError(
                f"the database cannot be written: no write went through in {PING_TIMEOUT:g} s "
                "(locked by another process, or too busy)"
            ) from exc

    # -- users ----------------------------------------------------------------------------

    async def ensure_user(self, user_id: str, name: str) -> None:
        await self._write(_ensure_user, user_id, name)

    async def set_user_token(self, user_id: str, name: str, token_hash: str) -> None:
        """Create the user, or give an existing one a new token (the old one stops working)."""
        await self._write(_set_user_token, user_id, name, token_hash)

    async def user_for_token(self, token_hash: str) -> str | None:
        return await self._read(_user_for_token, token_hash)

    async def list_users(self) -> list[tuple[str, bool]]:
        """(id, has a token) of every user."""
        return await self._read(_list_users)

    async def delete_user(self, user_id: str) -> None:
        """Delete a user and everything they own."""
        await self._write(_delete_user, user_id)

    # -- sessions -------------------------------------------------------------------------

    async def create_session(self, id_hash: str, user_id: str, expires_at: datetime) -> None:
        await self._write(_create_session, id_hash, user_id, expires_at)

    async def user_for_session(self, id_hash: str) -> str | None:
        return await self._read(_user_for_session, id_hash)

    async def end_session(self, id_hash: str) -> None:
        await self._write(_end_session, id_hash)

    async def end_sessions(self, user_id: str) -> int:
        return await self._write(_end_sessions, user_id)

    # -- conversations --------------------------------------------------------------------

    async def create_conversation(self, conversation: Conversation) -> Conversation:
        return await self._write(_create_conversation, conversation)

    async def get_conversation(self, owner_id: str, conversation_id: str) -> Conversation:
        return await self._read(_conversation, owner_id, conversation_id)

    async def list_conversations(
        self, owner_id: str, *, limit: int, offset: int
    ) -> list[Conversation]:
        """Newest ``updated_at`` first; ties by id, descending."""
        return await self._read(_list_conversations, owner_id, limit, offset)

    async def update_conversation(
        self, owner_id: str, conversation_id: str, fields: dict[str, Any]
    ) -> Conversation:
        unknown = set(fields) - CONVERSATION_FIELDS
        if unknown:
            raise ValueError(f"not a conversation field: {', '.join(sorted(unknown))}")
        return await self._write(_update_conversation, owner_id, conversation_id, fields)

    async def delete_conversation(self, owner_id: str, conversation_id: str) -> None:
        await self._write(_delete_conversation, owner_id, conversation_id)

    async def set_generated_title(
        self, owner_id: str, conversation_id: str, expected: str, title: str
    ) -> bool:
        return await self._write(_set_generated_title, owner_id, conversation_id, expected, title)

    # -- messages -------------------------------------------------------------------------

    async def list_messages(self, owner_id: str, conversation_id: str) -> list[Message]:
        """Oldest first (by position)."""
        return await self._read(_list_messages, owner_id, conversation_id)

    async def get_message(self, owner_id: str, message_id: str) -> Message:
        return await self._read(_get_message, owner_id, message_id)

    async def add_messages(
        self, messages: Sequence[Message], *, new: Conversation | None = None
    ) -> None:
        """Insert in order, each conversation's after its last, the last of each becoming its
        conversation's current leaf; all or nothing. ``new`` is a conversation to create first,
        in the same transaction (a first question)."""
        await self._write(_add_messages, list(messages), new)

    async def update_message(self, message_id: str, patch: MessagePatch) -> None:
        """One UPDATE of the patched columns and ``updated_at``."""
        await self._write(_update_message, message_id, patch)

    async def save_progress(self, progress: Sequence[Progress]) -> None:
        """One executemany INSERT of what arrived, a part per answer."""
        if progress:
            await self._write(_save_progress, list(progress))

    async def delete_messages(self, owner_id: str, message_ids: Sequence[str]) -> None:
        """Delete all of ``message_ids`` or, if one of them is not the owner's, none. A
        conversation whose current leaf is deleted shows the parent of the first one."""
        if message_ids:
            await self._write(_delete_messages, owner_id, list(message_ids))

    async def set_current(self, owner_id: str, conversation_id: str, message_id: str) -> None:
        """Make ``message_id`` the conversation's current leaf (``updated_at`` unchanged)."""
        await self._write(_set_current, owner_id, conversation_id, message_id)

    async def recover_streaming(self, before_ids: Sequence[str] = ()) -> int:
        return await self._write(_recover_streaming, list(before_ids))

    # -- files (issue 13; the transactions are in files_sql) --------------------------------

    async def add_file(self, file: StoredFile, data: bytes) -> None:
        await self._write(files_sql.add_file, file, data)

    async def get_file(self, owner_id: str, file_id: str) -> StoredFile:
        return await self._read(files_sql.get_file, owner_id, file_id)

    async def file_data(self, owner_id: str, file_id: str) -> tuple[StoredFile, bytes]:
        return await self._read(files_sql.file_data, owner_id, file_id)

    async def get_files(self, owner_id: str, file_ids: Sequence[str]) -> list[StoredFile]:
        if not file_ids:
            return []
        return await self._read(files_sql.get_files, owner_id, list(file_ids))

    async def delete_file(self, owner_id: str, file_id: str) -> None:
        await self._write(files_sql.delete_file, owner_id, file_id)

    async def file_usage(self, owner_id: str) -> tuple[int, int]:
        return await self._read(files_sql.file_usage, owner_id)

    async def set_file_text(self, file_id: str, text: str, source: str) -> None:
        await self._write(files_sql.set_file_text, file_id, text, source)

    async def add_messages_with_files(
        self,
        messages: Sequence[Message],
        attachments: Mapping[str, Sequence[str]],
        *,
        new: Conversation | None = None,
    ) -> None:
        await self._write(_add_messages_with_files, list(messages), dict(attachments), new)

    async def release_files(self, owner_id: str, conversation_id: str) -> None:
        await self._write(files_sql.release_files, owner_id, conversation_id)

    async def message_files(
        self, owner_id: str, conversation_id: str
    ) -> dict[str, list[StoredFile]]:
        return await self._read(files_sql.message_files, owner_id, conversation_id)

    # -- search (issue 14; the transaction is in search_sql) --------------------------------

    async def search(
        self, owner_id: str, query: str, *, limit: int, offset: int
    ) -> list[SearchHit]:
        words = search_sql.words(query)[: search_sql.MAX_WORDS]
        return await self._read(search_sql.search, owner_id, words, limit, offset)

    # -- stored responses (issue 12; the transactions are in responses_sql) ---------------

    async def add_response(self, record: StoredResponse) -> None:
        await self._write(responses_sql.add_response, record)

    async def get_response(self, owner_id: str, response_id: str) -> StoredResponse:
        return await self._read(responses_sql.get_response, owner_id, response_id)

    async def update_response(self, response_id: str, patch: ResponsePatch) -> None:
        await self._write(responses_sql.update_response, response_id, patch)

    async def delete_response(self, owner_id: str, response_id: str) -> None:
        await self._write(responses_sql.delete_response, owner_id, response_id)

    # -- plumbing -------------------------------------------------------------------------

    @property
    def _db(self) -> Database:
        if self._database is None:
            raise StoreError("the database is unavailable: the store is not open")
        return self._database

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return translate_errors(self._secrets)

    async def _read(
        self, fn: Callable[Concatenate[Connection, _P], _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        with self._errors():
            return await self._db.read(fn, *args, **kwargs)

    async def _write(
        self, fn: Callable[Concatenate[Connection, _P], _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        try:
            with self._errors():
                return await self._db.write(fn, *args, **kwargs)
        except StoreError as exc:
            self.last_write_failure = (time.monotonic(), exc.message)
            raise


# -- the transactions, each a plain function on a connection ---------------------------------


def _select_one(conn: Connection) -> None:
    conn.execute(sa.select(1))


def _touch_nothing(conn: Connection) -> None:
    conn.execute(sa.update(tables.users).where(sa.false()).values(name=tables.users.c.name))


def _ensure_user(conn: Connection, user_id: str, name: str) -> None:
    values = {"id": user_id, "name": name, "token_hash": None, "created_at": utcnow()}
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(tables.users).values(values).on_conflict_do_nothing(index_elements=["id"]))


def _set_user_token(conn: Connection, user_id: str, name: str, token_hash: str) -> None:
    _ensure_user(conn, user_id, name)
    conn.execute(
        tables.users.update()
        .where(tables.users.c.id == user_id)
        .values(token_hash=token_hash, name=name)
    )


def _user_for_token(conn: Connection, token_hash: str) -> str | None:
    result = conn.execute(
        sa.select(tables.users.c.id).where(tables.users.c.token_hash == token_hash)
    )
    user_id: str | None = result.scalar_one_or_none()
    return user_id


def _list_users(conn: Connection) -> list[tuple[str, bool]]:
    result = conn.execute(
        sa.select(tables.users.c.id, tables.users.c.token_hash).order_by(tables.users.c.id)
    )
    return [(row.id, row.token_hash is not None) for row in result]


def _delete_user(conn: Connection, user_id: str) -> None:
    result = conn.execute(tables.users.delete().where(tables.users.c.id == user_id))
    if result.rowcount == 0:
        raise NotFound(f"user {user_id} not found")


def _create_session(conn: Connection, id_hash: str, user_id: str, expires_at: datetime) -> None:
    # Expired sessions of the user go on each sign-in: the table holds live ones (and a few).
    now = utcnow()
    sessions = tables.sessions
    conn.execute(
        sessions.delete().where(sessions.c.user_id == user_id, sessions.c.expires_at <= now)
    )
    values = {"id_hash": id_hash, "user_id": user_id, "created_at": now, "expires_at": expires_at}
    conn.execute(sessions.insert().values(values))


def _user_for_session(conn: Connection, id_hash: str) -> str | None:
    sessions = tables.sessions
    query = sa.select(sessions.c.user_id).where(
        sessions.c.id_hash == id_hash, sessions.c.expires_at > utcnow()
    )
    user: str | None = conn.execute(query).scalar_one_or_none()
    return user


def _end_session(conn: Connection, id_hash: str) -> None:
    conn.execute(tables.sessions.delete().where(tables.sessions.c.id_hash == id_hash))


def _end_sessions(conn: Connection, user_id: str) -> int:
    result = conn.execute(tables.sessions.delete().where(tables.sessions.c.user_id == user_id))
    return int(result.rowcount)


def _create_conversation(conn: Connection, conversation: Conversation) -> Conversation:
    conn.execute(tables.conversations.insert().values(conversation_values(conversation)))
    return _conversation(conn, conversation.owner_id, conversation.id)


def _list_conversations(
    conn: Connection, owner_id: str, limit: int, offset: int
) -> list[Conversation]:
    query = (
        tables.conversations.select()
        .where(tables.conversations.c.owner_id == owner_id)
        .order_by(tables.conversations.c.updated_at.desc(), tables.conversations.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [conversation_from_row(row) for row in conn.execute(query).mappings()]


def _update_conversation(
    conn: Connection, owner_id: str, conversation_id: str, fields: dict[str, Any]
) -> Conversation:
    statement = (
        tables.conversations.update()
        .where(_owned_conversation(owner_id, conversation_id))
        .values({**fields, "updated_at": utcnow()})
        .returning(*tables.conversations.c)
    )
    row = conn.execute(statement).mappings().first()
    if row is None:
        raise _conversation_not_found(conversation_id)
    return conversation_from_row(row)


def _set_generated_title(
    conn: Connection, owner_id: str, conversation_id: str, expected: str, title: str
) -> bool:
    statement = (
        tables.conversations.update()
        .where(_owned_conversation(owner_id, conversation_id))
        .where(tables.conversations.c.title == expected)
        .values(title=title)
    )
    return bool(conn.execute(statement).rowcount)


def _delete_conversation(conn: Connection, owner_id: str, conversation_id: str) -> None:
    statement = tables.conversations.delete().where(_owned_conversation(owner_id, conversation_id))
    if conn.execute(statement).rowcount == 0:
        raise _conversation_not_found(conversation_id)


def _list_messages(conn: Connection, owner_id: str, conversation_id: str) -> list[Message]:
    _conversation(conn, owner_id, conversation_id)
    query = (
        tables.messages.select()
        .where(tables.messages.c.conversation_id == conversation_id)
        .where(tables.messages.c.owner_id == owner_id)
        .order_by(tables.messages.c.position)
    )
    return _with_parts(conn, [message_from_row(row) for row in conn.execute(query).mappings()])


def _get_message(conn: Connection, owner_id: str, message_id: str) -> Message:
    query = tables.messages.select().where(_owned_message(owner_id, message_id))
    row = conn.execute(query).mappings().first()
    if row is None:
        raise _message_not_found(message_id)
    return _with_parts(conn, [message_from_row(row)])[0]


def _with_parts(conn: Connection, messages: list[Message]) -> list[Message]:
    """Each streaming answer with the parts its periodic saves appended (only streaming
    answers have parts: every end folds them into the row)."""
    streaming = [m.id for m in messages if m.status == "streaming"]
    if not streaming:
        return messages
    parts = _parts(conn, streaming)
    return [
        replace(
            m,
            content=m.content + p.content,
            reasoning=m.reasoning + p.reasoning,
            last_event_id=p.last_event_id,
            reasoning_ms=m.reasoning_ms if p.reasoning_ms is None else p.reasoning_ms,
        )
        if (p := parts.get(m.id)) is not None
        else m
        for m in messages
    ]


@dataclass(slots=True, frozen=True)
class _Parts:
    """An answer's parts together: its text, its reasoning, the newest event id, and how long
    it thought once a part says (None: none does yet; the row's stands, a Continue's first)."""

    content: str
    reasoning: str
    last_event_id: int
    reasoning_ms: float | None


def _parts(conn: Connection, message_ids: list[str]) -> dict[str, _Parts]:
    """The parts of each answer that has any, read in one statement (their text and time agree)."""
    pieces: dict[str, tuple[list[str], list[str], list[int], list[float]]] = {}
    for row in conn.execute(_PARTS_OF, {"p_ids": message_ids}):
        content, reasoning, last, thought = pieces.setdefault(row.message_id, ([], [], [], []))
        content.append(row.content)
        reasoning.append(row.reasoning)
        last.append(row.last_event_id)
        if row.reasoning_ms is not None:
            thought.append(row.reasoning_ms)
    return {
        i: _Parts("".join(c), "".join(r), last[-1], thought[-1] if thought else None)
        for i, (c, r, last, thought) in pieces.items()
    }


def _add_messages(conn: Connection, messages: list[Message], new: Conversation | None) -> None:
    # The last message inserted in a conversation becomes its current leaf.
    if new is not None:
        mine = [m.id for m in messages if m.conversation_id == new.id]
        values = conversation_values(new)
        values["current_id"] = mine[-1] if mine else new.current_id
        conn.execute(_INSERT_CONVERSATION, values)
    for conversation_id, owner_id, batch in _by_conversation(messages):
        if new is not None and conversation_id == new.id:
            start = 0  # created just now, in this transaction
        else:
            # Updating the conversation first takes its row (PostgreSQL) or the database
            # (SQLite) for writing, so concurrent calls cannot pick the same positions.
            _touch_conversation(conn, owner_id, conversation_id, current_id=batch[-1].id)
            start = _next_position(conn, conversation_id)
        rows = [message_values(m, start + i) for i, m in enumerate(batch)]
        conn.execute(_INSERT_MESSAGE, rows)


def _add_messages_with_files(
    conn: Connection,
    messages: list[Message],
    attachments: dict[str, Sequence[str]],
    new: Conversation | None,
) -> None:
    _add_messages(conn, messages, new)
    by_id = {m.id: m for m in messages}
    for message_id, file_ids in attachments.items():
        message = by_id[message_id]
        files_sql.bind_files(
            conn, message.owner_id, message.conversation_id, {message_id: file_ids}
        )


def _update_message(conn: Connection, message_id: str, patch: MessagePatch) -> None:
    # The SET clause is the parameters' columns (compiled once per set of columns). The
    # answer's parts are folded in (the patch's own text wins) in this same transaction.
    values = {
        **_fold(conn, message_id, patch),
        **patch_values(patch),
        "updated_at": utcnow(),
        "m_id": message_id,
    }
    if conn.execute(_UPDATE_MESSAGE, values).rowcount == 0:
        raise _message_not_found(message_id)


def _fold(conn: Connection, message_id: str, patch: MessagePatch) -> dict[str, Any]:
    """Delete the answer's parts; the columns that keep their text (those ``patch`` does not
    overwrite): the row's text followed by the parts', and the newest event id."""
    parts = _parts(conn, [message_id]).get(message_id)
    if parts is None:
        return {}
    conn.execute(_DELETE_PARTS, {"p_id": message_id})
    values: dict[str, Any] = {"last_event_id": parts.last_event_id}
    if parts.reasoning_ms is not None and "reasoning_ms" not in patch:
        values["reasoning_ms"] = parts.reasoning_ms
    kept = [name for name in ("content", "reasoning") if name not in patch]
    if kept:
        row = conn.execute(_TEXT_OF, {"m_id": message_id}).first()
        if row is not None:
            if "content" in kept:
                values["content"] = row.content + parts.content
            if "reasoning" in kept:
                values["reasoning"] = row.reasoning + parts.reasoning
    return values


def _save_progress(conn: Connection, progress: list[Progress]) -> None:
    # Only what arrived is written: the answers' rows are not touched (on SQLite, updating any
    # column of a row rewrites the whole row, its long text included).
    ids = list({p.message_id for p in progress})
    existing = set(conn.execute(_EXISTING, {"p_ids": ids}).scalars())
    rows = [
        {
            "message_id": p.message_id,
            "seq": p.seq,
            "content": p.content,
            "reasoning": p.reasoning,
            "last_event_id": p.last_event_id,
            "reasoning_ms": p.reasoning_ms,
        }
        for p in progress
        if p.message_id in existing
    ]
    if rows:
        conn.execute(_SAVE_PART[conn.dialect.name], rows)


def _delete_messages(conn: Connection, owner_id: str, message_ids: list[str]) -> None:
    wanted = set(message_ids)
    m = tables.messages.c
    owned = sa.select(m.id, m.conversation_id, m.parent_id).where(
        m.owner_id == owner_id, m.id.in_(wanted)
    )
    found = {row.id: row for row in conn.execute(owned)}
    missing = [i for i in message_ids if i not in found]
    if missing:
        raise _message_not_found(missing[0])
    # A conversation whose current leaf goes shows the parent of the first message deleted.
    restore: dict[str, str | None] = {}
    for message_id in message_ids:
        row = found[message_id]
        restore.setdefault(row.conversation_id, row.parent_id)
    c = tables.conversations.c
    for conversation_id, parent_id in restore.items():
        conn.execute(
            tables.conversations.update()
            .where(c.id == conversation_id, c.current_id.in_(wanted))
            .values(current_id=parent_id)
        )
    conn.execute(tables.messages.delete().where(m.id.in_(wanted)))


def _set_current(conn: Connection, owner_id: str, conversation_id: str, message_id: str) -> None:
    statement = (
        tables.conversations.update()
        .where(_owned_conversation(owner_id, conversation_id))
        .values(current_id=message_id)
    )
    if conn.execute(statement).rowcount == 0:
        raise _conversation_not_found(conversation_id)


def _recover_streaming(conn: Connection, before_ids: list[str]) -> int:
    left = sa.select(_PARTS.c.message_id).distinct()
    if before_ids:
        left = left.where(_PARTS.c.message_id.not_in(before_ids))
    for message_id in conn.execute(left).scalars().all():
        folded = {**_fold(conn, message_id, {}), "updated_at": utcnow(), "m_id": message_id}
        conn.execute(_UPDATE_MESSAGE, folded)
    statement = (
        tables.messages.update()
        .where(tables.messages.c.status == "streaming")
        .values(status="incomplete", updated_at=utcnow())
    )
    if before_ids:
        statement = statement.where(tables.messages.c.id.not_in(before_ids))
    rowcount: int = conn.execute(statement).rowcount
    return rowcount


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


def _conversation(conn: Connection, owner_id: str, conversation_id: str) -> Conversation:
    query = tables.conversations.select().where(_owned_conversation(owner_id, conversation_id))
    row = conn.execute(query).mappings().first()
    if row is None:
        raise _conversation_not_found(conversation_id)
    return conversation_from_row(row)


def _touch_conversation(
    conn: Connection, owner_id: str, conversation_id: str, *, current_id: str
) -> None:
    values = {
        "c_id": conversation_id,
        "c_owner": owner_id,
        "c_now": utcnow(),
        "c_current": current_id,
    }
    if conn.execute(_TOUCH_CONVERSATION, values).rowcount == 0:
        raise _conversation_not_found(conversation_id)


def _next_position(conn: Connection, conversation_id: str) -> int:
    return int(conn.execute(_NEXT_POSITION, {"c_id": conversation_id}).scalar_one())


def _by_conversation(batch: Sequence[Message]) -> Iterator[tuple[str, str, list[Message]]]:
    """Group messages by (conversation, owner), keeping their order and first appearance."""
    groups: dict[tuple[str, str], list[Message]] = {}
    for message in batch:
        groups.setdefault((message.conversation_id, message.owner_id), []).append(message)
    for (conversation_id, owner_id), group in groups.items():
        yield conversation_id, owner_id, group
