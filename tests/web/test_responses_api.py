"""The Responses request as a chat completion, sans-IO: input items to messages, and the
parameters that map across."""

from __future__ import annotations

from typing import Any

import pytest

from streamchat.errors import InvalidRequest
from streamchat.web.responses_api import ResponsesRequest, chat_messages, chat_params


def request(**fields: Any) -> ResponsesRequest:
    return ResponsesRequest.model_validate({"model": "m", **fields})


def test_items_become_messages() -> None:
    body = request(
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Use metric units."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]},
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": "think"}],
            },
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "1"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "2"}],
            },
            {"role": "assistant", "content": [{"type": "output_text", "text": "done"}]},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "and this?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                ],
            },
        ],
    )
    call = {"type": "function", "function": {"arguments": "{}"}}
    assert chat_messages(body) == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Use metric units."},
        {"role": "user", "content": "a"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", **call, "function": {"name": "f", "arguments": "{}"}},
                {"id": "c2", **call, "function": {"name": "g", "arguments": "{}"}},
            ],
            "reasoning_content": "think",
        },
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
        {"role": "tool", "tool_call_id": "c2", "content": "2"},
        {"role": "assistant", "content": "done"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("input", "message"),
    [
        ([{"type": "web_search_call"}], "input.0.type: 'web_search_call' is not served"),
        ([{"role": "tool", "content": "x"}], "input.0.role"),
        ([{"role": "user", "content": 3}], "input.0.content"),
        ([{"role": "user", "content": [{"type": "input_file"}]}], "input.0.content.0.type"),
        ([{"type": "function_call", "name": "f", "arguments": "{}"}], "input.0.call_id"),
        ([], "input: at least one message"),
    ],
)
def test_items_that_cannot_be_served(input: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        chat_messages(request(input=input))
    assert refused.value.message.startswith(message)


def test_params() -> None:
    body = request(
        input="x",
        temperature=1,
        max_output_tokens=9,
        tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        tool_choice={"type": "function", "name": "f"},
        text={"format": {"type": "json_object"}},
        reasoning={"effort": "high"},
        parallel_tool_calls=False,
    )
    assert chat_params(body) == {
        "temperature": 1.0,
        "parallel_tool_calls": False,
        "max_tokens": 9,
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {"type": "json_object"},
        "reasoning_effort": "high",
    }
    assert chat_params(request(input="x")) == {}
