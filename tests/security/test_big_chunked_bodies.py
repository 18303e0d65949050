"""Issue 16, item 4: a 20 MB chunked body on ``/api/chat`` was answered, in some runs, by
closing the connection instead of a 413: the server read (and dropped) at most four times the
limit, answered, and closed with the rest of the body unread, so the kernel reset the
connection and a client still sending (every HTTP client sends the whole body before it reads)
never saw the answer. The announced-length case was a 413 every time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.faults.tally import TALLY

BODY_BYTES = 20 * 1024 * 1024
PIECE = b"x" * 65536
RUNS = 4


async def twenty_megabytes() -> AsyncIterator[bytes]:
    yield b'{"message": "'
    for _ in range(BODY_BYTES // len(PIECE)):
        yield PIECE
    yield b'"}'


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content_length"])
@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
async def test_a_20_mb_chunked_body_is_always_a_413(
    make_server: ServerFactory, path: str, chunked: bool
) -> None:
    server = make_server()  # the default limit, 1 MiB
    statuses: list[int | str] = []
    for _ in range(RUNS):
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            TALLY.bad_input()
            try:
                content = (
                    twenty_megabytes()
                    if chunked
                    else b"".join([p async for p in twenty_megabytes()])
                )
                response = await client.post(
                    path,
                    content=content,  # a generator has no length: Transfer-Encoding: chunked
                    headers={"content-type": "application/json"},
                )
            except httpx.TransportError as exc:
                statuses.append(type(exc).__name__)
                continue
            statuses.append(response.status_code)
            assert response.json()["error"]["code"] == "payload_too_large"
    assert statuses == [413] * RUNS
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        assert (await client.get("/healthz")).status_code == 200
