"""Upstream chunk normalisation and error classification, per dialect (wire-formats.md §3-4)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamchat.chat import ChunkDelta, Usage
from streamchat.errors import UpstreamError
from streamchat.upstream.chunks import http_error, parse_chunk, retry_after

KIMI_FINISH = (
    '{"id":"cmpl-1","object":"chat.completion.chunk","created":1698999575,"model":"kimi",'
    '"choices":[{"index":0,"delta":{},"finish_reason":"stop",'
    '"usage":{"prompt_tokens":19,"completion_tokens":13,"total_tokens":32}}]}'
)


def chunk(delta: dict[str, object], **extra: object) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": extra.pop("finish_reason", None)}
    return orjson.dumps(
        {
            "id": "x",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [choice],
            **extra,
        }
    ).decode()


def test_openai_content_and_role_chunk() -> None:
    assert parse_chunk(chunk({"role": "assistant", "content": ""})) == ChunkDelta()
    assert parse_chunk(chunk({"content": "你好"})) == ChunkDelta(content="你好")


def test_openai_refusal() -> None:
    """OpenAI's refusal: content null, the text in ``delta.refusal`` (was dropped)."""
    opening: dict[str, object] = {"role": "assistant", "content": None, "refusal": ""}
    assert parse_chunk(chunk(opening)) == ChunkDelta()
    assert parse_chunk(chunk({"refusal": "I'm sorry"})) == ChunkDelta(refusal="I'm sorry")
    assert parse_chunk(chunk({"content": "a", "refusal": None})) == ChunkDelta(content="a")


def test_kimi_usage_inside_the_choice_from_its_own_transcript() -> None:
    assert parse_chunk(KIMI_FINISH) == ChunkDelta(finish_reason="stop", usage=Usage(19, 13, 32))


def test_top_level_usage_wins_and_is_never_added() -> None:
    data = orjson.loads(KIMI_FINISH)
    data["usage"] = {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32}
    assert parse_chunk(orjson.dumps(data).decode()).usage == Usage(19, 13, 32)


def test_usage_only_chunk_with_empty_or_null_choices() -> None:
    choices: list[object] | None
    for choices in ([], None):
        data: dict[str, object] = {
            "id": "x",
            "choices": choices,
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        }
        assert parse_chunk(orjson.dumps(data).decode()) == ChunkDelta(usage=Usage(3, 4, 7))


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_fields_of_every_dialect(field: str) -> None:
    assert parse_chunk(chunk({field: "think", "content": None})) == ChunkDelta(reasoning="think")


def test_tool_call_deltas_without_index_take_their_position() -> None:
    calls = [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": ""}},
        {"index": 5, "function": {"arguments": "{}"}},
    ]
    parsed = parse_chunk(chunk({"tool_calls": calls}))
    assert [c["index"] for c in parsed.tool_calls or []] == [0, 5]


def test_unknown_fields_and_finish_reasons_pass() -> None:
    parsed = parse_chunk(
        chunk({"content": "a", "obfuscation": "zz"}, finish_reason="weird", service_tier="x")
    )
    assert parsed == ChunkDelta(content="a", finish_reason="weird")


def test_inband_error_is_raised_and_scrubbed() -> None:
    data = (
        '{"error":{"message":"boom for org-abc123 <ak-xyz789> key sk-live-123456789",'
        '"type":"server_error"}}'
    )
    with pytest.raises(UpstreamError) as caught:
        parse_chunk(data, secrets=["sk-live-123456789"])
    assert caught.value.code == "upstream_error"
    assert caught.value.retryable
    assert "org-abc123" not in caught.value.message
    assert "ak-xyz789" not in caught.value.message
    assert "sk-live" not in caught.value.message


def test_malformed_chunk() -> None:
    with pytest.raises(UpstreamError) as caught:
        parse_chunk("{not json")
    assert caught.value.code == "upstream_bad_response"


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable", "http"),
    [
        (
            401,
            b'{"error":{"message":"bad key","type":"invalid_authentication_error"}}',
            "upstream_auth",
            False,
            502,
        ),
        (403, b'{"error":{"message":"nope"}}', "upstream_auth", False, 502),
        (
            404,
            b'{"error":{"message":"no model","code":"model_not_found"}}',
            "upstream_not_found",
            False,
            404,
        ),
        (
            429,
            b'{"error":{"message":"slow down","type":"rate_limit_reached_error"}}',
            "upstream_rate_limited",
            True,
            429,
        ),
        (
            429,
            b'{"error":{"message":"busy","type":"engine_overloaded_error"}}',
            "upstream_rate_limited",
            True,
            429,
        ),
        (
            429,
            b'{"error":{"message":"no money","type":"exceeded_current_quota_error"}}',
            "upstream_quota",
            False,
            429,
        ),
        (
            429,
            b'{"error":{"message":"x","type":"insufficient_quota","code":"insufficient_quota"}}',
            "upstream_quota",
            False,
            429,
        ),
        (402, b'{"error":{"message":"Insufficient Balance"}}', "upstream_quota", False, 429),
        (
            400,
            b'{"error":{"message":"risky","type":"content_filter"}}',
            "upstream_content_filter",
            False,
            400,
        ),
        (400, b'{"error":{"message":"bad temperature"}}', "upstream_bad_request", False, 400),
        (500, b'{"error":{"message":"oops"}}', "upstream_unavailable", True, 503),
        (503, b"<html><body>Service Unavailable</body></html>", "upstream_unavailable", True, 503),
    ],
)
def test_http_errors_are_classified(
    status: int, body: bytes, code: str, retryable: bool, http: int
) -> None:
    error = http_error(status, body, {"content-type": "application/json"})
    assert (error.code, error.retryable, error.status) == (code, retryable, http)
    assert f"HTTP {status}" in error.message
    assert "<html>" not in error.message


def test_retry_after_forms() -> None:
    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "1500"}) == 1.5
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470) == 10.0
    assert retry_after({"retry-after": "soon"}) is None
    error = http_error(429, b"{}", {"retry-after": "3"})
    assert error.retry_after == 3.0
    assert error.headers() == {"Retry-After": "3"}


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "choices",
                    "delta",
                    "content",
                    "usage",
                    "error",
                    "tool_calls",
                    "finish_reason",
                    "reasoning",
                    "prompt_tokens",
                    "index",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@given(st.text(max_size=200) | _json.map(lambda v: orjson.dumps(v).decode()))
def test_any_input_is_a_clear_error_or_a_delta(data: str) -> None:
    try:
        parse_chunk(data)
    except UpstreamError as exc:
        assert exc.code in ("upstream_bad_response", "upstream_error")
