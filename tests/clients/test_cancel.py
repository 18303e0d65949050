"""Issue 12: each JavaScript client's own cancel (``break`` out of openai-node's stream, the AI
SDK's ``abortSignal``) stops the provider call at once, on /v1/chat/completions and on
/v1/responses: measured at the mock upstream, which sees the connection close within 2 s
(the node process stays alive 3 s longer, so its exit cannot be what closed it). Before, the
answer ran on for the 30 s disconnect grace."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.clients.conftest import ok, run_node
from tests.harness import MockUpstream

CASES = ["node-chat", "node-responses", "ai-compatible", "ai-openai-chat", "ai-openai-responses"]


@pytest.fixture(scope="module")
def cancelled(base_url: str) -> tuple[str, dict[str, Any]]:
    tag = secrets.token_hex(4)
    return tag, run_node("cancel.mjs", base_url, tag)


@pytest.mark.parametrize("case", CASES)
def test_a_client_cancel_closes_the_provider_call(
    cancelled: tuple[str, dict[str, Any]], mock_upstream: MockUpstream, case: str
) -> None:
    tag, results = cancelled
    outcome = ok(results, case)
    assert outcome["received"] == 3
    [record] = [r for r in mock_upstream.log() if f"{tag}-{case} " in str(r.get("body"))]
    assert record["client_closed"], record
    assert record["finished"] - outcome["left_at"] < 2.0
    assert record["tokens_sent"] < 1000  # of 3,000 at 100 a second
