"""The transactions of the stored responses' Store methods (issue 12), each a plain function
on a connection, as in :mod:`streamchat.store.sql`. Expired rows are invisible to every read
and deleted by the next :func:`add_response`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from streamchat.chat import utcnow
from streamchat.errors import NotFound
from streamchat.store import ResponsePatch, StoredResponse, tables

__all__ = ["add_response", "delete_response", "get_response", "update_response"]

_R = tables.responses.c


def _record(row: RowMapping) -> StoredResponse:
    return StoredResponse(
        id=row["id"],
        owner_id=row["owner_id"],
        model=row["model"],
        status=row["status"],
        background=row["background"],
        previous_response_id=row["previous_response_id"],
        request=row["request"],
        output=row["output"],
        usage=row["usage"],
        error=row["error"],
        incomplete_details=row["incomplete_details"],
        created_at=row["created_at"],
        completed_at=row["completed_at"],
        expires_at=row["expires_at"],
    )


def _not_found(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{response_id}' not found.")


def _kept(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(_R.expires_at.is_(None), _R.expires_at > now)


def add_response(conn: Connection, record: StoredResponse) -> None:
    """Insert, unless a row with the id exists (a retried request attached to the same
    response, with its Idempotency-Key)."""
    now = utcnow()
    conn.execute(tables.responses.delete().where(_R.expires_at <= now))
    if conn.execute(sa.select(_R.id).where(_R.id == record.id)).first() is not None:
        return
    values: dict[str, Any] = {
        "id": record.id,
        "owner_id": record.owner_id,
        "model": record.model,
        "status": record.status,
        "background": record.background,
        "previous_response_id": record.previous_response_id,
        "request": record.request,
        "output": record.output,
        "usage": record.usage,
        "error": record.error,
        "incomplete_details": record.incomplete_details,
        "created_at": record.created_at,
        "completed_at": record.completed_at,
        "expires_at": record.expires_at,
    }
    conn.execute(tables.responses.insert().values(values))


def get_response(conn: Connection, owner_id: str, response_id: str) -> StoredResponse:
    query = sa.select(tables.responses).where(
        _R.id == response_id, _R.owner_id == owner_id, _kept(utcnow())
    )
    row = conn.execute(query).mappings().first()
    if row is None:
        raise _not_found(response_id)
    return _record(row)


def update_response(conn: Connection, response_id: str, patch: ResponsePatch) -> None:
    conn.execute(tables.responses.update().where(_R.id == response_id).values(dict(patch)))


def delete_response(conn: Connection, owner_id: str, response_id: str) -> None:
    result = conn.execute(
        tables.responses.delete().where(
            _R.id == response_id, _R.owner_id == owner_id, _kept(utcnow())
        )
    )
    if result.rowcount == 0:
        raise _not_found(response_id)
