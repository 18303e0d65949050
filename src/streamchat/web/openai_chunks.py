"""streamchat events as OpenAI chat-completion chunks, and as one non-streamed completion.

Chunk ``k`` of a stream carries SSE ``id: k`` (the generation's event id), so a client that lost
the connection re-attaches with ``Last-Event-ID`` and gets the rest, also as chunks.

As OpenAI sends them: the first chunk (``role``) has ``content: ""`` before text and
``content: null`` before a tool call or a refusal, so it waits for the first token to know which;
a ``delta`` event marked ``refusal`` (the provider's ``delta.refusal``) is ``delta.refusal``,
and ``message.refusal`` in a non-streamed completion.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from streamchat.errors import StreamchatError
from streamchat.events import Event

__all__ = ["ChunkEncoder", "completion", "error_from_event"]


_DELTA = (
    b'id: %d\ndata: %s,"choices":[{"index":0,"delta":{"content":%s},"finish_reason":null}]}\n\n'
)


def error_from_event(event: Event) -> StreamchatError:
    data = event.data
    return StreamchatError(
        str(data.get("message")),
        code=str(data.get("code")),
        retryable=bool(data.get("retryable")),
        retry_after=data.get("retry_after"),
    )


class ChunkEncoder:
    """Stateful per client: holds the usage until the end when ``include_usage`` is set."""

    def __init__(self, generation_id: str, model: str, include_usage: bool) -> None:
        self.created = int(time.time())
        self.include_usage = include_usage
        self._open = b'{"id":"%s","object":"chat.completion.chunk","created":%d,"model":%s' % (
            generation_id.encode(),
            self.created,
            orjson.dumps(model),
        )
        self._usage: bytes | None = None
        self._role: int | None = None  # the meta event's id, until the first token says how

    def _role_frame(self, role_id: int, after: Event) -> bytes:
        """The held first chunk: ``content: null`` when a tool call or a refusal comes first."""
        self._role = None
        textless = after.type == "tool_call" or (after.type == "delta" and "refusal" in after.data)
        content = b"null" if textless else b'""'
        return self._frame(role_id, b'{"role":"assistant","content":%s}' % content)

    def _frame(self, event_id: int, choice_delta: bytes, finish: bytes = b"null") -> bytes:
        return b'id: %d\ndata: %s,"choices":[{"index":0,"delta":%s,"finish_reason":%s}]}\n\n' % (
            event_id,
            self._open,
            choice_delta,
            finish,
        )

    def encode(self, events: Sequence[Event]) -> bytes:
        if len(events) == 1:  # one token per batch is the common case
            return self._one(events[0])
        return b"".join([self._one(event) for event in events])

    def _one(self, event: Event) -> bytes:
        kind = event.type
        if kind == "meta":
            self._role = event.id
            return b""
        head = b"" if self._role is None else self._role_frame(self._role, event)
        if kind == "delta":
            data = event.data
            if "refusal" in data:
                refusal = orjson.dumps(data["text"])
                return head + self._frame(event.id, b'{"refusal":' + refusal + b"}")
            # The frame in one formatting, the text encoded alone (no dict, no slices).
            frame = _DELTA % (event.id, self._open, orjson.dumps(data["text"]))
            return head + frame if head else frame
        if kind == "reasoning":
            delta = b'{"reasoning_content":' + event.json()[8:-1] + b"}"
            return head + self._frame(event.id, delta)
        if kind == "tool_call":
            return head + self._frame(event.id, b'{"tool_calls":[' + event.json() + b"]}")
        return head + self._last(event)

    def _last(self, event: Event) -> bytes:
        kind = event.type
        if kind == "usage":
            usage = {k: v for k, v in event.data.items() if k != "estimated"}
            self._usage = orjson.dumps(usage)
            return b""
        if kind == "done":
            finish = orjson.dumps(event.data.get("finish_reason") or "stop")
            out = self._frame(event.id, b"{}", finish)
            if self.include_usage and self._usage is not None:
                out += b'data: %s,"choices":[],"usage":%s}\n\n' % (self._open, self._usage)
            return out + b"data: [DONE]\n\n"
        if kind == "error":
            body = orjson.dumps(error_from_event(event).openai_body())
            return b"id: %d\ndata: %s\n\n" % (event.id, body)
        return b""


def completion(generation_id: str, model: str, events: Sequence[Event]) -> dict[str, Any]:
    """A finished answer as one ``chat.completion`` object."""
    content: list[str] = []
    refusal: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    usage: dict[str, Any] = {}
    finish = "stop"
    for event in events:
        if event.type == "delta":
            (refusal if "refusal" in event.data else content).append(event.data["text"])
        elif event.type == "reasoning":
            reasoning.append(event.data["text"])
        elif event.type == "tool_call":
            _merge_call(calls, event.data)
        elif event.type == "usage":
            usage = {k: v for k, v in event.data.items() if k != "estimated"}
        elif event.type == "done":
            finish = event.data.get("finish_reason") or "stop"
    # OpenAI's content is null when the answer is only tool calls or a refusal.
    text = "".join(content) if content or not (calls or refusal) else None
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text,
        "refusal": "".join(refusal) if refusal else None,
    }
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {
        "id": generation_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


def _merge_call(calls: dict[int, dict[str, Any]], piece: dict[str, Any]) -> None:
    index = int(piece.get("index") or 0)
    call = calls.setdefault(
        index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
    )
    if piece.get("id"):
        call["id"] = piece["id"]
    function = piece.get("function") or {}
    if function.get("name"):
        call["function"]["name"] = function["name"]
    call["function"]["arguments"] += function.get("arguments") or ""
