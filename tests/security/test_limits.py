"""Limits: answers per minute per user (in one process, and shared by workers through Redis),
concurrent answers per user and per worker, each over-limit answer an immediate 429 with a
clear message and Retry-After; and the max_tokens clamp, as the upstream receives it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import Server
from tests.faults.tally import TALLY, ended_once
from tests.harness import read_stream
from tests.security.conftest import AuthServer, AuthServerFactory

REDIS_URL = "redis://127.0.0.1:6379/13"
QUICK = {"message": "hi [[mock tokens=2]]", "model": "gpt-4o-mini"}
SLOW = {"message": "slow [[mock tokens=30 rate=10]]", "model": "gpt-4o-mini"}
V1 = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi [[mock tokens=2]]"}]}


async def same_minute() -> None:
    """The per-minute window is fixed: start well inside one."""
    if time.time() % 60 > 50:
        await asyncio.sleep(61 - time.time() % 60)


def limited(response: httpx.Response, code: str, *, v1: bool = False) -> None:
    TALLY.bad_input()
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    error = response.json()["error"]
    assert error["code"] == code
    if v1:
        assert error["type"] == "rate_limit_error"
    else:
        assert error["retryable"] is True
        assert error["retry_after"] == pytest.approx(retry_after, abs=1)
    assert 1 <= retry_after <= 61
    assert "None" not in error["message"]


async def answer(client: httpx.AsyncClient, body: dict[str, Any] = QUICK) -> None:
    stream = await read_stream(client, "POST", "/api/chat", json=body)
    assert stream.status == 200, stream.raw
    ended_once(stream, "answer within the limits")


async def test_answers_per_minute_per_user(make_auth_server: AuthServerFactory) -> None:
    await same_minute()
    s: AuthServer = make_auth_server(requests_per_minute=3)
    async with (
        httpx.AsyncClient(base_url=s.url, headers=s.bearer("alice"), timeout=30) as alice,
        httpx.AsyncClient(base_url=s.url, headers=s.bearer("bob"), timeout=30) as bob,
    ):
        await answer(alice)
        assert (await alice.post("/v1/chat/completions", json=V1)).status_code == 200
        assert (await alice.post("/stream-chat", json={"message": "x"})).status_code == 200
        started = time.monotonic()
        limited(await alice.post("/api/chat", json=QUICK), "rate_limited")
        limited(await alice.post("/v1/chat/completions", json=V1), "rate_limited", v1=True)
        limited(await alice.post("/stream-chat", json={"message": "x"}), "rate_limited")
        assert time.monotonic() - started < 1  # immediate
        await answer(bob)  # one user's limit is not another's


def refused_requests(cid: str) -> list[tuple[str, dict[str, Any]]]:
    """Every way to start an answer: new and existing conversation, regenerate, edit, tutorial."""
    return [
        ("/api/chat", QUICK),
        ("/api/chat", {**QUICK, "conversation_id": cid}),
        (f"/api/conversations/{cid}/regenerate", {}),
        (f"/api/conversations/{cid}/edit", {"message": "edited"}),
        ("/stream-chat", {"message": "x"}),
    ]


@pytest.mark.parametrize(
    ("code", "limits"),
    [
        ("rate_limited", {"requests_per_minute": 2}),
        ("too_many_streams", {"requests_per_minute": 0, "max_streams_per_user": 1}),
    ],
    ids=["per_minute", "concurrent"],
)
async def test_a_refused_answer_leaves_nothing_behind(
    make_server: Any, code: str, limits: dict[str, int]
) -> None:
    """POST /api/chat without conversation_id created the conversation before the limits were
    checked: each refused answer left an empty conversation behind (and one refused for
    capacity, its question and an error answer; regenerate and edit had deleted the answer
    they replace)."""
    await same_minute()
    server: Server = make_server(**limits)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        first = await read_stream(client, "POST", "/api/chat", json=QUICK)
        cid = first.first("meta")["conversation_id"]
        before = (await client.get(f"/api/conversations/{cid}")).json()
        slow = asyncio.create_task(answer(client, SLOW))  # the second answer of the minute
        await asyncio.sleep(0.5)
        for path, body in refused_requests(cid):
            limited(await client.post(path, json=body), code)
        await asyncio.wait_for(slow, 15)
        listing = (await client.get("/api/conversations")).json()["conversations"]
        assert len(listing) == 2
        after = (await client.get(f"/api/conversations/{cid}")).json()
        assert after["messages"] == before["messages"]
        assert after["title"] == before["title"]


async def test_answers_per_minute_are_shared_by_workers_through_redis(make_server: Any) -> None:
    with redis.Redis.from_url(REDIS_URL) as client:
        client.flushdb()
    await same_minute()
    settings = {"redis_url": REDIS_URL, "requests_per_minute": 3}
    first: Server = make_server(**settings)
    second: Server = make_server(**settings)
    async with (
        httpx.AsyncClient(base_url=first.url, timeout=30) as a,
        httpx.AsyncClient(base_url=second.url, timeout=30) as b,
    ):
        await answer(a)
        await answer(b)
        await answer(a)
        limited(await b.post("/api/chat", json=QUICK), "rate_limited")
        limited(await a.post("/api/chat", json=QUICK), "rate_limited")


async def test_concurrent_answers_per_user_and_per_worker(
    make_auth_server: AuthServerFactory,
) -> None:
    s: AuthServer = make_auth_server(max_streams_per_user=2, max_streams=3, requests_per_minute=0)
    async with (
        httpx.AsyncClient(base_url=s.url, headers=s.bearer("alice"), timeout=30) as alice,
        httpx.AsyncClient(base_url=s.url, headers=s.bearer("bob"), timeout=30) as bob,
    ):
        running = [asyncio.create_task(answer(alice, SLOW)) for _ in range(2)]
        await asyncio.sleep(0.5)
        mine = await alice.post("/api/chat", json=QUICK)
        limited(mine, "too_many_streams")
        assert "2 answers running" in mine.json()["error"]["message"]
        limited(await alice.post("/v1/chat/completions", json=V1), "too_many_streams", v1=True)
        running.append(asyncio.create_task(answer(bob, SLOW)))  # bob has his own two
        await asyncio.sleep(0.5)
        full = await bob.post("/api/chat", json=QUICK)  # ... but the worker runs three at most
        limited(full, "too_many_streams")
        assert "its limit" in full.json()["error"]["message"]
        await asyncio.wait_for(asyncio.gather(*running), 15)
        await answer(alice)  # capacity is given back when answers end
        await answer(bob)


async def test_simultaneous_answers_with_redis_keep_the_per_user_limit(make_server: Any) -> None:
    """With Redis, starting an answer waits for Redis (its owner is written first): answers
    asked for at the same moment must still count each other."""
    with redis.Redis.from_url(REDIS_URL) as client:
        client.flushdb()
    server: Server = make_server(redis_url=REDIS_URL, max_streams_per_user=2, requests_per_minute=0)
    slow_v1 = {
        "model": "gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": SLOW["message"]}],
    }
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

        async def ask() -> int:
            async with client.stream("POST", "/v1/chat/completions", json=slow_v1) as response:
                await response.aread()
                return response.status_code

        statuses = await asyncio.gather(*(ask() for _ in range(8)))
    TALLY.bad_input(statuses.count(429))
    assert sorted(statuses) == [200, 200] + [429] * 6


async def test_max_completion_tokens_clamp_reaches_the_upstream(make_server: Any) -> None:
    server: Server = make_server(max_completion_tokens=5)
    server.mock.reset()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        stream = await read_stream(client, "POST", "/api/chat", json={**QUICK, "message": "q"})
        ended_once(stream, "clamped answer")
        assert stream.text() == " w1 w2 w3 w4 w5"
        assert stream.last()["finish_reason"] == "length"
        for params in ({"max_tokens": 1000}, {"max_tokens": 3}):
            created = await client.post("/api/conversations", json={"params": params})
            await read_stream(
                client,
                "POST",
                "/api/chat",
                json={"message": "q", "conversation_id": created.json()["id"]},
            )
        for extra in ({}, {"max_tokens": 100}, {"max_completion_tokens": 100}, {"max_tokens": 2}):
            response = await client.post("/v1/chat/completions", json={**V1, **extra})
            assert response.status_code == 200
    sent = [
        {k: v for k, v in record["body"].items() if k in ("max_tokens", "max_completion_tokens")}
        for record in server.mock.log()
    ]
    assert sent == [
        {"max_tokens": 5},
        {"max_tokens": 5},
        {"max_tokens": 3},
        {"max_tokens": 5},
        {"max_tokens": 5},
        {"max_completion_tokens": 5},
        {"max_tokens": 2},
    ]
