"""Conversations and models: list, create, read, rename and configure, delete."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from streamchat.chat import Conversation, Message, new_id
from streamchat.errors import InvalidRequest
from streamchat.generations.titles import DEFAULT_TITLE, EARLIER_DEFAULT_TITLE
from streamchat.prompts import SWITCHES, automatic_titles
from streamchat.tree import Tree
from streamchat.web.bodies import Text
from streamchat.web.services import Services, current_user, services

__all__ = ["Params", "conversation_json", "message_json", "router"]

router = APIRouter(prefix="/api", tags=["conversations"])
Svc = Annotated[Services, Depends(services)]
User = Annotated[str, Depends(current_user)]

# How often a wait for a title reads the conversation again, in seconds.
TITLE_POLL = 0.25


class Params(BaseModel):
    """Sampling parameters a user may set on a conversation; unset ones are never sent."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, gt=0, le=1_000_000)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = Field(None, ge=-(2**63), lt=2**63)
    stop: Text | list[Text] | None = None

    def set_values(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ConversationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text | None = Field(None, min_length=1, max_length=200)
    model: Text | None = None
    system_prompt: Text | None = Field(None, max_length=32_000)
    params: Params | None = None
    # The message whose branch to show (its path, continued through the newest child).
    current_message_id: Text | None = None


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "params": conversation.params,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "current_message_id": conversation.current_id,
    }


def message_json(message: Message, tree: Tree | None = None) -> dict[str, Any]:
    return {
        "id": message.id,
        "parent_id": message.parent_id,
        "sibling_ids": tree.sibling_ids(message) if tree else [message.id],
        "role": message.role,
        "content": message.content,
        "reasoning": message.reasoning,
        "model": message.model,
        "status": message.status,
        "finish_reason": message.finish_reason,
        "usage": message.usage.as_dict() if message.usage else None,
        "error": message.error,
        "ttft_ms": message.ttft_ms,
        "total_ms": message.total_ms,
        "reasoning_ms": message.reasoning_ms,
        "last_event_id": message.last_event_id,
        "created_at": message.created_at.isoformat(),
    }


async def _fields(svc: Services, body: ConversationBody) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True, exclude={"current_message_id"})
    if body.model is not None:
        await svc.catalog.resolve(body.model)  # UnknownModel before anything is written
        fields["model"] = body.model
    if "params" in fields:
        fields["params"] = body.params.set_values() if body.params else {}
    if "title" in fields and body.title is not None:
        fields["title"] = " ".join(body.title.split())
    return fields


@router.get("/conversations")
async def list_conversations(
    svc: Svc,
    user: User,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, lt=2**63)] = 0,
) -> dict[str, Any]:
    """Newest activity first."""
    rows = await svc.store.list_conversations(user, limit=limit + 1, offset=offset)
    return {
        "conversations": [conversation_json(c) for c in rows[:limit]],
        "limit": limit,
        "offset": offset,
        "has_more": len(rows) > limit,
    }


@router.post("/conversations", status_code=201)
async def create_conversation(body: ConversationBody, svc: Svc, user: User) -> dict[str, Any]:
    fields = await _fields(svc, body)
    conversation = Conversation(new_id("conv"), user, title=fields.pop("title", DEFAULT_TITLE))
    for name, value in fields.items():
        setattr(conversation, name, value)
    return conversation_json(await svc.store.create_conversation(conversation))


@router.get("/conversations/{conversation_id}")
async def get_conversation(
    conversation_id: Text, svc: Svc, user: User, tree: bool = False
) -> dict[str, Any]:
    """The conversation with the messages of its current path, oldest first (``?tree=true``:
    every message of every branch)."""
    conversation = await svc.store.get_conversation(user, conversation_id)
    whole = Tree(await svc.store.list_messages(user, conversation_id))
    return _with_messages(conversation, whole, whole.messages if tree else None)


@router.get("/conversations/{conversation_id}/title")
async def wait_for_title(conversation_id: Text, svc: Svc, user: User) -> dict[str, Any]:
    """The conversation (without messages) once its title is no longer an automatic one (a
    question's first words, or none): what a client asks after a ``done`` with
    ``title_pending``. The title call runs on whichever worker ran the answer, so this reads
    the store every 0.25 s, for at most ``title_timeout`` + 2 s (then the conversation as it
    is: the call failed, or the model wrote the automatic title again)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + svc.settings.title_timeout + 2
    messages = await svc.store.list_messages(user, conversation_id)
    automatic = {DEFAULT_TITLE, EARLIER_DEFAULT_TITLE}
    for m in messages:
        if m.role == "user":
            automatic.update(automatic_titles(m.content))
    while True:
        conversation = await svc.store.get_conversation(user, conversation_id)
        if conversation.title not in automatic or loop.time() >= deadline:
            return conversation_json(conversation)
        await asyncio.sleep(TITLE_POLL)


@router.patch("/conversations/{conversation_id}")
async def update_conversation(
    conversation_id: Text, body: ConversationBody, svc: Svc, user: User
) -> dict[str, Any]:
    """Rename, or change the model, system prompt or sampling parameters; or, with
    ``current_message_id``, show that message's branch (the answer has its ``messages``)."""
    fields = await _fields(svc, body)
    if fields.get("title", "") is None:
        fields.pop("title")
    if "params" in fields:  # the switches (web search, thinking) are set by starts: kept
        before = (await svc.store.get_conversation(user, conversation_id)).params
        kept = {k: before[k] for k in SWITCHES if k in before}
        fields["params"] = {**fields["params"], **kept}
    shown = body.current_message_id
    if shown is not None:
        message = await svc.store.get_message(user, shown)  # NotFound: unknown or others'
        if message.conversation_id != conversation_id:
            raise InvalidRequest(f"current_message_id {shown} is a message of another conversation")
        whole = Tree(await svc.store.list_messages(user, conversation_id))
        leaf = whole.branch(shown)[-1].id
        await svc.store.set_current(user, conversation_id, leaf)
    conversation = await (
        svc.store.update_conversation(user, conversation_id, fields)
        if fields or shown is None
        else svc.store.get_conversation(user, conversation_id)
    )
    if shown is None:
        return conversation_json(conversation)
    return _with_messages(conversation, whole)


def _with_messages(
    conversation: Conversation, whole: Tree, messages: list[Message] | None = None
) -> dict[str, Any]:
    shown = whole.current_path(conversation.current_id) if messages is None else messages
    return {**conversation_json(conversation), "messages": [message_json(m, whole) for m in shown]}


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(conversation_id: Text, svc: Svc, user: User) -> Response:
    await svc.answers.stop_conversation(user, conversation_id)
    await svc.store.delete_conversation(user, conversation_id)
    return Response(status_code=204)


@router.get("/models", tags=["models"])
async def models(svc: Svc) -> dict[str, Any]:
    """Every model streamchat can route to, and the default one."""
    await svc.catalog.refresh()
    return {
        "default": svc.catalog.default_model,
        "models": [
            {
                "id": m.id,
                "provider": m.provider,
                "context_window": m.context_window,
                "reasoning": m.reasoning,
            }
            for m in svc.catalog.models()
        ],
    }
