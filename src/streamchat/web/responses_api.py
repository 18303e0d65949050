"""OpenAI's Responses API, ``POST /v1/responses``, over any chat-completions provider.

The request is translated into a chat completion (``instructions`` and ``input`` into
messages, function tools, ``text.format`` into ``response_format``, ``max_output_tokens`` into
``max_tokens``) and answered through the one use case of an unstored answer,
:meth:`streamchat.answers.Answers.complete`, like ``/v1/chat/completions``; the generation's
events become Responses stream events (:mod:`.responses_events`). As there, a failure before
the first token is an HTTP status with OpenAI's error body, so the SDKs raise their own
exception types. The response id is the generation's (``resp_...``).

``store`` (default true) keeps the response in the store once it ended; ``background`` stores
it at once, answers at once and lets it run detached (:mod:`.responses_kept` serves the polls,
resumes, cancels and deletes); ``previous_response_id`` puts the stored chain's input and
output items before ``input``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from streamchat.chat import utcnow
from streamchat.errors import InvalidRequest, NotFound, StreamchatError, UnknownModel
from streamchat.events import Event
from streamchat.fanout import Subscription
from streamchat.store import StoredResponse
from streamchat.web.bodies import check_sendable
from streamchat.web.openai_api import first_events
from streamchat.web.responses_events import ResponseEncoder, frame
from streamchat.web.responses_kept import (
    TERMINAL,
    end_patch,
    keep_until_end,
    settle,
    shape_of,
    stored_object,
)
from streamchat.web.services import Services, current_user, services
from streamchat.web.streaming import EventStream

__all__ = ["ResponsesRequest", "chat_messages", "chat_params", "router"]

log = logging.getLogger("streamchat")
router = APIRouter(prefix="/v1", tags=["openai"])
Svc = Annotated[Services, Depends(services)]
User = Annotated[str, Depends(current_user)]

_STRICT = ConfigDict(strict=True, extra="ignore")


class FunctionTool(BaseModel):
    model_config = _STRICT

    type: Literal["function"]
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionChoice(BaseModel):
    model_config = _STRICT

    type: Literal["function"]
    name: str


class TextFormat(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class TextConfig(BaseModel):
    model_config = _STRICT

    format: TextFormat | None = None


class ReasoningConfig(BaseModel):
    model_config = _STRICT

    effort: str | None = None
    summary: str | None = None


class ResponsesRequest(BaseModel):
    # Unknown fields (api_base, base_url, api_key ...) are ignored, never forwarded.
    model_config = _STRICT

    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["auto", "none", "required"] | FunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_output_tokens: int | None = Field(None, gt=0, lt=2**63)
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    store: bool = True
    stream: bool = False
    background: bool = False
    previous_response_id: str | None = None
    metadata: dict[str, str] | None = None


# -- the request as a chat completion ----------------------------------------------------------


def chat_messages(body: ResponsesRequest) -> list[dict[str, Any]]:
    """``instructions`` and ``input`` as chat messages; function calls and their outputs as an
    assistant message's ``tool_calls`` and ``tool`` messages; a reasoning item's text goes back
    as the next assistant turn's ``reasoning_content`` (Kimi requires it on tool-call turns)."""
    messages: list[dict[str, Any]] = []
    if body.instructions:
        messages.append({"role": "system", "content": body.instructions})
    if isinstance(body.input, str):
        return [*messages, {"role": "user", "content": body.input}]
    reasoning: list[str] = []
    for index, item in enumerate(body.input):
        kind = item.get("type", "message")
        where = f"input.{index}"
        if kind == "message":
            message = _message(item, where)
            if message["role"] == "assistant" and reasoning:
                message["reasoning_content"] = "".join(reasoning)
                reasoning = []
            messages.append(message)
        elif kind == "function_call":
            _call(messages, item, where, reasoning)
            reasoning = []
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": _string(item, "call_id", where),
                    "content": output if isinstance(output, str) else _text_of(output, where),
                }
            )
        elif kind == "reasoning":
            reasoning += [str(p.get("text") or "") for p in item.get("content") or []]
        else:
            raise InvalidRequest(
                f"{where}.type: {kind!r} is not served; use message, function_call, "
                "function_call_output or reasoning"
            )
    if not messages or messages[-1]["role"] == "system":
        raise InvalidRequest("input: at least one message is needed")
    return messages


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "system", "developer", "assistant"):
        raise InvalidRequest(f"{where}.role: expected user, system, developer or assistant")
    content = item.get("content")
    if isinstance(content, str):
        text: str | list[dict[str, Any]] = content
    elif isinstance(content, list):
        text = _parts(content, f"{where}.content", role == "assistant")
    else:
        raise InvalidRequest(f"{where}.content: expected a string or a list of parts")
    return {"role": "system" if role == "developer" else role, "content": text}


def _parts(parts: list[Any], where: str, flat: bool) -> str | list[dict[str, Any]]:
    """Content parts as chat parts (text and images); an assistant's as one string."""
    out: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text", "refusal"):
            out.append(
                {
                    "type": "text",
                    "text": _string(
                        part, "refusal" if kind == "refusal" else "text", f"{where}.{index}"
                    ),
                }
            )
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            out.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        else:
            raise InvalidRequest(
                f"{where}.{index}.type: expected input_text, output_text or input_image "
                "(with image_url)"
            )
    if flat or all(p["type"] == "text" for p in out):
        return "".join(p["text"] for p in out if p["type"] == "text")
    return out


def _call(
    messages: list[dict[str, Any]], item: dict[str, Any], where: str, reasoning: list[str]
) -> None:
    """A function call joins the assistant turn before it, when that turn made calls too."""
    call = {
        "id": _string(item, "call_id", where),
        "type": "function",
        "function": {
            "name": _string(item, "name", where),
            "arguments": _string(item, "arguments", where),
        },
    }
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant" and "tool_calls" in last:
        last["tool_calls"].append(call)
        return
    turn: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
    if reasoning:
        turn["reasoning_content"] = "".join(reasoning)
    messages.append(turn)


def _string(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}.{key}: expected a string")
    return value


def _text_of(parts: Any, where: str) -> str:
    if not isinstance(parts, list):
        raise InvalidRequest(f"{where}.output: expected a string or a list of parts")
    text = _parts(parts, f"{where}.output", True)
    assert isinstance(text, str)
    return text


def chat_params(body: ResponsesRequest) -> dict[str, Any]:
    """The sampling and tool parameters, in chat-completion terms; only those set."""
    params: dict[str, Any] = {}
    for key in ("temperature", "top_p", "parallel_tool_calls"):
        if getattr(body, key) is not None:
            params[key] = getattr(body, key)
    if body.max_output_tokens is not None:
        params["max_tokens"] = body.max_output_tokens
    if body.tools:
        params["tools"] = [
            {"type": "function", "function": t.model_dump(exclude={"type"}, exclude_none=True)}
            for t in body.tools
        ]
    if isinstance(body.tool_choice, FunctionChoice):
        params["tool_choice"] = {"type": "function", "function": {"name": body.tool_choice.name}}
    elif body.tool_choice is not None:
        params["tool_choice"] = body.tool_choice
    form = body.text.format if body.text else None
    if form is not None and form.type == "json_object":
        params["response_format"] = {"type": "json_object"}
    elif form is not None and form.type == "json_schema":
        schema: dict[str, Any] = {"name": form.name or "response", "schema": form.json_schema or {}}
        if form.strict is not None:
            schema["strict"] = form.strict
        if form.description:
            schema["description"] = form.description
        params["response_format"] = {"type": "json_schema", "json_schema": schema}
    if body.reasoning is not None and body.reasoning.effort:
        params["reasoning_effort"] = body.reasoning.effort
    return params


def _echo(body: ResponsesRequest) -> dict[str, Any]:
    """What the ``response`` object repeats of its request."""
    echo = body.model_dump(
        include={
            "instructions",
            "max_output_tokens",
            "metadata",
            "previous_response_id",
            "store",
            "temperature",
            "top_p",
            "background",
        },
        by_alias=True,
    )
    echo["tools"] = [
        {"parameters": None, "strict": None, **t.model_dump(exclude_none=True)}
        for t in body.tools or []
    ]
    if body.tool_choice is not None:
        choice = body.tool_choice
        echo["tool_choice"] = choice if isinstance(choice, str) else choice.model_dump()
    if body.parallel_tool_calls is not None:
        echo["parallel_tool_calls"] = body.parallel_tool_calls
    if body.text is not None:
        echo["text"] = body.text.model_dump(by_alias=True, exclude_none=True)
    if body.reasoning is not None:
        echo["reasoning"] = body.reasoning.model_dump()
    return echo


# -- the route ---------------------------------------------------------------------------------


@router.post("/responses", response_model=None)
async def create_response(
    body: ResponsesRequest, request: Request, svc: Svc, user: User
) -> Response | EventStream:
    if body.background and not body.store:
        raise InvalidRequest("background: a background response must be stored (store=true)")
    items = await _history(svc, user, body)
    messages = chat_messages(body.model_copy(update={"input": items}) if items else body)
    params = chat_params(body)
    if len(messages) > svc.settings.max_messages:
        raise InvalidRequest(f"{len(messages)} messages; the limit is {svc.settings.max_messages}")
    check_sendable(messages, "input")
    check_sendable(params, "body")
    try:
        started = await svc.answers.complete(
            user,
            body.model,
            messages,
            params,
            idempotency_key=request.headers.get("idempotency-key"),
            background=body.background,
            id_prefix="resp",
        )
    except UnknownModel as exc:
        raise UnknownModel(exc.message, code="model_not_found", status=404) from exc
    record = _record(started.id, user, started.model, body)
    if body.background:
        return await _background(svc, user, body, record, started.subscription)
    subscription = started.subscription
    first = await first_events(request, subscription, body.stream, svc.settings.heartbeat_interval)
    if first is None:  # the client left: nobody follows the answer, so it stops
        return Response(status_code=499)
    encoder = ResponseEncoder(shape_of(record))
    opening = encoder.start()
    header = {"x-streamchat-generation-id": started.id}
    if not body.stream:
        await subscription.close()
        encoder.feed(first)
        if body.store:
            await _store_ended(svc, record, encoder)
        return JSONResponse(encoder.response(), headers=header)

    def encode(events: Sequence[Event]) -> bytes:
        out = encoder.feed(events)
        if body.store and encoder.ended and out:
            _spawn(_store_ended(svc, record, encoder))
        return b"".join([frame(e) for e in out])

    return svc.stream(
        subscription,
        encode,
        extra_headers=[(k.encode(), v.encode()) for k, v in header.items()],
        preamble=b"".join(frame(e) for e in opening),
        first=first,
    )


# -- stored responses --------------------------------------------------------------------------


async def _history(svc: Services, user: str, body: ResponsesRequest) -> list[dict[str, Any]]:
    """With ``previous_response_id``: the chain's input and output items, then ``input``
    (a previous response's instructions are not carried over, as at OpenAI)."""
    if body.previous_response_id is None:
        return []
    chain: list[StoredResponse] = []
    previous: str | None = body.previous_response_id
    while previous is not None and len(chain) < svc.settings.max_messages:
        try:
            record = await svc.store.get_response(user, previous)
        except NotFound as exc:
            raise NotFound(
                f"Previous response with id '{previous}' not found.",
                code="previous_response_not_found",
            ) from exc
        record = await settle(svc, user, record)
        if record.status not in TERMINAL:
            raise InvalidRequest(
                f"Previous response with id '{previous}' is still {record.status}; wait for "
                "it to end (or cancel it)",
                code="previous_response_not_ended",
            )
        chain.append(record)
        previous = record.previous_response_id
    items: list[dict[str, Any]] = []
    for record in reversed(chain):
        items += [*record.request.get("input", []), *record.output]
    return [*items, *_input_items(body)]


def _input_items(body: ResponsesRequest) -> list[dict[str, Any]]:
    if isinstance(body.input, str):
        return [{"role": "user", "content": body.input}]
    return list(body.input)


def _record(response_id: str, user: str, model: str, body: ResponsesRequest) -> StoredResponse:
    return StoredResponse(
        id=response_id,
        owner_id=user,
        model=model,
        status="queued" if body.background else "in_progress",
        background=body.background,
        previous_response_id=body.previous_response_id,
        request={
            "input": _input_items(body),
            "instructions": body.instructions,
            "echo": _echo(body),
        },
        output=[],
        created_at=utcnow(),
    )


async def _store_ended(svc: Services, record: StoredResponse, encoder: ResponseEncoder) -> None:
    """A response that is not background is stored once it ended."""
    for key, value in end_patch(encoder, svc.settings.responses_ttl).items():
        setattr(record, key, value)
    try:
        await svc.store.add_response(record)
    except StreamchatError as exc:
        log.warning("could not store response %s: %s", record.id, exc.message)


_tasks: set[asyncio.Task[None]] = set()


def _spawn(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _background(
    svc: Services,
    user: str,
    body: ResponsesRequest,
    record: StoredResponse,
    subscription: Subscription,
) -> Response | EventStream:
    """Stored at once, answered at once (the object, or its stream from response.created);
    this worker stores its end."""
    try:
        await svc.store.add_response(record)
    except BaseException:
        await svc.answers.stop(user, record.id)
        await subscription.close()
        raise
    keep_until_end(svc, record, subscription)
    header = {"x-streamchat-generation-id": record.id}
    if not body.stream:
        return JSONResponse(stored_object(record), headers=header)
    following = await svc.answers.follow(user, record.id, 0, from_start=True)
    assert following.subscription is not None
    encoder = ResponseEncoder(shape_of(record))
    opening = encoder.start()

    def encode(events: Sequence[Event]) -> bytes:
        return b"".join([frame(e) for e in encoder.feed(events)])

    return svc.stream(
        following.subscription,
        encode,
        extra_headers=[(k.encode(), v.encode()) for k, v in header.items()],
        preamble=b"".join(frame(e) for e in opening),
    )
