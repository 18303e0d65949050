"""Any OpenAI-compatible chat API, streamed through one pooled aiohttp session.

Three deadlines bound every answer, counted on data only (keep-alive comments do not count):
time to first token, gap between tokens, and total. The connect-and-headers phase runs under the
first-token deadline; the body is watched by one timer per answer that re-arms itself lazily, so
the per-chunk cost of the deadlines is one float assignment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from streamchat.chat import ChunkDelta, UpstreamRequest
from streamchat.errors import UpstreamError, scrub
from streamchat.settings import ProviderConfig
from streamchat.sse import SSEDecoder, SSEError
from streamchat.upstream import ModelInfo
from streamchat.upstream.chunks import http_error, parse_chunk
from streamchat.upstream.presets import Preset, preset

__all__ = ["Deadlines", "OpenAICompatible"]

_MAX_ERROR_BODY = 64 * 1024


class Deadlines:
    """first-token, gap and total limits in seconds."""

    __slots__ = ("first_token", "gap", "total")

    def __init__(self, first_token: float, gap: float, total: float) -> None:
        self.first_token = first_token
        self.gap = gap
        self.total = total


class _Watchdog:
    """Closes the response when a deadline passes; ``expired`` says which one."""

    __slots__ = ("_deadlines", "_handle", "_loop", "_response", "expired", "last_data", "started")

    def __init__(self, deadlines: Deadlines, response: aiohttp.ClientResponse, start: float):
        self._deadlines = deadlines
        self._response = response
        self._loop = asyncio.get_running_loop()
        self.started = start
        self.last_data: float | None = None
        self.expired: str | None = None
        self._handle = self._loop.call_at(self._next(), self._check)

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
            self._handle = self._loop.call_at(due, self._check)
            return
        d = self._deadlines
        if now >= self.started + d.total:
            self.expired = f"the answer took longer than the total limit of {d.total:g} s"
        elif self.last_data is None:
            self.expired = f"no first token within {d.first_token:g} s"
        else:
            self.expired = f"no token for {d.gap:g} s"
        self._response.close()

    def data(self, now: float) -> None:
        """A token arrived. After the first one the deadlines only move later, so the timer
        re-arms itself lazily; the first one may bring the deadline closer, so re-arm now."""
        first = self.last_data is None
        self.last_data = now
        if first:
            self._handle.cancel()
            self._handle = self._loop.call_at(self._next(), self._check)

    def cancel(self) -> None:
        self._handle.cancel()


class OpenAICompatible:
    """One configured provider."""

    def __init__(
        self,
        config: ProviderConfig,
        session: aiohttp.ClientSession,
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
        self._key = config.key(environ)
        if self.preset.needs_key and not self._key and config.preset != "openai-compatible":
            raise ValueError(f"provider {config.name!r} has no API key")
        self.secrets: tuple[str, ...] = (self._key,) if self._key else ()
        self._session = session
        self._deadlines = deadlines
        self._headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._key:
            self._headers["Authorization"] = f"Bearer {self._key}"

    def configured_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                m.id,
                self.name,
                m.context_window or self.preset.context_window(m.id),
                m.reasoning or self.preset.is_reasoning(m.id),
            )
            for m in self.config.models
        ]

    def model_info(self, model_id: str) -> ModelInfo:
        return ModelInfo(
            model_id,
            self.name,
            self.preset.context_window(model_id),
            self.preset.is_reasoning(model_id),
        )

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

    def _body(self, request: UpstreamRequest) -> bytes:
        body: dict[str, Any] = {**self.config.defaults, **request.params}
        body["model"] = request.model
        body["messages"] = request.messages
        body["stream"] = True
        if self.preset.stream_usage:
            body["stream_options"] = {"include_usage": True}
        return orjson.dumps(body)

    def _connect_error(self, exc: BaseException) -> UpstreamError:
        reason = scrub(str(exc) or type(exc).__name__, self.secrets)
        if isinstance(exc, TimeoutError):
            reason = "timed out"
        return UpstreamError(
            f"cannot reach provider {self.name}: {reason}",
            code="upstream_connect",
            retryable=True,
        )

    async def stream(self, request: UpstreamRequest) -> AsyncIterator[ChunkDelta]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        d = self._deadlines
        try:
            async with asyncio.timeout_at(start + min(d.first_token, d.total)):
                response = await self._session.post(
                    f"{self.base_url}/chat/completions",
                    data=self._body(request),
                    headers=self._headers,
                )
        except TimeoutError as exc:
            raise UpstreamError(
                f"provider {self.name} sent no response headers within "
                f"{min(d.first_token, d.total):g} s",
                code="upstream_timeout",
                retryable=True,
            ) from exc
        except aiohttp.ClientError as exc:
            raise self._connect_error(exc) from exc
        try:
            if response.status != 200:
                body = await response.content.read(_MAX_ERROR_BODY)
                raise http_error(response.status, body, response.headers, self.secrets)
            async for delta in self._read(response, start):
                yield delta
        finally:
            response.close()

    async def _read(
        self, response: aiohttp.ClientResponse, start: float
    ) -> AsyncIterator[ChunkDelta]:
        watchdog = _Watchdog(self._deadlines, response, start)
        decoder = SSEDecoder()
        finished = False
        loop = asyncio.get_running_loop()
        try:
            async for chunk in response.content.iter_any():
                for event in decoder.feed(chunk):
                    if event.data == "[DONE]":
                        return
                    delta = parse_chunk(event.data, self.secrets)
                    if delta.content or delta.reasoning or delta.tool_calls:
                        watchdog.data(loop.time())
                    if delta.finish_reason:
                        finished = True
                    yield delta
                if decoder.stray_json is not None:
                    self._stray(decoder.stray_json)
        except SSEError as exc:
            raise UpstreamError(
                f"provider {self.name}: {exc}", code="upstream_bad_response", retryable=True
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            if watchdog.expired is None:
                raise self._dropped(exc) from exc
        finally:
            watchdog.cancel()
        if watchdog.expired is not None:
            raise UpstreamError(
                f"provider {self.name}: {watchdog.expired}", code="upstream_timeout", retryable=True
            )
        if not finished:
            raise self._dropped(None)

    def _stray(self, line: str) -> None:
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
        """The session is shared and closed by its owner."""
