"""Persistence of running answers, off the per-token path.

One task saves, every ``interval`` seconds, what arrived since the previous save of every
stored answer that grew: one part per answer (``answer_parts``), so a save writes in proportion
to what arrived, not to the whole text (issue 15 item 5), in transactions of at most
``BATCH_CHARS``. A save that fails is retried with the next one, under the same part number and
with what came meanwhile. The final save of an answer waits for a periodic save in flight, so
it lands last; it writes the whole text into the answer's row and deletes its parts (one
transaction); when the store is away it is retried in the background and the client is told the
answer could not be saved yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import Any, Protocol

from streamchat.errors import Conflict, NotFound, StoreError
from streamchat.store import MessagePatch, Progress, Store

__all__ = ["Saved", "Saver"]

log = logging.getLogger("streamchat.generations")

# Seconds between the retries of a final save that failed (about ten minutes in all).
RETRY_DELAYS = (1, 2, 5, 10, 30, 60, 120, 300)
# Text (characters) one periodic-save transaction carries at most: many short answers share a
# transaction, long ones get their own, so that another answer's first transaction (on the
# store's one writer) waits for one of them, not for the whole save (issue 15 item 5).
BATCH_CHARS = 64 * 1024


class Saved(Protocol):
    """What the saver needs of a running answer."""

    dirty: bool
    finishing: bool
    flushing: asyncio.Task[None] | None
    content: list[str]  # the text's pieces so far (only appended to)
    reasoning: list[str]
    saved: tuple[int, int]  # how many pieces of each the store has
    parts: int  # the number of the next part
    # How long it thought, set with the first answer token (None: still thinking, or not at
    # all); every part taken after that carries it, with the text that includes that token.
    reasoning_ms: float | None

    @property
    def id(self) -> str: ...

    @property
    def message_id(self) -> str: ...

    @property
    def stored(self) -> bool: ...

    @property
    def last_event_id(self) -> int: ...


class Saver:
    def __init__(
        self,
        store: Store,
        interval: float,
        spawn: Callable[[Any], asyncio.Task[Any]],
    ) -> None:
        self.store = store
        self.interval = interval
        self._spawn = spawn
        self._task: asyncio.Task[None] | None = None

    def watch(self, running: Collection[Saved]) -> None:
        """Make sure the periodic save runs while ``running`` (a live view) is not empty."""
        if self._task is None or self._task.done():
            self._task = self._spawn(self._save_forever(running))

    async def before_final(self, answer: Saved) -> None:
        """Wait for a periodic save of ``answer`` still in flight: the final one lands after."""
        answer.finishing = True
        if answer.flushing is not None:
            await asyncio.wait({answer.flushing})

    async def final(self, message_id: str, patch: MessagePatch) -> bool:
        """Write an answer's end; on failure keep retrying in the background (False)."""
        try:
            await self.store.update_message(message_id, patch)
            return True
        except NotFound:
            log.info("answer %s has no row (deleted, or a /v1 answer); nothing to save", message_id)
            return True
        except StoreError as exc:
            log.error("answer %s: saving failed: %s", message_id, exc.message)
            self._spawn(self._final_later(message_id, patch))
            return False

    async def _save_forever(self, running: Collection[Saved]) -> None:
        while running:
            await asyncio.sleep(self.interval)
            dirty = [a for a in running if a.dirty and a.stored and not a.finishing]
            if not dirty:
                continue
            for answer in dirty:
                answer.dirty = False
            batch = self._spawn(self._flush(dirty))
            for answer in dirty:
                answer.flushing = batch
            await asyncio.wait({batch})

    async def _flush(self, answers: list[Saved]) -> None:
        for batch in _batches(answers):
            # Each batch's text is taken when its turn comes: later ones include more.
            taken = [_part(a) for a in batch]
            try:
                await self.store.save_progress([part for part, _ in taken])
            except (StoreError, Conflict) as exc:  # Conflict: a row deleted meanwhile
                for answer in batch:
                    answer.dirty = True  # the next save writes this part again, and more
                log.warning("saving %d answers' progress failed: %s", len(batch), exc.message)
                continue
            for answer, (_, lengths) in zip(batch, taken, strict=True):
                answer.saved = lengths
                answer.parts += 1

    async def _final_later(self, message_id: str, patch: MessagePatch) -> None:
        for delay in RETRY_DELAYS:
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


def _batches(answers: list[Saved]) -> list[list[Saved]]:
    """``answers`` in groups of at most ``BATCH_CHARS`` characters of text (at least one each)."""
    batches: list[list[Saved]] = []
    current: list[Saved] = []
    size = 0
    for answer in answers:
        length = _length(answer)
        if current and size + length > BATCH_CHARS:
            batches.append(current)
            current, size = [], 0
        current.append(answer)
        size += length
    if current:
        batches.append(current)
    return batches


def _part(answer: Saved) -> tuple[Progress, tuple[int, int]]:
    """What arrived since the answer's last save that went through, taken at once with the id
    of the last event it includes (and how long it thought, once that is in the text); and
    how many pieces the store has once it is written."""
    content, reasoning = len(answer.content), len(answer.reasoning)
    at_content, at_reasoning = answer.saved
    part = Progress(
        answer.message_id,
        "".join(answer.content[at_content:content]),
        "".join(answer.reasoning[at_reasoning:reasoning]),
        answer.last_event_id,
        seq=answer.parts,
        reasoning_ms=answer.reasoning_ms,
    )
    return part, (content, reasoning)


def _length(answer: Saved) -> int:
    """The length of what the answer's next part holds, without joining it."""
    at_content, at_reasoning = answer.saved
    return sum(map(len, answer.content[at_content:])) + sum(
        map(len, answer.reasoning[at_reasoning:])
    )
