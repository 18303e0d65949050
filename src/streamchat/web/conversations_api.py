"""Conversations and models: list, create, read, rename and configure, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from streamchat.chat import Conversation, Message, new_id
from streamchat.web.answers import Params
from streamchat.web.bodies import Text
from streamchat.web.services import Services, current_user, services

__all__ = ["conversation_json", "message_json", "router"]

router = APIRouter(prefix="/api", tags=["conversations"])
Svc = Annotated[Services, Depends(services)]
User = Annotated[str, Depends(current_user)]


class ConversationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text | None = Field(None, min_length=1, max_length=200)
    model: Text | None = None
    system_prompt: Text | None = Field(None, max_length=32_000)
    params: Params | None = None


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "params": conversation.params,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
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
        "last_event_id": message.last_event_id,
        "created_at": message.created_at.isoformat(),
    }


async def _fields(svc: Services, body: ConversationBody) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
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
    conversation = Conversation(new_id("conv"), user, title=fields.pop("title", "New chat"))
    for name, value in fields.items():
        setattr(conversation, name, value)
    return conversation_json(await svc.store.create_conversation(conversation))


@router.get("/conversations/{conversation_id}")
async def get_conversation(conversation_id: Text, svc: Svc, user: User) -> dict[str, Any]:
    """The conversation with its messages, oldest first."""
    conversation = await svc.store.get_conversation(user, conversation_id)
    messages = await svc.store.list_messages(user, conversation_id)
    return {**conversation_json(conversation), "messages": [message_json(m) for m in messages]}


@router.patch("/conversations/{conversation_id}")
async def update_conversation(
    conversation_id: Text, body: ConversationBody, svc: Svc, user: User
) -> dict[str, Any]:
    """Rename, or change the model, system prompt or sampling parameters."""
    fields = await _fields(svc, body)
    if fields.get("title", "") is None:
        fields.pop("title")
    conversation = await svc.store.update_conversation(user, conversation_id, fields)
    return conversation_json(conversation)


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(conversation_id: Text, svc: Svc, user: User) -> Response:
    messages = await svc.store.list_messages(user, conversation_id)
    for message in messages:
        if message.status == "streaming":
            await svc.generations.stop(message.id)
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
