"""The Responses API encoder, sans-IO, checked by openai-python's own models (validated, not
just constructed) and by its stream helper's state machine (``ResponseStreamState``, what
``client.responses.stream`` runs), which insists on order and identity."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from streamchat.events import Event
from streamchat.web.responses_events import ResponseEncoder, ResponseShape, final_response

SHAPE = ResponseShape(id="resp_abc", model="gpt-4o-mini", created_at=1_800_000_000)
META = {"conversation_id": None, "message_id": "resp_abc", "model": "gpt-4o-mini"}
USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8, "estimated": False}
STREAM_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)


def done(finish: str = "stop") -> dict[str, Any]:
    return {"finish_reason": finish, "ttft_ms": 1.0, "total_ms": 2400.0}


def events(*pairs: tuple[str, dict[str, Any]]) -> list[Event]:
    return [Event(i, kind, data) for i, (kind, data) in enumerate(pairs, 1)]


def encoded(stream: list[Event]) -> list[dict[str, Any]]:
    encoder = ResponseEncoder(SHAPE)
    out = encoder.start()
    for event in stream:  # one event at a time, as they arrive
        out += encoder.feed([event])
    return out


def replayed(out: list[dict[str, Any]]) -> Any:
    """Every event through the SDK's validation and its stream helper; the final response."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for data in out:
        state.handle_event(STREAM_EVENT.validate_python(data))
    return state._completed_response


TEXT = events(
    ("meta", META),
    ("delta", {"text": "Hello"}),
    ("delta", {"text": " world"}),
    ("usage", USAGE),
    ("done", done()),
)


def test_a_text_answer() -> None:
    out = encoded(TEXT)
    assert [e["type"] for e in out] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    response = replayed(out)
    assert response.output_text == "Hello world"
    assert response.status == "completed" and response.id == "resp_abc"
    assert response.usage.input_tokens == 5 and response.usage.output_tokens == 3
    assert out[2]["item"]["id"] == out[-1]["response"]["output"][0]["id"] == "msg_abc_0"


def test_reasoning_then_text() -> None:
    stream = events(
        ("meta", META),
        ("reasoning", {"text": " r1"}),
        ("reasoning", {"text": " r2"}),
        ("delta", {"text": "A"}),
        ("done", done()),
    )
    out = encoded(stream)
    kinds = [e["type"] for e in out]
    assert kinds.count("response.reasoning_text.delta") == 2
    assert kinds.index("response.reasoning_text.done") < kinds.index("response.output_text.delta")
    response = replayed(out)
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.content[0].text == " r1 r2"
    assert message.type == "message" and response.output_text == "A"


def test_function_calls() -> None:
    call = {"index": 0, "id": "call_1", "type": "function"}
    stream = events(
        ("meta", META),
        ("tool_call", {**call, "function": {"name": "get_weather", "arguments": ""}}),
        ("tool_call", {"index": 0, "function": {"arguments": '{"city": '}}),
        ("tool_call", {"index": 0, "function": {"arguments": '"Paris"}'}}),
        ("tool_call", {"index": 1, "id": "call_2", "function": {"name": "f", "arguments": "{}"}}),
        ("done", done("tool_calls")),
    )
    out = encoded(stream)
    response = replayed(out)
    first, second = response.output
    assert (first.type, first.call_id, first.name) == ("function_call", "call_1", "get_weather")
    assert first.arguments == '{"city": "Paris"}' and second.arguments == "{}"
    assert second.call_id == "call_2" and response.status == "completed"
    deltas = [e["delta"] for e in out if e["type"] == "response.function_call_arguments.delta"]
    assert deltas == ['{"city": ', '"Paris"}', "{}"]


def test_a_refusal_is_a_refusal_part() -> None:
    stream = events(("meta", META), ("delta", {"text": "No.", "refusal": True}), ("done", done()))
    out = encoded(stream)
    assert [e["type"] for e in out][4:6] == ["response.refusal.delta", "response.refusal.done"]
    message = out[-1]["response"]["output"][0]
    assert message["content"] == [{"type": "refusal", "refusal": "No."}]


@pytest.mark.parametrize(
    ("finish", "status", "reason"),
    [("length", "incomplete", "max_output_tokens"), ("stopped", "cancelled", None)],
)
def test_an_unfinished_answer_is_incomplete(finish: str, status: str, reason: str | None) -> None:
    stream = events(("meta", META), ("delta", {"text": "Hi"}), ("done", done(finish)))
    last = encoded(stream)[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["status"] == status
    assert last["response"]["incomplete_details"] == {"reason": reason}
    Response.model_validate(last["response"])


def test_an_error_fails_the_response() -> None:
    error = {"code": "upstream_dropped", "message": "the provider closed", "retryable": True}
    stream = events(("meta", META), ("delta", {"text": "Hi"}), ("error", error))
    out = encoded(stream)
    assert [e["type"] for e in out][-2:] == ["response.output_item.done", "response.failed"]
    failed = out[-1]["response"]
    assert failed["status"] == "failed" and failed["output"][0]["status"] == "incomplete"
    assert failed["error"] == {
        "code": "server_error",
        "message": "the provider closed (upstream_dropped)",
    }
    Response.model_validate(failed)  # the SDK's closed set of error codes
    assert encoded(stream + events(("delta", {"text": "late"}))) == out  # nothing after the end


def test_a_replay_gives_the_same_events() -> None:
    """Deterministic: the log replayed through a new encoder (in other batches) numbers every
    event the same, so a client resuming after ``sequence_number`` N misses and repeats none."""
    encoder = ResponseEncoder(SHAPE)
    whole = encoder.start() + encoder.feed(TEXT)
    assert encoded(TEXT) == whole


def test_the_non_streamed_response() -> None:
    response = Response.model_validate(final_response(SHAPE, TEXT))
    assert response.output_text == "Hello world" and response.status == "completed"
    assert response.completed_at == SHAPE.created_at + 2
