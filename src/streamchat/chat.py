"""Domain types: conversations, messages, usage and what a generation asks of an upstream.

Pure data, no I/O. The store returns these, the web layer serialises them, the generation
runner builds :class:`UpstreamRequest` from them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "MESSAGE_STATUSES",
    "ChunkDelta",
    "Conversation",
    "Message",
    "MessageStatus",
    "Role",
    "UpstreamRequest",
    "Usage",
    "estimate_tokens",
    "new_id",
    "trim_history",
    "utcnow",
]

Role = Literal["system", "user", "assistant", "tool"]
MessageStatus = Literal["streaming", "complete", "stopped", "incomplete", "error"]
MESSAGE_STATUSES: tuple[MessageStatus, ...] = (
    "streaming",
    "complete",
    "stopped",
    "incomplete",
    "error",
)


def new_id(prefix: str) -> str:
    """An unguessable id with a readable prefix (``conv_``, ``msg_``, ``gen_``)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True, frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    estimated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "estimated": self.estimated,
        }


@dataclass(slots=True)
class Conversation:
    id: str
    owner_id: str
    title: str
    model: str | None = None
    system_prompt: str | None = None
    # Sampling parameters the user set explicitly; nothing else is sent upstream.
    params: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    # The leaf of the branch the owner looks at (None: the newest message's branch).
    current_id: str | None = None


@dataclass(slots=True)
class Message:
    id: str
    conversation_id: str
    owner_id: str
    role: Role
    content: str = ""
    reasoning: str = ""
    model: str | None = None
    status: MessageStatus = "complete"
    finish_reason: str | None = None
    usage: Usage | None = None
    error: dict[str, Any] | None = None
    ttft_ms: float | None = None
    total_ms: float | None = None
    # Id of the last stream event of the generation that wrote this answer.
    last_event_id: int | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    # The message this one follows: a question's parent is an answer, an answer's its question;
    # None for a first question. Siblings (same parent) are versions of one another.
    parent_id: str | None = None
    # How long the model thought (first reasoning token to first answer token), if it did.
    reasoning_ms: float | None = None


@dataclass(slots=True)
class UpstreamRequest:
    """One call to an upstream chat model, already resolved to a provider model name."""

    model: str
    messages: list[dict[str, Any]]
    # Only the parameters the caller set; presets never inject defaults.
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ChunkDelta:
    """One upstream chunk, normalised across provider dialects."""

    content: str | None = None
    refusal: str | None = None  # the provider's delta.refusal (OpenAI structured outputs)
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    usage: Usage | None = None
    finish_reason: str | None = None


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def estimate_tokens(text: str) -> int:
    """A provider-neutral token estimate: one per CJK character, one per four other characters."""
    if not text:
        return 0
    cjk = len(_CJK.findall(text))
    return cjk + -(-(len(text) - cjk) // 4)


def trim_history(messages: list[dict[str, Any]], budget_tokens: int) -> list[dict[str, Any]]:
    """Keep the system prompt and the newest messages whose estimated size fits the budget.

    The last message (the question being answered) is always kept.
    """
    system = [m for m in messages if m.get("role") == "system"]
    rest = [m for m in messages if m.get("role") != "system"]
    used = sum(estimate_tokens(str(m.get("content") or "")) + 4 for m in system)
    kept: list[dict[str, Any]] = []
    for message in reversed(rest):
        cost = estimate_tokens(str(message.get("content") or "")) + 4
        if kept and used + cost > budget_tokens:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    # Never start the history with an assistant turn: some providers reject it.
    while len(kept) > 1 and kept[0].get("role") == "assistant":
        kept.pop(0)
    return system + kept
