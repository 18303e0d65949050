"""The /v1 chunk encoder, sans-IO: streamchat events in, OpenAI's chunk bytes out."""

from __future__ import annotations

from typing import Any

import orjson

from streamchat.events import Event
from streamchat.sse import SSEDecoder
from streamchat.web.openai_chunks import ChunkEncoder, completion

META = {"conversation_id": None, "message_id": "chatcmpl_1", "model": "m"}
CALL = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
REFUSAL = {"text": "I'm sorry", "refusal": True}
DONE = {"finish_reason": "stop", "ttft_ms": 1.0, "total_ms": 2.0}


def events(*pairs: tuple[str, dict[str, Any]]) -> list[Event]:
    return [Event(i, kind, data) for i, (kind, data) in enumerate(pairs, 1)]


def deltas(stream: list[Event], include_usage: bool = False) -> list[tuple[str, Any]]:
    """(SSE id, delta) of each chunk with a choice, the events encoded one batch at a time."""
    encoder = ChunkEncoder("chatcmpl_1", "m", include_usage)
    raw = b"".join(encoder.encode([event]) for event in stream)
    out = []
    for sse in SSEDecoder().feed(raw):
        if sse.data != "[DONE]" and (choices := orjson.loads(sse.data).get("choices")):
            out.append((sse.id, choices[0]["delta"]))
    return out


def test_first_chunk_of_a_text_answer_has_empty_content() -> None:
    stream = events(("meta", META), ("delta", {"text": "hi"}), ("done", DONE))
    assert deltas(stream) == [
        ("1", {"role": "assistant", "content": ""}),
        ("2", {"content": "hi"}),
        ("3", {}),
    ]


def test_first_chunk_of_a_tool_call_answer_has_null_content() -> None:
    """Issue 12: OpenAI opens a tool-call answer with ``content: null``; ``""`` left an empty
    text part in @ai-sdk/openai. The role chunk waits for the first token to know which."""
    stream = events(("meta", META), ("tool_call", CALL), ("done", DONE))
    assert deltas(stream) == [
        ("1", {"role": "assistant", "content": None}),
        ("2", {"tool_calls": [CALL]}),
        ("3", {}),
    ]


def test_a_refusal_is_delta_refusal() -> None:
    """Issue 12: a provider's ``delta.refusal`` (a ``delta`` event marked ``refusal``) reaches
    /v1 as ``delta.refusal``, after a first chunk with ``content: null``."""
    stream = events(("meta", META), ("delta", REFUSAL), ("done", DONE))
    assert deltas(stream) == [
        ("1", {"role": "assistant", "content": None}),
        ("2", {"refusal": "I'm sorry"}),
        ("3", {}),
    ]


def test_an_empty_answer_still_has_its_role_chunk() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1, "estimated": False}
    stream = events(("meta", META), ("usage", usage), ("done", DONE))
    assert deltas(stream, include_usage=True) == [
        ("1", {"role": "assistant", "content": ""}),
        ("3", {}),
    ]


def test_completion_content_null_for_tool_calls_and_refusals() -> None:
    text = completion("c", "m", events(("meta", META), ("delta", {"text": "hi"}), ("done", DONE)))
    assert text["choices"][0]["message"] == {"role": "assistant", "content": "hi", "refusal": None}
    done = {**DONE, "finish_reason": "tool_calls"}
    calls = completion("c", "m", events(("meta", META), ("tool_call", CALL), ("done", done)))
    message = calls["choices"][0]["message"]
    assert message["content"] is None and message["tool_calls"][0]["id"] == "call_1"
    refused = completion("c", "m", events(("meta", META), ("delta", REFUSAL), ("done", DONE)))
    assert refused["choices"][0]["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": "I'm sorry",
    }
