"""The schema, as SQLAlchemy Core tables. Migrations in ``migrations/versions`` must produce exactly
this (``tests/store/test_migrations.py`` compares them).

Every row has an owner. Timestamps are stored in UTC and always come back timezone-aware, also on
SQLite, which keeps no offset.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = ["UTCDateTime", "conversations", "messages", "metadata", "sessions", "users"]


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
    sa.Index("ix_messages_conversation_position", "conversation_id", "position", unique=True),
    sa.Index("ix_messages_status", "status"),
)

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
