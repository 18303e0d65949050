"""The OpenAI-compatible simulator that tests, benchmarks and demos use in place of real providers.

::

    GET  /v1/models              the model list (OpenAI shape)
    POST /v1/chat/completions    stream and non-stream answers in one of five dialects
    GET  /_mock/log              one record per chat request (JSON list)
    GET  /_mock/files            {"uploads", "kept"}: how many /v1/files uploads, and kept now
    POST /_mock/reset            clear the log and the fail_times counters
    POST /v1/files               Kimi's file upload (multipart: file, purpose=file-extract)
    GET  /v1/files/{id}/content  the extracted text, as Kimi's file-extract gives it
    DELETE /v1/files/{id}        (and GET /v1/files, /v1/files/{id})

(``/models`` and ``/chat/completions`` answer too, for base URLs without ``/v1``.)

The dialect (openai, moonshot, deepseek, ollama, vllm) is chosen per server and overridable per
request; it decides the reasoning field, where usage goes, the error bodies and the in-band error
form (wire-formats.md §3, §4). What one request does is steered by a ``[[mock key=value ...]]``
directive in its last user message (:mod:`streamchat.mock_scenarios`).

One streamed answer::

    headers -> [keep-alive comments while ttft_ms runs] -> role chunk -> token chunks (paced by
    rate; a failure point may insert a bad chunk or end the stream) -> finish chunk (+ usage) ->
    [usage chunk] -> data: [DONE]

The server cancels a handler as soon as its client goes away (``handler_cancellation``); the record
then gets ``client_closed: true``. Waits also poll the transport, for runners without cancellation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import math
import secrets
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from streamchat import mock_files
from streamchat.mock_scenarios import (
    DEFAULT_MODELS,
    DIALECTS,
    Scenario,
    ScenarioError,
    answer_pieces,
    can_see,
    continued_prefix,
    error_body,
    failure_body,
    has_image,
    has_thinking_switch,
    is_title_request,
    kimi_checks,
    parse_scenario,
    prompt_tokens,
    reasoning_pieces,
    refusal_pieces,
    searches_answered,
    thinks_by,
    title_scenario,
    vision_refusal,
    web_search_args,
)

__all__ = ["MockServer", "create_mock_app", "run_mock", "serve_mock"]

_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
}
_OWNERS = {
    "openai": "system",
    "moonshot": "moonshot",
    "deepseek": "deepseek",
    "ollama": "library",
    "vllm": "vllm",
}
_REASONING_FIELD = {"moonshot": "reasoning_content", "deepseek": "reasoning_content"}
_EFFORTS = ("minimal", "low", "medium", "high")
_POLL = 0.05  # seconds between transport checks while waiting
_UNTERMINATED_LIMIT = 8 * 1024 * 1024
_KEEPALIVE = b": keep-alive\n\n"
_DONE = b"data: [DONE]\n\n"
_INVALID_UTF8_CHOICE = (
    b'[{"index":0,"delta":{"content":"bad \xff\xfe\xc3( bytes"},"finish_reason":null}]'
)


@dataclass
class _State:
    dialect: str
    api_key: str | None
    models: list[str]
    log: list[dict[str, Any]] = field(default_factory=list)
    fail_counts: dict[str, int] = field(default_factory=dict)
    active: set[asyncio.Task[Any]] = field(default_factory=set)
    closing: bool = False

    def new_record(self, request: web.Request) -> dict[str, Any]:
        record: dict[str, Any] = {
            "n": len(self.log) + 1,
            "path": request.path,
            "model": None,
            "body": None,
            "authorization": request.headers.get("Authorization"),
            "started": time.time(),
            "status": None,
            "tokens_sent": 0,
            "client_closed": False,
            "finished": None,
            "title": False,  # a title call (mock_scenarios.is_title_request)
        }
        self.log.append(record)
        return record

    def budget(self, scenario: Scenario) -> Scenario:
        """Apply ``fail_times``: only the first N requests with one ``fail_key`` fail."""
        if scenario.fail_times is None:
            return scenario
        seen = self.fail_counts.get(scenario.fail_key, 0)
        self.fail_counts[scenario.fail_key] = seen + 1
        return scenario.failing() if seen < scenario.fail_times else scenario.succeeding()


_STATE = web.AppKey("streamchat_mock_state", _State)


class _Dropped(Exception):
    """The mock aborted the connection on purpose (drop_after)."""


# -- the app --------------------------------------------------------------------------------


def create_mock_app(
    *, dialect: str = "openai", api_key: str | None = None, models: list[str] | None = None
) -> web.Application:
    """The mock upstream as an aiohttp application."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown mock dialect {dialect!r} (known: {', '.join(DIALECTS)})")
    app = web.Application()
    app[_STATE] = _State(dialect, api_key, list(models or DEFAULT_MODELS[dialect]))
    app[mock_files.FILES] = mock_files.Files(api_key)
    for prefix in ("/v1", ""):
        app.router.add_get(f"{prefix}/models", _models)
        app.router.add_post(f"{prefix}/chat/completions", _chat)
        app.router.add_post(f"{prefix}/files", mock_files.upload)
        app.router.add_get(f"{prefix}/files", mock_files.listing)
        app.router.add_get(f"{prefix}/files/{{file_id}}", mock_files.retrieve)
        app.router.add_get(f"{prefix}/files/{{file_id}}/content", mock_files.content)
        app.router.add_delete(f"{prefix}/files/{{file_id}}", mock_files.delete)
    app.router.add_get("/_mock/log", _log)
    app.router.add_post("/_mock/reset", _reset)
    app.router.add_get("/_mock/files", mock_files.stats)
    return app


@dataclass
class MockServer:
    """A running mock upstream; ``url`` is its base URL (ending in ``/v1``)."""

    url: str
    log: list[dict[str, Any]]
    _runner: web.AppRunner
    _state: _State

    async def close(self) -> None:
        self._state.closing = True
        for task in list(self._state.active):
            task.cancel()
        await self._runner.cleanup()


async def serve_mock(
    host: str,
    port: int,
    *,
    dialect: str = "openai",
    api_key: str | None = None,
    models: list[str] | None = None,
) -> MockServer:
    """Start the mock on ``host:port`` (0 picks a free port) in the running event loop."""
    app = create_mock_app(dialect=dialect, api_key=api_key, models=models)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    shown = f"[{host}]" if ":" in host else host
    state = app[_STATE]
    return MockServer(f"http://{shown}:{bound}/v1", state.log, runner, state)


def run_mock(
    host: str,
    port: int,
    dialect: str = "openai",
    api_key: str | None = None,
    models: list[str] | None = None,
) -> None:
    """Serve the mock until SIGINT or SIGTERM (the ``streamchat mock-upstream`` command)."""
    asyncio.run(_run_forever(host, port, dialect, api_key, models))


async def _run_forever(
    host: str, port: int, dialect: str, api_key: str | None, models: list[str] | None
) -> None:
    server = await serve_mock(host, port, dialect=dialect, api_key=api_key, models=models)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"mock upstream on {server.url} (dialect {dialect})", flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()


# -- small endpoints ------------------------------------------------------------------------


def _json(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload), status=status, content_type="application/json", headers=headers
    )


def _authorized(request: web.Request, state: _State) -> bool:
    if state.api_key is None:
        return True
    sent = request.headers.get("Authorization", "")
    return hmac.compare_digest(sent.encode(), f"Bearer {state.api_key}".encode())


def _error(dialect: str, kind: str, message: str | None = None) -> web.Response:
    status, body = error_body(dialect, kind, message=message)
    return _json(body, status)


async def _models(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    if not _authorized(request, state):
        # Like some real providers, echo the rejected key: the gateway must scrub it.
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return _error(state.dialect, "auth", f"Incorrect API key provided: {sent}")
    owner = _OWNERS[state.dialect]
    data = [
        {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": owner}
        for model in state.models
    ]
    return _json({"object": "list", "data": data})


async def _log(request: web.Request) -> web.Response:
    return _json(request.app[_STATE].log)


async def _reset(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    state.log.clear()
    state.fail_counts.clear()
    return _json({"ok": True})


# -- chat completions -----------------------------------------------------------------------


async def _chat(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    record = state.new_record(request)
    task = asyncio.current_task()
    if task is not None:
        state.active.add(task)
    try:
        response = await _answer(request, state, record)
        record["status"] = response.status
        return response
    except _Dropped:
        return web.Response()  # never sent: the connection is gone
    except ConnectionError:
        record["client_closed"] = True
        return web.Response()
    except asyncio.CancelledError:
        record["client_closed"] = not state.closing
        raise
    finally:
        record["finished"] = time.time()
        if task is not None:
            state.active.discard(task)


async def _answer(
    request: web.Request, state: _State, record: dict[str, Any]
) -> web.StreamResponse:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _error(state.dialect, "bad_request", "the request body is not valid JSON")
    record["body"] = body
    if isinstance(body, dict):
        record["model"] = body.get("model")
    if not _authorized(request, state):
        # Like some real providers, echo the rejected key: the gateway must scrub it.
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return _error(state.dialect, "auth", f"Incorrect API key provided: {sent}")
    if not (
        isinstance(body, dict)
        and isinstance(body.get("model"), str)
        and isinstance(body.get("messages"), list)
    ):
        return _error(
            state.dialect, "bad_request", "model (string) and messages (list) are required"
        )
    try:
        scenario = parse_scenario(body["messages"])
    except ScenarioError as exc:
        return _error(state.dialect, "bad_request", str(exc))
    titling = is_title_request(body["messages"])
    record["title"] = titling
    scenario = title_scenario(scenario) if titling else state.budget(scenario)
    dialect = scenario.dialect or state.dialect
    if scenario.slow_round is not None and scenario.slow_round != searches_answered(
        body["messages"]
    ):
        scenario = dataclasses.replace(scenario, ttft_ms=0, hang=None)
    if has_image(body["messages"]) and not can_see(body["model"]):
        status, refusal = vision_refusal(dialect, body["model"])
        return _json(refusal, status)
    refused = kimi_checks(body) if dialect == "moonshot" else None
    if refused is None and body.get("reasoning_effort") not in (None, *_EFFORTS):
        refused = f"reasoning_effort must be one of {', '.join(_EFFORTS)}"
    if refused is not None:
        return _error(dialect, "bad_request", refused)
    if scenario.hang == "before_headers":
        await _pause(request, math.inf)
    if scenario.http_failure:
        return _failure(dialect, scenario, body["model"])
    answer = _Answer(request, record, scenario, dialect, body)
    if body.get("stream"):
        return await answer.stream()
    return await answer.complete()


def _failure(dialect: str, scenario: Scenario, model: str) -> web.Response:
    headers = {"Retry-After": scenario.retry_after} if scenario.retry_after else None
    status, body = failure_body(dialect, scenario, model=model)
    if isinstance(body, str):
        return web.Response(text=body, status=status, content_type="text/html", headers=headers)
    return _json(body, status, headers)


async def _pause(request: web.Request, seconds: float) -> None:
    """Sleep, noticing a client that goes away even without handler cancellation."""
    if seconds <= _POLL:
        if seconds > 0:
            await asyncio.sleep(seconds)
        return
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        await asyncio.sleep(min(left, _POLL))
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client closed the connection")


def _after(pieces: list[str], prefix: str) -> list[str]:
    """The pieces of an answer after the text a client already has (partial mode)."""
    text = ""
    for i, piece in enumerate(pieces):
        if text == prefix:
            return pieces[i:]
        text += piece
    return [] if text == prefix else pieces


class _Answer:
    """One completion: its tokens, pre-encoded chunks, and the ways it can go wrong."""

    def __init__(
        self,
        request: web.Request,
        record: dict[str, Any],
        scenario: Scenario,
        dialect: str,
        body: dict[str, Any],
    ) -> None:
        self.request = request
        self.record = record
        self.scenario = scenario
        self.dialect = dialect
        self.model: str = body["model"]
        self.include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.reasoning = reasoning_pieces(scenario.reasoning)
        if dialect == "moonshot" and has_thinking_switch(self.model):
            on = thinks_by(self.model, body.get("thinking"))  # kimi-k2.5: on unless disabled
            self.reasoning = reasoning_pieces(scenario.reasoning or 3) if on else []
        self.refusal = refusal_pieces() if scenario.refusal else []
        searched = searches_answered(body["messages"])
        tools = body.get("tools") or []
        self.search = (
            searched
            if scenario.search > searched and any("$web_search" in str(t) for t in tools)
            else None
        )
        calling = scenario.tool_calls or self.search is not None
        self.pieces = [] if calling or scenario.refusal else answer_pieces(scenario)
        prefix = continued_prefix(dialect, body["messages"])
        if prefix is not None:
            self.pieces = _after(self.pieces, prefix)
        self.finish = scenario.finish or ("tool_calls" if calling else "stop")
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < len(self.pieces):
            self.pieces = self.pieces[:limit]
            self.finish = scenario.finish or "length"
        completion = len(self.reasoning) + len(self.pieces) + len(self.refusal)
        completion += 7 if calling else 0
        prompt = prompt_tokens(body["messages"])
        self.usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        prefix = "cmpl-" if dialect == "moonshot" else "chatcmpl-"
        self.id = prefix + secrets.token_hex(12)
        self.created = int(time.time())
        self._head = (
            b'data: {"id":%b,"object":"chat.completion.chunk","created":%d,"model":%b,"choices":'
            % (orjson.dumps(self.id), self.created, orjson.dumps(self.model))
        )

    # -- encoding

    def _chunk(self, choices: bytes, tail: bytes = b"") -> bytes:
        return self._head + choices + tail + b"}\n\n"

    def _delta(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, **extra}
        return self._chunk(b"[" + orjson.dumps(choice) + b"]")

    def _deltas(self) -> list[dict[str, Any]]:
        """Every token's delta, reasoning first (hidden by openai), then text or a tool call."""
        field_name = _REASONING_FIELD.get(self.dialect, "reasoning")
        deepseek = self.dialect == "deepseek"
        deltas: list[dict[str, Any]] = []
        if self.dialect != "openai":
            for piece in self.reasoning:
                deltas.append(
                    {"content": None, field_name: piece} if deepseek else {field_name: piece}
                )
        for piece in self.pieces:
            if deepseek and self.reasoning:
                deltas.append({"content": piece, field_name: None})
            else:
                deltas.append({"content": piece})
        deltas.extend({"refusal": piece} for piece in self.refusal)
        if self.scenario.tool_calls or self.search is not None:
            deltas.extend({"tool_calls": [call]} for call in self._tool_call_pieces())
        return deltas

    def _tool_call_pieces(self) -> list[dict[str, Any]]:
        if self.search is not None:  # Kimi's builtin: one call, its arguments in two pieces
            text = web_search_args(self.search)
            name = {"name": "$web_search", "arguments": text[:20]}
            return [
                {"id": f"web_search:{self.search}", "type": "function", "function": name},
                {"function": {"arguments": text[20:]}},
            ]
        moonshot = self.dialect == "moonshot"
        call_id = "get_weather:0" if moonshot else "call_" + secrets.token_hex(8)
        first: dict[str, Any] = {"id": call_id, "type": "function"}
        first["function"] = {"name": "get_weather", "arguments": ""}
        args = ['{"city', '": "Par', 'is", "un', 'it": "cel', "sius", '"}']
        calls = [first] + [{"function": {"arguments": part}} for part in args]
        return calls if moonshot else [{"index": 0, **call} for call in calls]

    def _first_delta(self) -> dict[str, Any]:
        if self.dialect == "deepseek" and self.reasoning:
            return {"role": "assistant", "content": None, "reasoning_content": ""}
        if self.dialect == "openai" and self.refusal:
            return {"role": "assistant", "content": None, "refusal": ""}
        if self.dialect == "openai" and self.scenario.tool_calls:
            return {"role": "assistant", "content": None}  # OpenAI: no text part to open
        return {"role": "assistant", "content": ""}

    def _ending(self) -> bytes:
        usage = self.usage if self.scenario.usage else None
        choice: dict[str, Any] = {"index": 0, "delta": {}, "finish_reason": self.finish}
        if self.dialect == "moonshot" and usage:
            choice["usage"] = usage
        tail = b""
        if self.dialect == "deepseek" and usage:
            tail = b',"usage":' + orjson.dumps(usage)
        out = self._chunk(b"[" + orjson.dumps(choice) + b"]", tail)
        if usage and self.include_usage and self.dialect != "deepseek":
            out += self._chunk(b"[]", b',"usage":' + orjson.dumps(usage))
        return out + _DONE

    def _inband_error(self) -> bytes:
        kind = self.scenario.kind if self.scenario.kind not in (None, "html") else "server"
        _, body = error_body(self.dialect, kind or "server", model=self.model)
        if self.dialect == "vllm":
            body["error"]["code"] = 500
            return b"data: " + orjson.dumps(body) + b"\n\n" + _DONE
        if self.dialect == "ollama":
            return orjson.dumps(body) + b"\n"
        return b"data: " + orjson.dumps(body) + b"\n\n"

    # -- writing

    async def stream(self) -> web.StreamResponse:
        self.response = web.StreamResponse(headers=_SSE_HEADERS)
        await self.response.prepare(self.request)
        await self._wait_first_token()
        await self._send(self._delta(self._first_delta()))
        chunks = [self._delta(delta) for delta in self._deltas()]
        inserts, end = self._failure_points(len(chunks))
        rate = self.scenario.rate
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(len(chunks) + 1):
            if i in inserts:
                await self._send(inserts[i])
            if end is not None and end[0] == i:
                await self._end_early(end[1])
                return self.response
            if i == len(chunks):
                break
            if rate and i:
                await _pause(self.request, start + i / rate - loop.time())
            await self._send(chunks[i])
            self.record["tokens_sent"] += 1
        await self._send(self._ending())
        return self.response

    def _failure_points(self, count: int) -> tuple[dict[int, bytes], tuple[int, str] | None]:
        """Bad chunks to insert (position -> bytes) and the earliest early end, if any."""
        sc = self.scenario
        inserts: dict[int, bytes] = {}
        if sc.malformed_after is not None:
            inserts[min(sc.malformed_after, count)] = self._head + b'[{"index":0,"delta":{"con\n\n'
        if sc.invalid_utf8_after is not None:
            bad = self._chunk(_INVALID_UTF8_CHOICE)
            position = min(sc.invalid_utf8_after, count)
            inserts[position] = inserts.get(position, b"") + bad
        ends = [
            (min(point, count), how)
            for point, how in (
                (sc.drop_after, "drop"),
                (sc.error_after, "error"),
                (sc.unterminated_after, "unterminated"),
            )
            if point is not None
        ]
        return inserts, min(ends, key=lambda end: end[0]) if ends else None

    async def _end_early(self, how: str) -> None:
        if how == "drop":
            await self._abort()
        elif how == "error":
            await self._send(self._inband_error())
        else:
            await self._unterminated()

    async def _send(self, data: bytes) -> None:
        if self.scenario.split != "byte":
            await self.response.write(data)
            return
        for i in range(len(data)):
            await self.response.write(data[i : i + 1])
            await asyncio.sleep(0)

    async def _wait_first_token(self) -> None:
        sc = self.scenario
        wait = math.inf if sc.hang == "after_headers" else sc.ttft_ms / 1000
        every = sc.keepalive_ms / 1000
        if not every:
            await _pause(self.request, wait)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while deadline - loop.time() > every:
            await _pause(self.request, every)
            await self._send(_KEEPALIVE)
        await _pause(self.request, deadline - loop.time())

    async def _unterminated(self) -> None:
        """A data line that never ends: 8 MiB without a newline, then silence."""
        await self._send(self._head + b'[{"index":0,"delta":{"content":"')
        piece = b"x" * 65536
        for _ in range(_UNTERMINATED_LIMIT // len(piece)):
            await self._send(piece)
        await _pause(self.request, math.inf)

    async def _abort(self) -> None:
        """Cut the TCP connection once what was written has left (at most ~1 s)."""
        transport = self.request.transport
        if transport is None:
            raise ConnectionResetError("the client closed the connection")
        for _ in range(100):
            if not transport.get_write_buffer_size():
                break
            await asyncio.sleep(0.01)
        transport.abort()
        raise _Dropped

    async def complete(self) -> web.StreamResponse:
        """The non-stream answer: a ``chat.completion`` object."""
        sc = self.scenario
        if sc.hang == "after_headers":
            self.response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await self.response.prepare(self.request)
            await _pause(self.request, math.inf)
        await _pause(self.request, sc.ttft_ms / 1000)
        if sc.error_after is not None:
            status, body = error_body(self.dialect, sc.kind or "server", model=self.model)
            return _json(body, status)
        data = orjson.dumps(self._completion())
        if sc.malformed_after is not None:
            data = data[: len(data) // 2]
        if sc.invalid_utf8_after is not None:
            data = data.replace(b'"content":"', b'"content":"\xff\xfe', 1)
        if sc.drop_after is not None:
            self.response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await self.response.prepare(self.request)
            await self.response.write(data[: len(data) // 2])
            await self._abort()
        self.record["tokens_sent"] = len(self.reasoning) + len(self.pieces) + len(self.refusal)
        return web.Response(body=data, content_type="application/json")

    def _completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.pieces)}
        if self.reasoning and self.dialect != "openai":
            message[_REASONING_FIELD.get(self.dialect, "reasoning")] = "".join(self.reasoning)
        if self.refusal:
            message["content"] = None
            message["refusal"] = "".join(self.refusal)
        if self.scenario.tool_calls or self.search is not None:
            message["content"] = None
            call = self._tool_call_pieces()[0]
            call.pop("index", None)
            call["function"]["arguments"] = (
                '{"city": "Paris", "unit": "celsius"}'
                if self.search is None
                else web_search_args(self.search)
            )
            message["tool_calls"] = [call]
        choice = {"index": 0, "message": message, "finish_reason": self.finish}
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": self.usage if self.scenario.usage else None,
        }
