"""The benchmark's load generator (bench/load.py) really checks what it counts: against the shipped
mock upstream on loopback every token of every stream arrives and is timed, and a stream that
loses, reorders, repeats or alters a token, or ends without its end marker, is a failure."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from bench.load import MOCK_KEY, Dialect, Load, Target, Verifier, percentile, run_load
from streamchat.mock_upstream import MockServer, serve_mock

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
async def mock() -> AsyncIterator[MockServer]:
    server = await serve_mock("127.0.0.1", 0, api_key=MOCK_KEY)
    yield server
    await server.close()


def direct(server: MockServer) -> Target:
    return Target(server.url + "/chat/completions", "v1")


async def test_every_token_of_every_stream_arrives_in_order(mock: MockServer) -> None:
    result = await run_load(direct(mock), Load(3, 5), pid=os.getpid())

    assert (result.streams, result.ok, result.failed, result.tokens) == (3, 3, 0, 15)
    assert not result.failures
    assert len(result.ttfts) == 3 and len(result.gaps) == 3 * 4
    assert all(t > 0 for t in result.ttfts)
    assert result.cpu is not None and result.cpu >= 0
    assert result.peak_rss_kb is not None and result.peak_rss_kb > 1000
    assert [r["tokens_sent"] for r in mock.log] == [5, 5, 5]


async def test_paced_tokens_are_timed_at_the_asked_rate(mock: MockServer) -> None:
    result = await run_load(direct(mock), Load(2, 5, rate=50))

    assert result.ok == 2
    gap = percentile(result.gaps, 50)
    assert gap is not None and 0.015 < gap < 0.1  # nominal 20 ms


async def test_a_stream_cut_after_two_tokens_is_a_failure(mock: MockServer) -> None:
    result = await run_load(direct(mock), Load(3, 5, directives="drop_after=2"))

    assert (result.ok, result.failed, result.tokens) == (0, 3, 6)
    assert result.failures == {"incomplete": 3}


async def test_an_in_band_error_is_a_failure(mock: MockServer) -> None:
    result = await run_load(direct(mock), Load(2, 5, directives="error_after=3"))

    assert result.failed == 2
    assert result.failures == {"in-band error": 2}


async def test_an_error_status_is_a_failure(mock: MockServer) -> None:
    result = await run_load(direct(mock), Load(2, 5, directives="status=503"))

    assert result.failures == {"HTTP 503": 2}
    assert result.tokens == 0


async def test_nothing_listening_is_a_failure() -> None:
    result = await run_load(Target("http://127.0.0.1:9/v1/chat/completions", "v1"), Load(1, 5))

    assert result.failed == 1
    assert list(result.failures) == ["connect"]


# -- the verifier, byte by byte ----------------------------------------------------------------


def v1(*contents: str, done: bool = True) -> bytes:
    chunks = [b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n']
    for content in contents:
        chunks.append(b'data: {"choices":[{"delta":{"content":"%s"}}]}\n\n' % content.encode())
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return b"".join(chunks)


def api(*texts: str, done: bool = True) -> bytes:
    events = [b"retry: 3000\n\n", b'id: 1\nevent: meta\ndata: {"model":"m"}\n\n']
    for i, text in enumerate(texts, start=2):
        events.append(b'id: %d\nevent: delta\ndata: {"text":"%s"}\n\n' % (i, text.encode()))
    if done:
        events.append(b": ping\n\nid: 99\nevent: done\ndata: {}\n\n")
    return b"".join(events)


def verify(dialect: Dialect, body: bytes, tokens: int = 3, piece: int = 0) -> Verifier:
    """Feed ``body`` in pieces of ``piece`` bytes (0: whole), then end it."""
    verifier = Verifier(tokens, dialect)
    size = piece or len(body)
    for i, start in enumerate(range(0, len(body), size)):
        verifier.feed(body[start : start + size], float(i))
    verifier.end()
    return verifier


@pytest.mark.parametrize("piece", [0, 1, 7])
@pytest.mark.parametrize(
    ("dialect", "body"),
    [
        ("v1", v1(" w1", " w2", " w3")),
        ("v1", v1(" w1 w2", " w3")),  # tokens that arrive together
        ("api", api(" w1", " w2", " w3")),
        ("text", b" w1 w2 w3"),
    ],
)
def test_a_complete_answer_passes_however_it_is_split(
    dialect: Dialect, body: bytes, piece: int
) -> None:
    verifier = verify(dialect, body, piece=piece)

    assert verifier.complete, verifier.error
    assert len(verifier.times) == 3
    assert verifier.times == sorted(verifier.times)


def test_crlf_line_ends_are_understood() -> None:
    assert verify("v1", v1(" w1", " w2", " w3").replace(b"\n", b"\r\n"), piece=5).complete


@pytest.mark.parametrize(
    ("dialect", "body", "error"),
    [
        ("v1", v1(" w1", " w3", " w2"), "wrong text at token 2: got ' w3'"),
        ("v1", v1(" w1", " w1", " w2", " w3"), "wrong text at token 2: got ' w1'"),
        ("v1", v1(" w1", " w2"), "incomplete: 2 of 3 tokens"),
        ("v1", v1(" w1", " w2", " w3", " w4"), "wrong text at token 4: got ' w4'"),
        ("v1", v1(" w1", " W2", " w3"), "wrong text at token 2: got ' W2'"),
        ("v1", v1(" w1", " w2", " w3", done=False), "no end-of-stream marker"),
        ("api", api(" w1", " w3"), "wrong text at token 2: got ' w3'"),
        ("api", api(" w1", " w2", " w3", done=False), "no end-of-stream marker"),
        ("text", b" w1 w3 w2", "wrong text at token 2: got b' w3 w2'"),
        ("text", b" w1 w2", "incomplete: 2 of 3 tokens"),
    ],
)
def test_a_lost_reordered_repeated_or_altered_token_fails(
    dialect: Dialect, body: bytes, error: str
) -> None:
    verifier = verify(dialect, body)

    assert not verifier.complete
    assert verifier.error == error


def test_a_split_token_counts_when_its_last_byte_arrives() -> None:
    verifier = Verifier(2, "text")
    verifier.feed(b" w1 w", 1.0)
    verifier.feed(b"2", 2.0)
    verifier.end()

    assert verifier.complete
    assert verifier.times == [1.0, 2.0]


def test_an_error_event_fails_the_stream() -> None:
    body = api(" w1", done=False) + b'event: error\ndata: {"code":"upstream_dropped"}\n\n'

    verifier = verify("api", body)

    assert verifier.error == 'error event: {"code":"upstream_dropped"}'
