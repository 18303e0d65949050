"""Issue 16, items 6 and 7. The session cookie was the API token itself (anything that read the
cookie jar had the long-lived key), and a revoked credential kept working for ~28 s on every
worker (the 30 s lookup cache). Now the cookie holds a random session id (stored hashed, with
an expiry, replaced at each sign-in, ended by signing out, by a new token and by removing the
user), Bearer keeps taking the API token, and every lookup is trusted for 1 s at most: a
revocation made anywhere takes effect on every worker within that (at once where it was made).
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from streamchat.web.auth import CACHE_TTL_S, COOKIE
from tests.conftest import REDIS_URL, worker
from tests.faults.tally import TALLY
from tests.harness import MockUpstream, fresh_postgres
from tests.security.accounts import create_users, signed_in
from tests.security.conftest import AuthServerFactory

# A revocation is seen everywhere within the cache's second (plus a lookup, on a busy machine).
BOUND_S = 2.0


async def status(url: str, headers: dict[str, str]) -> int:
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        return (await client.get("/api/conversations")).status_code


async def stored_session_hashes(database_url: str) -> list[str]:
    path = database_url.split("///", 1)[1]
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT id_hash FROM sessions")]


def session_id(cookie: dict[str, str]) -> str:
    return cookie["Cookie"].split("=", 1)[1]


async def test_the_session_cookie_is_not_the_api_token(
    make_auth_server: AuthServerFactory, database_url: str
) -> None:
    s = make_auth_server()
    token = s.tokens["alice"]
    cookie = await signed_in(s.url, token)
    sid = session_id(cookie)
    assert sid.startswith("scs_") and token not in sid
    assert await status(s.url, cookie) == 200
    # Stored as its SHA-256 only.
    assert await stored_session_hashes(database_url) == [hashlib.sha256(sid.encode()).hexdigest()]
    TALLY.bad_input(2)
    assert await status(s.url, {"Cookie": f"{COOKIE}={token}"}) == 401  # the token is no cookie
    assert await status(s.url, {"Authorization": f"Bearer {sid}"}) == 401  # nor a session a key
    assert await status(s.url, s.bearer("alice")) == 200  # Bearer keeps the API token


async def test_signing_in_again_replaces_the_session(make_auth_server: AuthServerFactory) -> None:
    s = make_auth_server()
    first = await signed_in(s.url, s.tokens["alice"])
    async with httpx.AsyncClient(base_url=s.url, headers=first, timeout=30) as client:
        again = await client.post("/api/session", json={"token": s.tokens["alice"]})
        assert again.status_code == 204
        second = {"Cookie": f"{COOKIE}={again.cookies[COOKIE]}"}
    assert second != first
    assert await status(s.url, second) == 200
    TALLY.bad_input()
    assert await status(s.url, first) == 401


async def test_sign_out_ends_the_session_on_the_server(
    make_auth_server: AuthServerFactory,
) -> None:
    s = make_auth_server()
    cookie = await signed_in(s.url, s.tokens["alice"])
    assert await status(s.url, cookie) == 200
    async with httpx.AsyncClient(base_url=s.url, headers=cookie, timeout=30) as client:
        assert (await client.delete("/api/session")).status_code == 204
    TALLY.bad_input()
    assert await status(s.url, cookie) == 401  # a copy of the cookie kept elsewhere: ended too


async def test_a_session_expires(make_auth_server: AuthServerFactory) -> None:
    s = make_auth_server(session_ttl=1)
    cookie = await signed_in(s.url, s.tokens["alice"])
    assert await status(s.url, cookie) == 200
    await asyncio.sleep(1 + CACHE_TTL_S + 0.2)
    TALLY.bad_input()
    assert await status(s.url, cookie) == 401


# -- revocation on every worker --------------------------------------------------------------


@pytest.fixture(params=[None], ids=["default_cache"])
def workers(
    request: pytest.FixtureRequest, tmp_path: Path, mock_upstream: MockUpstream
) -> Iterator[tuple[str, str, str, dict[str, str]]]:
    """Two `streamchat serve --auth on` processes sharing PostgreSQL (and Redis); alice, bob.
    A test can give them another ``--credential-cache-ttl`` (indirect parametrization)."""
    extra = ["--auth", "on"]
    if request.param is not None:
        extra += ["--credential-cache-ttl", str(request.param)]
    with redis.Redis.from_url(REDIS_URL) as client:
        client.flushdb()
    config = tmp_path / "streamchat.toml"
    config.write_text(
        '[[providers]]\nname = "mock"\npreset = "openai"\n'
        f'base_url = "{mock_upstream.url}"\napi_key = "{mock_upstream.api_key}"\n'
        'models = ["gpt-4o-mini"]\nlist_models = false\n'
    )
    with fresh_postgres() as database:
        tokens = create_users(database, "alice", "bob")
        with (
            worker(config, database, *extra) as (a, _),
            worker(config, database, *extra) as (b, _),
        ):
            yield a, b, database, tokens


async def cli(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamchat",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()


async def refused_everywhere_after(urls: tuple[str, ...], headers: dict[str, str]) -> float:
    """Seconds until every worker answers 401 to ``headers`` (5 s at most)."""
    started = time.monotonic()
    pending = list(urls)
    while pending and time.monotonic() - started < 5:
        pending = [url for url in pending if await status(url, headers) != 401]
        if pending:
            await asyncio.sleep(0.05)
    assert not pending, f"still accepted by {pending}"
    return time.monotonic() - started


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(120)
async def test_revocation_takes_effect_on_every_worker_within_a_second(
    workers: tuple[str, str, str, dict[str, str]],
) -> None:
    a, b, database, tokens = workers
    both = (a, b)
    alice, bob = ({"Authorization": f"Bearer {tokens[name]}"} for name in ("alice", "bob"))
    session = await signed_in(a, tokens["alice"])
    for url in both:  # every worker has each credential in its cache
        for headers in (alice, bob, session):
            assert await status(url, headers) == 200

    # A new token (`users add` again): the old token and the sessions signed in with it end.
    TALLY.bad_input(3)
    await cli("users", "add", "alice", "--database-url", database)
    waited = [await refused_everywhere_after(both, alice)]
    waited.append(await refused_everywhere_after(both, session))
    # Removing a user.
    await cli("users", "remove", "bob", "--database-url", database)
    waited.append(await refused_everywhere_after(both, bob))
    assert max(waited) < BOUND_S, waited

    # Signing out: at once on the worker that did it, within the bound on the other.
    carol_token = create_users(database, "carol")["carol"]
    carol = await signed_in(a, carol_token)
    for url in both:
        assert await status(url, carol) == 200
    async with httpx.AsyncClient(base_url=a, headers=carol, timeout=30) as client:
        assert (await client.delete("/api/session")).status_code == 204
    assert await status(a, carol) == 401
    assert await refused_everywhere_after((b,), carol) < BOUND_S


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [600], ids=["cache_600s"], indirect=True)
async def test_with_redis_a_revocation_is_announced_to_every_worker_at_once(
    workers: tuple[str, str, str, dict[str, str]],
) -> None:
    """With lookups trusted for 10 minutes, only the announcement through Redis can make the
    workers refuse at once: the CLI (``--redis-url``) and a sign-out both announce."""
    a, b, database, tokens = workers
    both = (a, b)
    alice = {"Authorization": f"Bearer {tokens['alice']}"}
    bob = {"Authorization": f"Bearer {tokens['bob']}"}
    session = await signed_in(a, tokens["bob"])
    for url in both:
        for headers in (alice, bob, session):
            assert await status(url, headers) == 200
    TALLY.bad_input(3)
    await cli("users", "add", "alice", "--database-url", database, "--redis-url", REDIS_URL)
    waited = [await refused_everywhere_after(both, alice)]
    async with httpx.AsyncClient(base_url=a, headers=session, timeout=30) as client:
        assert (await client.delete("/api/session")).status_code == 204
    waited.append(await refused_everywhere_after(both, session))
    await cli("users", "remove", "bob", "--database-url", database, "--redis-url", REDIS_URL)
    waited.append(await refused_everywhere_after(both, bob))
    assert max(waited) < 1.0, waited  # not the cache's 600 s
