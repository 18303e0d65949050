"""OpenAI-compatible ``/v1``: the official SDKs work with ``base_url`` pointed here.

A ``/v1`` answer is a generation like any other (not stored in a conversation): its id is the
chunks' ``id`` and the ``X-Streamchat-Generation-Id`` header, and
``GET /v1/chat/completions/{id}/events`` re-attaches to it. Failures before the first token are
real HTTP statuses with the OpenAI error body; later ones are an in-band ``{"error": ...}``
with no ``[DONE]``. Base URLs and keys come from server configuration only: request fields that
try to set one are ignored like every other unknown field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from streamchat.errors import InvalidRequest, NotFound, UnknownModel
from streamchat.events import Event
from streamchat.fanout import Subscription
from streamchat.upstream import ModelInfo
from streamchat.web.bodies import check_sendable
from streamchat.web.body_writer import body_writer
from streamchat.web.chat_api import event_position
from streamchat.web.openai_chunks import ChunkEncoder, completion, error_from_event
from streamchat.web.services import Services, current_user, services
from streamchat.web.streaming import EventStream, unless_gone

__all__ = ["first_events", "router"]

router = APIRouter(prefix="/v1", tags=["openai"])
Svc = Annotated[Services, Depends(services)]
User = Annotated[str, Depends(current_user)]

_FORWARDED = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "logit_bias",
    "reasoning_effort",
)
_CONTENT = frozenset({"delta", "reasoning", "tool_call"})


# OpenAI's types are strict: "stream": "yes", "1" or 1 is a 400 naming the field, not true;
# a number is never a string, nor an integer a float (an integer is a valid float).
_STRICT = ConfigDict(strict=True)


class StreamOptions(BaseModel):
    model_config = _STRICT

    include_usage: bool = False


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class CompletionRequest(BaseModel):
    # Unknown fields (api_base, base_url, api_key ...) are ignored, never forwarded.
    model_config = ConfigDict(extra="ignore", strict=True)

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, gt=0, lt=2**63)
    max_completion_tokens: int | None = Field(None, gt=0, lt=2**63)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = Field(None, ge=-(2**63), lt=2**63)
    stop: str | list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    logit_bias: dict[str, float] | None = None
    reasoning_effort: str | None = None


def _model(info: ModelInfo) -> dict[str, Any]:
    return {"id": info.id, "object": "model", "created": 0, "owned_by": info.provider}


@router.get("/models")
async def list_models(svc: Svc) -> dict[str, Any]:
    await svc.catalog.refresh()
    return {"object": "list", "data": [_model(m) for m in svc.catalog.models()]}


@router.get("/models/{model_id:path}")
async def retrieve_model(model_id: str, svc: Svc) -> dict[str, Any]:
    """One model of the list (ids may hold a ``/``: ``moonshotai/kimi-k2``, ``provider/id``)."""
    await svc.catalog.refresh()
    for info in svc.catalog.models():
        if info.id == model_id:
            return _model(info)
    raise NotFound(f"The model {model_id!r} does not exist", code="model_not_found")


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: CompletionRequest, request: Request, svc: Svc, user: User
) -> Response | EventStream:
    if len(body.messages) > svc.settings.max_messages:
        raise InvalidRequest(
            f"{len(body.messages)} messages; the limit is {svc.settings.max_messages}"
        )
    messages = [m.model_dump(exclude_none=True) for m in body.messages]
    params = {k: v for k, v in body.model_dump(include=set(_FORWARDED)).items() if v is not None}
    _check_sendable(messages, params)
    try:
        started = await svc.answers.complete(
            user,
            body.model,
            messages,
            params,
            idempotency_key=request.headers.get("idempotency-key"),
        )
    except UnknownModel as exc:
        raise UnknownModel(exc.message, code="model_not_found", status=404) from exc
    stream = body.stream
    include_usage = stream and body.stream_options is not None and body.stream_options.include_usage
    del body, messages, params  # the generation keeps what the provider is asked; not kept twice
    subscription = started.subscription
    first = await first_events(request, subscription, stream, svc.settings.heartbeat_interval)
    if first is None:  # the client left: nobody follows the answer, so it stops
        return Response(status_code=499)
    header = [(b"x-streamchat-generation-id", started.id.encode())]
    if not stream:
        await subscription.close()
        return JSONResponse(
            completion(started.id, started.model, first),
            headers={"x-streamchat-generation-id": started.id},
        )
    encoder = ChunkEncoder(started.id, started.model, include_usage)
    return svc.stream(
        subscription,
        encoder.encode,
        extra_headers=header,
        first=first,
    )


def _check_sendable(messages: list[dict[str, Any]], params: dict[str, Any]) -> None:
    """A 400 now for what could not be encoded for the upstream later (a lone surrogate,
    nesting orjson refuses); one encode on the way, the precise reason only on failure."""
    try:
        orjson.dumps([messages, params])
    except orjson.JSONEncodeError:
        check_sendable(messages, "messages")
        check_sendable(params, "body")
        raise InvalidRequest("the request cannot be encoded as JSON for the provider") from None


async def first_events(
    request: Request, subscription: Subscription, stream: bool, heartbeat: float
) -> list[Event] | None:
    """Events up to the first token (stream) or the end (non-stream), before any header,
    watching the client meanwhile: None (the subscription closed) when it left. A failure
    before any token is raised as the HTTP error it is (the subscription closed)."""
    try:
        first = await unless_gone(
            request.receive,
            _until_first_token(subscription, stream, heartbeat),
            body_writer(request.scope),
        )
    except BaseException:
        await subscription.close()
        raise
    if first is None:
        await subscription.close()
        return None
    error = first[-1] if first and first[-1].type == "error" else None
    if error is not None and not any(e.type in _CONTENT for e in first):
        await subscription.close()
        raise error_from_event(error)
    return first


async def _until_first_token(
    subscription: Subscription, stream: bool, heartbeat: float
) -> list[Event]:
    """Events up to the first token (stream) or the end (non-stream), before any header."""
    events: list[Event] = []
    while True:
        batch = await subscription.next(heartbeat)
        if batch is None:
            continue
        if not batch:
            return events
        events.extend(batch)
        if batch[-1].terminal or (stream and any(e.type in _CONTENT for e in batch)):
            return events


@router.get("/chat/completions/{generation_id}/events", response_model=None)
async def reattach(
    generation_id: str,
    svc: Svc,
    user: User,
    after: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    include_usage: bool = False,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response | EventStream:
    """The rest of a ``/v1`` stream as chunks, from ``Last-Event-ID`` or ``?after=``."""
    position = event_position(last_event_id, after)
    following = await svc.answers.follow(user, generation_id, position, from_start=True)
    if following.subscription is None:
        return Response(status_code=204)
    subscription = following.subscription
    # Read from the start: the model name and the usage come from earlier events.
    backlog = await subscription.next(0)
    events = backlog or []
    model = next((e.data.get("model") for e in events if e.type == "meta"), "")
    encoder = ChunkEncoder(generation_id, str(model), include_usage)
    for event in events:
        if event.type == "usage":
            encoder.encode([event])
    return svc.stream(
        subscription,
        encoder.encode,
        first=[e for e in events if e.id > position],
    )
