"""Answers whose worker died (several workers sharing a broker).

Every lease period each worker looks for unfinished answers whose worker's lease expired. One
worker wins the claim, keeps the text the broker holds, or the text saved so far (the answer's
row and its parts, folded into the row) when the broker holds less (its log trimmed, or behind
the store when the worker died), stored ``incomplete``, and tells every subscriber with
``usage`` and a retryable ``interrupted`` error. An answer whose ``usage`` is out was stored
whole before it (a worker that died in a first answer's title call): it keeps its row, and
the stream gets the rest of its events from it (``title`` null, its ``done``).
"""

from __future__ import annotations

import asyncio
import logging

from streamchat import events
from streamchat.chat import Usage, estimate_tokens
from streamchat.errors import ServiceError, StreamchatError
from streamchat.events import Event
from streamchat.fanout import Broker
from streamchat.generations.saving import Saver
from streamchat.store import MessagePatch

__all__ = ["Orphans"]

log = logging.getLogger("streamchat.generations")


class Orphans:
    def __init__(self, broker: Broker, saver: Saver) -> None:
        self.broker = broker
        self.saver = saver

    async def run(self, interval: float) -> None:
        """Every ``interval`` seconds, end the answers of workers that died."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.adopt()
            except StreamchatError as exc:
                log.warning("looking for interrupted answers failed: %s", exc.message)

    async def adopt(self) -> int:
        """End each answer whose worker's lease expired; how many were ended."""
        adopted = 0
        for stream_id in await self.broker.orphans():
            claimed = await self.broker.claim(stream_id)
            if claimed is None:
                continue
            owner, kept = claimed
            if kept and kept[-1].terminal:
                continue
            await self._end(stream_id, kept, owner)
            adopted += 1
        return adopted

    async def _end(self, stream_id: str, kept: list[Event], owner: str | None = None) -> None:
        if any(e.type == "usage" for e in kept) and await self._end_stored(stream_id, kept, owner):
            return
        content = "".join(e.data["text"] for e in kept if e.type == "delta")
        reasoning = "".join(e.data["text"] for e in kept if e.type == "reasoning")
        completion = estimate_tokens(content) + estimate_tokens(reasoning)
        usage = Usage(0, completion, completion, estimated=True)
        error = ServiceError(
            "the worker running this answer stopped before it finished; try again",
            code="interrupted",
        )
        next_id = (kept[-1].id if kept else 0) + 1
        # How long it thought: the first answer token after the thinking carries it.
        thought = next(
            (
                e.data["reasoning_ms"]
                for e in kept
                if e.type == "delta" and "reasoning_ms" in e.data
            ),
            None,
        )
        patch: MessagePatch = {
            "content": content,
            "reasoning": reasoning,
            "status": "incomplete" if content or reasoning else "error",
            "usage": usage,
            "error": error.as_dict(),
            "last_event_id": next_id + 1,
        }
        if thought is not None:
            patch["reasoning_ms"] = thought
        meta = kept[0].data if kept and kept[0].type == "meta" else {}
        message_id = str(meta.get("message_id") or stream_id)
        if meta.get("generation_id"):
            # A continuation (Continue) of a stored answer: its row holds the answer so far with
            # what the continuation's periodic saves added; the broker only this continuation's
            # text. Keep the row's text, end it.
            del patch["content"], patch["reasoning"], patch["usage"]
            patch["status"] = "incomplete"
        elif not await self._holds_all(owner, message_id, kept, content, reasoning):
            # The store has more than the broker: keep the row's text with its parts.
            del patch["content"], patch["reasoning"]
            patch["status"] = "incomplete"
        await self.saver.final(message_id, patch)
        self.broker.publish(
            stream_id, [events.usage(next_id, usage), events.error(next_id + 1, error)]
        )
        log.warning(
            "answer %s was interrupted by a dead worker; ended it with %d characters",
            stream_id,
            len(content),
        )

    async def _end_stored(self, stream_id: str, kept: list[Event], owner: str | None) -> bool:
        """End the stream of an answer stored whole (its end was saved before ``usage`` was
        published) from its row; False when the row cannot be read."""
        meta = kept[0].data if kept[0].type == "meta" else {}
        message_id = str(meta.get("message_id") or stream_id)
        if owner is None:
            return False
        try:
            message = await self.saver.store.get_message(owner, message_id)
        except StreamchatError:
            return False
        if message.status == "streaming" or message.last_event_id is None:
            return False
        last, rest = message.last_event_id, []
        if last == kept[-1].id + 2:  # a title event was to come between
            conversation_id = meta.get("conversation_id")
            rest.append(
                Event(last - 1, "title", {"conversation_id": conversation_id, "title": None})
            )
        if message.error:
            rest.append(events.error(last, message.error))
        else:
            ended = (message.finish_reason, message.ttft_ms, message.total_ms)
            rest.append(events.done(last, *ended, reasoning_ms=message.reasoning_ms))
        self.broker.publish(stream_id, rest)
        log.warning(
            "answer %s: its worker died after it was stored; its stream is ended", stream_id
        )
        return True

    async def _holds_all(
        self, owner: str | None, message_id: str, kept: list[Event], content: str, reasoning: str
    ) -> bool:
        """Whether the broker's text holds the whole answer: it begins with the text saved so
        far; when that cannot be read, when its log starts at ``meta`` (or is empty)."""
        if owner is not None:
            try:
                stored = await self.saver.store.get_message(owner, message_id)
            except StreamchatError:  # no row, or the store is away: the final save will say
                pass
            else:
                return content.startswith(stored.content) and reasoning.startswith(stored.reasoning)
        return not kept or (kept[0].id == 1 and kept[0].type == "meta")
