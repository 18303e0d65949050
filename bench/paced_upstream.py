"""A cheap paced upstream for the spread-arrivals benchmark (bench/spread.py): OpenAI chunks,
every stream paced by its own timer.

The shipped mock upstream (aiohttp, one task and one ``asyncio.sleep`` per token) costs ~25 µs
per paced token, so at c=1,000 x 20 tokens/s it and the load generator fill their core: timers
fire late, the tokens of many streams leave together and the relay gets them in one wake-up.
This one is a raw :class:`asyncio.Protocol` on uvloop: a request's tokens are sent by one
``call_at`` timer per stream, token ``i`` due at ``start + ttft + i / rate`` where ``start`` is
when that request arrived, so streams that start at different instants never share a schedule.
How late each timer fired is kept (``GET /_stats`` returns and resets it): the proof that the
arrivals were spread as scheduled, not bunched by a busy load side.

It speaks only what the benchmark sends: ``POST /v1/chat/completions`` with ``stream: true``
and ``[[mock tokens=N rate=R ttft_ms=T]]`` in the last message; keep-alive; chunked responses.
The tokens are " w1", " w2", ... " wN", as the shipped mock sends them (bench.load.Verifier);
``bytes=B`` pads each with "x" to about B bytes (long answers for bench/saves.py).

    .venv/bin/python -m bench.paced_upstream --port 9000 --api-key sk-bench-0000000000
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
from typing import cast

import orjson
import uvloop

from bench.load import percentile, raise_fd_limit

__all__ = ["PacedUpstream", "serve"]

_DIRECTIVE = re.compile(rb"\[\[mock ([^\]]*)\]\]")
_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
_DONE = b"data: [DONE]\n\n"


class Stats:
    """Timer lateness (seconds after the token was due) of every paced token since the last
    read, sampled up to ``limit`` values."""

    def __init__(self, limit: int = 400_000) -> None:
        self.limit = limit
        self.late: list[float] = []
        self.tokens = 0
        self.requests = 0

    def read(self) -> dict[str, float | int | None]:
        late = sorted(self.late)
        out: dict[str, float | int | None] = {
            "requests": self.requests,
            "tokens": self.tokens,
            "late_p50_ms": _ms(percentile(late, 50)),
            "late_p99_ms": _ms(percentile(late, 99)),
            "late_max_ms": _ms(late[-1] if late else None),
        }
        self.late, self.tokens, self.requests = [], 0, 0
        return out


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def _frame(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


class PacedUpstream(asyncio.Protocol):
    """One upstream connection; requests one after another (keep-alive)."""

    def __init__(self, stats: Stats, api_key: str | None) -> None:
        self.stats = stats
        self.auth = None if api_key is None else b"bearer " + api_key.encode().lower()
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.timer: asyncio.TimerHandle | None = None
        self.busy = False
        # the stream being sent
        self.head = b""
        self.count = 0
        self.sent = 0
        self.start = 0.0
        self.interval = 0.0
        self.pad = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next_request()

    def _next_request(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        request_line = head.split(b"\r\n", 1)[0]
        if request_line.startswith(b"get /_stats"):
            self._respond(200, orjson.dumps(self.stats.read()))
        elif not request_line.startswith(b"post /v1/chat/completions"):
            self._respond(404, b'{"error":{"message":"not found"}}')
        elif self.auth is not None and b"authorization: " + self.auth not in head:
            self._respond(401, b'{"error":{"message":"bad key","type":"invalid_request_error"}}')
        else:
            self._stream(body)

    def _respond(self, status: int, body: bytes) -> None:
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
            % (status, len(body), body)
        )
        if self.buffer:
            self._next_request()

    def _stream(self, body: bytes) -> None:
        request = orjson.loads(body)
        keys = {"tokens": 10.0, "rate": 0.0, "ttft_ms": 0.0, "bytes": 0.0}
        found = _DIRECTIVE.search(orjson.dumps(request["messages"][-1]))
        for item in found.group(1).decode().split() if found else []:
            name, _, value = item.partition("=")
            if name in keys:
                keys[name] = float(value)
        self.head = b'data: {"id":"chatcmpl-paced","object":"chat.completion.chunk","created":1,'
        self.head += b'"model":%b,"choices":[{"index":0,"delta":' % orjson.dumps(request["model"])
        self.count, self.sent = int(keys["tokens"]), 0
        self.pad = b"x" * max(0, int(keys["bytes"]) - 8)
        self.interval = 1 / keys["rate"] if keys["rate"] else 0.0
        self.start = self.loop.time() + keys["ttft_ms"] / 1000
        self.busy = True
        self.stats.requests += 1
        assert self.transport is not None
        self.transport.write(_HEAD + _frame(self._chunk(b'{"role":"assistant","content":""}')))
        self.timer = self.loop.call_at(self.start, self._tick)

    def _chunk(self, delta: bytes, finish: bytes = b"null") -> bytes:
        return self.head + delta + b',"finish_reason":%b}]}\n\n' % finish

    def _tick(self) -> None:
        self.timer = None
        transport = self.transport
        if transport is None:
            return
        now = self.loop.time()
        stats = self.stats
        if self.interval:
            due = self.start + self.sent * self.interval
            if len(stats.late) < stats.limit:
                stats.late.append(max(0.0, now - due))
        self.sent += 1
        stats.tokens += 1
        piece = b'{"content":" w%d%b"}' % (self.sent, self.pad)
        if self.sent < self.count:
            transport.write(_frame(self._chunk(piece)))
            if self.interval:
                self.timer = self.loop.call_at(self.start + self.sent * self.interval, self._tick)
            else:
                self.timer = self.loop.call_soon(self._tick)  # type: ignore[assignment]
            return
        ending = self._chunk(piece) + self._chunk(b"{}", b'"stop"') + _DONE
        transport.write(_frame(ending) + b"0\r\n\r\n")
        self.busy = False
        if self.buffer:
            self._next_request()


async def serve(port: int, api_key: str | None, host: str = "127.0.0.1") -> asyncio.Server:
    stats = Stats()
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: PacedUpstream(stats, api_key), host, port, backlog=4096)


async def _main(port: int, api_key: str | None) -> None:
    server = await serve(port, api_key)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    raise_fd_limit()
    uvloop.run(_main(args.port, args.api_key))


if __name__ == "__main__":
    main()
