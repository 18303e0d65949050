"""The use case of an answer without HTTP: the memory broker, a real SQLite store, the demo
upstream. What each surface relies on: a refusal writes nothing, versions are added, the
history is one path, follow and stop behave the same for every caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streamchat.answers import Answers, Started
from streamchat.chat import UpstreamRequest
from streamchat.errors import Conflict, InvalidRequest, NotFound, RateLimited, StreamchatError
from streamchat.events import Event
from streamchat.fanout.memory import MemoryBroker
from streamchat.generations import Generations
from streamchat.store.sql import SqlStore
from streamchat.tree import Tree
from streamchat.upstream.catalog import Catalog
from streamchat.upstream.demo import DemoUpstream, demo_answer


class Quiet:
    def generation_started(self) -> None:
        pass

    def generation_finished(self, *args: object) -> None:
        pass


@dataclass
class Admission:
    """Counts starts; refuses once ``allowed`` is used up."""

    allowed: int = 1000
    seen: list[str] = field(default_factory=list)

    async def answer_started(self, user: str) -> None:
        if len(self.seen) >= self.allowed:
            raise RateLimited("slow down", retry_after=7)
        self.seen.append(user)


@dataclass
class UseCase:
    answers: Answers
    store: SqlStore
    admission: Admission
    demo: DemoUpstream


@pytest.fixture
async def case(tmp_path: Path) -> AsyncIterator[UseCase]:
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'answers.db'}")
    await store.open()
    await store.ensure_user("ann", "ann")
    await store.ensure_user("bob", "bob")
    broker = MemoryBroker()
    demo = DemoUpstream(token_rate=0)
    generations = Generations(broker, store, Quiet(), flush_interval=0.05)
    await broker.start(generations.handle_stop_request)
    admission = Admission()
    catalog = Catalog([demo], None, 600)
    answers = Answers(store, broker, catalog, generations, admission, max_message_chars=100)
    try:
        yield UseCase(answers, store, admission, demo)
    finally:
        await generations.shutdown(0)
        await broker.close()
        await store.close()


async def read_all(started: Started) -> list[Event]:
    kept: list[Event] = []
    while True:
        batch = await started.subscription.next(5)
        if not batch:
            break
        kept.extend(batch)
        if batch[-1].terminal:
            break
    await started.subscription.close()
    return kept


def answer_to(*questions: str) -> str:
    history = [{"role": "user", "content": q} for q in questions]
    return demo_answer(UpstreamRequest("demo", history))


async def test_ask_regenerate_and_edit_add_versions_on_one_path(case: UseCase) -> None:
    first = await case.answers.ask("ann", "one", model="demo")
    events = await read_all(first)
    assert (events[0].type, events[-1].type) == ("meta", "done")
    assert events[0].data["question_id"] == first.question_id
    conversation_id = first.conversation_id
    assert conversation_id is not None
    second = await case.answers.ask("ann", "two", conversation_id=conversation_id)
    await read_all(second)
    again = await case.answers.regenerate("ann", first.id)
    text = "".join(e.data["text"] for e in await read_all(again) if e.type == "delta")
    assert text == answer_to("one")
    edited = await case.answers.edit("ann", first.question_id or "", "uno")
    await read_all(edited)
    conversation = await case.store.get_conversation("ann", conversation_id)
    tree = Tree(await case.store.list_messages("ann", conversation_id))
    assert len(tree.messages) == 7  # q1 a1 q2 a2 a1' q1' a1''
    path = tree.current_path(conversation.current_id)
    assert [m.content for m in path] == ["uno", answer_to("uno")]
    assert tree.sibling_ids(path[0]) == [first.question_id, edited.question_id]
    assert [m.content for m in tree.branch(first.id)][-2:] == ["two", answer_to("one", "two")]


async def test_a_refusal_before_writing_writes_nothing(case: UseCase) -> None:
    first = await case.answers.ask("ann", "one", model="demo")
    await read_all(first)
    conversation_id = first.conversation_id or ""
    before = await case.store.list_messages("ann", conversation_id)
    case.admission.allowed = len(case.admission.seen)
    with pytest.raises(RateLimited):
        await case.answers.ask("ann", "two", conversation_id=conversation_id)
    with pytest.raises(RateLimited):
        await case.answers.ask("ann", "new chat")
    with pytest.raises(InvalidRequest, match="characters"):
        await case.answers.ask("ann", "x" * 101, conversation_id=conversation_id)
    with pytest.raises(NotFound):
        await case.answers.regenerate("bob", first.id)
    with pytest.raises(NotFound):
        await case.answers.ask("bob", "mine?", conversation_id=conversation_id)
    assert await case.store.list_messages("ann", conversation_id) == before
    assert len(await case.store.list_conversations("ann", limit=10, offset=0)) == 1


async def test_follow_from_an_event_and_stop_for_every_surface(case: UseCase) -> None:
    case.demo.token_rate = 50
    started = await case.answers.ask("ann", "long", model="demo")
    head = await started.subscription.next(5)
    assert head and head[0].type == "meta"
    await started.subscription.close()
    following = await case.answers.follow("ann", started.id, 1)
    assert following.subscription is not None
    rest = await following.subscription.next(5)
    assert rest and rest[0].id == 2
    await following.subscription.close()
    with pytest.raises(NotFound):
        await case.answers.follow("bob", started.id)
    with pytest.raises(Conflict):
        await case.answers.regenerate("ann", started.id)
    assert await case.answers.stop("ann", started.id) == {"id": started.id, "stopped": True}
    stored = await case.store.get_message("ann", started.id)
    assert stored.status == "stopped"
    again = await case.answers.stop("ann", started.id)
    assert again == {"id": started.id, "stopped": False}
    ended = await case.answers.follow("ann", started.id, stored.last_event_id or 0)
    assert ended.subscription is None and ended.replay is None


async def test_complete_is_not_stored_and_stops_when_nobody_follows(case: UseCase) -> None:
    case.demo.token_rate = 50
    started = await case.answers.complete("ann", "demo", [{"role": "user", "content": "hi"}], {})
    assert started.conversation_id is None and started.id.startswith("chatcmpl_")
    await started.subscription.next(5)
    await started.subscription.close()
    generation = case.answers.generations.running[started.id]
    assert generation.task is not None
    await generation.task  # the ticker sees no listener and stops it at once
    with pytest.raises(StreamchatError):
        await case.store.get_message("ann", started.id)
    assert len(await case.store.list_conversations("ann", limit=10, offset=0)) == 0
