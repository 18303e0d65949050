"""The shipped mock upstream on uvloop, so that it and the load generator share one core at
~35,000 tokens/s (``streamchat mock-upstream`` runs on the default asyncio loop).

    .venv/bin/python -m bench.upstream --port 9000 --api-key sk-bench-0000000000
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop

from bench.load import raise_fd_limit
from streamchat.mock_upstream import serve_mock


async def serve(port: int, api_key: str | None) -> None:
    server = await serve_mock("127.0.0.1", port, api_key=api_key)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    raise_fd_limit()
    uvloop.run(serve(args.port, args.api_key))


if __name__ == "__main__":
    main()
