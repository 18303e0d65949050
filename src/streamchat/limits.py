"""How many answers a user may start per minute: a sliding window, counted by the broker (in
this process, or in Redis for every worker alike)."""

from __future__ import annotations

import math

from streamchat.errors import RateLimited
from streamchat.fanout import Broker

__all__ = ["WINDOW_S", "Limits"]

WINDOW_S = 60.0


class Limits:
    """At most ``per_minute`` answers per user in any 60 seconds, not per clock minute: a
    burst at the end of one minute and another at the start of the next is refused."""

    def __init__(self, per_minute: int, broker: Broker) -> None:
        self.per_minute = per_minute
        self.broker = broker

    async def answer_started(self, user: str) -> None:
        """Count one answer for ``user``; RateLimited (429, Retry-After: the seconds until the
        window has room again) over the limit. A refused answer is not counted."""
        if self.per_minute == 0:
            return
        wait = await self.broker.take(f"rpm:{user}", self.per_minute, WINDOW_S)
        if wait > 0:
            raise RateLimited(
                f"more than {self.per_minute} answers in a minute; try again shortly",
                retry_after=float(math.ceil(wait)),
                details={"limit": self.per_minute},
            )
