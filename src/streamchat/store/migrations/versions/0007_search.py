"""Full-text search over conversations (issue 14): titles and message text, CJK included.

SQLite: two FTS5 tables with the ``trigram`` tokenizer (substring matching, case-folded, any
script: Chinese has no spaces to split words at), external content on ``messages`` and
``conversations`` (the text is not stored twice), kept in sync by triggers. PostgreSQL: GIN
indexes with ``pg_trgm``'s ``gin_trgm_ops`` on the same columns (``ILIKE`` uses them; the
index follows the rows by itself). On both, an answer still ``streaming`` is left out of the
index (each progress save would re-index the whole text: 11-20 ms per save of a 64 K-character
answer on SQLite, 0.2 ms without, bench/search_cost.py) and is found by a scan of the few
streaming rows instead (since 0009 its text as saved is the row's and its ``answer_parts``);
the final save indexes it. Existing rows are indexed here.

SQLite indexes the first 32,000 characters of each message (the longest question a user may
send by default): the trigram index of a whole long answer, written in the final save's
transaction, held the one SQLite writer for ~170 ms per MB, so 50 long answers ending together
delayed everyone else's first token by 2 s (tests/faults/test_frozen_clients.py). The 'delete'
commands pass the same prefix, so the index stays consistent; a word found only after the
first 32,000 characters of a finished message is not found on SQLite.

A later migration that recreates ``messages`` or ``conversations`` on SQLite (Alembic's batch
"move and copy") drops these triggers and renumbers the rows: it must recreate both.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UP = (
    "CREATE VIRTUAL TABLE message_search USING fts5("
    "content, content='messages', tokenize='trigram')",
    "CREATE VIRTUAL TABLE conversation_search USING fts5("
    "title, content='conversations', tokenize='trigram')",
    # The index holds exactly the messages not streaming, with their text as stored.
    """CREATE TRIGGER message_search_insert AFTER INSERT ON messages
    WHEN new.status <> 'streaming' BEGIN
        INSERT INTO message_search (rowid, content)
        VALUES (new.rowid, substr(new.content, 1, 32000));
    END""",
    """CREATE TRIGGER message_search_delete AFTER DELETE ON messages
    WHEN old.status <> 'streaming' BEGIN
        INSERT INTO message_search (message_search, rowid, content)
        VALUES ('delete', old.rowid, substr(old.content, 1, 32000));
    END""",
    """CREATE TRIGGER message_search_update AFTER UPDATE OF content, status ON messages
    WHEN old.status <> 'streaming' OR new.status <> 'streaming' BEGIN
        INSERT INTO message_search (message_search, rowid, content)
        SELECT 'delete', old.rowid, substr(old.content, 1, 32000) WHERE old.status <> 'streaming';
        INSERT INTO message_search (rowid, content)
        SELECT new.rowid, substr(new.content, 1, 32000) WHERE new.status <> 'streaming';
    END""",
    """CREATE TRIGGER conversation_search_insert AFTER INSERT ON conversations BEGIN
        INSERT INTO conversation_search (rowid, title) VALUES (new.rowid, new.title);
    END""",
    """CREATE TRIGGER conversation_search_delete AFTER DELETE ON conversations BEGIN
        INSERT INTO conversation_search (conversation_search, rowid, title)
        VALUES ('delete', old.rowid, old.title);
    END""",
    """CREATE TRIGGER conversation_search_update AFTER UPDATE OF title ON conversations BEGIN
        INSERT INTO conversation_search (conversation_search, rowid, title)
        VALUES ('delete', old.rowid, old.title);
        INSERT INTO conversation_search (rowid, title) VALUES (new.rowid, new.title);
    END""",
    "INSERT INTO message_search (rowid, content) "
    "SELECT rowid, substr(content, 1, 32000) FROM messages WHERE status <> 'streaming'",
    "INSERT INTO conversation_search (conversation_search) VALUES ('rebuild')",
)
_SQLITE_DOWN = (
    "DROP TRIGGER conversation_search_update",
    "DROP TRIGGER conversation_search_delete",
    "DROP TRIGGER conversation_search_insert",
    "DROP TRIGGER message_search_update",
    "DROP TRIGGER message_search_delete",
    "DROP TRIGGER message_search_insert",
    "DROP TABLE conversation_search",
    "DROP TABLE message_search",
)
# CREATE EXTENSION needs the CREATE privilege on the database (pg_trgm is a trusted extension
# since PostgreSQL 13 and ships with every standard build, in contrib).
_POSTGRES_UP = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_messages_content_trgm ON messages "
    "USING gin (content gin_trgm_ops) WHERE status <> 'streaming'",
    "CREATE INDEX ix_conversations_title_trgm ON conversations USING gin (title gin_trgm_ops)",
)
_POSTGRES_DOWN = (
    "DROP INDEX ix_conversations_title_trgm",
    "DROP INDEX ix_messages_content_trgm",
)


def _run(sqlite: Sequence[str], postgres: Sequence[str]) -> None:
    for statement in sqlite if op.get_bind().dialect.name == "sqlite" else postgres:
        op.execute(statement)


def upgrade() -> None:
    _run(_SQLITE_UP, _POSTGRES_UP)


def downgrade() -> None:
    _run(_SQLITE_DOWN, _POSTGRES_DOWN)
