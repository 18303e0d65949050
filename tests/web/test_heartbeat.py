"""A stream never stays silent for much longer than ``heartbeat_interval``: a comment
fills every pause between events (proxies and browsers drop idle connections), counted from the
stream's last write, on streamchat's own server protocol and on plain uvicorn alike."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
import pytest

from streamchat.sse import COMMENT_PING
from tests.conftest import Server

HEARTBEAT = 0.5
SLACK = 0.35  # scheduling on a busy test machine; a ping a whole heartbeat late is a failure


@pytest.mark.parametrize("pushed", [True, False], ids=["own protocol", "plain uvicorn"])
async def test_pings_fill_every_pause_between_tokens(make_server: Any, pushed: bool) -> None:
    server: Server = make_server(pushed=pushed, heartbeat_interval=HEARTBEAT)
    body = {"message": "[[mock tokens=4 rate=0.7]]", "model": "gpt-4o-mini"}  # ~1.4 s apart
    lines: list[tuple[float, bytes]] = []  # (arrived, line) of every line but the blank ones
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        client.stream("POST", "/api/chat", json=body) as response,
    ):
        assert response.status_code == 200
        buffer = b""
        async for chunk in response.aiter_raw():
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            lines += [(time.monotonic(), line) for line in complete if line]
    kinds = [line for _, line in lines if line.startswith(b"event: ")]
    assert kinds.count(b"event: delta") == 4 and kinds[-1] == b"event: done", kinds
    pings = [t for t, line in lines if line + b"\n" == COMMENT_PING]
    assert len(pings) >= 6  # two or more in each of the three pauses
    silences = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(lines)]
    assert max(silences) < HEARTBEAT + SLACK, silences


@pytest.mark.parametrize("pushed", [True, False], ids=["own protocol", "plain uvicorn"])
async def test_a_stream_without_pings_waits_quietly(make_server: Any, pushed: bool) -> None:
    """The tutorial's raw-text ``/stream-chat`` has no pings: a pause longer than the heartbeat
    is plain silence, and waiting through it costs the server nothing."""
    server: Server = make_server(pushed=pushed, heartbeat_interval=0.1)
    body = {"message": "[[mock tokens=3 rate=0.8]]"}  # 1.25 s between tokens
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        await client.post("/stream-chat", json={"message": "warm up [[mock tokens=1]]"})
        cpu = time.process_time()  # the server runs in this process (a thread)
        response = await client.post("/stream-chat", json=body)
        used = time.process_time() - cpu
    assert response.status_code == 200
    assert response.text == " w1 w2 w3"
    assert used < 0.5, f"{used:.2f} s of CPU for a 2.5 s answer of three tokens"
