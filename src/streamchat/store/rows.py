"""Conversion between table rows and the domain types of :mod:`streamchat.chat`."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import RowMapping

from streamchat.chat import Conversation, Message, MessageStatus, Role, Usage
from streamchat.store import MessagePatch

__all__ = [
    "CONVERSATION_FIELDS",
    "conversation_from_row",
    "conversation_values",
    "message_from_row",
    "message_values",
    "patch_values",
    "usage_values",
]

# The fields of a conversation its owner may change.
CONVERSATION_FIELDS = frozenset({"title", "model", "system_prompt", "params"})
_PATCH_COLUMNS = frozenset(MessagePatch.__annotations__) - {"usage"}


def conversation_values(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "owner_id": conversation.owner_id,
        "title": conversation.title,
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "params": dict(conversation.params),
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "current_id": conversation.current_id,
    }


def conversation_from_row(row: RowMapping) -> Conversation:
    return Conversation(
        id=row["id"],
        owner_id=row["owner_id"],
        title=row["title"],
        model=row["model"],
        system_prompt=row["system_prompt"],
        params=dict(row["params"] or {}),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        current_id=row["current_id"],
    )


def usage_values(usage: Usage | None) -> dict[str, Any]:
    """The four usage columns; all NULL for no usage."""
    if usage is None:
        return dict.fromkeys(
            ("prompt_tokens", "completion_tokens", "total_tokens", "usage_estimated")
        )
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "usage_estimated": usage.estimated,
    }


def _usage_from_row(row: RowMapping) -> Usage | None:
    columns = ("prompt_tokens", "completion_tokens", "total_tokens", "usage_estimated")
    if all(row[name] is None for name in columns):
        return None
    return Usage(
        prompt_tokens=row["prompt_tokens"] or 0,
        completion_tokens=row["completion_tokens"] or 0,
        total_tokens=row["total_tokens"] or 0,
        estimated=bool(row["usage_estimated"]),
    )


def message_values(message: Message, position: int) -> dict[str, Any]:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "owner_id": message.owner_id,
        "position": position,
        "parent_id": message.parent_id,
        "role": message.role,
        "content": message.content,
        "reasoning": message.reasoning,
        "model": message.model,
        "status": message.status,
        "finish_reason": message.finish_reason,
        **usage_values(message.usage),
        "error": message.error,
        "ttft_ms": message.ttft_ms,
        "total_ms": message.total_ms,
        "last_event_id": message.last_event_id,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
        "reasoning_ms": message.reasoning_ms,
    }


def message_from_row(row: RowMapping) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        owner_id=row["owner_id"],
        role=cast(Role, row["role"]),
        content=row["content"],
        reasoning=row["reasoning"],
        model=row["model"],
        status=cast(MessageStatus, row["status"]),
        finish_reason=row["finish_reason"],
        usage=_usage_from_row(row),
        error=row["error"],
        ttft_ms=row["ttft_ms"],
        total_ms=row["total_ms"],
        last_event_id=row["last_event_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        parent_id=row["parent_id"],
        reasoning_ms=row["reasoning_ms"],
    )


def patch_values(patch: MessagePatch) -> dict[str, Any]:
    """The columns a patch writes: only its keys (``usage`` becomes the four usage columns)."""
    unknown = set(patch) - _PATCH_COLUMNS - {"usage"}
    if unknown:
        raise ValueError(f"not a message patch field: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {key: value for key, value in patch.items() if key != "usage"}
    if "usage" in patch:
        values.update(usage_values(patch["usage"]))
    return values
