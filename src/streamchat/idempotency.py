"""``Idempotency-Key``: a retried POST attaches to the answer its first try started, instead of
paying the provider twice.

The first request with a key claims it in the broker (so every worker sees it) with the id of
the generation it is about to start and a fingerprint of what it asked; a later request of the
same user with the same key, within ``ttl`` seconds, gets that generation (replayed from its
first event, then followed live). The same key with a different request is a 422; a request
that did not start releases its key, so a retry may start afresh.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from streamchat.errors import Conflict, InvalidRequest, NotFound
from streamchat.fanout import Broker, Subscription

__all__ = ["Claim", "Keys", "check_key", "first_try_failed", "started_by"]

KEY_LIMIT = 255
# How long a repeated request waits for the answer its first try is starting (~2 s).
ATTACH_POLLS = 100
ATTACH_POLL_S = 0.02
# Events that mean the provider sent something (was paid for).
TOKENS = ("delta", "reasoning", "tool_call", "tool")


def check_key(key: str) -> str:
    """A key as the IETF draft allows: 1..255 printable ASCII characters."""
    if not 0 < len(key) <= KEY_LIMIT or not all(" " <= c <= "~" for c in key):
        raise InvalidRequest(f"Idempotency-Key must be 1 to {KEY_LIMIT} printable ASCII characters")
    return key


@dataclass(slots=True, frozen=True)
class Claim:
    """A key claimed by one request: ``earlier`` is the generation of the request that claimed
    it first (None: this request is the first and must start ``generation_id``)."""

    key: str
    value: str
    generation_id: str
    earlier: str | None
    model: str = ""


class Keys:
    def __init__(self, broker: Broker, ttl: float) -> None:
        self.broker = broker
        self.ttl = ttl

    async def claim(
        self, owner: str, key: str, request: Any, generation_id: str, model: str
    ) -> Claim:
        """Claim ``key`` for ``request`` (JSON-encodable), about to start ``generation_id``
        with ``model``; a claim whose ``earlier`` is set names the generation to attach to."""
        fingerprint = _digest(orjson.dumps(request, option=orjson.OPT_SORT_KEYS))
        scoped = _digest(f"{owner}\x00{check_key(key)}".encode())
        value = f"{generation_id} {fingerprint} {model}"
        if self.ttl <= 0:  # idempotency_ttl 0: keys are not kept
            return Claim(scoped, value, generation_id, None, model)
        kept = await self.broker.remember(scoped, value, self.ttl)
        if kept is None:
            return Claim(scoped, value, generation_id, None, model)
        earlier, earlier_fingerprint, earlier_model = [*kept.split(" ", 2), "", ""][:3]
        if earlier_fingerprint != fingerprint:
            raise InvalidRequest(
                "this Idempotency-Key was used with a different request; use a new key",
                code="idempotency_key_reused",
                status=422,
            )
        return Claim(scoped, kept, earlier, earlier, earlier_model)

    async def release(self, claim: Claim) -> None:
        await self.broker.forget(claim.key, claim.value)


async def first_try_failed(broker: Broker, generation_id: str) -> bool:
    """Whether the first try's answer ended in an error before its first token (a provider's
    429 or 5xx): nothing was paid for, and a retry is what the failure asked for."""
    info = await broker.info(generation_id)
    if info is None or not info.finished:
        return False
    subscription = await broker.subscribe(generation_id, 0)
    try:
        kept = await subscription.next(0) or []
    finally:
        await subscription.close()
    return bool(kept) and kept[-1].type == "error" and not any(e.type in TOKENS for e in kept)


async def started_by(broker: Broker, owner: str, generation_id: str) -> Subscription:
    """The answer the first try started, from its first event (it may be starting right now)."""
    for _ in range(ATTACH_POLLS):
        info = await broker.info(generation_id)
        if info is not None:
            break
        await asyncio.sleep(ATTACH_POLL_S)
    else:
        raise Conflict(
            "the request with this Idempotency-Key has not started its answer yet, or its "
            "answer is no longer kept; try again in a moment or use a new key",
            code="idempotency_key_in_use",
        )
    if info.owner_id != owner:
        raise NotFound(f"generation {generation_id} not found")
    return await broker.subscribe(generation_id, 0)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]
