"""Background responses through openai-node (resume with ``starting_after``, the stream helper
by ``response_id``, ``responses.cancel`` measured at the mock upstream) and @ai-sdk/openai's
``previousResponseId``: js/responses_background.mjs, one node process for the module."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from tests.clients.conftest import ok, run_node
from tests.harness import MockUpstream
from tests.web.test_chat_stream import words

TAG = secrets.token_hex(4)


@pytest.fixture(scope="module")
def results(base_url: str) -> dict[str, Any]:
    return run_node("responses_background.mjs", base_url, TAG)


def test_openai_node_resumes_a_background_stream(results: dict[str, Any]) -> None:
    resumed = ok(results, "node_resume")
    assert resumed["sequence"] == list(range(len(resumed["sequence"])))
    assert (resumed["last"], resumed["text"]) == ("response.completed", words(40))
    assert resumed["helper"] == {"first": 3, "text": words(40), "status": "completed"}


def test_openai_node_cancel(results: dict[str, Any], mock_upstream: MockUpstream) -> None:
    cancel = ok(results, "node_cancel")
    assert cancel["status"] == ["queued", "cancelled", "cancelled", "cancelled"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        [record] = [r for r in mock_upstream.log() if TAG in str(r.get("body"))]
        if record["client_closed"]:
            break
        time.sleep(0.02)
    print(f"openai-node cancel: provider closed {record['finished'] - cancel['asked']:.3f} s later")
    assert record["client_closed"] and record["finished"] - cancel["asked"] < 2


def test_ai_sdk_previous_response_id(results: dict[str, Any], mock_upstream: MockUpstream) -> None:
    previous = ok(results, "ai_previous")
    assert previous["id"].startswith("resp_") and previous["text"] == words(3)
    [record] = [
        r
        for r in mock_upstream.log()
        if "[[mock tokens=3]]" in str(r.get("body")) and words(2) in str(r.get("body"))
    ][-1:]
    assert record["body"]["messages"][-3:] == [
        {"role": "user", "content": "[[mock tokens=2]]"},
        {"role": "assistant", "content": words(2)},
        {"role": "user", "content": "[[mock tokens=3]]"},
    ]


def test_openai_node_previous_response_id_and_delete(
    results: dict[str, Any], mock_upstream: MockUpstream
) -> None:
    assert ok(results, "node_previous") == {"text": words(4), "previous": True}
    [sent] = [
        messages
        for r in mock_upstream.log()
        if (messages := (r.get("body") or {}).get("messages") or [])[-1:]
        == [{"role": "user", "content": "[[mock tokens=4]]"}]
    ][-1:]
    assert sent == [
        {"role": "user", "content": "[[mock tokens=2]]"},
        {"role": "assistant", "content": words(2)},
        {"role": "user", "content": "[[mock tokens=4]]"},
    ]
    assert ok(results, "node_delete") == {"gone": True, "name": "NotFoundError"}
