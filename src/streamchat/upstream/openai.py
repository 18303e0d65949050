"""Any OpenAI-compatible chat API: answers stream through :mod:`.connections` (pushed from
each network read), model lists come through the shared aiohttp session.

Three deadlines bound every answer, counted on data only (keep-alive comments do not count):
time to first token, gap between tokens, and total. The connect-and-headers phase runs under the
first-token deadline; the body is watched by one timer per answer that re-arms itself lazily, so
the per-chunk cost of the deadlines is one float assignment.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson

import streamchat
from streamchat import timers
from streamchat.chat import UpstreamRequest
from streamchat.errors import UpstreamError, scrub
from streamchat.settings import ProviderConfig
from streamchat.sse import SSEDecoder, SSEError
from streamchat.upstream import DeltaSink, ModelInfo
from streamchat.upstream.chunks import http_error, parse_chunk
from streamchat.upstream.connections import (
    BadResponse,
    Connection,
    ConnectionClosed,
    Pool,
    Target,
)
from streamchat.upstream.presets import Preset, preset

__all__ = ["Deadlines", "OpenAICompatible"]

_MAX_ERROR_BODY = 64 * 1024
_DRAIN_S = 1.0  # after [DONE], how long the end of the HTTP message may take (then: close)


class Deadlines:
    """first-token, gap and total limits in seconds."""

    __slots__ = ("first_token", "gap", "total")

    def __init__(self, first_token: float, gap: float, total: float) -> None:
        self.first_token = first_token
        self.gap = gap
        self.total = total


class _Watchdog:
    """Closes the connection when a deadline passes; ``expired`` says which one."""

    __slots__ = ("_close", "_deadlines", "_handle", "_loop", "expired", "last_data", "started")

    def __init__(self, deadlines: Deadlines, close: Callable[[], None], start: float):
        self._deadlines = deadlines
        self._close = close
        self._loop = asyncio.get_running_loop()
        self.started = start
        self.last_data: float | None = None
        self.expired: str | None = None
        self._handle = timers.call_at(self._next(), self._check)

    def _next(self) -> float:
        d = self._deadlines
        data_deadline = (
            self.started + d.first_token if self.last_data is None else self.last_data + d.gap
        )
        return min(data_deadline, self.started + d.total)

    def _check(self) -> None:
        now = self._loop.time()
        due = self._next()
        if now < due:
            self._handle = timers.call_at(due, self._check)
            return
        d = self._deadlines
        if now >= self.started + d.total:
            self.expired = f"the answer took longer than the total limit of {d.total:g} s"
        elif self.last_data is None:
            self.expired = f"no first token within {d.first_token:g} s"
        else:
            self.expired = f"no token for {d.gap:g} s"
        self._close()

    def data(self, now: float) -> None:
        """A token arrived. After the first one the deadlines only move later, so the timer
        re-arms itself lazily; the first one may bring the deadline closer, so re-arm now."""
        first = self.last_data is None
        self.last_data = now
        if first:
            self._handle.cancel()
            self._handle = timers.call_at(self._next(), self._check)

    def cancel(self) -> None:
        self._handle.cancel()


class OpenAICompatible:
    """One configured provider."""

    def __init__(
        self,
        config: ProviderConfig,
        session: aiohttp.ClientSession,
        pool: Pool,
        deadlines: Deadlines,
        environ: Mapping[str, str],
    ) -> None:
        self.name = config.name
        self.preset: Preset = preset(config.preset)
        base = config.base_url or self.preset.base_url
        if not base:
            raise ValueError(f"provider {config.name!r} needs a base_url")
        base = base.rstrip("/")
        if self.preset.name == "ollama" and not base.endswith("/v1"):
            base += "/v1"
        self.base_url = base
        self.config = config
        self.file_extract = self.preset.file_extract
        self.web_search = self.preset.web_search if config.web_search is None else config.web_search
        self.continuation = self.preset.continuation
        self.replay_reasoning = self.preset.replay_reasoning
        self._key = config.key(environ)
        if self.preset.needs_key and not self._key and config.preset != "openai-compatible":
            raise ValueError(f"provider {config.name!r} has no API key")
        self.secrets: tuple[str, ...] = (self._key,) if self._key else ()
        self._session = session
        self._pool = pool
        self._target = Target(base)
        self._deadlines = deadlines
        self._headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._key:
            self._headers["Authorization"] = f"Bearer {self._key}"
        self._stream_headers = {
            **self._headers,
            "Accept-Encoding": "identity",
            "User-Agent": f"streamchat/{streamchat.__version__}",
        }

    def configured_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                m.id,
                self.name,
                m.context_window or self.preset.context_window(m.id),
                m.reasoning or self.preset.is_reasoning(m.id),
                vision=self.preset.can_see(m.id) if m.vision is None else m.vision,
                thinking=m.thinking or self.preset.thinking(m.id),
                titles=m.titles,
            )
            for m in self.config.models
        ]

    def model_info(self, model_id: str) -> ModelInfo:
        return ModelInfo(
            model_id,
            self.name,
            self.preset.context_window(model_id),
            self.preset.is_reasoning(model_id),
            vision=self.preset.can_see(model_id),
            thinking=self.preset.thinking(model_id),
        )

    async def extract_file(self, name: str, data: bytes) -> str:
        """A document's text by the provider's file-extract (Kimi: ``POST /files`` with
        ``purpose=file-extract``, then ``GET /files/{id}/content``; the upload is deleted
        afterwards, as Kimi keeps at most 1000 files per account)."""
        headers = {"Authorization": self._headers["Authorization"]} if self._key else {}
        timeout = aiohttp.ClientTimeout(total=self._deadlines.first_token * 4)
        form = aiohttp.FormData()
        form.add_field("file", data, filename=name)
        form.add_field("purpose", "file-extract")
        try:
            async with self._session.post(
                f"{self.base_url}/files", data=form, headers=headers, timeout=timeout
            ) as resp:
                body = await resp.content.read(_MAX_ERROR_BODY)
                if resp.status != 200:
                    raise http_error(resp.status, body, resp.headers, self.secrets)
            file_id = str(orjson.loads(body)["id"])
            url = f"{self.base_url}/files/{file_id}"
            async with self._session.get(
                f"{url}/content", headers=headers, timeout=timeout
            ) as resp:
                content = await resp.content.read(64 << 20)
                if resp.status != 200:
                    raise http_error(
                        resp.status, content[:_MAX_ERROR_BODY], resp.headers, self.secrets
                    )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self._session.delete(url, headers=headers, timeout=timeout):
                    pass
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._connect_error(exc) from exc
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise UpstreamError(
                f"provider {self.name} answered the file upload with no file id",
                code="upstream_bad_response",
            ) from exc
        return content.decode("utf-8", "replace")

    async def list_models(self) -> list[ModelInfo]:
        configured = self.configured_models()
        if not self.config.list_models:
            return configured
        url = f"{self.base_url}/models"
        timeout = aiohttp.ClientTimeout(total=self._deadlines.first_token)
        try:
            async with self._session.get(url, headers=self._headers, timeout=timeout) as resp:
                body = await resp.content.read(_MAX_ERROR_BODY * 16)
                if resp.status != 200:
                    raise http_error(
                        resp.status, body[:_MAX_ERROR_BODY], resp.headers, self.secrets
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._connect_error(exc) from exc
        try:
            listed = [str(item["id"]) for item in orjson.loads(body).get("data", [])]
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
            raise UpstreamError(
                f"provider {self.name} sent a malformed model list", code="upstream_bad_response"
            ) from exc
        known = {m.id for m in configured}
        return configured + [self.model_info(m) for m in listed if m not in known]

    def _request(self, request: UpstreamRequest) -> bytes:
        body: dict[str, Any] = {**self.config.defaults, **request.params}
        body["model"] = request.model
        body["messages"] = request.messages
        body["stream"] = True
        if self.preset.stream_usage:
            body["stream_options"] = {"include_usage": True}
        return self._target.request(
            "POST", "/chat/completions", self._stream_headers, orjson.dumps(body)
        )

    def _connect_error(self, exc: BaseException) -> UpstreamError:
        reason = scrub(str(exc) or type(exc).__name__, self.secrets)
        if isinstance(exc, TimeoutError):
            reason = "timed out"
        return UpstreamError(
            f"cannot reach provider {self.name}: {reason}",
            code="upstream_connect",
            retryable=True,
        )

    async def run(self, request: UpstreamRequest, sink: DeltaSink) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        d = self._deadlines
        head_limit = min(d.first_token, d.total)
        try:
            async with asyncio.timeout_at(start + head_limit):
                conn = await self._pool.send(self._target, self._request(request))
        except TimeoutError as exc:
            raise UpstreamError(
                f"provider {self.name} sent no response headers within {head_limit:g} s",
                code="upstream_timeout",
                retryable=True,
            ) from exc
        except (ConnectionClosed, BadResponse, OSError) as exc:
            raise self._connect_error(exc) from exc
        try:
            if conn.status != 200:
                raise await self._error(conn, start + head_limit)
            await self._relay(conn, start, sink)
        finally:
            self._pool.release(conn)

    async def _error(self, conn: Connection, deadline: float) -> UpstreamError:
        try:
            async with asyncio.timeout_at(deadline):
                body = await conn.read_body(_MAX_ERROR_BODY)
        except (TimeoutError, ConnectionClosed, BadResponse):
            body = b""
        return http_error(conn.status, body, conn.headers, self.secrets)

    async def _relay(self, conn: Connection, start: float, sink: DeltaSink) -> None:
        if conn.headers.get("content-encoding", "identity").lower() != "identity":
            raise UpstreamError(
                f"provider {self.name} compressed its stream, which streamchat did not ask for",
                code="upstream_bad_response",
                retryable=True,
            )
        conn.drop_headers()
        watchdog = _Watchdog(self._deadlines, conn.close, start)
        reader = _AnswerReader(self, conn, watchdog, sink)
        try:
            conn.attach(reader.feed)
            await conn.ended
        except SSEError as exc:
            raise UpstreamError(
                f"provider {self.name}: {exc}", code="upstream_bad_response", retryable=True
            ) from exc
        except BadResponse as exc:
            raise UpstreamError(
                f"provider {self.name}: {exc}", code="upstream_bad_response", retryable=True
            ) from exc
        except ConnectionClosed as exc:
            if watchdog.expired is None and not reader.done:
                raise self._dropped(exc) from exc
        finally:
            watchdog.cancel()
        if watchdog.expired is not None:
            raise UpstreamError(
                f"provider {self.name}: {watchdog.expired}", code="upstream_timeout", retryable=True
            )
        if not (reader.done or reader.finished):
            raise self._dropped(None)
        if not conn.complete:
            # [DONE] arrived; the end of the HTTP message (the last chunk) is on its way.
            with contextlib.suppress(TimeoutError, ConnectionClosed, BadResponse):
                async with asyncio.timeout(_DRAIN_S):
                    await conn.message_done

    def stray(self, line: str) -> None:
        try:
            parsed = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        if isinstance(parsed, dict) and parsed.get("error"):
            parse_chunk(line, self.secrets)  # raises the in-band error

    def _dropped(self, exc: BaseException | None) -> UpstreamError:
        detail = f": {scrub(str(exc), self.secrets)}" if exc is not None and str(exc) else ""
        return UpstreamError(
            f"provider {self.name} closed the stream before the answer finished{detail}",
            code="upstream_dropped",
            retryable=True,
        )

    async def close(self) -> None:
        """The session and the pool are shared; closing the pool twice is harmless."""
        await self._pool.close()


class _AnswerReader:
    """The body callback of one streamed answer: SSE frames -> chunks -> the sink, in the
    network read's own call."""

    __slots__ = (
        "_conn",
        "_decoder",
        "_loop",
        "_provider",
        "_sink",
        "_watchdog",
        "done",
        "finished",
    )

    def __init__(
        self, provider: OpenAICompatible, conn: Connection, watchdog: _Watchdog, sink: DeltaSink
    ) -> None:
        self._provider = provider
        self._conn = conn
        self._watchdog = watchdog
        self._sink = sink
        self._decoder = SSEDecoder()
        self._loop = asyncio.get_running_loop()
        self.done = False  # [DONE] arrived
        self.finished = False  # a finish_reason arrived

    def feed(self, data: bytes) -> None:
        secrets = self._provider.secrets
        for event in self._decoder.feed(data):
            if event.data == "[DONE]":
                self.done = True
                self._conn.end()
                return
            delta = parse_chunk(event.data, secrets)
            if delta.content or delta.reasoning or delta.tool_calls:
                self._watchdog.data(self._loop.time())
            if delta.finish_reason:
                self.finished = True
            self._sink(delta)
        stray = self._decoder.stray_json
        if stray is not None:
            self._decoder.stray_json = None
            self._provider.stray(stray)
