"""Users with API tokens, created in the database a server is about to use."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import httpx

from streamchat.store.sql import SqlStore
from streamchat.web.auth import COOKIE, hash_token, new_token

__all__ = ["blocking", "create_users", "signed_in"]

T = TypeVar("T")


async def _create(database: str, tokens: Mapping[str, str]) -> None:
    store = SqlStore(database)
    await store.open()
    try:
        for name, token in tokens.items():
            await store.set_user_token(name, name, hash_token(token))
    finally:
        await store.close()


def blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end on a loop of its own (in a thread, so that it works from async
    tests as well)."""
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(coro))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if failure:
        raise failure[0]
    result: T = outcome[0]
    return result


def create_users(database: str, *names: str) -> dict[str, str]:
    """Create ``names`` in ``database`` (migrating it first); their tokens by name."""
    tokens = {name: new_token() for name in names}
    blocking(_create(database, tokens))
    return tokens


async def signed_in(url: str, token: str) -> dict[str, str]:
    """The ``Cookie`` header of a new page session signed in with ``token``."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post("/api/session", json={"token": token})
        assert response.status_code == 204, response.text
        session_id = response.cookies[COOKIE]
    return {"Cookie": f"{COOKIE}={session_id}"}
