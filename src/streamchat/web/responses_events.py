"""streamchat events as the Responses API's stream events and ``response`` object, sans-IO.

One :class:`ResponseEncoder` per client (or per replay) turns a generation's events, in order,
into OpenAI's ``ResponseStreamEvent`` sequence::

    response.created, response.in_progress
    per output item (reasoning, message, function_call; a new item when the kind changes):
        response.output_item.added
        [response.content_part.added]      (reasoning_text / output_text / refusal part)
        response.reasoning_text.delta | response.output_text.delta | response.refusal.delta
            | response.function_call_arguments.delta ...
        the matching .done events, [response.content_part.done], response.output_item.done
    response.completed | response.incomplete (finish "length", "content_filter", a stop)
        | response.failed (an ``error`` event)

``sequence_number`` counts from 0 with no gap, and no ``[DONE]`` follows. The encoder is a
pure function of the events and the :class:`ResponseShape`: item ids are derived from the
response id and the output index, so replaying a generation's log through a new encoder gives
the same events with the same numbers (what a resume after ``sequence_number`` N relies on).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamchat.events import Event

__all__ = ["ResponseEncoder", "ResponseShape", "final_response", "frame"]

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(slots=True)
class ResponseShape:
    """What a ``response`` object repeats from its request, and its identity."""

    id: str
    model: str
    created_at: int
    echo: dict[str, Any] = field(default_factory=dict)  # instructions, tools, tool_choice ...


def frame(event: dict[str, Any]) -> bytes:
    """One SSE frame: ``event: <type>`` and one line of compact JSON."""
    return b"event: %s\ndata: %s\n\n" % (event["type"].encode(), orjson.dumps(event))


@dataclass(slots=True)
class _Item:
    """One output item while it is open."""

    kind: str  # "reasoning" | "message" | "function_call"
    index: int
    id: str
    part: str = ""  # the open part: "reasoning_text", "output_text" or "refusal"
    text: list[str] = field(default_factory=list)  # of the open part (a call's arguments)
    parts: list[dict[str, Any]] = field(default_factory=list)  # closed parts
    call_id: str = ""
    name: str = ""
    tool_index: int = -1

    def snapshot(self, status: str) -> dict[str, Any]:
        if self.kind == "function_call":
            return {
                "id": self.id,
                "type": "function_call",
                "status": status,
                "call_id": self.call_id,
                "name": self.name,
                "arguments": "".join(self.text),
            }
        parts = [*self.parts, _part(self.part, "".join(self.text))] if self.text else self.parts
        if self.kind == "reasoning":
            return {
                "id": self.id,
                "type": "reasoning",
                "status": status,
                "summary": [],
                "content": list(parts),
            }
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": list(parts),
        }


_DELTA = {
    "reasoning_text": "response.reasoning_text.delta",
    "output_text": "response.output_text.delta",
    "refusal": "response.refusal.delta",
}
_PREFIX = {"reasoning": "rs", "message": "msg", "function_call": "fc"}


class ResponseEncoder:
    """Stateful: the output so far, the open item, the next sequence number."""

    def __init__(self, shape: ResponseShape) -> None:
        self.shape = shape
        self.sequence = 0
        self.status = "in_progress"
        self.output: list[dict[str, Any]] = []
        self.usage: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.incomplete: dict[str, Any] | None = None
        self.completed_at: int | None = None
        self.ended = False
        self._open: _Item | None = None
        self._base = shape.id.partition("_")[2] or shape.id

    def start(self) -> list[dict[str, Any]]:
        """The two lifecycle events that open every stream; a background response is
        ``queued`` when created (as its POST answered), then ``in_progress``."""
        self.status = "queued" if self.shape.echo.get("background") else "in_progress"
        created = self._event("response.created", response=self.response())
        self.status = "in_progress"
        return [created, self._event("response.in_progress", response=self.response())]

    def feed(self, events: Iterable[Event]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for event in events:
            if not self.ended:
                self._one(event, out)
        return out

    def response(self) -> dict[str, Any]:
        """The ``response`` object as it stands."""
        shape, echo = self.shape, self.shape.echo
        return {
            "id": shape.id,
            "object": "response",
            "created_at": shape.created_at,
            "status": self.status,
            "background": echo.get("background", False),
            "completed_at": self.completed_at,
            "error": self.error,
            "incomplete_details": self.incomplete,
            "instructions": echo.get("instructions"),
            "max_output_tokens": echo.get("max_output_tokens"),
            "metadata": echo.get("metadata") or {},
            "model": shape.model,
            "output": list(self.output),
            "parallel_tool_calls": echo.get("parallel_tool_calls", True),
            "previous_response_id": echo.get("previous_response_id"),
            "reasoning": echo.get("reasoning") or {"effort": None, "summary": None},
            "store": echo.get("store", True),
            "temperature": echo.get("temperature"),
            "text": echo.get("text") or {"format": {"type": "text"}},
            "tool_choice": echo.get("tool_choice", "auto"),
            "tools": echo.get("tools") or [],
            "top_p": echo.get("top_p"),
            "truncation": "disabled",
            "usage": self.usage,
        }

    # -- one streamchat event

    def _event(self, kind: str, **data: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self.sequence, **data}
        self.sequence += 1
        return event

    def _one(self, event: Event, out: list[dict[str, Any]]) -> None:
        kind, data = event.type, event.data
        if kind == "reasoning":
            self._text("reasoning", "reasoning_text", data["text"], out)
        elif kind == "delta":
            self._text(
                "message", "refusal" if "refusal" in data else "output_text", data["text"], out
            )
        elif kind == "tool_call":
            self._tool_call(data, out)
        elif kind == "usage":
            self.usage = _usage(data)
        elif kind == "done":
            self._close(out)
            self._finish(str(data.get("finish_reason") or "stop"), data, out)
        elif kind == "error":
            self._close(out, status="incomplete")
            self.ended = True
            self.status = "failed"
            self.error = _error(data)
            out.append(self._event("response.failed", response=self.response()))

    def _finish(self, finish: str, data: dict[str, Any], out: list[dict[str, Any]]) -> None:
        self.ended = True
        self.completed_at = self.shape.created_at + round(float(data.get("total_ms") or 0) / 1000)
        if finish in ("stop", "tool_calls"):
            self.status = "completed"
            out.append(self._event("response.completed", response=self.response()))
            return
        # "stopped": the answer was stopped (cancel, shutdown, nobody listening)
        self.status = "cancelled" if finish == "stopped" else "incomplete"
        self.incomplete = {"reason": _INCOMPLETE.get(finish)}
        out.append(self._event("response.incomplete", response=self.response()))

    def _begin(self, kind: str, out: list[dict[str, Any]]) -> _Item:
        self._close(out)
        index = len(self.output)
        item = _Item(kind, index, f"{_PREFIX[kind]}_{self._base}_{index}")
        self._open = item
        return item

    def _added(self, item: _Item, out: list[dict[str, Any]]) -> None:
        snapshot = item.snapshot("in_progress")
        self.output.append(snapshot)
        out.append(
            self._event("response.output_item.added", output_index=item.index, item=snapshot)
        )

    def _text(self, kind: str, part: str, text: str, out: list[dict[str, Any]]) -> None:
        item = self._open
        if item is None or item.kind != kind:
            item = self._begin(kind, out)
            self._added(item, out)
        elif item.part != part:  # a refusal after text: a second part of the same message
            self._close_part(item, out)
        if item.part != part:
            item.part = part
            out.append(self._part_event("response.content_part.added", item, ""))
        item.text.append(text)
        extra: dict[str, Any] = {"logprobs": []} if part == "output_text" else {}
        out.append(self._event(_DELTA[part], **self._where(item), delta=text, **extra))

    def _tool_call(self, piece: dict[str, Any], out: list[dict[str, Any]]) -> None:
        item = self._open
        tool_index = int(piece.get("index") or 0)
        function = piece.get("function") or {}
        if item is None or item.kind != "function_call" or item.tool_index != tool_index:
            item = self._begin("function_call", out)
            item.tool_index = tool_index
            item.call_id = str(piece.get("id") or f"call_{self._base}_{item.index}")
            item.name = str(function.get("name") or "")
            self._added(item, out)
        arguments = function.get("arguments") or ""
        if arguments:
            item.text.append(arguments)
            out.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item.id,
                    output_index=item.index,
                    delta=arguments,
                )
            )

    # -- closing an item

    def _close(self, out: list[dict[str, Any]], status: str = "completed") -> None:
        item, self._open = self._open, None
        if item is None:
            return
        if item.kind == "function_call":
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item.id,
                    output_index=item.index,
                    arguments="".join(item.text),
                )
            )
        else:
            self._close_part(item, out)
        snapshot = item.snapshot(status)
        self.output[item.index] = snapshot
        out.append(self._event("response.output_item.done", output_index=item.index, item=snapshot))

    def _close_part(self, item: _Item, out: list[dict[str, Any]]) -> None:
        text = "".join(item.text)
        where = self._where(item)
        if item.part == "reasoning_text":
            out.append(self._event("response.reasoning_text.done", **where, text=text))
        elif item.part == "refusal":
            out.append(self._event("response.refusal.done", **where, refusal=text))
        else:
            out.append(self._event("response.output_text.done", **where, text=text, logprobs=[]))
        out.append(self._part_event("response.content_part.done", item, text))
        item.parts.append(_part(item.part, text))
        item.text = []

    def _where(self, item: _Item) -> dict[str, Any]:
        return {"item_id": item.id, "output_index": item.index, "content_index": len(item.parts)}

    def _part_event(self, kind: str, item: _Item, text: str) -> dict[str, Any]:
        return self._event(kind, **self._where(item), part=_part(item.part, text))


def _part(kind: str, text: str) -> dict[str, Any]:
    if kind == "refusal":
        return {"type": "refusal", "refusal": text}
    if kind == "reasoning_text":
        return {"type": "reasoning_text", "text": text}
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _error(data: dict[str, Any]) -> dict[str, Any]:
    """A failure in the ``ResponseError`` shape: its ``code`` is one of OpenAI's (the SDKs
    type it as a closed set), streamchat's own code ends the message."""
    code = str(data.get("code"))
    kind = "rate_limit_exceeded" if code in _RATE_LIMITED else "server_error"
    return {"code": kind, "message": f"{data.get('message')} ({code})"}


_RATE_LIMITED = frozenset({"rate_limited", "upstream_rate_limited"})


def _usage(data: dict[str, Any]) -> dict[str, Any]:
    prompt = int(data.get("prompt_tokens") or 0)
    completion = int(data.get("completion_tokens") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": int(data.get("total_tokens") or prompt + completion),
    }


def final_response(shape: ResponseShape, events: Sequence[Event]) -> dict[str, Any]:
    """The non-streamed ``response`` object of a finished generation."""
    encoder = ResponseEncoder(shape)
    encoder.start()
    encoder.feed(events)
    return encoder.response()
