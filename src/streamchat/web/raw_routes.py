"""The narrow raw-ASGI piece: ``POST /v1/chat/completions`` without FastAPI's router, request
wrappers, dependency solving and exception middleware, which cost more per request than the
endpoint itself (numbers in docs/performance.md, "Where streamchat's time goes").

It is the innermost of streamchat's own middlewares, so the Host check, the body limit, CORS and
the security headers apply to it as to every route. What it does in FastAPI's place is what
FastAPI does for that route, in the same order: read the body, require JSON, parse it,
authenticate (the one auth path, :meth:`~streamchat.web.auth.Authenticator.user`), validate the
same pydantic model, call the same endpoint function, and answer failures in the same shapes
(:mod:`.problems`). FastAPI keeps the route in the OpenAPI schema.
"""

from __future__ import annotations

import json
from email.message import Message
from typing import Any

import orjson
from fastapi import Request
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from streamchat.errors import InvalidRequest, StreamchatError
from streamchat.web.openai_api import CompletionRequest, chat_completions
from streamchat.web.problems import describe, error_response, unparseable
from streamchat.web.services import services_of

__all__ = ["RawRoutes", "json_body"]

_PATH = "/v1/chat/completions"


class RawRoutes:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == _PATH and scope["method"] == "POST":
            await _completions(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _completions(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    try:
        data = json_body(request.headers.get("content-type"), await request.body())
        svc = services_of(request)
        user = await svc.auth.user(request)
        try:
            body = CompletionRequest.model_validate(data)
        except ValidationError as exc:
            raise InvalidRequest(describe(exc.errors())) from None
        response = await chat_completions(body, request, svc, user)
    except StreamchatError as exc:
        response = error_response(request, exc)
    await response(scope, receive, send)


def json_body(content_type: str | None, raw: bytes) -> Any:
    """The decoded body, as FastAPI (``strict_content_type``) reads a body parameter: only
    under a JSON content type. A body with none, text/plain or a form, which a page on another
    site may send without asking first, is refused; a body that is not JSON says why."""
    message = Message()
    message["content-type"] = content_type or ""
    subtype = message.get_content_subtype()
    if not content_type or not (
        message.get_content_maintype() == "application"
        and (subtype == "json" or subtype.endswith("+json"))
    ):
        raise InvalidRequest("the request body must be JSON (Content-Type: application/json)")
    if not raw:
        raise InvalidRequest("body: Field required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:  # the standard parser says why, and takes the lone surrogates orjson refuses
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(unparseable(exc)) from None
