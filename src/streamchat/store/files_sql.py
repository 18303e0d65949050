"""The transactions of the files' Store methods (issue 13), each a plain function on a
connection, as in :mod:`streamchat.store.sql`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from streamchat.errors import InvalidRequest, NotFound
from streamchat.files import FileKind, StoredFile
from streamchat.store import tables

__all__ = [
    "add_file",
    "bind_files",
    "delete_file",
    "file_data",
    "file_usage",
    "get_file",
    "get_files",
    "message_files",
    "release_files",
    "set_file_text",
]

_META = [c for c in tables.files.c if c.name != "data"]


def _file(row: RowMapping) -> StoredFile:
    return StoredFile(
        id=row["id"],
        owner_id=row["owner_id"],
        name=row["name"],
        mime=row["mime"],
        kind=cast(FileKind, row["kind"]),
        bytes=row["bytes"],
        conversation_id=row["conversation_id"],
        text=row["text"],
        text_source=row["text_source"],
        created_at=row["created_at"],
    )


def _not_found(file_id: str) -> NotFound:
    return NotFound(f"file {file_id} not found")


def add_file(conn: Connection, file: StoredFile, data: bytes) -> None:
    values: dict[str, Any] = {
        "id": file.id,
        "owner_id": file.owner_id,
        "conversation_id": file.conversation_id,
        "name": file.name,
        "mime": file.mime,
        "kind": file.kind,
        "bytes": file.bytes,
        "data": data,
        "text": file.text,
        "text_source": file.text_source,
        "created_at": file.created_at,
    }
    conn.execute(tables.files.insert().values(values))


def get_file(conn: Connection, owner_id: str, file_id: str) -> StoredFile:
    f = tables.files.c
    row = (
        conn.execute(sa.select(*_META).where(f.id == file_id, f.owner_id == owner_id))
        .mappings()
        .first()
    )
    if row is None:
        raise _not_found(file_id)
    return _file(row)


def get_files(conn: Connection, owner_id: str, file_ids: list[str]) -> list[StoredFile]:
    f = tables.files.c
    rows = conn.execute(
        sa.select(*_META).where(f.id.in_(file_ids), f.owner_id == owner_id)
    ).mappings()
    found = {row["id"]: _file(row) for row in rows}
    for file_id in file_ids:
        if file_id not in found:
            raise _not_found(file_id)
    return [found[i] for i in file_ids]


def file_data(conn: Connection, owner_id: str, file_id: str) -> tuple[StoredFile, bytes]:
    f = tables.files.c
    row = (
        conn.execute(sa.select(tables.files).where(f.id == file_id, f.owner_id == owner_id))
        .mappings()
        .first()
    )
    if row is None:
        raise _not_found(file_id)
    return _file(row), bytes(row["data"])


def delete_file(conn: Connection, owner_id: str, file_id: str) -> None:
    f = tables.files.c
    result = conn.execute(tables.files.delete().where(f.id == file_id, f.owner_id == owner_id))
    if result.rowcount == 0:
        raise _not_found(file_id)


def file_usage(conn: Connection, owner_id: str) -> tuple[int, int]:
    f = tables.files.c
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(f.bytes), 0)).where(
            f.owner_id == owner_id
        )
    ).one()
    return int(row[0]), int(row[1])


def set_file_text(conn: Connection, file_id: str, text: str, source: str) -> None:
    conn.execute(
        tables.files.update()
        .where(tables.files.c.id == file_id)
        .values(text=text, text_source=source)
    )


def bind_files(
    conn: Connection, owner_id: str, conversation_id: str, attachments: Mapping[str, Sequence[str]]
) -> None:
    """Attach files to messages and bind them to the conversation; a file of another
    conversation (or another owner) is refused, and the whole transaction with it."""
    f = tables.files.c
    for message_id, file_ids in attachments.items():
        for file_id in file_ids:
            bound = conn.execute(
                tables.files.update()
                .where(f.id == file_id, f.owner_id == owner_id)
                .where(sa.or_(f.conversation_id.is_(None), f.conversation_id == conversation_id))
                .values(conversation_id=conversation_id)
            )
            if bound.rowcount == 0:
                raise InvalidRequest(
                    f"file {file_id} is not yours or is attached in another conversation"
                )
        rows = [
            {"message_id": message_id, "position": i, "file_id": file_id}
            for i, file_id in enumerate(file_ids)
        ]
        if rows:
            conn.execute(tables.message_files.insert(), rows)


def release_files(conn: Connection, owner_id: str, conversation_id: str) -> None:
    f = tables.files.c
    conn.execute(
        tables.files.update()
        .where(f.conversation_id == conversation_id, f.owner_id == owner_id)
        .values(conversation_id=None)
    )


def message_files(
    conn: Connection, owner_id: str, conversation_id: str
) -> dict[str, list[StoredFile]]:
    mf = tables.message_files.c
    f = tables.files.c
    query = (
        sa.select(mf.message_id, *_META)
        .select_from(tables.message_files.join(tables.files, mf.file_id == f.id))
        .where(f.conversation_id == conversation_id, f.owner_id == owner_id)
        .order_by(mf.message_id, mf.position)
    )
    result: dict[str, list[StoredFile]] = {}
    for row in conn.execute(query).mappings():
        result.setdefault(row["message_id"], []).append(_file(row))
    return result
