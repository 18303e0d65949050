"""The mock upstream's Kimi files API (issue 13), as Kimi's file-extract guide describes it
(reference-responses-kimi-clients.md §2, "File Q&A"):

- ``POST /v1/files``, multipart ``file`` and ``purpose`` (``file-extract``, ``image``,
  ``video``) -> ``{id, object: "file", bytes, created_at, filename, purpose, status,
  status_details}``; at most 100 MB a file and 1000 files (Kimi's limits);
- ``GET /v1/files/{id}/content`` -> the extracted text. Kimi's docs put this body, as it comes,
  in a system message; the mock answers the JSON object of Kimi's examples
  (``{content, file_type, filename, title, type}``, a shape not pinned by the notes);
- ``GET /v1/files``, ``GET``/``DELETE /v1/files/{id}``.

Errors in Kimi's shape, ``{"error": {"type", "message"}}`` (wire-formats.md §4).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from streamchat.errors import RequestError
from streamchat.files import inspect

__all__ = [
    "FILES",
    "MAX_BYTES",
    "MAX_FILES",
    "Files",
    "content",
    "delete",
    "listing",
    "retrieve",
    "stats",
    "upload",
]

MAX_BYTES = 100 * 1024 * 1024
MAX_FILES = 1000
_PURPOSES = ("file-extract", "image", "video")


@dataclass
class Files:
    api_key: str | None
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    uploads: int = 0  # every upload ever made (tests count provider calls)


FILES = web.AppKey("streamchat_mock_files", Files)


def _error(status: int, kind: str, message: str) -> web.Response:
    body = orjson.dumps({"error": {"type": kind, "message": message}})
    return web.Response(body=body, status=status, content_type="application/json")


def _authorized(request: web.Request) -> bool:
    key = request.app[FILES].api_key
    if key is None:
        return True
    sent = request.headers.get("Authorization", "")
    return hmac.compare_digest(sent.encode(), f"Bearer {key}".encode())


def _unauthorized() -> web.Response:
    return _error(401, "invalid_authentication_error", "Invalid Authentication")


async def upload(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    files = request.app[FILES]
    form = await request.post()
    part = form.get("file")
    purpose = form.get("purpose")
    if not isinstance(part, web.FileField):
        return _error(400, "invalid_request_error", "file is required")
    if purpose not in _PURPOSES:
        return _error(400, "invalid_request_error", f"purpose must be one of {_PURPOSES}")
    data = part.file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return _error(400, "invalid_request_error", "file size exceeds the limit of 100MB")
    if len(files.objects) >= MAX_FILES:
        return _error(400, "invalid_request_error", "too many files: at most 1000")
    file_id = "cv" + secrets.token_hex(10)
    obj = {
        "id": file_id,
        "object": "file",
        "bytes": len(data),
        "created_at": int(time.time()),
        "filename": part.filename,
        "purpose": purpose,
        "status": "ok",
        "status_details": "",
    }
    files.objects[file_id] = obj
    files.data[file_id] = data
    files.uploads += 1
    return web.json_response(obj)


async def listing(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    return web.json_response({"object": "list", "data": list(request.app[FILES].objects.values())})


def _found(request: web.Request) -> dict[str, Any] | None:
    return request.app[FILES].objects.get(request.match_info["file_id"])


async def retrieve(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    obj = _found(request)
    if obj is None:
        return _error(404, "resource_not_found_error", "file not found")
    return web.json_response(obj)


async def content(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    obj = _found(request)
    if obj is None:
        return _error(404, "resource_not_found_error", "file not found")
    data = request.app[FILES].data[obj["id"]]
    try:
        found = inspect(obj["filename"], data, max_image_pixels=50_000_000)
    except RequestError as exc:
        return _error(400, "invalid_request_error", f"cannot extract the file: {exc.message}")
    if found.text is None:
        return _error(400, "invalid_request_error", "the file has no text to extract")
    body = {
        "content": found.text,
        "file_type": found.mime,
        "filename": obj["filename"],
        "title": "",
        "type": "file",
    }
    return web.json_response(body)


async def stats(request: web.Request) -> web.Response:
    """``{"uploads": n, "kept": n}``: for tests that count the provider calls."""
    files = request.app[FILES]
    return web.json_response({"uploads": files.uploads, "kept": len(files.objects)})


async def delete(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    files = request.app[FILES]
    obj = files.objects.pop(request.match_info["file_id"], None)
    if obj is None:
        return _error(404, "resource_not_found_error", "file not found")
    files.data.pop(obj["id"], None)
    return web.json_response({"id": obj["id"], "object": "file", "deleted": True})
