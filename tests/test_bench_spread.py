"""The spread-arrivals benchmark's paced upstream (bench/paced_upstream.py) sends what the load
generator verifies, one timer per stream, over kept-alive connections; its table refuses a step
whose load side was too busy to pace the tokens (bench/spread.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from bench.load import MOCK_KEY, Load, Target, run_load
from bench.paced_upstream import serve
from bench.spread import _upstream_stats, render

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    server = await serve(0, MOCK_KEY)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1"
    server.close()


async def test_every_token_arrives_verified_and_is_counted(upstream: str) -> None:
    target = Target(upstream + "/chat/completions", "v1")
    unpaced = await run_load(target, Load(3, 7))
    paced = await run_load(target, Load(2, 4, rate=500, ramp=0.01))

    assert (unpaced.ok, unpaced.tokens, dict(unpaced.failures)) == (3, 21, {})
    assert (paced.ok, paced.tokens, dict(paced.failures)) == (2, 8, {})
    stats = await _upstream_stats(upstream)
    assert (stats["requests"], stats["tokens"]) == (5, 29)
    assert stats["late_p99_ms"] is not None  # paced tokens' timer lateness is kept
    assert (await _upstream_stats(upstream))["tokens"] == 0  # reading resets


async def test_a_kept_alive_connection_carries_requests_one_after_another(upstream: str) -> None:
    port = int(upstream.split(":")[2].split("/")[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    bodies = []
    for n in (2, 3):
        body = orjson.dumps(
            {
                "model": "m",
                "stream": True,
                "messages": [{"role": "user", "content": f"[[mock tokens={n}]]"}],
            }
        )
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %b\r\n"
            b"Content-Length: %d\r\n\r\n%b" % (MOCK_KEY.encode(), len(body), body)
        )
        await reader.readuntil(b"\r\n\r\n")
        received = b""
        while True:
            size = int(await reader.readline(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            received += chunk[:-2]
        bodies.append(received)
    writer.close()

    for n, body in zip((2, 3), bodies, strict=True):
        contents = [
            orjson.loads(line[6:])["choices"][0]["delta"].get("content")
            for line in body.split(b"\n\n")
            if line.startswith(b"data: {")
        ]
        assert contents == ["", *(f" w{i}" for i in range(1, n + 1)), None]
        assert body.endswith(b"data: [DONE]\n\n")


async def test_a_wrong_key_is_refused(upstream: str) -> None:
    target = Target(upstream + "/chat/completions", "v1", api_key="sk-wrong")
    result = await run_load(target, Load(1, 3))

    assert dict(result.failures) == {"HTTP 401": 1}


def test_a_step_with_a_saturated_load_side_is_not_published() -> None:
    row = {
        "failures": 0,
        "ttft_p50_ms": 1.0,
        "ttft_p99_ms": 2.0,
        "gap_p50_ms": 50.0,
        "gap_p99_ms": 51.0,
        "cpu_ms_per_1k_tokens": 30.0,
        "cpu_share": 0.5,
        "background": 0.1,
        "loadavg": 1.0,
        "upstream": {"late_p99_ms": 0.5},
    }
    results = {
        "runs": [
            {
                1000: {
                    "v1": {**row, "client_core": 0.5},
                    "nginx": {**row, "cpu_ms_per_1k_tokens": 15.0, "client_core": 0.5},
                },
                2000: {"v1": {**row, "client_core": 0.9}},
            }
        ]
    }
    table = render(results, max_client=70).splitlines()

    assert "| 30.0 | 2.00x |" in table[2]
    assert "not published: load side at 90 % of its core (> 70 %)" in table[4]
    assert "30.0" not in table[4]
