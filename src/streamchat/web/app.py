"""The composition root: :func:`create_app` chooses the concrete store, broker and upstreams,
opens them in the lifespan and hands them to the handlers as :class:`Services`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import streamchat
from streamchat.errors import (
    MisdirectedRequest,
    PayloadTooLarge,
)
from streamchat.fanout import Broker
from streamchat.fanout.memory import MemoryBroker
from streamchat.fanout.redis import RedisBroker
from streamchat.generations import Generations
from streamchat.limits import Limits
from streamchat.logs import configure_logging
from streamchat.settings import Settings
from streamchat.store.sql import SqlStore
from streamchat.upstream.catalog import Catalog, build_upstreams
from streamchat.web import auth as auth_api
from streamchat.web import (
    capabilities_api,
    chat_api,
    conversations_api,
    files_api,
    openai_api,
    ops,
    raw_routes,
    responses_api,
    responses_kept,
    search_api,
    tutorial,
)
from streamchat.web.auth import Authenticator
from streamchat.web.body_writer import body_writer
from streamchat.web.metrics import Metrics
from streamchat.web.problems import install_handlers
from streamchat.web.services import LOCAL_USER, Services
from streamchat.web.streaming import DroppedClientFilter

__all__ = [
    "PAGE_CSP",
    "Gate",
    "StartupRefused",
    "StreamchatApp",
    "app_from_environment",
    "create_app",
]

log = logging.getLogger("streamchat")
_DROPPED_CLIENTS = DroppedClientFilter()
STATIC = Path(__file__).parent / "static"
GC_THRESHOLDS = (20_000, 20, 20)  # gen 0 allocations; gen 1 and gen 2 collections
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class StreamchatApp(FastAPI):
    """FastAPI, with the two requests that start an answer (:mod:`.raw_routes`) answered before
    its own middleware stack: through streamchat's middlewares (built by :func:`_guarded` around
    them too, so the same checks apply) straight to :func:`.raw_routes.serve`. Each middleware's
    coroutine frame lives as long as the stream (docs/performance.md, memory per idle stream):
    streamchat's middlewares hand on the inner app's awaitable instead of awaiting it in a frame
    of their own."""

    raw: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # a coroutine function, as servers tell an ASGI 3 app from an ASGI 2 one by that
        if self.raw is not None and raw_routes.is_raw(scope):
            scope["app"] = self  # as Starlette sets it: the request finds the services there
            await self.raw(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, environ: Mapping[str, str] | None = None) -> FastAPI:
    environ = os.environ if environ is None else environ
    logging.getLogger("uvicorn.error").addFilter(_DROPPED_CLIENTS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _services(settings, environ) as svc:
            app.state.services = svc
            _tune_gc()
            yield

    app = StreamchatApp(
        title="streamchat",
        version=streamchat.__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    for router in (
        chat_api.router,
        conversations_api.router,
        files_api.router,
        capabilities_api.router,
        openai_api.router,
        responses_api.router,
        responses_kept.router,
        search_api.router,
        tutorial.router,
        ops.router,
        auth_api.router,
    ):
        app.include_router(router)
    install_handlers(app)
    _page(app)
    for middleware, options in reversed(_middlewares(settings)):
        app.add_middleware(middleware, **options)
    app.raw = _guarded(raw_routes.serve, settings)
    return app


def _middlewares(settings: Settings) -> list[tuple[type, dict[str, Any]]]:
    """streamchat's middlewares, outermost first: every response and every request passes them,
    those of the FastAPI app and those of the raw routes alike."""
    # An upload may be as large as a file (plus its multipart framing).
    uploads = {"/api/files": settings.max_file_bytes + 64 * 1024}
    hosts = None if settings.auth_required else settings.hosts
    stack: list[tuple[type, dict[str, Any]]] = [(Gate, {"hosts": hosts})]
    if settings.origins:
        stack.append(
            (
                CORSMiddleware,
                {
                    "allow_origins": settings.origins,
                    "allow_credentials": True,
                    "allow_methods": ["GET", "POST", "PATCH", "DELETE"],
                    "allow_headers": ["Authorization", "Content-Type", "Last-Event-ID"],
                    "expose_headers": ["X-Streamchat-Generation-Id", "Retry-After"],
                },
            )
        )
    stack.append((BodyLimit, {"limit": settings.max_body_bytes, "paths": uploads}))
    return stack


def _guarded(app: ASGIApp, settings: Settings) -> ASGIApp:
    """``app`` inside streamchat's middlewares."""
    for middleware, options in reversed(_middlewares(settings)):
        app = middleware(app, **options)
    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process started by ``streamchat serve --workers N``."""
    settings = Settings.load()
    secrets = [key for p in settings.providers if (key := p.key(os.environ))]
    if settings.metrics_token is not None:
        secrets.append(settings.metrics_token.get_secret_value())
    configure_logging(settings.log_level, secrets=secrets)
    return create_app(settings)


@asynccontextmanager
async def _services(settings: Settings, environ: Mapping[str, str]) -> AsyncIterator[Services]:
    async with contextlib.AsyncExitStack() as stack:
        store = SqlStore(settings.database)
        await store.open()
        stack.push_async_callback(store.close)
        await store.ensure_user(LOCAL_USER, "local")
        auth = Authenticator(
            store,
            required=settings.auth_required,
            origins=frozenset(settings.origins),
            session_ttl=settings.session_ttl,
            cache_ttl=settings.credential_cache_ttl,
        )
        if auth.required and not any(has_token for _, has_token in await store.list_users()):
            raise StartupRefused(
                f"streamchat listens on {settings.host} (or --auth on) but has no accounts: "
                "create one with `streamchat users add NAME`, or bind to 127.0.0.1"
            )
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=None, connect=settings.connect_timeout),
        )
        stack.push_async_callback(session.close)
        catalog = Catalog(
            build_upstreams(settings, session, environ),
            settings.default_model,
            settings.models_cache_ttl,
        )
        stack.push_async_callback(catalog.close)
        broker = _broker(settings)
        metrics = Metrics(catalog.record)
        generations = Generations(
            broker,
            store,
            metrics,
            flush_interval=settings.flush_interval,
            disconnect_grace=settings.disconnect_grace,
            retries=settings.upstream_retries,
            retry_max_wait=settings.retry_max_wait,
            max_running=settings.max_streams,
            max_running_per_owner=settings.streams_per_user,
            max_completion_tokens=settings.max_completion_tokens,
        )
        if isinstance(broker, RedisBroker):  # one process needs no announcement
            broker.on_revoked(auth.forget)
            auth.announce = broker.announce_revoked
        await broker.start(generations.handle_stop_request)
        stack.push_async_callback(broker.close)
        # Answers left streaming by a process that died, unless another worker runs them.
        recovered = await store.recover_streaming(await broker.live())
        if recovered:
            log.warning(
                "marked %d answers left streaming by an earlier run as incomplete", recovered
            )
        limits = Limits(settings.answers_per_minute, broker)
        janitor = asyncio.create_task(generations.run_janitor(settings.worker_lease))
        stack.callback(janitor.cancel)
        refresh = asyncio.create_task(catalog.refresh())
        stack.callback(refresh.cancel)
        stack.push_async_callback(generations.shutdown, settings.shutdown_grace)
        _drain_on_signals(generations, settings.shutdown_grace)
        yield Services(settings, store, broker, catalog, generations, metrics, auth, limits)


def _tune_gc() -> None:
    """Everything alive once the server is up (the imported code, the app, the pools) lives as
    long as the process: take it out of the cyclic GC's scans, and collect the young generation
    less often. Measured in docs/performance.md: the full collections of a server at c=1,000
    took 150-400 ms each, 15-27 % of its CPU, stopping every stream meanwhile."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _drain_on_signals(generations: Generations, grace: float) -> None:
    """On SIGTERM/SIGINT, start ending the answers at once, while their clients are still
    connected (the server's own handler, which stops accepting connections, runs too)."""
    if threading.current_thread() is not threading.main_thread():
        return  # an app served from a thread (tests): its owner stops it
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(number: int, frame: FrameType | None, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(_spawn_shutdown, generations, grace)
            if callable(previous):
                previous(number, frame)

        signal.signal(signum, handler)


_draining: set[asyncio.Task[None]] = set()


def _spawn_shutdown(generations: Generations, grace: float) -> None:
    task = asyncio.get_running_loop().create_task(generations.shutdown(grace))
    _draining.add(task)
    task.add_done_callback(_draining.discard)


def _broker(settings: Settings) -> Broker:
    if settings.redis_url is None:
        return MemoryBroker(settings.replay_ttl)
    return RedisBroker(
        settings.redis_url.get_secret_value(),
        replay_ttl=settings.replay_ttl,
        lease=settings.worker_lease,
    )


class StartupRefused(RuntimeError):
    """streamchat will not serve in this configuration (the message says why)."""


def _page(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})


class Gate:
    """The security headers on every response (CSP without inline script on the page, and no
    sniffing or framing of anything); and without accounts (``hosts`` given), only requests
    addressed to a loopback address, ``localhost`` or a configured name are answered. A page on
    a DNS-rebinding name (``evil.example`` resolving to 127.0.0.1) is same-origin with
    streamchat: its requests carry its own name as Host. One middleware for both, and no frame
    of its own kept for as long as a stream lasts."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.hosts = hosts

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function that hands on the inner app's awaitable (see BodyLimit)
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        send = _WithSecurityHeaders(send)
        if self.hosts is None or _addressed_to_us(scope, self.hosts):
            return self.app(scope, receive, send)
        return _misdirected(scope)(scope, receive, send)


class _WithSecurityHeaders:
    """``send``, adding the security headers to the response's start."""

    __slots__ = ("send",)

    def __init__(self, send: Send) -> None:
        self.send = send

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
        await self.send(message)


_SECURITY_HEADERS = (
    (b"content-security-policy", PAGE_CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def _addressed_to_us(scope: Scope, hosts: frozenset[str]) -> bool:
    name = host_name(dict(scope["headers"]).get(b"host", b"").decode("latin-1"))
    return name in hosts or _is_loopback_address(name)


def _misdirected(scope: Scope) -> JSONResponse:
    host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
    error = MisdirectedRequest(
        f"this server answers only requests for localhost or a loopback address (or a name "
        f"listed in --allowed-hosts), not for Host {host[:100]!r}"
    )
    is_v1 = scope["path"].startswith("/v1/")
    return JSONResponse(error.openai_body() if is_v1 else error.body(), status_code=error.status)


def host_name(host: str) -> str:
    """The name in a Host header, lower case, without port, brackets or a final dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rpartition(":")[0].rstrip(".") if ":" in host else host.rstrip(".")


def _is_loopback_address(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _framing(headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes | None, bool]:
    """The request's Content-Length (the last one, as ``dict(headers)`` reads it) and whether
    it is chunked."""
    length: bytes | None = None
    chunked = False
    for name, value in headers:
        if name == b"content-length":
            length = value
        elif name == b"transfer-encoding":
            chunked = value.lower() == b"chunked"
    return length, chunked


class BodyLimit:
    """Refuse a body over ``limit`` bytes: by Content-Length before reading anything, and a
    chunked body as soon as it passes the limit (it is read here, then handed on whole)."""

    def __init__(self, app: ASGIApp, limit: int, paths: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.paths = dict(paths or {})  # a path's own limit (uploads)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function that hands on the inner app's awaitable: no frame of its own is kept
        # for as long as the response lasts, unless it reads a chunked body.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        if scope["path"] in self.paths:
            return BodyLimit(self.app, self.paths[scope["path"]])(scope, receive, send)
        length, chunked = _framing(scope["headers"])  # not a dict kept for the response's life
        if length is not None:
            if length.isdigit() and int(length) > self.limit:
                return self._refuse(scope, receive, send, more=False)
            return self.app(scope, receive, send)
        if not chunked:
            return self.app(scope, receive, send)
        return self._chunked(scope, receive, send)

    async def _chunked(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._refuse(scope, receive, send, more=message.get("more_body", False))
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                whole = bytes(body)
                body.clear()  # handed on: not kept here for as long as the response lasts
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _discard(self, receive: Receive, more: bool) -> None:
        """Read (and drop) a little more of a refused body before answering, so the client
        gets to read the 413 instead of a reset; at most ``4 * limit`` bytes or one second
        (under another server than streamchat's own, which cannot linger)."""
        dropped = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                while more and dropped < 4 * self.limit:
                    message = await receive()
                    dropped += len(message.get("body", b""))
                    more = message["type"] == "http.request" and message.get("more_body", False)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, more: bool) -> None:
        """413 and close; under streamchat's protocol the connection lingers after the answer,
        dropping the rest of the body (bounded, see body_writer.linger): a client that sends
        its whole body before reading gets the 413, not a reset."""
        error = PayloadTooLarge(
            f"the request body is over {self.limit} bytes", details={"limit": self.limit}
        )
        is_v1 = scope["path"].startswith("/v1/")
        response = JSONResponse(
            error.openai_body() if is_v1 else error.body(),
            status_code=413,
            headers={"connection": "close"},
        )
        writer = body_writer(scope)
        if writer is None:
            await self._discard(receive, more)
            await response(scope, receive, send)
            return

        async def send_then_linger(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.start":
                writer.linger()

        await response(scope, receive, send_then_linger)
