"""The periodic save (generations/saving.py) splits its work into transactions of bounded text,
so that another answer's first transaction waits for one of them, not for the whole save
(issue 15 item 5): short answers share one, a long one has its own; a failed one leaves only
its own answers to be saved again."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streamchat.errors import StoreError
from streamchat.generations.saving import BATCH_CHARS, Saver
from streamchat.store import Progress


@dataclass
class Answer:
    id: str
    content: list[str]
    reasoning: list[str] = field(default_factory=list)
    dirty: bool = False  # _save_forever clears it before the flush
    finishing: bool = False
    flushing: asyncio.Task[None] | None = None
    stored: bool = True
    saved: tuple[int, int] = (0, 0)
    parts: int = 0
    last_event_id: int = 7
    reasoning_ms: float | None = None

    @property
    def message_id(self) -> str:
        return self.id


class Store:
    def __init__(self, fail_with: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.parts: list[Progress] = []
        self.fail_with = fail_with

    async def save_progress(self, progress: Sequence[Progress]) -> None:
        ids = [p.message_id for p in progress]
        self.calls.append(ids)
        if self.fail_with in ids:
            raise StoreError("the database is away")
        self.parts.extend(progress)


def saver(store: Store) -> Saver:
    return Saver(store, 0.01, asyncio.ensure_future)  # type: ignore[arg-type]


async def test_short_answers_share_a_transaction_and_a_long_one_has_its_own() -> None:
    store = Store()
    long = Answer("long", ["x" * 1000] * (BATCH_CHARS // 1000 + 1))
    answers: list[Any] = [Answer("a", ["hi"]), long, Answer("b", ["yo"], ["think"])]
    answers += [Answer(f"s{i}", ["y" * (BATCH_CHARS // 4)]) for i in range(5)]

    await saver(store)._flush(answers)

    assert store.calls == [["a"], ["long"], ["b", "s0", "s1", "s2"], ["s3", "s4"]]
    assert not any(a.dirty for a in answers)  # every transaction went through


async def test_a_failed_transaction_leaves_only_its_answers_dirty() -> None:
    store = Store(fail_with="long")
    answers: list[Any] = [
        Answer("a", ["hi"]),
        Answer("long", ["x" * BATCH_CHARS]),
        Answer("b", ["yo"]),
    ]
    await saver(store)._flush(answers)

    assert store.calls == [["a"], ["long"], ["b"]]
    assert [a.dirty for a in answers] == [False, True, False]


async def test_each_save_writes_what_arrived_since_the_last_one_that_went_through() -> None:
    """Issue 15 item 5: a part per save with the new pieces only; a failed save's part is
    written again by the next save, under its number, with what came meanwhile."""
    store = Store()
    answer = Answer("a", ["Hel", "lo"], ["hm"])
    await saver(store)._flush([answer])
    answer.content += [" wor"]
    answer.last_event_id = 9
    await saver(store)._flush([answer])
    store.fail_with = "a"
    answer.content += ["ld"]
    answer.reasoning += ["!"]
    await saver(store)._flush([answer])
    assert answer.dirty and (answer.saved, answer.parts) == ((3, 1), 2)
    store.fail_with = None
    answer.content += ["."]
    await saver(store)._flush([answer])
    assert store.parts == [
        Progress("a", "Hello", "hm", 7, seq=0),
        Progress("a", " wor", "", 9, seq=1),
        Progress("a", "ld.", "!", 9, seq=2),
    ]
    assert (answer.saved, answer.parts) == ((5, 2), 3)


async def test_a_long_answer_shares_a_transaction_once_its_text_is_saved() -> None:
    """The batches are cut by what each part holds, not by the whole text."""
    store = Store()
    long = Answer("long", ["x" * BATCH_CHARS, "new"], saved=(1, 0), parts=4)
    await saver(store)._flush([Answer("a", ["hi"]), long])
    assert store.calls == [["a", "long"]]
    assert store.parts[-1] == Progress("long", "new", "", 7, seq=4)
