"""How a failure reaches the client: one JSON shape (OpenAI's under ``/v1``), with the status
and headers of its :class:`~streamchat.errors.StreamchatError`, and readable sentences for
bodies that are not JSON or do not fit the schema. Used by the app's exception handlers and by
the raw-ASGI route (:mod:`streamchat.web.raw_routes`), so both answer alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from streamchat.errors import InvalidRequest, StreamchatError

__all__ = ["describe", "error_response", "install_handlers", "unparseable"]

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def error_response(request: Request, exc: StreamchatError) -> JSONResponse:
    body = exc.openai_body() if request.url.path.startswith("/v1/") else exc.body()
    return JSONResponse(body, status_code=exc.status, headers=exc.headers())


def install_handlers(app: FastAPI) -> None:
    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StreamchatError)
        return error_response(request, exc)

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, InvalidRequest(describe(exc.errors())))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400:  # FastAPI could not decode the JSON body
            return error_response(request, InvalidRequest(unparseable(exc.__cause__)))
        error = StreamchatError(
            str(exc.detail), code=_HTTP_CODES.get(exc.status_code, "error"), status=exc.status_code
        )
        return error_response(request, error)

    app.add_exception_handler(StreamchatError, on_error)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(HTTPException, on_http)


def unparseable(cause: BaseException | None) -> str:
    """Why a body that the JSON parser gave up on is not JSON."""
    if isinstance(cause, UnicodeDecodeError):
        return f"the request body is not valid UTF-8 (byte {cause.start}): JSON must be UTF-8"
    if isinstance(cause, RecursionError):
        return "the request body is not valid JSON: it is nested too deeply"
    return "the request body is not valid JSON"


def describe(errors: Iterable[Mapping[str, Any]]) -> str:
    """One readable sentence from pydantic's errors, naming the field and the value's type."""
    errors = list(errors)
    # Text no store can keep fails every member of a union (str | list[str]): say only that.
    text = [e for e in errors if e.get("type") == "invalid_text"]
    parts = []
    for error in (text or errors)[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if _is_field(p))
        if error.get("type") == "json_invalid":
            parts.append("the request body is not valid JSON")
            continue
        parts.append(f"{location or 'body'}: {error.get('msg')}")
    return "; ".join(parts) or "invalid request"


def _is_field(part: object) -> bool:
    """A part of an error location that names a field or an index (not ``body``, nor the tag
    of a union member such as ``list[str]``)."""
    return part != "body" and not (isinstance(part, str) and "[" in part)
