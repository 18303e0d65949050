"""The streamchat API: start, regenerate and edit answers, re-attach to them, stop them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from streamchat.answers import Options, Started
from streamchat.errors import InvalidRequest
from streamchat.sse import retry
from streamchat.web.bodies import Text
from streamchat.web.services import Services, current_user, services
from streamchat.web.streaming import EventStream, encode_sse

__all__ = ["IdempotencyKey", "answer_stream", "event_position", "router"]

router = APIRouter(prefix="/api", tags=["chat"])

SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An SSE stream of meta, reasoning, delta, usage, then done or error.",
        "content": {"text/event-stream": {}},
    }
}
Svc = Annotated[Services, Depends(services)]
User = Annotated[str, Depends(current_user)]


class Switches(BaseModel):
    """The conversation's switches (issue 13): None keeps what the conversation has."""

    # Kimi's builtin $web_search, run by the server within the answer.
    web_search: bool | None = None
    # Thinking on or off, for models that take a switch (GET /api/capabilities).
    thinking: bool | None = None

    def options(self) -> Options | None:
        if self.web_search is None and self.thinking is None:
            return None
        return Options(web_search=self.web_search, thinking=self.thinking)


class ChatBody(Switches):
    model_config = ConfigDict(extra="forbid")

    message: Text
    conversation_id: Text | None = None
    parent_id: Text | None = None
    model: Text | None = None
    # Ids of the user's uploads (POST /api/files) to attach to the question.
    attachments: list[Text] = Field(default_factory=list, max_length=100)


class RegenerateBody(Switches):
    model_config = ConfigDict(extra="forbid")

    model: Text | None = None


class EditBody(Switches):
    model_config = ConfigDict(extra="forbid")

    message: Text
    model: Text | None = None
    # None: the old question's files; a list (maybe empty): these instead.
    attachments: list[Text] | None = Field(None, max_length=100)


def answer_stream(svc: Services, started: Started) -> EventStream:
    """An answer's SSE stream, every event from ``meta`` on."""
    return svc.stream(
        started.subscription,
        encode_sse,
        preamble=retry(3000),
        extra_headers=[(b"x-streamchat-generation-id", started.id.encode())],
    )


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


@router.post("/chat", responses=SSE_RESPONSE, response_class=Response, response_model=None)
async def chat(
    body: ChatBody, svc: Svc, user: User, idempotency_key: IdempotencyKey = None
) -> EventStream:
    """Ask a question in a new or existing conversation and stream the answer. The question
    follows ``parent_id`` (an answer of the conversation), by default the current path's end.
    A retry with the same ``Idempotency-Key`` gets the same answer, from its first event."""
    started = await svc.answers.ask(
        user,
        body.message,
        conversation_id=body.conversation_id,
        parent_id=body.parent_id,
        model=body.model,
        attachments=body.attachments,
        idempotency_key=idempotency_key,
        options=body.options(),
    )
    return answer_stream(svc, started)


@router.post(
    "/messages/{message_id}/regenerate",
    responses=SSE_RESPONSE,
    response_class=Response,
    response_model=None,
)
async def regenerate_message(
    message_id: Text, svc: Svc, user: User, body: RegenerateBody | None = None
) -> EventStream:
    """A new version of an answer: a sibling answer to the same question."""
    model, options = (body.model, body.options()) if body else (None, None)
    started = await svc.answers.regenerate(user, message_id, model=model, options=options)
    return answer_stream(svc, started)


@router.post(
    "/messages/{message_id}/edit",
    responses=SSE_RESPONSE,
    response_class=Response,
    response_model=None,
)
async def edit_message(message_id: Text, body: EditBody, svc: Svc, user: User) -> EventStream:
    """A new version of a question (a sibling with the new text) and its answer."""
    started = await svc.answers.edit(
        user,
        message_id,
        body.message,
        model=body.model,
        attachments=body.attachments,
        options=body.options(),
    )
    return answer_stream(svc, started)


@router.post(
    "/messages/{message_id}/continue",
    responses=SSE_RESPONSE,
    response_class=Response,
    response_model=None,
)
async def continue_message(message_id: Text, svc: Svc, user: User) -> EventStream:
    """Continue an answer that stopped at its length limit (finish_reason "length"), in the
    same answer: the provider's partial mode (Kimi; DeepSeek's prefix completion). A 400 for
    providers without one. Its ``meta`` names the new ``generation_id`` to re-attach to."""
    return answer_stream(svc, await svc.answers.continue_answer(user, message_id))


@router.post(
    "/conversations/{conversation_id}/regenerate",
    responses=SSE_RESPONSE,
    response_class=Response,
    response_model=None,
)
async def regenerate(
    conversation_id: Text, svc: Svc, user: User, body: RegenerateBody | None = None
) -> EventStream:
    """Regenerate the last answer of the current path (a new version of it)."""
    model, options = (body.model, body.options()) if body else (None, None)
    started = await svc.answers.regenerate_last(user, conversation_id, model=model, options=options)
    return answer_stream(svc, started)


@router.post(
    "/conversations/{conversation_id}/edit",
    responses=SSE_RESPONSE,
    response_class=Response,
    response_model=None,
)
async def edit(conversation_id: Text, body: EditBody, svc: Svc, user: User) -> EventStream:
    """Edit the last question of the current path (a new version of it) and answer it."""
    started = await svc.answers.edit_last(
        user,
        conversation_id,
        body.message,
        model=body.model,
        attachments=body.attachments,
        options=body.options(),
    )
    return answer_stream(svc, started)


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
    following = await svc.answers.follow(user, generation_id, position)
    if following.subscription is not None:
        return svc.stream(following.subscription, encode_sse, preamble=retry(3000))
    if following.replay is None:
        return Response(status_code=204)
    return Response(encode_sse(following.replay), media_type="text/event-stream")


@router.post("/generations/{generation_id}/stop")
async def stop(generation_id: Text, svc: Svc, user: User) -> dict[str, object]:
    """Cancel the upstream call now; the answer keeps what arrived, marked stopped.

    ``stopped`` says whether the answer was still running. Idempotent."""
    return await svc.answers.stop(user, generation_id)
