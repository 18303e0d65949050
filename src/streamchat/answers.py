"""The use case of an answer, for every surface: ask, complete, follow, stop. No HTTP here.

- :meth:`Answers.ask` a question in a conversation (a new one, or a child of a message of an
  existing one), :meth:`~Answers.regenerate` an answer (a new sibling answer) or
  :meth:`~Answers.edit` a question (a sibling question and its answer): the page's routes and
  the tutorial's ``/stream-chat``. Versions are added, never deleted.
- :meth:`Answers.complete` a list of messages that is not stored (``/v1``).
- :meth:`Answers.follow` a running or finished answer from an event id (every re-attach).
- :meth:`Answers.stop` one.

Each start checks everything before it writes anything (the model, the parent, the per-minute
limit); a start refused after that (too many answers running, shutting down) takes its rows
back. One answer streams per conversation at a time, whatever its branch.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from streamchat import continuations, events
from streamchat.chat import (
    Conversation,
    Message,
    UpstreamRequest,
    estimate_tokens,
    new_id,
)
from streamchat.errors import Conflict, InvalidRequest, NotFound, StreamchatError
from streamchat.events import Event
from streamchat.fanout import Broker, Subscription
from streamchat.generations import Generations, GenerationSpec
from streamchat.generations.titles import Titler, Titles
from streamchat.idempotency import Keys, first_try_failed, started_by
from streamchat.prompts import (
    Attached,
    Options,
    Prompts,
    automatic_titles,
    prompt_estimate,
    title_for,
)
from streamchat.prompts import switched as switched_params
from streamchat.store import Store
from streamchat.tree import Tree
from streamchat.upstream import ModelInfo
from streamchat.upstream.catalog import Catalog, Provider

__all__ = ["Admission", "Answers", "Following", "Options", "Started"]

log = logging.getLogger("streamchat")

# How long a conversation's start holds its lock at most (a worker that died while starting).
START_LOCK_S = 30.0


class Admission(Protocol):
    """The per-minute limit: raises RateLimited when ``user`` may not start another answer."""

    async def answer_started(self, user: str) -> None: ...


@dataclass(slots=True, frozen=True)
class Started:
    """An answer that runs: its subscription reads every event from the first (``meta``)."""

    id: str
    model: str
    subscription: Subscription
    conversation_id: str | None = None
    question_id: str | None = None


@dataclass(slots=True, frozen=True)
class Following:
    """What a re-attach gets: live or kept events, a stored answer's replay, or nothing more
    (both None: the client already has the last event)."""

    subscription: Subscription | None = None
    replay: list[Event] | None = None


class Answers:
    def __init__(
        self,
        store: Store,
        broker: Broker,
        catalog: Catalog,
        generations: Generations,
        admission: Admission,
        *,
        max_message_chars: int,
        completion_retries: int | None = 0,
        max_attachments: int = 10,
        web_search_rounds: int = 4,
        idempotency_ttl: float = 900.0,
        titles: Titles | None = None,
    ) -> None:
        self.store = store
        self.broker = broker
        self.catalog = catalog
        self.generations = generations
        self.admission = admission
        self.max_message_chars = max_message_chars
        self.completion_retries = completion_retries
        self.prompts = Prompts(
            store, max_attachments=max_attachments, web_search_rounds=web_search_rounds
        )
        self.keys = Keys(broker, idempotency_ttl)
        self.titles = titles  # a conversation's title by its model, after its first answer

    # -- conversations: ask, regenerate, edit ---------------------------------------------

    async def ask(
        self,
        owner: str,
        text: str,
        *,
        conversation_id: str | None = None,
        parent_id: str | None = None,
        model: str | None = None,
        attachments: Sequence[str] = (),
        idempotency_key: str | None = None,
        options: Options | None = None,
    ) -> Started:
        """A question in a new conversation, or in ``conversation_id`` as a child of
        ``parent_id`` (an answer; default: the end of the current path), with the files
        ``attachments`` (ids of the owner's uploads). A request that repeats an
        ``idempotency_key`` gets the answer its first try started."""
        request = ["ask", text, conversation_id, parent_id, model, list(attachments), repr(options)]

        def start(answer_id: str) -> Awaitable[Started]:
            return self._ask(
                owner, text, conversation_id, parent_id, model, attachments, answer_id, options
            )

        return await self._once(owner, idempotency_key, request, "msg", model or "", start)

    async def _ask(
        self,
        owner: str,
        text: str,
        conversation_id: str | None,
        parent_id: str | None,
        model: str | None,
        attachments: Sequence[str],
        answer_id: str,
        options: Options | None = None,
    ) -> Started:
        text = self._text(text)
        if conversation_id is None:
            if parent_id is not None:
                raise InvalidRequest("parent_id needs a conversation_id")
            _, info = await self.catalog.resolve(model)
            files = await self.prompts.attachments(owner, attachments, None)
            conversation = Conversation(
                new_id("conv"), owner, title=title_for(text), model=model and info.id
            )
            question = Message(new_id("msg"), conversation.id, owner, "user", content=text)
            return await self._start(
                conversation,
                [question],
                [question],
                model,
                create=True,
                attach={question.id: files},
                answer_id=answer_id,
                options=options,
                title_from=text,
            )
        async with self._starting(conversation_id):
            conversation, tree = await self._open(owner, conversation_id)
            parent = await self._parent(owner, tree, conversation, parent_id)
            await self._check_idle(tree)
            files = await self.prompts.attachments(owner, attachments, conversation.id)
            question = Message(
                new_id("msg"), conversation.id, owner, "user", content=text, parent_id=parent
            )
            return await self._start(
                conversation,
                [*tree.path(parent), question],
                [question],
                model,
                attach={question.id: files},
                answer_id=answer_id,
                options=options,
                title_from=None if any(m.role == "assistant" for m in tree.messages) else text,
            )

    async def regenerate(
        self,
        owner: str,
        answer_id: str,
        *,
        model: str | None = None,
        options: Options | None = None,
    ) -> Started:
        """A new version of an answer: a sibling answer to the same question."""
        answer = await self.store.get_message(owner, answer_id)
        if answer.role != "assistant":
            raise InvalidRequest(f"message {answer_id} is a question; regenerate takes an answer")
        async with self._starting(answer.conversation_id):
            conversation, tree = await self._open(owner, answer.conversation_id)
            await self._check_idle(tree)
            question = tree.get(answer.parent_id)
            if question is None:
                raise Conflict(f"answer {answer_id} has no question to answer again")
            path = tree.path(question.id)
            return await self._start(conversation, path, [], model, options=options)

    async def edit(
        self,
        owner: str,
        question_id: str,
        text: str,
        *,
        model: str | None = None,
        attachments: Sequence[str] | None = None,
        options: Options | None = None,
    ) -> Started:
        """A new version of a question (a sibling with ``text``) and its answer; it keeps the
        old question's files unless ``attachments`` lists others."""
        text = self._text(text)
        old = await self.store.get_message(owner, question_id)
        if old.role != "user":
            raise InvalidRequest(f"message {question_id} is an answer; edit takes a question")
        async with self._starting(old.conversation_id):
            conversation, tree = await self._open(owner, old.conversation_id)
            await self._check_idle(tree)
            if attachments is None:
                kept = await self.store.message_files(owner, conversation.id)
                attachments = [f.id for f in kept.get(old.id, [])]
            files = await self.prompts.attachments(owner, attachments, conversation.id)
            question = Message(
                new_id("msg"),
                conversation.id,
                owner,
                "user",
                content=text,
                parent_id=old.parent_id,
            )
            return await self._start(
                conversation,
                [*tree.path(old.parent_id), question],
                [question],
                model,
                attach={question.id: files},
                options=options,
            )

    async def regenerate_last(
        self,
        owner: str,
        conversation_id: str,
        *,
        model: str | None = None,
        options: Options | None = None,
    ) -> Started:
        """Regenerate the last answer of the current path."""
        conversation, tree = await self._open(owner, conversation_id)
        path = tree.current_path(conversation.current_id)
        answer = next((m for m in reversed(path) if m.role == "assistant"), None)
        if answer is None:
            raise Conflict("the conversation has no answer to regenerate")
        return await self.regenerate(owner, answer.id, model=model, options=options)

    async def edit_last(
        self,
        owner: str,
        conversation_id: str,
        text: str,
        *,
        model: str | None = None,
        attachments: Sequence[str] | None = None,
        options: Options | None = None,
    ) -> Started:
        """Edit the last question of the current path."""
        conversation, tree = await self._open(owner, conversation_id)
        path = tree.current_path(conversation.current_id)
        question = next((m for m in reversed(path) if m.role == "user"), None)
        if question is None:
            raise Conflict("the conversation has no question to edit")
        return await self.edit(
            owner, question.id, text, model=model, attachments=attachments, options=options
        )

    async def continue_answer(self, owner: str, answer_id: str) -> Started:
        """Continue an answer cut at its length (finish_reason ``length``) in place: the
        provider's partial mode (Kimi: a trailing assistant message with ``partial: true``;
        DeepSeek: ``prefix: true``) writes the rest, appended to the same stored answer, its
        usage added. Its own stream (``meta.generation_id``, ``<answer id>.c<n>``) carries it;
        the answer's id re-attaches to it as well (:meth:`follow`)."""
        answer = await self.store.get_message(owner, answer_id)
        if answer.role != "assistant":
            raise InvalidRequest(f"message {answer_id} is a question; continue takes an answer")
        async with self._starting(answer.conversation_id):
            return await self._continue(owner, answer.conversation_id, answer_id)

    async def _continue(self, owner: str, conversation_id: str, answer_id: str) -> Started:
        conversation, tree = await self._open(owner, conversation_id)
        answer = tree.get(answer_id)  # as it is now, under the conversation's start lock
        if answer is None:
            raise NotFound(f"message {answer_id} not found")
        if answer.status != "complete" or answer.finish_reason != "length":
            raise Conflict(
                f"answer {answer_id} did not stop at its length limit (status {answer.status}, "
                f"finish_reason {answer.finish_reason}); only such an answer can be continued",
                code="not_continuable",
            )
        await self._check_idle(tree)
        question = tree.get(answer.parent_id)
        if question is None:
            raise Conflict(f"answer {answer_id} has no question")
        provider, info = await self.catalog.resolve(answer.model or conversation.model)
        if provider.continuation is None:
            raise InvalidRequest(
                f"model {info.id} (provider {provider.name}) cannot continue an answer: the "
                "provider has no partial mode",
                code="continue_unavailable",
                details={"model": info.id},
            )
        path = tree.path(question.id)
        files = await self.store.message_files(owner, conversation.id)
        on_path = [f for m in path for f in files.get(m.id, [])]
        self.prompts.check_vision(info, on_path)
        await self.prompts.read_documents(provider, owner, on_path)
        request = await self.prompts.request(conversation, path, files, info)
        self.prompts.switches(request.params, provider, info, None)
        continuations.partial_request(request, answer.content, provider.continuation)
        continued = await continuations.kept(self.broker, answer.id)  # before it says streaming
        await self.admission.answer_started(owner)
        await self.store.update_message(answer.id, {"status": "streaming", "finish_reason": None})
        spec = GenerationSpec(
            id=f"{answer.id}.c{len(continued) + 1}",
            owner_id=owner,
            model=info.id,
            upstream=provider,
            request=request,
            conversation_id=conversation.id,
            question_id=question.id,
            prompt_estimate=prompt_estimate(request.messages),
            context_window=info.context_window,
            message_id=answer.id,
            kept=(answer.content, answer.reasoning),
            kept_usage=answer.usage,
        )
        return await self._launch(
            spec,
            lambda: self.store.update_message(
                answer.id, {"status": "complete", "finish_reason": "length"}
            ),
        )

    # -- /v1: an answer that is not stored -------------------------------------------------

    async def complete(
        self,
        owner: str,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        background: bool = False,
        id_prefix: str = "chatcmpl",
    ) -> Started:
        """An answer to ``messages`` as given (no conversation, nothing stored). It stops as
        soon as nobody follows it (an SDK cannot re-attach to a chat completion; with an
        ``idempotency_key`` it gets the server's grace, as the client will come back with it),
        and a retryable failure before its first token goes back to the caller unless the
        server is configured to retry. ``background``: it runs to its end with nobody
        attached (the Responses API's background mode); ids start with ``id_prefix``."""
        provider, info = await self.catalog.resolve(model)
        # The kind of answer is part of the request: a key reused for a background response
        # (or on another surface) must not attach to an answer that stops without listeners.
        request = ["complete", info.id, messages, params, background, id_prefix]

        # A client that sends a key says it will come back for the answer: give it the grace;
        # a background answer runs to its end whoever listens.
        grace = math.inf if background else None if idempotency_key is not None else 0.0

        async def start(generation_id: str) -> Started:
            await self.admission.answer_started(owner)
            spec = GenerationSpec(
                id=generation_id,
                owner_id=owner,
                model=info.id,
                upstream=provider,
                request=UpstreamRequest(model=info.id, messages=messages, params=params),
                prompt_estimate=sum(estimate_tokens(str(m.get("content") or "")) for m in messages),
                context_window=info.context_window,
                disconnect_grace=grace,
                retries=self.completion_retries,
            )
            return await self._launch(spec)

        return await self._once(owner, idempotency_key, request, id_prefix, info.id, start)

    # -- every surface: follow, stop --------------------------------------------------------

    async def follow(
        self, owner: str, generation_id: str, after: int = 0, *, from_start: bool = False
    ) -> Following:
        """The events of an answer after event ``after``: kept in the broker (live or for
        ``replay_ttl``), else a finished stored answer's compact replay (from the start only:
        ``replay_expired`` otherwise). ``from_start``: the subscription reads every kept event
        (a surface that needs the earlier ones, e.g. the model name), and only the broker is
        asked (``/v1`` answers are not stored). An answer being continued is followed in its
        continuation (whose numbering ``after`` then counts in)."""
        generation_id, info = await continuations.current(self.broker, generation_id)
        if info is not None:
            if info.owner_id != owner:
                raise NotFound(f"generation {generation_id} not found")
            if info.finished and after >= info.last_id:
                return Following()
            subscription = await self.broker.subscribe(generation_id, 0 if from_start else after)
            return Following(subscription)
        if from_start:
            raise NotFound(f"generation {generation_id} not found")
        message = await self.store.get_message(owner, generation_id)
        if message.role != "assistant":
            raise NotFound(f"generation {generation_id} not found")
        if after >= (message.last_event_id or 0) and message.status != "streaming":
            return Following()
        if after > 0:
            raise Conflict(
                f"the events of {generation_id} are no longer kept; read the answer from "
                f"GET /api/conversations/{message.conversation_id}",
                code="replay_expired",
            )
        return Following(replay=[] if message.status == "streaming" else events.replay(message))

    async def stop(self, owner: str, generation_id: str) -> dict[str, object]:
        """Cancel the upstream call now; the answer keeps what arrived, marked stopped.
        ``stopped`` says whether it was still running. Idempotent; NotFound for others."""
        generation_id, info = await continuations.current(self.broker, generation_id)
        if info is not None and info.owner_id == owner:
            running = not info.finished
            if running and not await self.generations.stop(generation_id):
                await self.broker.request_stop(generation_id)
            return {"id": generation_id, "stopped": running}
        message = await self.store.get_message(owner, generation_id)
        return {"id": generation_id, "stopped": False, "status": message.status}

    async def stop_conversation(self, owner: str, conversation_id: str) -> None:
        """Stop every answer of a conversation (before it is deleted)."""
        for message in await self.store.list_messages(owner, conversation_id):
            if message.status == "streaming":
                await self.stop(owner, message.id)

    # -- the steps ------------------------------------------------------------------------

    async def _once(
        self,
        owner: str,
        key: str | None,
        request: Any,
        prefix: str,
        model: str,
        start: Callable[[str], Awaitable[Started]],
    ) -> Started:
        """``start`` a generation, unless a request with the same ``key`` already did."""
        generation_id = new_id(prefix)
        if key is None:
            return await start(generation_id)
        claim = await self.keys.claim(owner, key, request, generation_id, model)
        if claim.earlier is not None and await first_try_failed(self.broker, claim.earlier):
            # The first try failed before its first token (a provider's 429, 5xx): nothing was
            # paid for, and a retry is what the failure asked for. It starts afresh.
            await self.keys.release(claim)
            claim = await self.keys.claim(owner, key, request, generation_id, model)
        if claim.earlier is not None:
            subscription = await started_by(self.broker, owner, claim.earlier)
            return Started(claim.earlier, claim.model, subscription)
        try:
            return await start(generation_id)
        except BaseException:
            await self.keys.release(claim)
            raise

    def _text(self, text: str) -> str:
        if not text.strip():
            raise InvalidRequest("message must not be empty", details={"reason": "message_empty"})
        if len(text) > self.max_message_chars:
            raise InvalidRequest(
                f"message is {len(text)} characters; the limit is {self.max_message_chars}",
                details={
                    "reason": "message_too_long",
                    "length": len(text),
                    "limit": self.max_message_chars,
                },
            )
        return text

    async def _open(self, owner: str, conversation_id: str) -> tuple[Conversation, Tree]:
        conversation = await self.store.get_conversation(owner, conversation_id)
        return conversation, Tree(await self.store.list_messages(owner, conversation_id))

    async def _parent(
        self, owner: str, tree: Tree, conversation: Conversation, parent_id: str | None
    ) -> str | None:
        """The answer a new question follows: ``parent_id``, else the current path's end."""
        if parent_id is None:
            path = tree.current_path(conversation.current_id)
            while path and path[-1].role != "assistant":
                path.pop()  # a question left without an answer gets a sibling
            return path[-1].id if path else None
        parent = tree.get(parent_id)
        if parent is None:
            other = await self.store.get_message(owner, parent_id)  # NotFound: unknown, others'
            raise InvalidRequest(
                f"parent_id {parent_id} is a message of conversation {other.conversation_id}, "
                f"not {conversation.id}"
            )
        if parent.role != "assistant":
            raise InvalidRequest(
                f"parent_id {parent_id} is a question; a question follows an answer"
            )
        return parent.id

    @contextlib.asynccontextmanager
    async def _starting(self, conversation_id: str) -> AsyncIterator[None]:
        """Hold the conversation's start lock (in the broker: every worker's) from reading its
        tree until its answer runs (or its rows were taken back): two starts at once, from two
        tabs or a double click, would both find it idle and both stream."""
        key, token = f"start {conversation_id}", new_id("start")
        if await self.broker.remember(key, token, START_LOCK_S) is not None:
            raise Conflict(
                "an answer is starting in this conversation; stop it or wait for it to end"
            )
        try:
            yield
        finally:
            await self.broker.forget(key, token)

    async def _check_idle(self, tree: Tree) -> None:
        """One answer at a time per conversation: refuse while one of its answers streams."""
        for message in tree.streaming():
            _, info = await continuations.current(self.broker, message.id)
            if info is not None and not info.finished:
                raise Conflict(
                    f"an answer is still streaming in this conversation ({message.id}); "
                    "stop it or wait for it to end"
                )

    async def _start(
        self,
        conversation: Conversation,
        path: list[Message],
        new_rows: list[Message],
        model: str | None,
        *,
        create: bool = False,
        attach: Attached | None = None,
        answer_id: str | None = None,
        options: Options | None = None,
        title_from: str | None = None,
    ) -> Started:
        """Answer the last message of ``path`` (its question), after writing ``new_rows``
        and the files of each new question in ``attach``; the conversation's first answer,
        to the question ``title_from``, is followed by its title."""
        provider, info = await self.catalog.resolve(model or conversation.model)
        owner = conversation.owner_id
        attach = {m: f for m, f in (attach or {}).items() if f}
        files = {**({} if create else await self.store.message_files(owner, conversation.id))}
        files.update(attach)
        on_path = [f for m in path for f in files.get(m.id, [])]
        self.prompts.check_vision(info, on_path)
        await self.prompts.read_documents(provider, owner, on_path)
        switched = switched_params(conversation, options)
        params_before = conversation.params
        if switched is not None:
            conversation.params = switched
        request = await self.prompts.request(conversation, path, files, info)
        tool_rounds = self.prompts.switches(request.params, provider, info, options)
        await self.admission.answer_started(owner)
        question = path[-1]
        answer = Message(
            answer_id or new_id("msg"),
            conversation.id,
            owner,
            "assistant",
            model=info.id,
            status="streaming",
            parent_id=question.id,
        )
        new = conversation if create else None
        if switched is not None and not create:
            await self.store.update_conversation(owner, conversation.id, {"params": switched})
        if attach:
            ids = {m: [f.id for f in found] for m, found in attach.items()}
            await self.store.add_messages_with_files([*new_rows, answer], ids, new=new)
        else:
            await self.store.add_messages([*new_rows, answer], new=new)
        spec = GenerationSpec(
            id=answer.id,
            owner_id=owner,
            model=info.id,
            upstream=provider,
            request=request,
            conversation_id=conversation.id,
            question_id=question.id,
            prompt_estimate=prompt_estimate(request.messages),
            context_window=info.context_window,
            tool_rounds=tool_rounds,
            replay_reasoning=provider.replay_reasoning,
            titler=self._titler(provider, info, conversation, title_from),
        )
        kept = params_before if switched is not None and not create else None
        return await self._launch(
            spec, lambda: self._take_back(conversation, [*new_rows, answer], create, kept)
        )

    def _titler(
        self, provider: Provider, info: ModelInfo, conversation: Conversation, question: str | None
    ) -> Titler | None:
        if question is None or self.titles is None:
            return None
        automatic = automatic_titles(question)
        return self.titles.titler(provider, info, conversation, question, automatic)

    async def _launch(
        self, spec: GenerationSpec, undo: Callable[[], Awaitable[None]] | None = None
    ) -> Started:
        """Start ``spec``'s generation; if it cannot start, ``undo`` what was written for it."""
        try:
            await self.generations.start(spec)
        except StreamchatError:
            if undo is not None:
                await undo()
            raise
        return Started(
            spec.id,
            spec.model,
            await self.broker.subscribe(spec.id, 0),
            conversation_id=spec.conversation_id,
            question_id=spec.question_id,
        )

    async def _take_back(
        self,
        conversation: Conversation,
        rows: list[Message],
        created: bool,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Undo the writes of an answer that did not start; the store being away too is logged
        (the client gets the reason the answer did not start)."""
        try:
            if created:
                # The files attached stay the owner's uploads, not the conversation's.
                await self.store.release_files(conversation.owner_id, conversation.id)
                await self.store.delete_conversation(conversation.owner_id, conversation.id)
            else:
                await self.store.delete_messages(conversation.owner_id, [m.id for m in rows])
                if params is not None:  # the switches the start had set
                    await self.store.update_conversation(
                        conversation.owner_id, conversation.id, {"params": params}
                    )
                if conversation.current_id is not None:  # the branch shown before
                    await self.store.set_current(
                        conversation.owner_id, conversation.id, conversation.current_id
                    )
        except StreamchatError:
            log.warning("could not remove the rows of answer %s, which did not start", rows[-1].id)
