"""Messages form a tree: each message names its parent, a conversation its current leaf.

Every existing conversation becomes one path: each message's parent is the message before it
(by position), and the conversation's current leaf is its last message. Answers still
streaming or stopped keep their status and text.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PARENTS = """
UPDATE messages SET parent_id = (
    SELECT earlier.id FROM messages AS earlier
    WHERE earlier.conversation_id = messages.conversation_id
      AND earlier.position < messages.position
    ORDER BY earlier.position DESC LIMIT 1
)
"""
_LEAVES = """
UPDATE conversations SET current_id = (
    SELECT m.id FROM messages AS m
    WHERE m.conversation_id = conversations.id
    ORDER BY m.position DESC LIMIT 1
)
"""


def upgrade() -> None:
    op.add_column("messages", sa.Column("parent_id", sa.String(), nullable=True))
    op.add_column("conversations", sa.Column("current_id", sa.String(), nullable=True))
    op.execute(_PARENTS)
    op.execute(_LEAVES)


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("current_id")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("parent_id")
