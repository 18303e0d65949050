"""One answer = one task, decoupled from every connection.

:class:`Generations` starts a task per answer. The task streams from the upstream, numbers the
events (meta, reasoning, delta, tool_call, usage, then exactly one of done / error), publishes
them to the broker, writes the growing answer to the store every ``flush_interval`` seconds (off
the per-token path) and once more at the end, before the terminal event, so a client that saw
``done`` finds the answer stored. Nothing here knows about HTTP.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from streamchat.chat import ChunkDelta, MessageStatus, UpstreamRequest, Usage, estimate_tokens
from streamchat.errors import (
    NotFound,
    RateLimited,
    ServiceError,
    StoreError,
    StreamchatError,
    UpstreamError,
)
from streamchat.events import Event
from streamchat.fanout import Broker
from streamchat.store import MessagePatch, Progress, Store
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
    prompt_estimate: int = 0


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

    @property
    def id(self) -> str:
        return self.spec.id

    def event(self, type: str, data: dict[str, Any]) -> Event:
        event = Event(self.next_id, type, data)
        self.next_id += 1
        return event


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
        self._saver: asyncio.Task[None] | None = None
        self._per_owner: Counter[str] = Counter()  # running answers per owner

    async def start(self, spec: GenerationSpec) -> Generation:
        """Publish ``meta`` and start the answer's task; subscribers may attach at once."""
        if not self.accepting:
            raise ServiceError("the server is restarting; try again in a moment")
        self._check_capacity(spec.owner_id)
        self._clamp(spec.request.params)
        loop = asyncio.get_running_loop()
        gen = Generation(spec, clock=loop.time, started=loop.time())
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
            self.broker.publish(spec.id, [gen.event("error", error.as_dict())])
            raise error
        meta = {"conversation_id": spec.conversation_id, "message_id": spec.id, "model": spec.model}
        self.broker.publish(spec.id, [gen.event("meta", meta)])
        gen.task = asyncio.create_task(self._run(gen), name=f"generation {spec.id}")
        if spec.conversation_id and (self._saver is None or self._saver.done()):
            self._saver = self._spawn(self._save_progress_forever())
        self.observer.generation_started()
        return gen

    def _check_capacity(self, owner_id: str) -> None:
        if len(self.running) >= self.max_running:
            raise RateLimited(
                f"this server is running {self.max_running} answers, its limit; try again soon",
                code="too_many_streams",
                retry_after=5,
            )
        mine = self._per_owner.get(owner_id, 0)
        if mine >= self.max_running_per_owner:
            raise RateLimited(
                f"you have {mine} answers running, the limit; stop one or wait for it to end",
                code="too_many_streams",
                retry_after=5,
            )

    def _clamp(self, params: dict[str, Any]) -> None:
        """Bound the answer's length: ``max_tokens`` at most the configured limit."""
        limit = self.max_completion_tokens
        if limit is None:
            return
        for name in ("max_tokens", "max_completion_tokens"):
            if isinstance(params.get(name), int) and params[name] > limit:
                params[name] = limit
        if "max_tokens" not in params and "max_completion_tokens" not in params:
            params["max_tokens"] = limit

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

    # -- answers whose worker died (several workers) ------------------------------------------

    async def run_janitor(self, interval: float) -> None:
        """Every ``interval`` seconds, end the answers of workers that died."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.adopt_orphans()
            except StreamchatError as exc:
                log.warning("looking for interrupted answers failed: %s", exc.message)

    async def adopt_orphans(self) -> int:
        """End each answer whose worker's lease expired: keep the text the broker holds, mark it
        ``incomplete`` and tell every subscriber with a retryable ``interrupted`` error."""
        adopted = 0
        for stream_id in await self.broker.orphans():
            claimed = await self.broker.claim(stream_id)
            if claimed is None:
                continue
            _, events = claimed
            if events and events[-1].terminal:
                continue
            await self._end_orphan(stream_id, events)
            adopted += 1
        return adopted

    async def _end_orphan(self, stream_id: str, events: list[Event]) -> None:
        content = "".join(e.data["text"] for e in events if e.type == "delta")
        reasoning = "".join(e.data["text"] for e in events if e.type == "reasoning")
        completion = estimate_tokens(content) + estimate_tokens(reasoning)
        usage = Usage(0, completion, completion, estimated=True)
        error = ServiceError(
            "the worker running this answer stopped before it finished; try again",
            code="interrupted",
        )
        next_id = (events[-1].id if events else 0) + 1
        patch: MessagePatch = {
            "content": content,
            "reasoning": reasoning,
            "status": "incomplete" if content or reasoning else "error",
            "usage": usage,
            "error": error.as_dict(),
            "last_event_id": next_id + 1,
        }
        await self._save(stream_id, patch)
        self.broker.publish(
            stream_id,
            [
                Event(next_id, "usage", usage.as_dict()),
                Event(next_id + 1, "error", error.as_dict()),
            ],
        )
        log.warning(
            "answer %s was interrupted by a dead worker; ended it with %d characters",
            stream_id,
            len(content),
        )

    # -- the answer's task -------------------------------------------------------------------

    async def _run(self, gen: Generation) -> None:
        ticker = asyncio.create_task(self._tick(gen))
        try:
            ending = await self._stream_to_end(gen)
        finally:
            ticker.cancel()
        gen.finishing = True
        if gen.flushing is not None:
            # A periodic save still in flight must land before the final one, not after it.
            await asyncio.wait({gen.flushing})
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

    async def _stream_to_end(self, gen: Generation) -> _Ending:
        try:
            await self._stream(gen)
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

    async def _stream(self, gen: Generation) -> None:
        attempt = 0
        sink = functools.partial(self._apply, gen)
        while True:
            try:
                await gen.spec.upstream.run(gen.spec.request, sink)
                return
            except UpstreamError as exc:
                if gen.first_token_at is not None or not exc.retryable or attempt >= self.retries:
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
            gen.reasoning.append(delta.reasoning)
            events.append(gen.event("reasoning", {"text": delta.reasoning}))
        if delta.content:
            gen.content.append(delta.content)
            events.append(gen.event("delta", {"text": delta.content}))
        if delta.tool_calls:
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

    async def _tick(self, gen: Generation) -> None:
        """Stop the answer when nobody has listened for the grace period."""
        loop = asyncio.get_running_loop()
        unattended_since: float | None = None
        while True:
            await asyncio.sleep(self.flush_interval)
            if await self.broker.listeners(gen.id) > 0:
                unattended_since = None
            elif unattended_since is None:
                unattended_since = loop.time()
            elif loop.time() - unattended_since >= self.disconnect_grace:
                log.info(
                    "generation %s: nobody attached for %.0fs, stopping",
                    gen.id,
                    self.disconnect_grace,
                )
                self._spawn(self.stop(gen.id, reason="abandoned", wait=0))
                return

    async def _save_progress_forever(self) -> None:
        """Every ``flush_interval`` s, the text so far of every stored answer that grew, in one
        transaction (one per interval, not one per answer). Ends when no answer runs."""
        while self.running:
            await asyncio.sleep(self.flush_interval)
            dirty = [
                gen
                for gen in self.running.values()
                if gen.dirty and gen.spec.conversation_id and not gen.finishing
            ]
            if not dirty:
                continue
            for gen in dirty:
                gen.dirty = False
            batch = self._spawn(self._flush(dirty))
            for gen in dirty:
                gen.flushing = batch  # the final save waits for it
            await asyncio.wait({batch})

    async def _flush(self, gens: list[Generation]) -> None:
        # Taken at once with the text: every event up to next_id - 1 is in it.
        progress = [
            Progress(g.id, "".join(g.content), "".join(g.reasoning), g.next_id - 1) for g in gens
        ]
        try:
            await self.store.save_progress(progress)
        except StoreError as exc:
            for gen in gens:
                gen.dirty = True
            log.warning("saving %d answers' progress failed: %s", len(gens), exc.message)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- the end -----------------------------------------------------------------------------

    def _final_usage(self, gen: Generation) -> Usage:
        if gen.usage is not None:
            return gen.usage
        completion = estimate_tokens("".join(gen.content)) + estimate_tokens("".join(gen.reasoning))
        prompt = gen.spec.prompt_estimate
        return Usage(prompt, completion, prompt + completion, estimated=True)

    async def _finish(self, gen: Generation, ending: _Ending) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        usage = self._final_usage(gen)
        ttft_ms = None if gen.first_token_at is None else (gen.first_token_at - gen.started) * 1000
        total_ms = (now - gen.started) * 1000
        events = [gen.event("usage", usage.as_dict())]
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
        error = ending.error
        saved = gen.spec.conversation_id is None or await self._save(gen.id, patch)
        if not saved and error is None:
            error = StoreError(
                "the answer was delivered but could not be saved yet; streamchat keeps "
                "trying to save it"
            )
        if error is None:
            terminal = gen.event(
                "done",
                {
                    "finish_reason": ending.finish_reason,
                    "ttft_ms": _round(ttft_ms),
                    "total_ms": _round(total_ms),
                },
            )
        else:
            terminal = gen.event("error", error.as_dict())
        events.append(terminal)
        self.broker.publish(gen.id, events)
        self.observer.generation_finished(
            gen.spec.upstream.name,
            ending.status,
            None if ttft_ms is None else ttft_ms / 1000,
            usage.completion_tokens,
            ending.error,
        )

    async def _save(self, message_id: str, patch: MessagePatch) -> bool:
        """Write the final answer; on failure keep retrying in the background."""
        try:
            await self.store.update_message(message_id, patch)
            return True
        except NotFound:
            log.info("answer %s has no row (deleted, or a /v1 answer); nothing to save", message_id)
            return True
        except StoreError as exc:
            log.error("answer %s: saving failed: %s", message_id, exc.message)
            self._spawn(self._save_later(message_id, patch))
            return False

    async def _save_later(self, message_id: str, patch: MessagePatch) -> None:
        for delay in (1, 2, 5, 10, 30, 60, 120, 300):
            await asyncio.sleep(delay)
            try:
                await self.store.update_message(message_id, patch)
            except NotFound:
                return
            except StoreError:
                continue
            log.info("answer %s saved after the store came back", message_id)
            return
        log.error("answer %s could not be saved; gave up after 10 minutes", message_id)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
