"""Append-only progress saves (issue 15 item 5): ``answer_parts``, what each periodic save of a
streaming answer appended (the text and reasoning that arrived since the save before, and the
id of the last event the text so far includes), so that a save writes what arrived, not the
whole text. The final save writes the whole text into ``messages`` and deletes the parts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answer_parts",
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("reasoning", sa.Text(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_answer_parts_message", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_id", "seq"),
    )


def downgrade() -> None:
    # Parts not yet folded into their answers' rows (answers streaming now) go with the table:
    # fold them first, as the final save would.
    parts = sa.table(
        "answer_parts",
        sa.column("message_id", sa.String()),
        sa.column("seq", sa.Integer()),
        sa.column("content", sa.Text()),
        sa.column("reasoning", sa.Text()),
        sa.column("last_event_id", sa.Integer()),
    )
    messages = sa.table(
        "messages",
        sa.column("id", sa.String()),
        sa.column("content", sa.Text()),
        sa.column("reasoning", sa.Text()),
        sa.column("last_event_id", sa.Integer()),
    )
    conn = op.get_bind()
    folded: dict[str, list[tuple[str, str, int]]] = {}
    for row in conn.execute(sa.select(parts).order_by(parts.c.message_id, parts.c.seq)):
        folded.setdefault(row.message_id, []).append(
            (row.content, row.reasoning, row.last_event_id)
        )
    for message_id, rows in folded.items():
        old = conn.execute(
            sa.select(messages.c.content, messages.c.reasoning).where(messages.c.id == message_id)
        ).one()
        conn.execute(
            messages.update()
            .where(messages.c.id == message_id)
            .values(
                content=old.content + "".join(r[0] for r in rows),
                reasoning=old.reasoning + "".join(r[1] for r in rows),
                last_event_id=rows[-1][2],
            )
        )
    op.drop_table("answer_parts")
