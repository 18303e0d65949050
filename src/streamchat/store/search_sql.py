"""Conversation search (issue 14), the transaction behind :meth:`Store.search`, and the pure
functions it needs: the words of a query, and a snippet with its matches marked.

A query is words (a ``"quoted phrase"`` is one word); a message matches when its text holds
every word, a conversation when its title does: substrings, case-folded, in any script (a
Chinese query needs no spaces). The indexes are those of migration 0007: FTS5 ``trigram`` on
SQLite (it can only look up words of 3 characters or more: shorter ones, such as most Chinese
words of two characters, filter with ``LIKE`` the rows the longer ones found, or scan the
owner's rows when the query has no longer word), ``pg_trgm`` GIN indexes for ``ILIKE`` on
PostgreSQL. Answers still streaming are not indexed: their text as saved so far is scanned
(few rows, ``ix_messages_status``).

Ranking: title holding the whole query, then a message holding it, then a title holding every
word apart, then such a message; within each, the most recent first (a message's creation, a
conversation's last activity). The snippets are plain text with ``marks``, ``[start, end)``
offsets in code points: the store never returns markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection, RowMapping

from streamchat.store import SearchHit, tables

__all__ = ["MAX_WORDS", "SNIPPET_CHARS", "SQLITE_TABLES", "excerpt", "marks", "search", "words"]

# Words of one query (each one more LIKE / ILIKE).
MAX_WORDS = 16
# About how many characters a snippet shows around its first match.
SNIPPET_CHARS = 160
# The FTS5 tables of migration 0007 and their shadow tables, which are not in tables.metadata.
SQLITE_TABLES = frozenset(
    f"{name}{suffix}"
    for name in ("message_search", "conversation_search")
    for suffix in ("", "_data", "_idx", "_docsize", "_config")
)
# The shortest word the trigram index can look up.
_TRIGRAM = 3
_WORD = re.compile(r'"([^"]+)"|(\S+)')
_M = tables.messages.c
_Where = sa.ColumnElement[bool] | sa.TextClause
_C = tables.conversations.c


def words(query: str) -> list[str]:
    """The words of ``query`` in order, each once (case-folded); a quoted phrase is one word,
    its spaces collapsed."""
    found: list[str] = []
    seen: set[str] = set()
    for match in _WORD.finditer(query):
        word = " ".join((match.group(1) or match.group(2)).split())
        if word and word.casefold() not in seen:
            seen.add(word.casefold())
            found.append(word)
    return found


def search(
    conn: Connection, owner_id: str, query_words: Sequence[str], limit: int, offset: int
) -> list[SearchHit]:
    """The owner's titles and messages holding every word, best match first, then recent."""
    query_words = list(query_words)
    if not query_words:
        return []
    sqlite = conn.dialect.name == "sqlite"
    hits = sa.union_all(
        *_message_selects(sqlite, owner_id, query_words),
        _title_select(sqlite, owner_id, query_words),
    ).subquery("hits")
    ordered = (
        sa.select(hits)
        .order_by(hits.c.tier, hits.c.at.desc(), hits.c.conversation_id, hits.c.message_id)
        .limit(limit)
        .offset(offset)
    )
    return [_hit(row, query_words) for row in conn.execute(ordered).mappings()]


def _holds(column: sa.ColumnElement[str], word: str, sqlite: bool) -> sa.ColumnElement[bool]:
    """``column`` contains ``word``, ignoring case (SQLite's LIKE folds ASCII only)."""
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", word) + "%"
    if sqlite:
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def _tier(
    column: sa.ColumnElement[str], query_words: list[str], sqlite: bool, whole: int
) -> sa.ColumnElement[Any]:
    """``whole`` when the text holds the whole query as typed (words in order), else whole + 2."""
    if len(query_words) == 1:
        return sa.literal(whole, sa.Integer)
    phrase = _holds(column, " ".join(query_words), sqlite)
    return sa.case((phrase, sa.literal(whole, sa.Integer)), else_=sa.literal(whole + 2, sa.Integer))


def _fts_match(query_words: list[str]) -> str | None:
    """The FTS5 query of the words the trigram index can look up: each a quoted string
    (implicit AND), so nothing in them is FTS5 syntax."""
    long = [w for w in query_words if len(w) >= _TRIGRAM]
    if not long:
        return None
    return " ".join('"' + w.replace('"', '""') + '"' for w in long)


def _saved_text(sqlite: bool) -> sa.ColumnElement[str]:
    """A streaming answer's text as saved so far: its row's, then its parts' (migration 0009)."""
    p = tables.answer_parts.c
    if sqlite:  # the primary key's order is seq's: group_concat visits the parts in it
        joined = sa.func.group_concat(p.content, "")
    else:
        joined = sa.func.string_agg(p.content, aggregate_order_by(sa.literal(""), p.seq))
    parts = sa.select(joined).where(p.message_id == _M.id).scalar_subquery()
    return (_M.content + sa.func.coalesce(parts, "")).label("content")


def _message_selects(sqlite: bool, owner_id: str, query_words: list[str]) -> list[sa.Select[Any]]:
    def select(*where: _Where, text: sa.ColumnElement[str] = _M.content) -> sa.Select[Any]:
        return (
            sa.select(
                _M.conversation_id,
                _C.title,
                _M.id.label("message_id"),
                _M.role,
                text,
                _M.created_at.label("at"),
                _tier(text, query_words, sqlite, 1).label("tier"),
            )
            .select_from(tables.messages.join(tables.conversations, _C.id == _M.conversation_id))
            .where(_M.owner_id == owner_id, _C.owner_id == owner_id, *where)
        )

    saved = _saved_text(sqlite)
    every = [_holds(_M.content, w, sqlite) for w in query_words]
    streaming = select(
        _M.status == "streaming", *(_holds(saved, w, sqlite) for w in query_words), text=saved
    )
    if not sqlite:
        return [select(_M.status != "streaming", *every), streaming]
    match = _fts_match(query_words)
    if match is None:  # no word the index can look up: the owner's messages, all of them
        return [select(_M.status != "streaming", *every), streaming]
    short = [_holds(_M.content, w, True) for w in query_words if len(w) < _TRIGRAM]
    indexed = sa.text(
        "messages.rowid IN (SELECT rowid FROM message_search WHERE message_search MATCH :m_match)"
    ).bindparams(m_match=match)
    return [select(indexed, *short), streaming]


def _title_select(sqlite: bool, owner_id: str, query_words: list[str]) -> sa.Select[Any]:
    where: list[_Where] = [_holds(_C.title, w, sqlite) for w in query_words]
    match = _fts_match(query_words) if sqlite else None
    if match is not None:
        indexed = sa.text(
            "conversations.rowid IN "
            "(SELECT rowid FROM conversation_search WHERE conversation_search MATCH :c_match)"
        ).bindparams(c_match=match)
        where = [indexed, *(_holds(_C.title, w, True) for w in query_words if len(w) < _TRIGRAM)]
    return sa.select(
        _C.id.label("conversation_id"),
        _C.title,
        sa.cast(sa.null(), sa.String).label("message_id"),
        sa.cast(sa.null(), sa.String).label("role"),
        sa.cast(sa.literal(""), sa.Text).label("content"),
        _C.updated_at.label("at"),
        _tier(_C.title, query_words, sqlite, 0).label("tier"),
    ).where(_C.owner_id == owner_id, *where)


def _hit(row: RowMapping, query_words: list[str]) -> SearchHit:
    snippet, snippet_marks = (
        ("", []) if row["message_id"] is None else excerpt(row["content"], query_words)
    )
    return SearchHit(
        conversation_id=row["conversation_id"],
        title=row["title"],
        title_marks=marks(row["title"], query_words),
        message_id=row["message_id"],
        role=row["role"],
        snippet=snippet,
        marks=snippet_marks,
        at=row["at"],
    )


def _pattern(query_words: Sequence[str]) -> re.Pattern[str]:
    """Any of the words, or the whole query (one mark where it is typed as is)."""
    longest_first = sorted({*query_words, " ".join(query_words)}, key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in longest_first), re.IGNORECASE)


def marks(text: str, query_words: Sequence[str]) -> list[tuple[int, int]]:
    """Where the words occur in ``text``: ``[start, end)`` in code points, in order, apart."""
    if not query_words:
        return []
    return [(m.start(), m.end()) for m in _pattern(query_words).finditer(text)]


def excerpt(
    text: str, query_words: Sequence[str], width: int = SNIPPET_CHARS
) -> tuple[str, list[tuple[int, int]]]:
    """About ``width`` characters of ``text`` around the first match, whitespace collapsed,
    ``…`` where it was cut; and the matches in it."""
    first = _pattern(query_words).search(text) if query_words else None
    at, end = (first.start(), first.end()) if first else (0, 0)
    start = max(0, at - width // 3)
    if start > 0:  # begin at a word when one begins shortly before
        space = text.find(" ", max(0, start - 12), at)
        start = space + 1 if space >= 0 else start
    stop = min(len(text), max(start + width, end + 12))
    snippet = " ".join(text[start:stop].split())
    if start > 0 and snippet:
        snippet = "…" + snippet
    if stop < len(text) and snippet:
        snippet += "…"
    return snippet, marks(snippet, query_words)
