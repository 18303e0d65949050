"""The answer's task.

:class:`Generations` starts a task per answer. The task streams from the upstream, numbers the
events (meta, reasoning, delta, tool_call, usage, then exactly one of done / error), publishes
them to the broker; its :class:`~streamchat.generations.saving.Saver` writes the growing answer
to the store every ``flush_interval`` seconds (off the per-token path) and once more at the end,
before the terminal event, so a client that saw ``done`` finds the answer stored.

Endings: upstream finished -> ``complete``; :meth:`Generations.stop` or nobody attached for
``disconnect_grace`` seconds -> ``stopped`` (finish_reason ``stopped``); upstream failure ->
``incomplete`` with what arrived (``error`` when nothing did); shutdown -> ``incomplete`` with a
retryable ``server_restarting`` error. Retryable upstream failures are retried only before the
first token. When the provider's usage never arrives it is estimated and marked so.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from streamchat import events
from streamchat.chat import ChunkDelta, MessageStatus, UpstreamRequest, Usage, estimate_tokens
from streamchat.errors import (
    RateLimited,
    ServiceError,
    StoreError,
    StreamchatError,
    UpstreamError,
)
from streamchat.events import Event
from streamchat.fanout import Broker
from streamchat.generations.orphans import Orphans
from streamchat.generations.saving import Saver
from streamchat.store import MessagePatch, Store
from streamchat.upstream import Upstream

__all__ = ["Generation", "GenerationSpec", "Generations", "Observer"]

log = logging.getLogger("streamchat.generations")


class Observer(Protocol):
    """Receives what the metrics need; called once per answer, never per token."""

    def generation_started(self) -> None: ...

    def generation_finished(
        self,
        provider: str,
        status: str,
        ttft_s: float | None,
        completion_tokens: int,
        error: StreamchatError | None,
    ) -> None: ...


@dataclass(slots=True)
class GenerationSpec:
    id: str
    owner_id: str
    model: str
    upstream: Upstream
    request: UpstreamRequest
    # None for a /v1 answer, which lives in the broker only.
    conversation_id: str | None = None
    # The question the answer is to (its parent in the conversation's tree).
    question_id: str | None = None
    prompt_estimate: int = 0
    # The model's context window: an answer asked for more than it leaves is bounded to it.
    context_window: int | None = None
    # How long the answer runs with nobody attached, and how often a retryable failure
    # before the first token is retried; None: the server's defaults.
    disconnect_grace: float | None = None
    retries: int | None = None
    # Builtin tools the server answers itself (Kimi's $web_search): at most this many round
    # trips within the answer; 0: tool calls are the answer's (``/v1``), published as is.
    tool_rounds: int = 0
    # Send each round's reasoning back with its assistant turn (Kimi requires it).
    replay_reasoning: bool = False
    # A continuation (Continue after finish_reason "length"): the stored answer it appends
    # to, with that answer's text, reasoning and usage so far (saved as prefix + new text).
    message_id: str | None = None
    kept: tuple[str, str] = ("", "")
    kept_usage: Usage | None = None
    # The first answer of a conversation: once it is stored complete and its ``done`` is out
    # (``title_pending``), the conversation's title is written in the background
    # (generations/titles.py), given the answer's text.
    titler: Callable[[str], Awaitable[object]] | None = None


@dataclass(slots=True)
class _Ending:
    status: MessageStatus
    finish_reason: str | None
    error: StreamchatError | None = None


@dataclass(slots=True, eq=False)
class Generation:
    spec: GenerationSpec
    clock: Callable[[], float]  # the event loop's
    started: float
    next_id: int = 1
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    first_token_at: float | None = None
    stop_reason: str | None = None
    finishing: bool = False
    dirty: bool = False
    task: asyncio.Task[None] | None = None
    flushing: asyncio.Task[None] | None = None
    # The builtin tool round trip: this round's calls by index, the usage of earlier rounds,
    # how many rounds were sent back, where this round's text starts.
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    earlier_usage: Usage | None = None
    rounds: int = 0
    round_start: tuple[int, int] = (0, 0)
    # When the first reasoning token came, and how long until the first answer token.
    reasoning_at: float | None = None
    reasoning_ms: float | None = None
    # Generations._sweep: since when nobody has listened (None: someone does, or not checked).
    unattended_since: float | None = None
    # generations/saving.py: the pieces of content and reasoning stored, the next part's number.
    saved: tuple[int, int] = (0, 0)
    parts: int = 0

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def stored(self) -> bool:
        return self.spec.conversation_id is not None

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def event(self, type: str, data: dict[str, Any]) -> Event:
        return Event(self.take_id(), type, data)

    @property
    def message_id(self) -> str:
        """The stored answer: the generation's own id, or the one a continuation appends to."""
        return self.spec.message_id or self.spec.id

    @property
    def last_event_id(self) -> int:
        """The id of the newest event published (the text so far includes it)."""
        return self.next_id - 1


class Generations:
    def __init__(
        self,
        broker: Broker,
        store: Store,
        observer: Observer,
        *,
        flush_interval: float = 1.0,
        disconnect_grace: float = 30.0,
        retries: int = 2,
        retry_max_wait: float = 10.0,
        max_running: int = 2000,
        max_running_per_owner: int = 10,
        max_completion_tokens: int | None = None,
    ) -> None:
        self.broker = broker
        self.store = store
        self.observer = observer
        self.flush_interval = flush_interval
        self.disconnect_grace = disconnect_grace
        self.retries = retries
        self.retry_max_wait = retry_max_wait
        self.max_running = max_running
        self.max_running_per_owner = max_running_per_owner
        self.max_completion_tokens = max_completion_tokens
        self.running: dict[str, Generation] = {}
        self.accepting = True
        self._background: set[asyncio.Task[Any]] = set()
        self._per_owner: Counter[str] = Counter()  # running answers per owner
        self._sweeper: asyncio.Task[None] | None = None  # _sweep, while answers run
        self.saver = Saver(store, flush_interval, self._spawn)
        self.orphans = Orphans(broker, self.saver)

    async def start(self, spec: GenerationSpec) -> Generation:
        """Publish ``meta`` and start the answer's task; subscribers may attach at once."""
        if not self.accepting:
            raise ServiceError("the server is restarting; try again in a moment")
        self._check_capacity(spec.owner_id)
        self._clamp(spec)
        loop = asyncio.get_running_loop()
        gen = Generation(spec, clock=loop.time, started=loop.time())
        if spec.message_id is not None:  # a continuation: the answer so far comes first
            gen.content, gen.reasoning = [spec.kept[0]], [spec.kept[1]]
            gen.round_start = gen.saved = (1, 1)  # the kept text is the row's already
            gen.earlier_usage = spec.kept_usage
        # Counted before the broker may pause (Redis), so concurrent starts see each other.
        self.running[spec.id] = gen
        self._per_owner[spec.owner_id] += 1
        try:
            await self.broker.create(spec.id, spec.owner_id)
        except BaseException:
            self._release(gen)
            raise
        if not self.accepting:  # shutdown began meanwhile: end the stream before it starts
            self._release(gen)
            error = ServiceError("the server is restarting; try again in a moment")
            self.broker.publish(spec.id, [events.error(gen.take_id(), error)])
            raise error
        meta = events.meta(
            gen.take_id(),
            conversation_id=spec.conversation_id,
            message_id=gen.message_id,
            model=spec.model,
            question_id=spec.question_id,
            generation_id=spec.id if spec.message_id else None,
        )
        self.broker.publish(spec.id, [meta])
        gen.task = asyncio.create_task(self._run(gen), name=f"generation {spec.id}")
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="generations: unattended")
        if gen.stored:
            self.saver.watch(self.running.values())
        self.observer.generation_started()
        return gen

    def _check_capacity(self, owner_id: str) -> None:
        if len(self.running) >= self.max_running:
            raise RateLimited(
                f"this server is running {self.max_running} answers, its limit; try again soon",
                code="too_many_streams",
                retry_after=5,
                details={"limit": self.max_running},
            )
        mine = self._per_owner.get(owner_id, 0)
        if mine >= self.max_running_per_owner:
            raise RateLimited(
                f"you have {mine} answers running, the limit; stop one or wait for it to end",
                code="too_many_streams",
                retry_after=5,
                details={"limit": mine},
            )

    def _clamp(self, spec: GenerationSpec) -> None:
        """Bound the answer's length: ``max_tokens`` at most the configured limit and at most
        what the model's context window leaves after the prompt (estimated). Nothing asked:
        the configured limit if there is one, else the provider's own default."""
        params = spec.request.params
        limits = [self.max_completion_tokens]
        if spec.context_window is not None:
            limits.append(max(1, spec.context_window - spec.prompt_estimate))
        bound = min((n for n in limits if n is not None), default=None)
        if bound is None:
            return
        for name in ("max_tokens", "max_completion_tokens"):
            if isinstance(params.get(name), int) and params[name] > bound:
                params[name] = bound
        if self.max_completion_tokens is not None and not (
            "max_tokens" in params or "max_completion_tokens" in params
        ):
            params["max_tokens"] = bound

    async def stop(self, generation_id: str, reason: str = "stopped", wait: float = 5.0) -> bool:
        """Stop a generation this process runs; False when it runs elsewhere or has ended."""
        gen = self.running.get(generation_id)
        if gen is None or gen.task is None:
            return False
        if gen.stop_reason is None and not gen.finishing:
            gen.stop_reason = reason
            gen.task.cancel()
        await asyncio.wait({gen.task}, timeout=wait)
        return True

    async def handle_stop_request(self, generation_id: str) -> None:
        """The broker's control channel: a stop asked on any worker."""
        await self.stop(generation_id, wait=0)

    async def shutdown(self, grace: float) -> None:
        """Refuse new answers, let running ones finish for ``grace`` s, then end the rest."""
        if not self.accepting and not self.running:
            return
        self.accepting = False
        tasks = {g.task for g in self.running.values() if g.task is not None}
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for generation_id in list(self.running):
            await self.stop(generation_id, reason="shutdown", wait=0)
        tasks = {g.task for g in self.running.values() if g.task is not None}
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        if self._background:
            await asyncio.wait(self._background, timeout=5)

    async def run_janitor(self, interval: float) -> None:
        """Every ``interval`` seconds, end the answers of workers that died."""
        await self.orphans.run(interval)

    # -- the answer's task -------------------------------------------------------------------

    async def _run(self, gen: Generation) -> None:
        ending = await self._stream_to_end(gen)
        await self.saver.before_final(gen)
        try:
            await self._finish(gen, ending)
        finally:
            self._release(gen)

    def _release(self, gen: Generation) -> None:
        self.running.pop(gen.id, None)
        owner = gen.spec.owner_id
        self._per_owner[owner] -= 1
        if not self._per_owner[owner]:
            del self._per_owner[owner]
        if not self.running and self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def _stream_to_end(self, gen: Generation) -> _Ending:
        """Every round of the answer: a round that ends in builtin tool calls is answered
        (the assistant turn and each call's arguments sent back unchanged, Kimi's
        ``$web_search``) and followed by the next call, at most ``tool_rounds`` times. The
        rounds run in this frame: a coroutine of their own was a frame per open stream."""
        try:
            while True:
                await self._round(gen)
                if not (gen.calls and gen.finish_reason == "tool_calls"):
                    break
                self._answer_tools(gen)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if gen.stop_reason is None or task is None:
                raise
            task.uncancel()
            if gen.stop_reason == "shutdown":
                restarting = ServiceError("the server restarted during the answer; try again")
                return _Ending(self._failed_status(gen), None, restarting)
            return _Ending("stopped", "stopped")
        except UpstreamError as exc:
            return _Ending(self._failed_status(gen), None, exc)
        except Exception:
            log.exception("generation %s failed", gen.id)
            error = StreamchatError("streamchat failed while streaming this answer")
            return _Ending(self._failed_status(gen), None, error)
        return _Ending("complete", gen.finish_reason or "stop")

    @staticmethod
    def _failed_status(gen: Generation) -> MessageStatus:
        return "incomplete" if gen.content or gen.reasoning else "error"

    def _answer_tools(self, gen: Generation) -> None:
        calls = [gen.calls[i] for i in sorted(gen.calls)]
        builtin = all(str(c["function"]["name"]).startswith("$") for c in calls)
        if not builtin or gen.rounds >= gen.spec.tool_rounds:
            for call in calls:
                self._tool_event(gen, call, "error")
            raise UpstreamError(
                f"the model asked for tools {gen.rounds + 1} times in one answer; the limit is "
                f"{gen.spec.tool_rounds}"
                if builtin
                else "the model called a tool that "
                "streamchat does not run: " + ", ".join(str(c["function"]["name"]) for c in calls),
                code="tool_rounds_exceeded",
            )
        content_at, reasoning_at = gen.round_start
        turn: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(gen.content[content_at:]) or None,
            "tool_calls": calls,
        }
        reasoning = "".join(gen.reasoning[reasoning_at:])
        if gen.spec.replay_reasoning and reasoning:
            turn["reasoning_content"] = reasoning
        messages = gen.spec.request.messages
        messages.append(turn)
        for call in calls:
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call["id"],
                    "name": call["function"]["name"],
                    "content": call["function"]["arguments"],
                }
            )
            self._tool_event(gen, call, "done")
        gen.rounds += 1
        gen.earlier_usage = _add(gen.earlier_usage, gen.usage)
        gen.usage = None
        gen.finish_reason = None
        gen.calls = {}
        gen.round_start = (len(gen.content), len(gen.reasoning))

    def _tool_event(self, gen: Generation, call: dict[str, Any], status: str) -> None:
        data = {"id": call["id"], "name": call["function"]["name"], "status": status}
        self.broker.publish(gen.id, [gen.event("tool", data)])

    def _gather_calls(self, gen: Generation, pieces: list[dict[str, Any]]) -> list[Event]:
        """Builtin tool-call deltas, joined per index; a ``tool`` event (running) for each
        call when its name arrives."""
        started = []
        for piece in pieces:
            index = int(piece.get("index") or 0)
            function = piece.get("function") or {}
            call = gen.calls.get(index)
            if call is None:
                call = {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                gen.calls[index] = call
            call["id"] = piece.get("id") or call["id"]
            if function.get("name"):
                call["function"]["name"] += function["name"]
                data = {"id": call["id"], "name": call["function"]["name"], "status": "running"}
                started.append(gen.event("tool", data))
            call["function"]["arguments"] += function.get("arguments") or ""
        return started

    async def _round(self, gen: Generation) -> None:
        attempt = 0
        retries = self.retries if gen.spec.retries is None else gen.spec.retries
        sink = functools.partial(self._apply, gen)
        while True:
            try:
                await gen.spec.upstream.run(gen.spec.request, sink)
                return
            except UpstreamError as exc:
                if gen.first_token_at is not None or not exc.retryable or attempt >= retries:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else 0.5 * 2**attempt
                if wait > self.retry_max_wait:
                    raise
                attempt += 1
                log.info(
                    "generation %s: retry %d in %.1fs after %s", gen.id, attempt, wait, exc.code
                )
                await asyncio.sleep(wait)

    def _apply(self, gen: Generation, delta: ChunkDelta) -> None:
        """The upstream's sink: runs inside the network read that brought ``delta``."""
        events: list[Event] = []
        if delta.reasoning:
            if gen.reasoning_at is None:
                gen.reasoning_at = gen.clock()
            gen.reasoning.append(delta.reasoning)
            events.append(gen.event("reasoning", {"text": delta.reasoning}))
        if delta.content:
            gen.content.append(delta.content)
            events.append(gen.event("delta", {"text": delta.content}))
        if delta.refusal:  # the provider's delta.refusal: the answer's text, marked as such
            gen.content.append(delta.refusal)
            events.append(gen.event("delta", {"text": delta.refusal, "refusal": True}))
        if (
            gen.reasoning_ms is None
            and gen.reasoning_at is not None
            and (delta.content or delta.refusal)
        ):
            # The thinking ended: its first answer token says how long it took, for a client
            # that replays the events at once (a reload, another tab) and cannot time them.
            gen.reasoning_ms = _thought(gen, gen.clock())
            next(e for e in events if e.type == "delta").data["reasoning_ms"] = gen.reasoning_ms
        if delta.tool_calls and gen.spec.tool_rounds:
            events.extend(self._gather_calls(gen, delta.tool_calls))
        elif delta.tool_calls:
            events.extend(gen.event("tool_call", call) for call in delta.tool_calls)
        if delta.usage is not None:
            gen.usage = delta.usage
        if delta.finish_reason:
            gen.finish_reason = delta.finish_reason
        if events:
            if gen.first_token_at is None:
                gen.first_token_at = gen.clock()
            gen.dirty = True
            self.broker.publish(gen.id, events)

    async def _sweep(self) -> None:
        """Every ``flush_interval``, stop each answer nobody has listened to for its grace
        period (from ``flush_interval`` after its start on). One task for every answer: a task
        and a timer per answer cost ~1.9 KB per open stream (issue 15 item 4)."""
        loop = asyncio.get_running_loop()
        while self.running:
            await asyncio.sleep(self.flush_interval)
            for gen in list(self.running.values()):
                try:
                    await self._check_attended(gen, loop)
                except Exception:  # one answer's failure must not end the sweep of all
                    log.exception("generation %s: checking for listeners failed", gen.id)

    async def _check_attended(self, gen: Generation, loop: asyncio.AbstractEventLoop) -> None:
        """Stop ``gen`` once nobody has listened to it for its grace period."""
        if gen.stop_reason is not None or gen.finishing:
            return
        if loop.time() - gen.started < self.flush_interval:
            return  # its client may not have attached yet
        if await self.broker.listeners(gen.id) > 0:  # in process unless none here
            gen.unattended_since = None
            return
        now = loop.time()
        if gen.unattended_since is None:
            gen.unattended_since = now
        grace = gen.spec.disconnect_grace
        grace = self.disconnect_grace if grace is None else grace
        if now - gen.unattended_since >= grace:
            log.info("generation %s: nobody attached for %.0fs, stopping", gen.id, grace)
            gen.unattended_since = None
            self._spawn(self.stop(gen.id, reason="abandoned", wait=0))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- the end -----------------------------------------------------------------------------

    def _final_usage(self, gen: Generation) -> Usage:
        """The provider's usage summed over the rounds; estimated for a round without it."""
        if gen.usage is not None:
            return _add(gen.earlier_usage, gen.usage) or gen.usage
        content_at, reasoning_at = gen.round_start
        completion = estimate_tokens("".join(gen.content[content_at:]))
        completion += estimate_tokens("".join(gen.reasoning[reasoning_at:]))
        prompt = gen.spec.prompt_estimate
        estimate = Usage(prompt, completion, prompt + completion, estimated=True)
        return _add(gen.earlier_usage, estimate) or estimate

    async def _title(self, gen: Generation, titler: Callable[[str], Awaitable[object]]) -> None:
        """Write the conversation's title after the answer's end; a failure is only logged."""
        try:
            await titler("".join(gen.content))
        except Exception:
            log.exception("generation %s: titling its conversation failed", gen.id)

    async def _finish(self, gen: Generation, ending: _Ending) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        usage = self._final_usage(gen)
        ttft_ms = None if gen.first_token_at is None else (gen.first_token_at - gen.started) * 1000
        total_ms = (now - gen.started) * 1000
        published = [events.usage(gen.take_id(), usage)]
        patch: MessagePatch = {
            "content": "".join(gen.content),
            "reasoning": "".join(gen.reasoning),
            "status": ending.status,
            "finish_reason": ending.finish_reason,
            "usage": usage,
            "error": ending.error.as_dict() if ending.error else None,
            "ttft_ms": ttft_ms,
            "total_ms": total_ms,
            "last_event_id": gen.next_id,  # the terminal event's id
        }
        thought = gen.reasoning_ms if gen.reasoning_ms is not None else _thought(gen, now)
        if thought is not None or gen.spec.message_id is None:  # a Continue keeps the first's
            patch["reasoning_ms"] = thought
        error = ending.error
        saved = not gen.stored or await self.saver.final(gen.message_id, patch)
        if not saved and error is None:
            error = StoreError(
                "the answer was delivered but could not be saved yet; streamchat keeps "
                "trying to save it"
            )
        # The title call starts after the end: the answer's done never waits for it.
        titler = gen.spec.titler if ending.status == "complete" and saved else None
        if error is None:
            terminal = events.done(
                gen.take_id(),
                ending.finish_reason,
                ttft_ms,
                total_ms,
                title_pending=bool(titler),
                reasoning_ms=thought,
            )
        else:
            terminal = events.error(gen.take_id(), error)
        published.append(terminal)
        self.broker.publish(gen.id, published)
        if titler is not None:
            self._spawn(self._title(gen, titler))
        self.observer.generation_finished(
            gen.spec.upstream.name,
            ending.status,
            None if ttft_ms is None else ttft_ms / 1000,
            usage.completion_tokens,
            ending.error,
        )


def _thought(gen: Generation, now: float) -> float | None:
    """Milliseconds from the first reasoning token to ``now`` (None: no reasoning came), to a
    tenth: the value the stream carries is the one stored."""
    return None if gen.reasoning_at is None else round((now - gen.reasoning_at) * 1000, 1)


def _add(a: Usage | None, b: Usage | None) -> Usage | None:
    """Two rounds' usage together (estimated if either is)."""
    if a is None or b is None:
        return a or b
    return Usage(
        a.prompt_tokens + b.prompt_tokens,
        a.completion_tokens + b.completion_tokens,
        a.total_tokens + b.total_tokens,
        estimated=a.estimated or b.estimated,
    )
