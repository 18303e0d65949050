"""Issue 12 item 5 (issue 16's brief): on loopback without accounts every local client is the
one user ``local``, and the per-user defaults (60 answers a minute, 10 at once) refused a
single script's batch: request 61 in a minute was a 429. Where accounts are on, those defaults
keep their values."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from streamchat.settings import DEFAULT_PER_MINUTE, DEFAULT_STREAMS_PER_USER, Settings
from tests.conftest import ServerFactory
from tests.faults.tally import TALLY
from tests.security.conftest import AuthServerFactory
from tests.security.test_limits import QUICK, SLOW, V1, answer, limited

BATCH = 300
AT_ONCE = 30


async def test_a_local_batch_of_300_answers_in_a_minute_is_not_refused(
    make_server: ServerFactory,
) -> None:
    server = make_server()  # the defaults, on 127.0.0.1, no accounts
    gate = asyncio.Semaphore(AT_ONCE)  # three times the old 10 at once

    async def one(client: httpx.AsyncClient) -> int:
        async with gate:
            response = await client.post("/v1/chat/completions", json=V1)
            return response.status_code

    async with httpx.AsyncClient(
        base_url=server.url, timeout=60, limits=httpx.Limits(max_connections=AT_ONCE)
    ) as client:
        statuses = await asyncio.gather(*(one(client) for _ in range(BATCH)))
    assert statuses.count(200) == BATCH, {s: statuses.count(s) for s in set(statuses)}


async def test_with_accounts_the_per_user_defaults_keep_their_values(
    make_auth_server: AuthServerFactory,
) -> None:
    s = make_auth_server()  # the defaults, accounts on
    async with httpx.AsyncClient(base_url=s.url, headers=s.bearer("alice"), timeout=30) as alice:
        running = [
            asyncio.create_task(answer(alice, SLOW)) for _ in range(DEFAULT_STREAMS_PER_USER)
        ]
        await asyncio.sleep(1.0)
        limited(await alice.post("/api/chat", json=QUICK), "too_many_streams")
        await asyncio.gather(*running)
        # The refused answer counted in the minute too (the rate is checked first).
        for _ in range(DEFAULT_PER_MINUTE - DEFAULT_STREAMS_PER_USER - 1):
            ok = await alice.post("/v1/chat/completions", json=V1)
            assert ok.status_code == 200, ok.text
        TALLY.bad_input()
        limited(await alice.post("/v1/chat/completions", json=V1), "rate_limited", v1=True)


def test_the_limits_in_force(tmp_path: Path) -> None:
    def limits(**values: Any) -> tuple[int, int]:
        settings = Settings.model_validate({"data_dir": tmp_path, **values})
        return settings.answers_per_minute, settings.streams_per_user

    assert limits() == (0, 2000)  # loopback, no accounts
    assert limits(host="0.0.0.0") == (60, 10)
    assert limits(auth="on") == (60, 10)
    assert limits(requests_per_minute=5, max_streams_per_user=3) == (5, 3)  # chosen: kept
    assert limits(auth="on", requests_per_minute=0) == (0, 10)
