"""The streamchat API: start, regenerate and edit answers, re-attach to them, stop them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from streamchat.chat import Conversation, Message, new_id
from streamchat.errors import Conflict, InvalidRequest, NotFound
from streamchat.events import Event
from streamchat.sse import retry
from streamchat.web.answers import check_idle, history_for, message_text, start_answer
from streamchat.web.bodies import Text
from streamchat.web.services import Services, current_user, services
from streamchat.web.streaming import EventStream, encode_sse

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["chat"])

SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An SSE stream of meta, reasoning, delta, usage, then done or error.",
        "content": {"text/event-stream": {}},
    }
}
Svc = Annotated[Services, Depends(services)]
User = Annotated[str, Depends(current_user)]


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Text
    conversation_id: Text | None = None
    model: Text | None = None


class RegenerateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Text | None = None


class EditBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Text
    model: Text | None = None


@router.post("/chat", responses=SSE_RESPONSE, response_class=Response, response_model=None)
async def chat(body: ChatBody, svc: Svc, user: User) -> EventStream:
    """Ask a question in a new or existing conversation and stream the answer."""
    text = message_text(body.message, svc.settings.max_message_chars)
    create = body.conversation_id is None
    if body.conversation_id is not None:
        conversation = await svc.store.get_conversation(user, body.conversation_id)
        messages = await svc.store.list_messages(user, conversation.id)
        await check_idle(svc, messages)
    else:
        _, info = await svc.catalog.resolve(body.model)
        title = " ".join(text.split())[:80]
        conversation = Conversation(new_id("conv"), user, title=title, model=body.model and info.id)
        messages = []
    question = Message(new_id("msg"), conversation.id, user, "user", content=text)
    history = history_for(conversation, [*messages, question])
    return await start_answer(svc, conversation, history, [question], body.model, create=create)


@router.post(
    "/conversations/{conversation_id}/regenerate",
    responses=SSE_RESPONSE,
    response_class=Response,
    response_model=None,
)
async def regenerate(
    conversation_id: Text, svc: Svc, user: User, body: RegenerateBody | None = None
) -> EventStream:
    """Replace the last answer of a conversation with a new one."""
    conversation = await svc.store.get_conversation(user, conversation_id)
    messages = await svc.store.list_messages(user, conversation_id)
    await check_idle(svc, messages)
    if not messages or messages[-1].role != "assistant":
        raise Conflict("the conversation has no answer to regenerate")
    history = history_for(conversation, messages[:-1])
    model = body.model if body else None
    return await start_answer(svc, conversation, history, [], model, replaced=[messages[-1].id])


@router.post(
    "/conversations/{conversation_id}/edit", responses=SSE_RESPONSE, response_class=Response
)
async def edit(conversation_id: Text, body: EditBody, svc: Svc, user: User) -> EventStream:
    """Replace the last question (and what came after it) and answer again."""
    text = message_text(body.message, svc.settings.max_message_chars)
    conversation = await svc.store.get_conversation(user, conversation_id)
    messages = await svc.store.list_messages(user, conversation_id)
    await check_idle(svc, messages)
    last_user = next(
        (i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None
    )
    if last_user is None:
        raise Conflict("the conversation has no question to edit")
    question = Message(new_id("msg"), conversation.id, user, "user", content=text)
    history = history_for(conversation, [*messages[:last_user], question])
    replaced = [m.id for m in messages[last_user:]]
    return await start_answer(svc, conversation, history, [question], body.model, replaced=replaced)


def event_position(last_event_id: str | None, after: int | None) -> int:
    """Where a re-attach starts: ``?after=`` wins over the ``Last-Event-ID`` header."""
    if after is not None:
        return after
    if last_event_id is None or last_event_id == "":
        return 0
    if not last_event_id.isdigit() or len(last_event_id) > 18:
        raise InvalidRequest(f"Last-Event-ID must be an event number, got {last_event_id[:40]!r}")
    return int(last_event_id)


@router.get(
    "/generations/{generation_id}/events",
    responses={
        **SSE_RESPONSE,
        204: {"description": "The answer ended and the client has its last event."},
    },
    response_class=Response,
    response_model=None,
)
async def events(
    generation_id: Text,
    svc: Svc,
    user: User,
    after: Annotated[int | None, Query(ge=0, lt=2**63)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response | EventStream:
    """Re-attach to an answer, live or finished, from ``Last-Event-ID`` or ``?after=``."""
    position = event_position(last_event_id, after)
    info = await svc.broker.info(generation_id)
    if info is not None:
        if info.owner_id != user:
            raise NotFound(f"generation {generation_id} not found")
        if info.finished and position >= info.last_id:
            return Response(status_code=204)
        subscription = await svc.broker.subscribe(generation_id, position)
        return svc.stream(
            subscription,
            encode_sse,
            preamble=retry(3000),
        )
    message = await svc.store.get_message(user, generation_id)
    if message.role != "assistant":
        raise NotFound(f"generation {generation_id} not found")
    last = message.last_event_id or 0
    if position >= last and message.status != "streaming":
        return Response(status_code=204)
    if position > 0:
        return JSONResponse(
            Conflict(
                f"the events of {generation_id} are no longer kept; read the answer from "
                f"GET /api/conversations/{message.conversation_id}",
                code="replay_expired",
            ).body(),
            status_code=410,
        )
    return Response(
        encode_sse(_replay(message)) if message.status != "streaming" else b"",
        media_type="text/event-stream",
    )


def _replay(message: Message) -> list[Event]:
    """A finished answer whose live events have expired, as one compact sequence."""
    events = [
        Event(
            1,
            "meta",
            {
                "conversation_id": message.conversation_id,
                "message_id": message.id,
                "model": message.model,
            },
        )
    ]
    if message.reasoning:
        events.append(Event(len(events) + 1, "reasoning", {"text": message.reasoning}))
    if message.content:
        events.append(Event(len(events) + 1, "delta", {"text": message.content}))
    if message.usage is not None:
        events.append(Event(len(events) + 1, "usage", message.usage.as_dict()))
    last = max(message.last_event_id or 0, len(events) + 1)
    if message.error:
        events.append(Event(last, "error", message.error))
    else:
        events.append(
            Event(
                last,
                "done",
                {
                    "finish_reason": message.finish_reason,
                    "ttft_ms": message.ttft_ms,
                    "total_ms": message.total_ms,
                },
            )
        )
    return events


@router.post("/generations/{generation_id}/stop")
async def stop(generation_id: Text, svc: Svc, user: User) -> dict[str, object]:
    """Cancel the upstream call now; the answer keeps what arrived, marked stopped.

    ``stopped`` says whether the answer was still running. Idempotent."""
    info = await svc.broker.info(generation_id)
    if info is not None and info.owner_id == user:
        running = not info.finished
        if running and not await svc.generations.stop(generation_id):
            await svc.broker.request_stop(generation_id)
        return {"id": generation_id, "stopped": running}
    message = await svc.store.get_message(user, generation_id)  # NotFound for others' ids
    return {"id": generation_id, "stopped": False, "status": message.status}
