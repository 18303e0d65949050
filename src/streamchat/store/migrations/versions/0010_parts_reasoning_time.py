"""How long the model thought, saved while the answer streams (issue 14): each progress save
after the thinking ended carries ``answer_parts.reasoning_ms``, read with the parts' text and
folded into ``messages.reasoning_ms`` at the end, so that a page reloaded while the answer
streams shows "Thought for N s" (it re-attaches after the saved text, past the event that said
it). NULL in the parts saved before the thinking ended, and before this revision.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("answer_parts", sa.Column("reasoning_ms", sa.Float(), nullable=True))


def downgrade() -> None:
    # The time of answers streaming now goes to their rows, where their end would write it.
    parts = sa.table(
        "answer_parts",
        sa.column("message_id", sa.String()),
        sa.column("reasoning_ms", sa.Float()),
    )
    messages = sa.table(
        "messages",
        sa.column("id", sa.String()),
        sa.column("reasoning_ms", sa.Float()),
    )
    conn = op.get_bind()
    known = sa.select(parts.c.message_id, sa.func.max(parts.c.reasoning_ms).label("ms"))
    known = known.where(parts.c.reasoning_ms.is_not(None)).group_by(parts.c.message_id)
    for row in conn.execute(known).all():
        conn.execute(
            messages.update()
            .where(messages.c.id == row.message_id, messages.c.reasoning_ms.is_(None))
            .values(reasoning_ms=row.ms)
        )
    with op.batch_alter_table("answer_parts") as batch:
        batch.drop_column("reasoning_ms")
