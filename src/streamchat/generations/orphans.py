"""Answers whose worker died (several workers sharing a broker).

Every lease period each worker looks for unfinished answers whose worker's lease expired. One
worker wins the claim, keeps the text the broker holds (stored ``incomplete``) and tells every
subscriber with ``usage`` and a retryable ``interrupted`` error.
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
            _, kept = claimed
            if kept and kept[-1].terminal:
                continue
            await self._end(stream_id, kept)
            adopted += 1
        return adopted

    async def _end(self, stream_id: str, kept: list[Event]) -> None:
        content = "".join(e.data["text"] for e in kept if e.type == "delta")
        reasoning = "".join(e.data["text"] for e in kept if e.type == "reasoning")
        completion = estimate_tokens(content) + estimate_tokens(reasoning)
        usage = Usage(0, completion, completion, estimated=True)
        error = ServiceError(
            "the worker running this answer stopped before it finished; try again",
            code="interrupted",
        )
        next_id = (kept[-1].id if kept else 0) + 1
        patch: MessagePatch = {
            "content": content,
            "reasoning": reasoning,
            "status": "incomplete" if content or reasoning else "error",
            "usage": usage,
            "error": error.as_dict(),
            "last_event_id": next_id + 1,
        }
        meta = kept[0].data if kept and kept[0].type == "meta" else {}
        message_id = str(meta.get("message_id") or stream_id)
        if meta.get("generation_id"):
            # A continuation (Continue) of a stored answer: its row holds the answer so far with
            # what the continuation's periodic saves added; the broker only this continuation's
            # text. Keep the row's text, end it.
            del patch["content"], patch["reasoning"], patch["usage"]
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
