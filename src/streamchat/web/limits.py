"""How many answers a user may start per minute, shared through Redis when it is configured."""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import RedisError

from streamchat.errors import RateLimited

__all__ = ["Limits"]


class Limits:
    """A fixed one-minute window per user: in this process, or in Redis for every worker."""

    def __init__(self, per_minute: int, redis: Any | None = None) -> None:
        self.per_minute = per_minute
        self.redis = redis
        self._counts: dict[tuple[str, int], int] = {}

    async def answer_started(self, user: str) -> None:
        """Count one answer for ``user``; RateLimited (429, Retry-After) over the limit."""
        if self.per_minute == 0:
            return
        now = time.time()
        window = int(now // 60)
        count = await self._count(user, window)
        if count > self.per_minute:
            raise RateLimited(
                f"more than {self.per_minute} answers in a minute; try again shortly",
                retry_after=float(int(60 - now % 60) + 1),
            )

    async def _count(self, user: str, window: int) -> int:
        if self.redis is not None:
            key = f"sc:rpm:{user}:{window}"
            try:
                pipe = self.redis.pipeline(transaction=False)
                pipe.incr(key)
                pipe.expire(key, 120)
                count, _ = await pipe.execute()
                return int(count)
            except (RedisError, OSError):
                pass  # Redis down: count in this process rather than refuse everyone
        if len(self._counts) > 10_000:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
        key_local = (user, window)
        self._counts[key_local] = self._counts.get(key_local, 0) + 1
        return self._counts[key_local]
