"""A response after its ``POST /v1/responses``: kept, polled, resumed, cancelled, deleted.

A stored response (``store``, the default) has a row in the store (:class:`StoredResponse`):
a background one from its start (so any worker finds it), any other at its end. While it runs,
its state is its generation's events in the broker, on every worker sharing it: a poll, a
resume and a cancel replay them through a new :class:`ResponseEncoder` (the same events with
the same sequence numbers as the first stream). Its end is written to the row by the worker
that started it, or by whichever reads it first after a worker died; the row then answers for
``responses_ttl``, beyond the broker's ``replay_ttl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from streamchat.chat import utcnow
from streamchat.errors import Conflict, InvalidRequest, NotFound, StreamchatError
from streamchat.events import Event
from streamchat.fanout import Subscription
from streamchat.store import ResponsePatch, StoredResponse
from streamchat.web.responses_events import ResponseEncoder, ResponseShape, frame
from streamchat.web.services import Services, current_user, services

__all__ = [
    "TERMINAL",
    "end_patch",
    "input_items",
    "keep_until_end",
    "router",
    "settle",
    "shape_of",
    "stored_object",
    "write_end",
]

log = logging.getLogger("streamchat")
router = APIRouter(prefix="/v1", tags=["openai"])
Svc = Annotated[Services, Depends(services)]
User = Annotated[str, Depends(current_user)]

TERMINAL = frozenset({"completed", "incomplete", "failed", "cancelled"})
# How long a cancel waits for the generation to publish its stopped end (any worker).
CANCEL_WAIT_S = 5.0
_tasks: set[asyncio.Task[None]] = set()  # the detached writers of background ends


def shape_of(record: StoredResponse) -> ResponseShape:
    created = int(record.created_at.timestamp())
    return ResponseShape(record.id, record.model, created, dict(record.request.get("echo") or {}))


def stored_object(record: StoredResponse) -> dict[str, Any]:
    """The ``response`` object of a row."""
    response = ResponseEncoder(shape_of(record)).response()
    completed = record.completed_at
    response.update(
        status=record.status,
        output=record.output,
        usage=record.usage,
        error=record.error,
        incomplete_details=record.incomplete_details,
        completed_at=int(completed.timestamp()) if completed is not None else None,
    )
    return response


def end_patch(encoder: ResponseEncoder, ttl: float) -> ResponsePatch:
    """What a row keeps of a response that ended (the encoder saw its terminal event)."""
    now = utcnow()
    ended = encoder.completed_at
    return {
        "status": encoder.status,
        "output": encoder.output,
        "usage": encoder.usage,
        "error": encoder.error,
        "incomplete_details": encoder.incomplete,
        "completed_at": now if ended is None else datetime.fromtimestamp(ended, UTC),
        "expires_at": now + timedelta(seconds=ttl),
    }


async def write_end(svc: Services, response_id: str, encoder: ResponseEncoder) -> None:
    try:
        await svc.store.update_response(response_id, end_patch(encoder, svc.settings.responses_ttl))
    except StreamchatError as exc:  # the row is settled again by the next read
        log.warning("could not store the end of response %s: %s", response_id, exc.message)


def keep_until_end(svc: Services, record: StoredResponse, subscription: Subscription) -> None:
    """Follow a background response to its end in a task of this worker, then store it."""

    async def keep() -> None:
        encoder = ResponseEncoder(shape_of(record))
        encoder.start()
        try:
            while not encoder.ended:
                batch = await subscription.next(svc.settings.heartbeat_interval)
                if batch == []:
                    break
                encoder.feed(batch or ())
        except StreamchatError as exc:  # the broker went away: the next read settles it
            log.warning("lost track of response %s: %s", record.id, exc.message)
        finally:
            await subscription.close()
        if encoder.ended:
            await write_end(svc, record.id, encoder)

    task = asyncio.create_task(keep())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _kept_events(
    svc: Services, user: str, response_id: str, *, wait: float = 0.0
) -> list[Event] | None:
    """Every event the broker holds of the response now (``wait``: until its end, at most that
    long); None when it holds none (its replay expired, or never ran here)."""
    try:
        following = await svc.answers.follow(user, response_id, 0, from_start=True)
    except NotFound:
        return None
    subscription = following.subscription
    if subscription is None:
        return None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    events: list[Event] = []
    try:
        while True:
            batch = await subscription.next(max(0.01, deadline - loop.time()))
            if batch == []:
                return events
            events.extend(batch or ())
            if (batch and batch[-1].terminal) or loop.time() >= deadline:
                return events
    finally:
        await subscription.close()


async def settle(
    svc: Services, user: str, record: StoredResponse, *, wait: float = 0.0
) -> StoredResponse:
    """The response as far as it got (``wait``: up to that long for its end); one found ended
    is stored as ended."""
    if record.status in TERMINAL:
        return record
    encoder = ResponseEncoder(shape_of(record))
    events = await _kept_events(svc, user, record.id, wait=wait)
    if events is None:  # its worker died and the events expired: it will not end now
        lost = {"code": "response_lost", "message": "its worker stopped and its events expired"}
        encoder.feed([Event(1, "error", lost)])
    else:
        encoder.start()
        encoder.feed(events)
    if not encoder.ended:
        return replace(record, status=encoder.status, output=encoder.output, usage=encoder.usage)
    patch = end_patch(encoder, svc.settings.responses_ttl)
    try:
        await svc.store.update_response(record.id, patch)
    except StreamchatError as exc:  # settled again by the next read
        log.warning("could not store the end of response %s: %s", record.id, exc.message)
    return replace(record, **patch)


@router.get("/responses/{response_id}", response_model=None)
async def retrieve_response(
    response_id: str,
    svc: Svc,
    user: User,
    stream: Annotated[bool, Query()] = False,
    starting_after: Annotated[int | None, Query(ge=-1)] = None,
) -> Response:
    record = await svc.store.get_response(user, response_id)
    if not stream:
        return JSONResponse(stored_object(await settle(svc, user, record)))
    return await _resume(svc, user, record, -1 if starting_after is None else starting_after)


async def _resume(svc: Services, user: str, record: StoredResponse, after: int) -> Response:
    """The stream events after sequence number ``after``, replayed then followed live."""
    try:
        following = await svc.answers.follow(user, record.id, 0, from_start=True)
    except NotFound:
        following = None
    if following is None or following.subscription is None:
        record = await settle(svc, user, record)  # a run whose events expired is lost
        if record.status in TERMINAL and after < 0:  # a full replay, of what the row keeps
            encoder = ResponseEncoder(shape_of(record))
            frames = [*encoder.start(), *encoder.feed(replay_events(record))]
            body = b"".join(frame(e) for e in frames)
            return Response(body, media_type="text/event-stream")
        raise Conflict(
            f"the events of response {record.id} are no longer kept; retrieve it without "
            "starting_after (a replay of what is stored) or without stream=true",
            code="replay_expired",
        )
    encoder = ResponseEncoder(shape_of(record))

    def encode(events: Sequence[Event]) -> bytes:
        return b"".join([frame(e) for e in encoder.feed(events) if e["sequence_number"] > after])

    opening = [e for e in encoder.start() if e["sequence_number"] > after]
    return svc.stream(
        following.subscription,
        encode,
        extra_headers=[(b"x-streamchat-generation-id", record.id.encode())],
        preamble=b"".join(frame(e) for e in opening),
    )


def replay_events(record: StoredResponse) -> list[Event]:
    """A stored response whose events expired as generation events: one per output part, then
    its usage and its end (the stream they give is shorter than the first one, not renumbered
    like it: a resume after a sequence number needs the kept events)."""
    kept: list[Event] = []

    def add(kind: str, data: dict[str, Any]) -> None:
        kept.append(Event(len(kept) + 1, kind, data))

    for index, item in enumerate(record.output):
        if item.get("type") == "function_call":
            function = {"name": item.get("name"), "arguments": item.get("arguments") or ""}
            add("tool_call", {"index": index, "id": item.get("call_id"), "function": function})
        for part in item.get("content") or []:
            if part.get("type") == "refusal":
                add("delta", {"text": part.get("refusal") or "", "refusal": True})
            else:
                add("reasoning" if item["type"] == "reasoning" else "delta", {"text": part["text"]})
    usage = record.usage or {}
    if usage:
        add(
            "usage",
            {
                "prompt_tokens": usage.get("input_tokens"),
                "completion_tokens": usage.get("output_tokens"),
                "total_tokens": usage.get("total_tokens"),
            },
        )
    if record.status == "failed":
        add("error", dict(record.error or {}))
        return kept
    reason = (record.incomplete_details or {}).get("reason")
    finish = {"cancelled": "stopped", "incomplete": _FINISH.get(str(reason), "length")}
    ended = record.completed_at or record.created_at
    total_ms = (int(ended.timestamp()) - int(record.created_at.timestamp())) * 1000
    add("done", {"finish_reason": finish.get(record.status, "stop"), "total_ms": total_ms})
    return kept


_FINISH = {"max_output_tokens": "length", "content_filter": "content_filter"}


@router.post("/responses/{response_id}/cancel", response_model=None)
async def cancel_response(response_id: str, svc: Svc, user: User) -> Response:
    """Stop the provider call now; idempotent (a cancelled response is returned as it is)."""
    record = await svc.store.get_response(user, response_id)
    if record.status in TERMINAL:
        return JSONResponse(stored_object(record))
    # Running, so a background one: the others are stored once they ended.
    with contextlib.suppress(NotFound):  # its events expired: settle marks it lost
        await svc.answers.stop(user, response_id)
    return JSONResponse(stored_object(await settle(svc, user, record, wait=CANCEL_WAIT_S)))


@router.delete("/responses/{response_id}", response_model=None)
async def delete_response(response_id: str, svc: Svc, user: User) -> Response:
    record = await svc.store.get_response(user, response_id)
    if record.status not in TERMINAL:
        with contextlib.suppress(NotFound):
            await svc.answers.stop(user, response_id)
    await svc.store.delete_response(user, response_id)
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})


@router.get("/responses/{response_id}/input_items", response_model=None)
async def list_input_items(
    response_id: str,
    svc: Svc,
    user: User,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    after: Annotated[str | None, Query()] = None,
) -> Response:
    """The response's own input items (not its previous responses'), as OpenAI lists them."""
    record = await svc.store.get_response(user, response_id)
    items = input_items(record)
    if order == "desc":
        items.reverse()
    if after is not None:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise InvalidRequest(f"after: {after!r} is not an input item of {response_id}")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return JSONResponse(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        }
    )


def input_items(record: StoredResponse) -> list[dict[str, Any]]:
    """The stored input items in the listed shapes: each with an id (its own, else one
    derived from the response id and its position) and a status; a message's text as parts."""
    base = record.id.partition("_")[2] or record.id
    listed: list[dict[str, Any]] = []
    for index, item in enumerate(record.request.get("input") or []):
        kind = item.get("type", "message")
        prefix = {"function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}
        shown = {**item, "type": kind, "status": "completed"}
        shown["id"] = item.get("id") or f"{prefix.get(kind, 'msg')}_{base}_in{index}"
        if kind == "message":
            shown["content"] = _parts(item.get("role"), item.get("content"))
        listed.append(shown)
    return listed


def _parts(role: Any, content: Any) -> list[dict[str, Any]]:
    parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else content
    if role != "assistant":
        return list(parts or [])
    return [
        {"type": "output_text", "text": p.get("text") or "", "annotations": []}
        if p.get("type") in ("input_text", "output_text", "text")
        else p
        for p in parts or []
    ]
