"""How long an answer's model thought (issue 14): ``messages.reasoning_ms``, from its first
reasoning token to its first answer token (or its end), so that a reloaded page shows
"Thought for N s" as the live one did. NULL for answers without reasoning and for those stored
before this revision.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("reasoning_ms", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("reasoning_ms")
