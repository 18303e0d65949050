"""Time to first token added by streamchat at c=1: direct to the mock upstream vs through
streamchat's /v1 and /api/chat, 20 sequential requests each, interleaved, medians.

    .venv/bin/python -m bench.ttft [--requests 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp

from bench.processes import MOCK_KEY, mock_upstream, streamchat

PROMPT = "[[mock tokens=5]]"


async def first_token_ms(
    session: aiohttp.ClientSession, url: str, body: dict[str, object], marker: bytes
) -> float:
    start = time.perf_counter()
    async with session.post(
        url, json=body, headers={"authorization": f"Bearer {MOCK_KEY}"}
    ) as response:
        buffer = b""
        async for chunk in response.content.iter_any():
            buffer += chunk
            if marker in buffer:
                elapsed = (time.perf_counter() - start) * 1000
                break
        else:
            raise RuntimeError(f"no token from {url}: {buffer[:200]!r}")
        await response.read()
    return elapsed


async def measure(upstream: str, gateway: str, requests: int) -> dict[str, list[float]]:
    v1_body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    targets: dict[str, tuple[str, dict[str, object], bytes]] = {
        "direct to the mock upstream": (
            f"{upstream}/chat/completions",
            v1_body,
            b'"content":" w1"',
        ),
        "streamchat /v1/chat/completions": (
            f"{gateway}/v1/chat/completions",
            v1_body,
            b'"content":" w1"',
        ),
        "streamchat /api/chat (stored)": (
            f"{gateway}/api/chat",
            {"message": PROMPT, "model": "gpt-4o-mini"},
            b'{"text":" w1"}',
        ),
    }
    results: dict[str, list[float]] = {name: [] for name in targets}
    async with aiohttp.ClientSession() as session:
        for url, body, marker in targets.values():  # warm up
            await first_token_ms(session, url, body, marker)
        for _ in range(requests):
            for name, (url, body, marker) in targets.items():
                results[name].append(await first_token_ms(session, url, body, marker))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    with mock_upstream(cpu=1) as upstream, streamchat(upstream, cpu=0) as gateway:
        results = asyncio.run(measure(upstream, gateway, args.requests))
    direct = statistics.median(results["direct to the mock upstream"])
    print(f"TTFT at c=1, {args.requests} sequential requests each (ms)\n")
    print("| path | median | min | max | added over direct (median) |")
    print("|---|---|---|---|---|")
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median:.2f} | {min(values):.2f} | {max(values):.2f} | "
            f"{median - direct:+.2f} |"
        )


if __name__ == "__main__":
    main()
