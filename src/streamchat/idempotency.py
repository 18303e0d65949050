"""``Idempotency-Key``: a retried POST attaches to the answer its first try started, instead of
paying the provider twice.

The first request with a key claims it in the broker (so every worker sees it) with the id of
the generation it is about to start and a fingerprint of what it asked; a later request of the
same user with the same key, within ``ttl`` seconds, gets that generation (replayed from its
first event, then followed live). The same key with a different request is a 422; a request
that did not start releases its key, so a retry may start afresh.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from streamchat.errors import InvalidRequest
from streamchat.fanout import Broker

__all__ = ["Claim", "Keys", "check_key"]

KEY_LIMIT = 255


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


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]
