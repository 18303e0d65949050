"""Background responses across two ``streamchat serve`` workers sharing Redis and PostgreSQL,
through openai-python: started on worker A, polled, resumed and cancelled on worker B."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from typing import Any

import openai
import pytest

from tests.conftest import Cluster
from tests.harness import MockUpstream
from tests.web.test_chat_stream import words

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
MODEL = "gpt-4o-mini"


def client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused-locally", max_retries=0)


def record_of(mock: MockUpstream, tag: str) -> dict[str, Any] | None:
    found = [r for r in mock.log() if tag in str(r.get("body"))]
    return found[0] if found else None


async def until(condition: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting")


async def test_started_on_a_resumed_on_b(cluster: Cluster) -> None:
    a, b, _ = cluster
    async with client(a) as on_a, client(b) as on_b:
        first = []
        stream = await on_a.responses.create(
            model=MODEL, input="[[mock tokens=60 rate=60]]", background=True, stream=True
        )
        async for event in stream:
            first.append(event)
            if len(first) == 6:
                break
        await stream.close()
        assert first[0].type == "response.created"
        response_id = first[0].response.id
        rest = [
            e
            async for e in await on_b.responses.retrieve(
                response_id, stream=True, starting_after=first[-1].sequence_number
            )
        ]
        numbers = [e.sequence_number for e in [*first, *rest]]
        assert numbers == list(range(len(numbers)))
        assert rest[-1].type == "response.completed"
        text = "".join(e.delta for e in [*first, *rest] if e.type == "response.output_text.delta")
        assert text == words(60)
        async with on_b.responses.stream(response_id=response_id) as helper:
            final = await helper.get_final_response()
        assert final.output_text == words(60)
        polled = await until_ended(on_b, response_id)
        assert polled.status == "completed" and polled.output_text == words(60)


async def until_ended(on: openai.AsyncOpenAI, response_id: str, polls: int = 500) -> Any:
    for _ in range(polls):
        response = await on.responses.retrieve(response_id)
        if response.status not in ("queued", "in_progress"):
            return response
        await asyncio.sleep(0.02)
    raise AssertionError("the response did not end")


async def test_started_on_a_cancelled_on_b(cluster: Cluster, mock_upstream: MockUpstream) -> None:
    """The cancel reaches the worker that runs the answer: the provider's connection is
    closed within 2 s of the call, and a second cancel answers the same."""
    a, b, _ = cluster
    tag = secrets.token_hex(4)
    async with client(a) as on_a, client(b) as on_b:
        started = await on_a.responses.create(
            model=MODEL, input=f"{tag} [[mock tokens=3000 rate=100]]", background=True
        )
        await until(lambda: (r := record_of(mock_upstream, tag)) and r["tokens_sent"] >= 5)
        asked = time.time()
        cancelled = await on_b.responses.cancel(started.id)
        assert cancelled.status == "cancelled"
        record = await until(
            lambda: (r := record_of(mock_upstream, tag)) and r["client_closed"] and r
        )
        print(f"cancel on B: provider connection closed {record['finished'] - asked:.3f} s later")
        assert record["finished"] - asked < 2 and record["tokens_sent"] < 1000
        again = await on_b.responses.cancel(started.id)
        assert again.status == "cancelled" and again.output_text == cancelled.output_text
        kept = await until_ended(on_a, started.id)
        assert kept.status == "cancelled" and kept.output_text == cancelled.output_text


async def test_a_response_whose_worker_dies_ends_failed_on_the_other(
    cluster: Cluster, mock_upstream: MockUpstream
) -> None:
    """Worker A, which runs the answer and would store its end, is killed: B's janitor ends
    it ``interrupted``, and B's poll finds it failed with what reached Redis, and stores it."""
    a, b, proc_a = cluster
    tag = secrets.token_hex(4)
    async with client(a) as on_a, client(b) as on_b:
        started = await on_a.responses.create(
            model=MODEL, input=f"{tag} [[mock tokens=400 rate=40]]", background=True
        )
        await until(lambda: (r := record_of(mock_upstream, tag)) and r["tokens_sent"] >= 5)
        await asyncio.sleep(0.3)
        proc_a.send_signal(signal.SIGKILL)
        ended = await until_ended(on_b, started.id, polls=750)
        assert ended.status == "failed" and ended.error is not None
        assert ended.error.message.endswith("(interrupted)")
        assert ended.output_text.startswith(words(3))
        events = [e async for e in await on_b.responses.retrieve(started.id, stream=True)]
        assert events[-1].type == "response.failed"
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert text == ended.output_text
