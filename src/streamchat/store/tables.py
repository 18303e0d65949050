"""The schema, as SQLAlchemy Core tables. Migrations in ``migrations/versions`` must produce exactly
this (``tests/store/test_migrations.py`` compares them).

Every row has an owner. Timestamps are stored in UTC and always come back timezone-aware, also on
SQLite, which keeps no offset.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
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


class UTCDateTime(sa.TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that writes UTC and reads back UTC-aware datetimes everywhere."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("token_hash", sa.String(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_users_token_hash", "token_hash", unique=True),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column(
        "owner_id",
        sa.String(),
        sa.ForeignKey("users.id", name="fk_conversations_owner", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("title", sa.String(), nullable=False),
    sa.Column("model", sa.String(), nullable=True),
    sa.Column("system_prompt", sa.Text(), nullable=True),
    sa.Column("params", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # The leaf of the branch shown (a message id; no foreign key: the store keeps it valid).
    sa.Column("current_id", sa.String(), nullable=True),
    sa.Index("ix_conversations_owner_updated", "owner_id", "updated_at"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column(
        "conversation_id",
        sa.String(),
        sa.ForeignKey("conversations.id", name="fk_messages_conversation", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "owner_id",
        sa.String(),
        sa.ForeignKey("users.id", name="fk_messages_owner", ondelete="CASCADE"),
        nullable=False,
    ),
    # Order within the conversation: 0, 1, 2, ... assigned by the store.
    sa.Column("position", sa.Integer(), nullable=False),
    # The message this one follows (NULL for a first question): messages form a tree, and
    # siblings are ordered by position, i.e. by creation.
    sa.Column("parent_id", sa.String(), nullable=True),
    sa.Column("role", sa.String(), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("reasoning", sa.Text(), nullable=False),
    sa.Column("model", sa.String(), nullable=True),
    sa.Column("status", sa.String(), nullable=False),
    sa.Column("finish_reason", sa.String(), nullable=True),
    # Usage is None when all four are NULL.
    sa.Column("prompt_tokens", sa.Integer(), nullable=True),
    sa.Column("completion_tokens", sa.Integer(), nullable=True),
    sa.Column("total_tokens", sa.Integer(), nullable=True),
    sa.Column("usage_estimated", sa.Boolean(), nullable=True),
    sa.Column("error", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("ttft_ms", sa.Float(), nullable=True),
    sa.Column("total_ms", sa.Float(), nullable=True),
    sa.Column("last_event_id", sa.Integer(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # How long the model thought: its first reasoning token to its first answer token (0008).
    sa.Column("reasoning_ms", sa.Float(), nullable=True),
    sa.Index("ix_messages_conversation_position", "conversation_id", "position", unique=True),
    sa.Index("ix_messages_status", "status"),
)

# What each periodic save of a streaming answer appended (issue 15 item 5, migration 0009):
# the text and reasoning that arrived since the save before (``seq`` 0, 1, ... per answer) and
# the id of the last event the text up to here includes. An answer's text is its row's
# ``content`` followed by its parts; the final save (or recovery) writes the whole text into
# the row and deletes the parts in one transaction, so only streaming answers have parts.
answer_parts = sa.Table(
    "answer_parts",
    metadata,
    sa.Column(
        "message_id",
        sa.String(),
        sa.ForeignKey("messages.id", name="fk_answer_parts_message", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("seq", sa.Integer(), primary_key=True),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("reasoning", sa.Text(), nullable=False),
    sa.Column("last_event_id", sa.Integer(), nullable=False),
    # How long the model thought, in the parts saved once it is known (0010): the row's until
    # the end (a read takes it with the parts' text, so the two agree)
    sa.Column("reasoning_ms", sa.Float(), nullable=True),
)

# Search (issue 14, migration 0007): on PostgreSQL, trigram indexes for ILIKE (the messages'
# leave streaming answers out, as SQLite's index does); SQLite's FTS5 tables and triggers are
# not SQLAlchemy tables (store/search_sql.py names them).
sa.Index(
    "ix_messages_content_trgm",
    messages.c.content,
    postgresql_using="gin",
    postgresql_ops={"content": "gin_trgm_ops"},
    postgresql_where=messages.c.status != "streaming",
).ddl_if(dialect="postgresql")
sa.Index(
    "ix_conversations_title_trgm",
    conversations.c.title,
    postgresql_using="gin",
    postgresql_ops={"title": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")

# The page's signed-in sessions: the cookie holds a random id, only its SHA-256 is stored.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id_hash", sa.String(), primary_key=True),
    sa.Column(
        "user_id",
        sa.String(),
        sa.ForeignKey("users.id", name="fk_sessions_user", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_sessions_user", "user_id"),
)

# Files users attach (issue 13). The bytes live in the row (``data``): one place to back up,
# the same on SQLite and PostgreSQL, deleted with their owner (cascade) and, once attached to
# a question, with that question's conversation (cascade).
files = sa.Table(
    "files",
    metadata,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column(
        "owner_id",
        sa.String(),
        sa.ForeignKey("users.id", name="fk_files_owner", ondelete="CASCADE"),
        nullable=False,
    ),
    # NULL until the file is attached to a question; then that question's conversation.
    sa.Column(
        "conversation_id",
        sa.String(),
        sa.ForeignKey("conversations.id", name="fk_files_conversation", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("mime", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("bytes", sa.Integer(), nullable=False),
    sa.Column("data", sa.LargeBinary(), nullable=False),
    # A document's text as a model reads it, and who extracted it (local, provider:<name>).
    sa.Column("text", sa.Text(), nullable=True),
    sa.Column("text_source", sa.String(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_files_owner", "owner_id"),
    sa.Index("ix_files_conversation", "conversation_id"),
)

# The files of a question, in the order attached.
message_files = sa.Table(
    "message_files",
    metadata,
    sa.Column(
        "message_id",
        sa.String(),
        sa.ForeignKey("messages.id", name="fk_message_files_message", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column(
        "file_id",
        sa.String(),
        sa.ForeignKey("files.id", name="fk_message_files_file", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Index("ix_message_files_file", "file_id"),
)

# Stored responses of the Responses API (issue 12): the request as given (input items,
# instructions, the fields the response object repeats), the output items as they ended.
# ``expires_at`` is set when the response ends (``responses_ttl`` later); rows past it are
# gone for every read and deleted by the next write.
responses = sa.Table(
    "responses",
    metadata,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column(
        "owner_id",
        sa.String(),
        sa.ForeignKey("users.id", name="fk_responses_owner", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("model", sa.String(), nullable=False),
    sa.Column("status", sa.String(), nullable=False),
    sa.Column("background", sa.Boolean(), nullable=False),
    # No foreign key: a previous response may expire before the ones that follow it.
    sa.Column("previous_response_id", sa.String(), nullable=True),
    sa.Column("request", sa.JSON(), nullable=False),
    sa.Column("output", sa.JSON(), nullable=False),
    sa.Column("usage", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("error", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("incomplete_details", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Index("ix_responses_owner", "owner_id"),
    sa.Index("ix_responses_expires", "expires_at"),
)
