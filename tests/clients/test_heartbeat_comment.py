"""Issue 12: the heartbeat comment between tokens is one that every client ignores. ``: ping``
ended Continue's read of its buffer like ``data: [DONE]`` (continuedev/continue
``packages/fetch/src/stream.ts``), and the blank line after it was an empty event to
openai-python once a chunk with an ``id:`` had come (``JSONDecodeError`` in the middle of the
stream). Tokens come half a second apart and the heartbeat is 50 ms, so comments sit between
them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests import harness
from tests.clients.conftest import ok, run_node
from tests.harness import MockUpstream, mock_provider, streamchat_thread
from tests.web.test_chat_stream import words

SLOW = "[[mock tokens=4 rate=2]]"


@pytest.fixture(scope="module")
def beating(tmp_path_factory: pytest.TempPathFactory, mock_upstream: MockUpstream) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("heartbeat")
    settings = harness.test_settings(
        tmp,
        f"sqlite+aiosqlite:///{tmp / 'streamchat.db'}",
        providers=[mock_provider(mock_upstream)],
        heartbeat_interval=0.05,
    )
    with streamchat_thread(settings) as url:
        yield url + "/v1"


def continue_reads(raw: bytes) -> list[str]:
    """The data lines Continue's ``streamSse`` acts on when ``raw`` arrives in one read: a line
    starting ``data: [DONE]`` or ``: ping`` stops the read (its ``parseSseLine`` rule, restated)."""
    seen = []
    for line in raw.decode().split("\n"):
        if line.startswith(("data: [DONE]", "data:[DONE]", ": ping")):
            break
        if line.startswith("data:"):
            seen.append(line)
    return seen


def test_continue_reads_every_chunk_past_a_heartbeat(beating: str) -> None:
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": SLOW}]}
    with httpx.Client(timeout=30) as http:
        raw = http.post(beating + "/chat/completions", json=body).content
    assert raw.count(b"\n: keepalive\n") >= 3  # heartbeats in the pauses
    assert len(continue_reads(raw)) == 6  # role, four tokens, finish: nothing cut off


def test_openai_python_ignores_the_heartbeat(beating: str) -> None:
    with openai.OpenAI(base_url=beating, api_key="unused", max_retries=0) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": SLOW}], stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert text == words(4)


@pytest.mark.parametrize(
    ("script", "args"),
    [("openai_node.mjs", ()), ("ai_sdk.mjs", ("compatible",)), ("ai_sdk.mjs", ("openai",))],
    ids=["openai-node", "ai-sdk-compatible", "ai-sdk-openai"],
)
def test_javascript_clients_ignore_the_heartbeat(
    beating: str, script: str, args: tuple[str, ...]
) -> None:
    results: dict[str, Any] = run_node(script, beating, *args, "slow")
    slow = ok(results, "slow")
    assert slow["text"] == words(4)
    assert slow.get("errors", []) == []
