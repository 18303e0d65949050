"""A small streamchat client for the terminal: JSON calls, SSE streams, a background server."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

import aiohttp
import orjson
import uvicorn
from starlette.types import ASGIApp

from streamchat.sse import ServerSentEvent, SSEDecoder

__all__ = ["Client", "ClientError", "ReplyPrinter", "background_server"]


class ClientError(Exception):
    pass


class ReplyPrinter:
    """Writes the answer to ``out`` as it streams; thinking and the summary go to stderr."""

    def __init__(self, out: TextIO, err: TextIO = sys.stderr) -> None:
        self.out = out
        self.err = err
        self.ok = False
        self.last_id = ""

    def __call__(self, event: ServerSentEvent) -> None:
        self.last_id = event.id or self.last_id
        data = orjson.loads(event.data)
        if event.event == "meta":
            self.err.write(f"[{data['model']} · {data['message_id']}]\n")
        elif event.event == "reasoning":
            self.err.write(data["text"])
        elif event.event == "delta":
            self.out.write(data["text"])
            self.out.flush()
        elif event.event == "usage":
            mark = "~" if data["estimated"] else ""
            self.err.write(f"\n[{mark}{data['completion_tokens']} tokens]")
        elif event.event == "done":
            self.ok = data["finish_reason"] not in ("stopped",)
            self.out.write("\n")
            self.err.write(f" [{data['finish_reason']}, {data['total_ms']} ms]\n")
        elif event.event == "error":
            self.err.write(f"\nerror: {data['message']} ({data['code']})\n")
        self.err.flush()


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    async def get_json(self, path: str) -> Any:
        try:
            async with aiohttp.ClientSession() as session, session.get(self.base_url + path) as r:
                body = await r.read()
                if r.status >= 400:
                    raise ClientError(f"{path}: HTTP {r.status}: {body.decode(errors='replace')}")
                return orjson.loads(body)
        except aiohttp.ClientError as exc:
            raise ClientError(f"cannot reach streamchat at {self.base_url}: {exc}") from exc

    async def stream(self, method: str, path: str, body: Any, printer: ReplyPrinter) -> bool:
        """Relay an SSE answer to ``printer``; True when it ended with ``done``."""
        data = orjson.dumps(body) if body is not None else None
        headers = {"content-type": "application/json"} if data else {}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.request(
                    method, self.base_url + path, data=data, headers=headers
                ) as response,
            ):
                if response.status == 204:
                    return True
                if response.status >= 400:
                    text = (await response.read()).decode(errors="replace")
                    printer.err.write(f"error: HTTP {response.status}: {text}\n")
                    return False
                decoder = SSEDecoder()
                async for chunk in response.content.iter_any():
                    for event in decoder.feed(chunk):
                        printer(event)
        except aiohttp.ClientError as exc:
            printer.err.write(f"error: {exc}\n")
            return False
        return printer.ok


@contextlib.contextmanager
def background_server(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    http: type[asyncio.Protocol] | str = "httptools",
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yields its base URL. ``http``: uvicorn's HTTP
    protocol (streamchat's own is ``streamchat.web.body_writer.HttpProtocol``)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=http,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="streamchat-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()
    try:
        yield f"http://{bound[0]}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
