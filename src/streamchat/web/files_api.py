"""Files: upload (multipart), download by their owner only, delete; the attachments of a
conversation's questions. What a file is comes from its bytes (:mod:`streamchat.files`)."""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from streamchat.chat import new_id
from streamchat.errors import InvalidRequest, PayloadTooLarge
from streamchat.files import StoredFile, inspect, served_inline
from streamchat.web.bodies import Text
from streamchat.web.services import Services, current_user, services

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["files"])
Svc = Annotated[Services, Depends(services)]
User = Annotated[str, Depends(current_user)]

# Text types a browser never runs (HTML and SVG go as application/octet-stream).
_PLAIN = {"text/plain", "text/markdown", "text/csv", "application/json"}
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def _clean_name(raw: str | None) -> str:
    name = _UNSAFE_NAME.sub("_", (raw or "").rpartition("/")[2].rpartition("\\")[2]).strip()
    return (name or "file")[:200]


@router.post("/files", status_code=201)
async def upload(request: Request, svc: Svc, user: User) -> dict[str, Any]:
    """Upload one file (multipart field ``file``). Its type is sniffed from its bytes; the
    answer is ``{id, name, mime, bytes, kind}``."""
    settings = svc.settings
    try:
        form = await request.form(max_files=1, max_fields=4)
    except HTTPException as exc:  # starlette's word for a multipart body it cannot read
        raise InvalidRequest(f"the upload is not a readable multipart body: {exc.detail}") from exc
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise InvalidRequest("send the file as the multipart field 'file'")
        data = await part.read(settings.max_file_bytes + 1)
        name = _clean_name(part.filename)
    finally:
        await form.close()
    if len(data) > settings.max_file_bytes:
        raise PayloadTooLarge(
            f"{name} is over the limit of {settings.max_file_bytes} bytes",
            details={"limit": settings.max_file_bytes},
        )
    count, used = await svc.store.file_usage(user)
    if count >= settings.max_files_per_user:
        raise InvalidRequest(
            f"you keep {count} files, the limit; delete some first",
            code="too_many_files",
            details={"count": count},
        )
    if used + len(data) > settings.max_file_storage:
        raise PayloadTooLarge(
            f"your files would take {used + len(data)} bytes; the limit is "
            f"{settings.max_file_storage}",
            details={"reason": "storage_full", "limit": settings.max_file_storage},
        )
    found = await asyncio.to_thread(inspect, name, data, max_image_pixels=settings.max_image_pixels)
    file = StoredFile(
        new_id("file"),
        user,
        name,
        found.mime,
        found.kind,
        len(data),
        text=found.text,
        text_source=None if found.text is None else "local",
    )
    await svc.store.add_file(file, data)
    return _json(file)


def _json(file: StoredFile) -> dict[str, Any]:
    return file.as_dict()


@router.get("/files/{file_id}", response_class=Response, response_model=None)
async def download(file_id: Text, svc: Svc, user: User) -> Response:
    """The file's bytes, for its owner: raster images inline, everything else as a download;
    never sniffed by the browser, never able to run script."""
    file, data = await svc.store.file_data(user, file_id)
    disposition = "inline" if served_inline(file.mime) else "attachment"
    quoted = urllib.parse.quote(file.name, safe="")
    headers = {
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quoted}",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
    }
    mime = file.mime if served_inline(file.mime) else "application/octet-stream"
    if file.mime in _PLAIN:
        mime = f"{file.mime}; charset=utf-8"
    return Response(data, media_type=mime, headers=headers)


@router.get("/files/{file_id}/meta")
async def meta(file_id: Text, svc: Svc, user: User) -> dict[str, Any]:
    """The file's description, without its bytes."""
    return _json(await svc.store.get_file(user, file_id))


@router.delete("/files/{file_id}", status_code=204, response_class=Response)
async def delete(file_id: Text, svc: Svc, user: User) -> Response:
    """Delete a file (it disappears from the questions it was attached to)."""
    await svc.store.delete_file(user, file_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/attachments")
async def attachments(conversation_id: Text, svc: Svc, user: User) -> dict[str, Any]:
    """``{"attachments": {question_id: [file, ...]}}`` for every question with files."""
    await svc.store.get_conversation(user, conversation_id)  # NotFound for others'
    found = await svc.store.message_files(user, conversation_id)
    return {"attachments": {m: [_json(f) for f in files] for m, files in found.items()}}
