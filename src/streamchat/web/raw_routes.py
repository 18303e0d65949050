"""The narrow raw-ASGI piece: the two requests that start an answer, ``POST
/v1/chat/completions`` and ``POST /api/chat``, without FastAPI's router, request wrappers,
dependency solving and exception middleware, which cost more per request than the endpoint
itself, and a wrapper around every ``send`` of the stream (numbers in docs/performance.md,
"Hot-path changes made").

:class:`~streamchat.web.app.StreamchatApp` hands these requests to :func:`serve` before FastAPI's
own middleware stack, through streamchat's middlewares built a second time around it (the same
classes in the same order: the security headers and the Host check, CORS, the body limit), so
they apply to these routes as to every other; a stream lasts minutes, and each middleware's frame
is kept as long (issue 15 item 4: memory per idle stream). What it does in FastAPI's place is
what FastAPI does for them, in the same order: read the body, require JSON, parse it,
authenticate (the one auth path, :meth:`~streamchat.web.auth.Authenticator.user`), validate the
same pydantic model, call the same endpoint function, and answer failures in the same shapes
(:mod:`.problems`). FastAPI keeps the routes in the OpenAPI schema.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from email.message import Message
from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from streamchat.errors import InvalidRequest, StreamchatError
from streamchat.web.chat_api import ChatBody, chat
from streamchat.web.openai_api import CompletionRequest, chat_completions
from streamchat.web.problems import describe, error_response, unparseable
from streamchat.web.services import Services, services_of

__all__ = ["is_raw", "json_body", "serve"]

_M = TypeVar("_M", bound=BaseModel)
# (the JSON body, the request, the services, the user) -> the response
_Endpoint = Callable[[Any, Request, Services, str], Awaitable[Response]]


# Each frame below hands the request's JSON on and drops its own reference before it awaits:
# a stream lasts minutes, and the body (raw, decoded, validated) would be kept three times per
# open stream for nothing (the generation keeps what the provider is asked).


async def _completions(data: Any, request: Request, svc: Services, user: str) -> Response:
    pending = chat_completions(_validated(CompletionRequest, data), request, svc, user)
    del data
    return await pending


async def _chat(data: Any, request: Request, svc: Services, user: str) -> Response:
    key = request.headers.get("idempotency-key")
    pending = chat(_validated(ChatBody, data), svc, user, idempotency_key=key)
    del data
    return await pending


_POST: dict[str, _Endpoint] = {"/v1/chat/completions": _completions, "/api/chat": _chat}


def is_raw(scope: Scope) -> bool:
    """One of the requests :func:`serve` answers."""
    return scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in _POST


async def serve(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a request :func:`is_raw` chose, as FastAPI's route would."""
    endpoint = _POST[scope["path"]]
    request = Request(scope, receive)
    try:
        raw = await _body(receive)
    except ClientDisconnect:
        return  # gone before its body arrived: nobody to answer (FastAPI's route said 400)
    try:
        data = json_body(request.headers.get("content-type"), raw)
        del raw
        svc = services_of(request)
        user = await svc.auth.user(request)
        pending = endpoint(data, request, svc, user)
        del data
        response = await pending
        del pending  # the endpoint's finished coroutine: its frame's memory stays with it
    except StreamchatError as exc:
        response = error_response(request, exc)
    del request  # nor does the stream need the request's wrapper (and its headers')
    await response(scope, receive, send)


async def _body(receive: Receive) -> bytes:
    """The request's body, read as Starlette's ``Request.body`` reads it but not kept on a
    ``Request`` for as long as the response lasts."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _validated(model: type[_M], data: Any) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(describe(exc.errors())) from None


@functools.lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    """``application/json`` or ``application/*+json``, parameters and case as RFC 9110 says
    (the email parser reads it; clients send a handful of distinct values, hence the cache)."""
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def json_body(content_type: str | None, raw: bytes) -> Any:
    """The decoded body, as FastAPI (``strict_content_type``) reads a body parameter: only
    under a JSON content type. A body with none, text/plain or a form, which a page on another
    site may send without asking first, is refused; a body that is not JSON says why."""
    if not content_type or not _is_json(content_type):
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
