"""Background responses, resume, cancel, delete and ``previous_response_id`` through
openai-python's own calls (``responses.create(background=True)``, ``responses.retrieve``,
``responses.retrieve(stream=True, starting_after=k)``, ``responses.stream(response_id=...)``,
``responses.cancel``, ``responses.delete``), against the mock upstream."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseItem

from tests.harness import MockUpstream
from tests.web.test_chat_stream import words

MODEL = "gpt-4o-mini"


@pytest.fixture
def sync(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url, api_key="unused-locally", max_retries=0) as client:
        yield client


def until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def record_of(mock: MockUpstream, tag: str) -> dict[str, Any] | None:
    found = [r for r in mock.log() if tag in str(r.get("body"))]
    return found[0] if found else None


def finished(sync: openai.OpenAI, response_id: str) -> Response:
    response: Response = until(
        lambda: (
            (r := sync.responses.retrieve(response_id)).status not in ("queued", "in_progress")
            and r
        )
    )
    return response


def test_background_returns_at_once_and_polls_to_the_end(sync: openai.OpenAI) -> None:
    started = sync.responses.create(
        model=MODEL, input="[[mock tokens=300 rate=100]]", background=True
    )
    assert started.status == "queued" and started.background is True
    assert started.id.startswith("resp_") and started.output == []
    during = until(lambda: (r := sync.responses.retrieve(started.id)).output and r)
    assert during.status == "in_progress" and words(300).startswith(during.output_text)
    final = finished(sync, started.id)
    assert final.status == "completed" and final.output_text == words(300)
    assert final.usage is not None and final.usage.output_tokens == 300
    assert final.id == started.id and final.created_at == started.created_at


def test_a_background_stream_resumes_after_a_sequence_number(sync: openai.OpenAI) -> None:
    with sync.responses.create(
        model=MODEL, input="[[mock tokens=40 rate=80]]", background=True, stream=True
    ) as stream:
        first = []
        for event in stream:
            first.append(event)
            if len(first) == 6:
                break
    assert first[0].type == "response.created" and first[0].response.status == "queued"
    assert first[1].type == "response.in_progress"
    assert first[1].response.status == "in_progress"
    response_id = first[0].response.id
    last = first[-1].sequence_number
    rest = list(sync.responses.retrieve(response_id, stream=True, starting_after=last))
    numbers = [e.sequence_number for e in [*first, *rest]]
    assert numbers == list(range(len(numbers)))
    assert rest[-1].type == "response.completed"
    text = "".join(e.delta for e in [*first, *rest] if e.type == "response.output_text.delta")
    assert text == words(40)
    # A full replay gives every event again with the same numbers.
    replay = list(sync.responses.retrieve(response_id, stream=True))
    assert [e.to_dict() for e in replay] == [e.to_dict() for e in [*first, *rest]]


def test_the_stream_helper_re_attaches_by_response_id(sync: openai.OpenAI) -> None:
    started = sync.responses.create(
        model=MODEL, input="[[mock tokens=12 rate=40]]", background=True
    )
    with sync.responses.stream(response_id=started.id) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert final.output_text == words(12) and final.id == started.id
    with sync.responses.stream(response_id=started.id, starting_after=3) as stream:
        numbers = [e.sequence_number for e in stream]
        assert stream.get_final_response().output_text == words(12)
    assert numbers[0] == 4


def test_cancel_closes_the_provider_call_and_is_idempotent(
    sync: openai.OpenAI, mock_upstream: MockUpstream
) -> None:
    tag = secrets.token_hex(4)
    started = sync.responses.create(
        model=MODEL, input=f"{tag} [[mock tokens=3000 rate=100]]", background=True
    )
    until(lambda: (r := record_of(mock_upstream, tag)) and r["tokens_sent"] >= 5)
    asked = time.time()
    cancelled = sync.responses.cancel(started.id)
    assert cancelled.status == "cancelled" and cancelled.id == started.id
    record = until(lambda: (r := record_of(mock_upstream, tag)) and r["client_closed"] and r)
    print(f"cancel: provider connection closed {record['finished'] - asked:.3f} s after the call")
    assert record["finished"] - asked < 2 and record["tokens_sent"] < 1000
    assert sync.responses.cancel(started.id).status == "cancelled"
    kept = sync.responses.retrieve(started.id)
    assert kept.status == "cancelled" and kept.output_text == cancelled.output_text
    assert kept.output_text.startswith(words(3))


def test_cancel_of_a_response_not_in_the_background_is_refused(sync: openai.OpenAI) -> None:
    done = sync.responses.create(model=MODEL, input="[[mock tokens=2]]")
    assert sync.responses.cancel(done.id).status == "completed"  # ended: returned as it is
    with pytest.raises(openai.NotFoundError):
        sync.responses.cancel("resp_unknown")


def test_delete(sync: openai.OpenAI, mock_upstream: MockUpstream) -> None:
    tag = secrets.token_hex(4)
    running = sync.responses.create(
        model=MODEL, input=f"{tag} [[mock tokens=3000 rate=100]]", background=True
    )
    until(lambda: record_of(mock_upstream, tag))
    sync.responses.delete(running.id)
    with pytest.raises(openai.NotFoundError):
        sync.responses.retrieve(running.id)
    assert until(lambda: (r := record_of(mock_upstream, tag)) and r["client_closed"])
    with pytest.raises(openai.NotFoundError):
        sync.responses.delete(running.id)


def test_stored_responses_chain_with_previous_response_id(
    sync: openai.OpenAI, mock_upstream: MockUpstream
) -> None:
    first = sync.responses.create(model=MODEL, input="[[mock tokens=2]]", instructions="Brief.")
    assert sync.responses.retrieve(first.id).output_text == words(2)
    second = sync.responses.create(
        model=MODEL, input="[[mock tokens=3]]", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    third = sync.responses.create(
        model=MODEL,
        input=[{"role": "user", "content": "[[mock tokens=1]]"}],
        previous_response_id=second.id,
        instructions="Now.",
    )
    assert third.output_text == words(1)
    assert mock_upstream.log()[-1]["body"]["messages"] == [
        {"role": "system", "content": "Now."},  # a previous response's instructions stay behind
        {"role": "user", "content": "[[mock tokens=2]]"},
        {"role": "assistant", "content": words(2)},
        {"role": "user", "content": "[[mock tokens=3]]"},
        {"role": "assistant", "content": words(3)},
        {"role": "user", "content": "[[mock tokens=1]]"},
    ]
    with pytest.raises(openai.NotFoundError, match="resp_nope"):
        sync.responses.create(model=MODEL, input="x", previous_response_id="resp_nope")


def test_a_streamed_response_is_stored_at_its_end(sync: openai.OpenAI) -> None:
    with sync.responses.stream(model=MODEL, input="[[mock tokens=4]]") as stream:
        final = stream.get_final_response()
    kept = until(lambda: _retrieved(sync, final.id))
    assert kept.output_text == words(4) and kept.status == "completed"
    unstored = sync.responses.create(model=MODEL, input="[[mock tokens=1]]", store=False)
    with pytest.raises(openai.NotFoundError):
        sync.responses.retrieve(unstored.id)


def _retrieved(sync: openai.OpenAI, response_id: str) -> Response | None:
    try:
        return sync.responses.retrieve(response_id)
    except openai.NotFoundError:
        return None


def test_a_background_failure_is_a_failed_response(sync: openai.OpenAI) -> None:
    """A provider failure before the first token has no HTTP status to become (the POST has
    answered): the response ends ``failed`` with the error, and stays so."""
    started = sync.responses.create(
        model=MODEL, input="[[mock status=401 kind=auth]]", background=True
    )
    assert started.status == "queued"
    final = finished(sync, started.id)
    assert final.status == "failed" and final.error is not None and final.output == []
    assert final.error.code == "server_error" and final.error.message.endswith("(upstream_auth)")
    events = list(sync.responses.retrieve(started.id, stream=True))
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.failed",
    ]


def test_a_retry_with_its_idempotency_key_is_one_provider_call(
    sync: openai.OpenAI, mock_upstream: MockUpstream
) -> None:
    """The same Idempotency-Key attaches a retried create to the response its first try
    started, in the background too (the retry neither stores a second row nor stops it)."""
    for background in (False, True):
        tag = secrets.token_hex(4)
        headers = {"Idempotency-Key": f"key-{tag}"}
        tries = [
            sync.responses.create(
                model=MODEL,
                input=f"{tag} [[mock tokens=20 rate=100]]",
                background=background,
                extra_headers=headers,
            )
            for _ in range(2)
        ]
        assert tries[0].id == tries[1].id
        final = finished(sync, tries[0].id)
        assert final.status == "completed" and final.output_text == words(20)
        calls = [r for r in mock_upstream.log() if tag in str(r.get("body"))]
        assert len(calls) == 1, background


def test_previous_response_id_of_a_background_response(
    sync: openai.OpenAI, mock_upstream: MockUpstream
) -> None:
    """While it runs it cannot be continued (400); as soon as it ended (even before its
    worker stored the end) its output is the history."""
    tag = secrets.token_hex(4)
    running = sync.responses.create(
        model=MODEL, input=f"{tag} [[mock tokens=3000 rate=100]]", background=True
    )
    with pytest.raises(openai.BadRequestError, match="is still"):
        sync.responses.create(model=MODEL, input="x", previous_response_id=running.id)
    sync.responses.cancel(running.id)
    short = sync.responses.create(model=MODEL, input="[[mock tokens=2]]", background=True)
    finished(sync, short.id)
    follow = sync.responses.create(
        model=MODEL, input="[[mock tokens=1]]", previous_response_id=short.id
    )
    assert follow.output_text == words(1)
    assert mock_upstream.log()[-1]["body"]["messages"] == [
        {"role": "user", "content": "[[mock tokens=2]]"},
        {"role": "assistant", "content": words(2)},
        {"role": "user", "content": "[[mock tokens=1]]"},
    ]


def test_input_items_are_listed(sync: openai.OpenAI) -> None:
    """``responses.input_items.list``: the response's own input, in the SDK's item types, newest
    first by default, paged with ``after``."""
    created = sync.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "22 C"},
            {"role": "assistant", "content": "It is 22 C."},
            {"role": "user", "content": [{"type": "input_text", "text": "[[mock tokens=1]]"}]},
        ],
    )
    listed = sync.responses.input_items.list(created.id, order="asc")
    kinds = [(item.type, getattr(item, "role", None)) for item in listed.data]
    assert kinds == [
        ("message", "user"),
        ("function_call", None),
        ("function_call_output", None),
        ("message", "assistant"),
        ("message", "user"),
    ]
    first = listed.data[0]
    assert first.type == "message" and first.content[0].to_dict() == {
        "type": "input_text",
        "text": "weather?",
    }
    assert len({item.id for item in listed.data}) == 5 and listed.has_more is False
    raw = sync.responses.input_items.with_raw_response.list(created.id).http_response.json()
    for item in raw["data"]:  # each in a shape the SDK's own validation accepts
        pydantic.TypeAdapter(ResponseItem).validate_python(item)
    newest = sync.responses.input_items.list(created.id, limit=2)
    assert [i.id for i in newest.data] == [i.id for i in reversed(listed.data)][:2]
    assert newest.has_more is True
    rest = sync.responses.input_items.list(created.id, limit=10, after=newest.data[-1].id)
    assert [i.id for i in rest.data] == [i.id for i in reversed(listed.data)][2:]
    with pytest.raises(openai.NotFoundError):
        sync.responses.input_items.list("resp_unknown")


def test_an_idempotency_key_reused_for_another_kind_of_answer_is_refused(
    sync: openai.OpenAI,
) -> None:
    """A key of a chat completion, or of a response that is not background, is not the key
    of a background response: 422, not an attach to an answer that stops with its client."""
    key = {"Idempotency-Key": f"key-{secrets.token_hex(4)}"}
    prompt = "[[mock tokens=2]]"
    sync.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}], extra_headers=key
    )
    with pytest.raises(openai.UnprocessableEntityError, match="different request"):
        sync.responses.create(model=MODEL, input=prompt, extra_headers=key)
    key = {"Idempotency-Key": f"key-{secrets.token_hex(4)}"}
    sync.responses.create(model=MODEL, input=prompt, extra_headers=key)
    with pytest.raises(openai.UnprocessableEntityError, match="different request"):
        sync.responses.create(model=MODEL, input=prompt, background=True, extra_headers=key)
