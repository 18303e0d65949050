"""The typed events of one answer's stream, shared by every API surface.

A generation publishes a numbered sequence of events; ids start at 1 and grow by one.

======== ===================================================== ====================
type     data                                                  when
======== ===================================================== ====================
meta     conversation_id, message_id, model                    first, always
         [, question_id, parent_id] (an answer in a conversation)
         [, generation_id] (a continuation of message_id)
reasoning text                                                 thinking tokens
delta    text[, refusal][, reasoning_ms]                       answer tokens; the first
                                                               after thinking says how long
                                                               it took (ms)
tool_call index, id?, type?, function {name?, arguments?}      ``/v1`` tool calls
tool     id, name, status (running | done | error)             a builtin tool the server
                                                               runs (Kimi's ``$web_search``)
usage    prompt_tokens, completion_tokens, total_tokens,       once, before the end
         estimated
done     finish_reason, ttft_ms, total_ms[, title_pending]     terminal, success or stop
         [, reasoning_ms] (the answer thought)
error    code, message, retryable[, retry_after]               terminal, failure
======== ===================================================== ====================

Exactly one terminal event (``done`` or ``error``) ends every stream. ``title_pending``
(true): the conversation's title is being written after the end (generations/titles.py); a
``title`` event is only found in streams of earlier versions, which wrote it before ``done``.
The JSON of an event is encoded once and cached, so every subscriber shares the same bytes.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from streamchat.chat import Message, Usage
from streamchat.errors import StreamchatError

__all__ = ["EVENT_TYPES", "TERMINAL", "Event", "done", "error", "meta", "replay", "usage"]

EVENT_TYPES: Final = frozenset(
    {"meta", "reasoning", "delta", "tool_call", "tool", "usage", "title", "done", "error"}
)
TERMINAL: Final = frozenset({"done", "error"})


class Event:
    """One event of a stream. ``data`` must not be mutated once the event is published."""

    __slots__ = ("_json", "_sse", "data", "id", "type")

    def __init__(self, id: int, type: str, data: dict[str, Any]) -> None:
        self.id = id
        self.type = type
        self.data = data
        self._json: bytes | None = None
        self._sse: bytes | None = None

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL

    def json(self) -> bytes:
        """The compact JSON of ``data``, encoded once."""
        if self._json is None:
            # orjson's result keeps its 4 KB allocation; an exact copy is what the replay log
            # holds for replay_ttl (measured: ~4.3 KB of RSS per relayed token before).
            self._json = bytes(memoryview(orjson.dumps(self.data)))
        return self._json

    def sse(self) -> bytes:
        """The event as one SSE frame: ``id``, ``event`` and one ``data`` line."""
        if self._sse is None:
            self._sse = b"id: %d\nevent: %s\ndata: %s\n\n" % (
                self.id,
                self.type.encode(),
                self.json(),
            )
        return self._sse

    @classmethod
    def from_json(cls, id: int, type: str, payload: bytes) -> Event:
        event = cls(id, type, orjson.loads(payload))
        event._json = payload
        return event

    def __repr__(self) -> str:
        return f"Event({self.id}, {self.type!r}, {self.data!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.id, self.type, self.data) == (other.id, other.type, other.data)

    __hash__ = None  # type: ignore[assignment]


# -- the one constructor of each event shape that more than one module writes -----------------


def meta(
    id: int,
    *,
    conversation_id: str | None,
    message_id: str,
    model: str,
    question_id: str | None = None,
    generation_id: str | None = None,
) -> Event:
    """The first event. An answer in a conversation also names its question (its parent); a
    continuation (Continue) names its own ``generation_id``, apart from the answer's id."""
    data: dict[str, Any] = {
        "conversation_id": conversation_id,
        "message_id": message_id,
        "model": model,
    }
    if generation_id is not None:
        data["generation_id"] = generation_id
    if question_id is not None:
        data["question_id"] = question_id
        data["parent_id"] = question_id
    return Event(id, "meta", data)


def usage(id: int, value: Usage) -> Event:
    return Event(id, "usage", value.as_dict())


def done(
    id: int,
    finish_reason: str | None,
    ttft_ms: float | None,
    total_ms: float | None,
    *,
    title_pending: bool = False,
    reasoning_ms: float | None = None,
) -> Event:
    """The normal end; ``title_pending``: the conversation's title is being written now;
    ``reasoning_ms``: how long the answer thought, as stored (None: it did not)."""
    data: dict[str, Any] = {
        "finish_reason": finish_reason,
        "ttft_ms": _ms(ttft_ms),
        "total_ms": _ms(total_ms),
    }
    if title_pending:
        data["title_pending"] = True
    if reasoning_ms is not None:
        data["reasoning_ms"] = reasoning_ms
    return Event(id, "done", data)


def error(id: int, failure: StreamchatError | dict[str, Any]) -> Event:
    """The terminal failure: an error, or its stored ``as_dict()`` form."""
    return Event(id, "error", failure if isinstance(failure, dict) else failure.as_dict())


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def replay(message: Message) -> list[Event]:
    """A finished answer whose live events have expired, as one compact sequence."""
    kept = [
        meta(
            1,
            conversation_id=message.conversation_id,
            message_id=message.id,
            model=message.model or "",
            question_id=message.parent_id,
        )
    ]
    if message.reasoning:
        kept.append(Event(len(kept) + 1, "reasoning", {"text": message.reasoning}))
    thought = message.reasoning_ms
    if message.content:
        text: dict[str, Any] = {"text": message.content}
        if message.reasoning and thought is not None:
            text["reasoning_ms"] = thought
        kept.append(Event(len(kept) + 1, "delta", text))
    if message.usage is not None:
        kept.append(usage(len(kept) + 1, message.usage))
    last = max(message.last_event_id or 0, len(kept) + 1)
    if message.error:
        kept.append(error(last, message.error))
    else:
        ended = (message.finish_reason, message.ttft_ms, message.total_ms)
        kept.append(done(last, *ended, reasoning_ms=thought))
    return kept
