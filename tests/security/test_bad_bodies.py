"""Oversized and malformed requests: each gets an immediate 4xx in the documented shape, nothing
is stored, and the server answers the next ordinary request at once. Bodies over the limit are
refused before they are read (by Content-Length) or as soon as they pass it (chunked)."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import Server
from tests.faults.tally import TALLY, ended_once
from tests.harness import fresh_postgres, read_stream

LIMIT = 64 * 1024
JSON = {"content-type": "application/json"}
V1_HI = orjson.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi [[mock tokens=3]]"}]}
)
CHAT_HI = orjson.dumps({"message": "hi [[mock tokens=3]]", "model": "gpt-4o-mini"})


def nested(depth: int, open_: str = "[", close: str = "]") -> bytes:
    return (open_ * depth + close * depth).encode()


def deep_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


# (name, path, body, headers): each must get a 4xx and change nothing.
MALFORMED: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("empty", "/api/chat", b"", JSON),
    ("not_json", "/api/chat", b"{message: hi}", JSON),
    ("truncated", "/api/chat", b'{"message": "hi', JSON),
    ("null", "/api/chat", b"null", JSON),
    ("array", "/api/chat", b'["hi"]', JSON),
    ("number", "/api/chat", b"1e999999", JSON),
    ("string", "/api/chat", b'"hi"', JSON),
    ("nan", "/api/chat", b'{"message": NaN}', JSON),
    ("deep_arrays", "/api/chat", nested(LIMIT // 2 - 10), JSON),
    ("deep_objects", "/api/chat", deep_object(LIMIT // 8), JSON),
    ("deep_value", "/api/chat", b'{"message": ' + nested(5000) + b"}", JSON),
    ("invalid_utf8", "/api/chat", b'{"message": "\xff\xfe\xc3("}', JSON),
    ("latin1", "/api/chat", '{"message": "café"}'.encode("latin-1"), JSON),
    ("text_plain", "/api/chat", b'{"message": "hi"}', {"content-type": "text/plain"}),
    ("form", "/api/chat", b"message=hi", {"content-type": "application/x-www-form-urlencoded"}),
    (
        "multipart",
        "/api/chat",
        b'--x\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi\r\n--x--\r\n',
        {"content-type": "multipart/form-data; boundary=x"},
    ),
    ("xml", "/api/chat", b"<message>hi</message>", {"content-type": "application/xml"}),
    ("message_object", "/api/chat", b'{"message": {"$gt": ""}}', JSON),
    ("huge_model_name", "/api/chat", orjson.dumps({"message": "hi", "model": "m" * 60_000}), JSON),
    ("v1_invalid_utf8", "/v1/chat/completions", b'{"model": "\xff"}', JSON),
    ("v1_deep_arrays", "/v1/chat/completions", nested(LIMIT // 2 - 10), JSON),
    ("v1_no_messages", "/v1/chat/completions", b'{"model": "gpt-4o-mini", "messages": []}', JSON),
    (
        "v1_too_many_messages",
        "/v1/chat/completions",
        orjson.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}] * 501}
        ),
        JSON,
    ),
    (
        "v1_bad_role",
        "/v1/chat/completions",
        b'{"model": "gpt-4o-mini", "messages": [{"role": "root", "content": "x"}]}',
        JSON,
    ),
    ("v1_n_2", "/v1/chat/completions", b'{"model": "gpt-4o-mini", "n": 2, "messages": []}', JSON),
    # A page on another site may POST text/plain or a form without a preflight: a valid /v1
    # body under either content type must not start an answer (the raw route checks it).
    ("v1_text_plain", "/v1/chat/completions", V1_HI, {"content-type": "text/plain"}),
    (
        "v1_form",
        "/v1/chat/completions",
        V1_HI,
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    ("v1_empty", "/v1/chat/completions", b"", JSON),
    # fetch() with a Blob body sends no Content-Type at all, also without asking first.
    ("v1_no_content_type", "/v1/chat/completions", V1_HI, {}),
    # The same for /api/chat, which the raw route serves too.
    ("chat_text_plain", "/api/chat", CHAT_HI, {"content-type": "text/plain"}),
    ("chat_form", "/api/chat", CHAT_HI, {"content-type": "application/x-www-form-urlencoded"}),
    ("chat_empty", "/api/chat", b"", JSON),
    ("chat_no_content_type", "/api/chat", CHAT_HI, {}),
    ("chat_unknown_field", "/api/chat", b'{"message": "hi", "api_key": "sk-x"}', JSON),
    ("conversation_params", "/api/conversations", b'{"params": {"temperature": "hot"}}', JSON),
    ("conversation_title_huge", "/api/conversations", orjson.dumps({"title": "t" * 300}), JSON),
    ("session_not_json", "/api/session", b"token=abc", {"content-type": "text/plain"}),
    ("tutorial_array", "/stream-chat", b"[]", JSON),
]


async def ordinary_answer(client: httpx.AsyncClient, what: str) -> None:
    stream = await read_stream(
        client,
        "POST",
        "/api/chat",
        json={"message": "still there? [[mock tokens=3]]", "model": "gpt-4o-mini"},
    )
    assert stream.status == 200, what
    ended_once(stream, f"ordinary answer after {what}")
    assert stream.types()[-1] == "done", what


async def conversations(client: httpx.AsyncClient) -> int:
    return len((await client.get("/api/conversations?limit=200")).json()["conversations"])


async def test_malformed_bodies_get_a_4xx_and_the_server_stays_responsive(
    make_server: Any,
) -> None:
    server: Server = make_server(max_body_bytes=LIMIT, requests_per_minute=0)
    failures = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for name, path, body, headers in MALFORMED:
            before = await conversations(client)
            started = time.monotonic()
            response = await client.post(path, content=body, headers=headers)
            TALLY.bad_input()
            elapsed = time.monotonic() - started
            if not 400 <= response.status_code < 500 or elapsed > 2:
                failures.append((name, response.status_code, response.text[:200], elapsed))
                continue
            error = response.json()["error"]
            assert error["message"] and "None" not in error["message"], name
            assert await conversations(client) == before, name
            await ordinary_answer(client, name)
    assert failures == []


def raw_connection(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    return sock


def response_head(sock: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


async def test_a_declared_huge_body_is_refused_before_it_is_sent(make_server: Any) -> None:
    server: Server = make_server(max_body_bytes=LIMIT)
    for path in ("/api/chat", "/v1/chat/completions", "/api/conversations"):
        with raw_connection(server) as sock:
            started = time.monotonic()
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: 10000000000\r\n\r\n".encode()
            )  # ... and not one byte of the 10 GB
            TALLY.bad_input()
            head = response_head(sock)
            assert head.startswith(b"HTTP/1.1 413 "), head
            assert time.monotonic() - started < 1
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        await ordinary_answer(client, "declared huge bodies")


async def test_an_endless_chunked_body_is_cut_off(make_server: Any) -> None:
    server: Server = make_server(max_body_bytes=LIMIT)
    with raw_connection(server) as sock:
        sock.sendall(
            b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        piece = b"x" * 16384
        frame = b"%x\r\n%b\r\n" % (len(piece), piece)
        sent = 0
        started = time.monotonic()
        sock.settimeout(0.5)
        while time.monotonic() - started < 10 and sent < 256 * LIMIT:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sent += sock.send(frame)
            except (TimeoutError, BlockingIOError):
                continue  # the server stopped reading: its answer must be on the way
            except OSError:
                break  # the server closed the connection after answering
        TALLY.bad_input()
        sock.settimeout(5)
        head = response_head(sock)
    assert head.startswith(b"HTTP/1.1 413 "), head[:200]
    assert time.monotonic() - started < 5
    assert sent < 256 * LIMIT  # it stopped taking the body long before the client gave up
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        await ordinary_answer(client, "an endless chunked body")
        assert await conversations(client) == 1


async def test_oversized_json_everywhere(make_server: Any) -> None:
    server: Server = make_server(max_body_bytes=LIMIT)
    big = "x" * (LIMIT + 1)
    bodies = {
        "/api/chat": {"message": big},
        "/api/conversations": {"title": big},
        "/api/session": {"token": big},
        "/stream-chat": {"message": big},
        "/v1/chat/completions": {"model": "m", "messages": [{"role": "user", "content": big}]},
    }
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for path, body in bodies.items():
            response = await client.post(path, json=body)
            TALLY.bad_input()
            assert response.status_code == 413, path
            assert response.json()["error"]["code"] == "payload_too_large"
            assert response.headers["connection"] == "close"
        patched = await client.patch("/api/conversations/conv_x", json={"title": big})
        assert patched.status_code == 413
        await ordinary_answer(client, "oversized JSON")


# -- inputs that still get a 5xx (or a misleading status): one strict xfail each -----------


def code_of(response: httpx.Response) -> tuple[int, str]:
    try:
        return response.status_code, str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return response.status_code, response.text[:80]


SURROGATE = b'"hi \\ud800 there"'


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/chat", b'{"message": ' + SURROGATE + b"}"),
        ("/stream-chat", b'{"message": ' + SURROGATE + b"}"),
        ("/api/session", b'{"token": ' + SURROGATE + b"}"),
    ],
    ids=["chat", "tutorial", "session"],
)
async def test_lone_surrogates_are_a_400(server: Server, path: str, body: bytes) -> None:
    """A lone UTF-16 surrogate (valid JSON: \\ud800) in a message, title or token reached the
    store or hashlib unencoded: UnicodeEncodeError, a plain-text 500."""
    TALLY.bad_input()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post(path, content=body, headers=JSON)
        assert code_of(response) == (400, "invalid_request")
        assert "surrogate (\\ud800) at character 4" in response.json()["error"]["message"]
        assert await conversations(client) == 0


V1_UNSENDABLE = {
    "surrogate": b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": '
    + SURROGATE
    + b"}]}",
    "nesting_300": b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": ['
    + deep_object(300)
    + b"]}]}",
    "tools_nesting_300": b'{"model": "gpt-4o-mini", "messages": [{"role": "user", '
    b'"content": "x"}], "tools": [' + deep_object(300) + b"]}",
    "seed_beyond_64_bits": b'{"model": "gpt-4o-mini", "seed": 100000000000000000000000, '
    b'"messages": [{"role": "user", "content": "x"}]}',
    "max_tokens_beyond_64_bits": b'{"model": "gpt-4o-mini", "max_tokens": '
    b'100000000000000000000000, "messages": [{"role": "user", "content": "x"}]}',
}


@pytest.mark.parametrize("body", V1_UNSENDABLE.values(), ids=V1_UNSENDABLE.keys())
async def test_v1_bodies_that_cannot_be_sent_upstream_are_a_400(
    server: Server, body: bytes
) -> None:
    TALLY.bad_input()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post("/v1/chat/completions", content=body, headers=JSON)
        assert code_of(response) == (400, "invalid_request")


async def test_conversation_params_are_refused_or_work(
    server: Server,
) -> None:
    TALLY.bad_input()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        created = await client.post(
            "/api/conversations",
            content=b'{"params": {"seed": 100000000000000000000000}}',
            headers=JSON,
        )
        if created.status_code != 201:
            assert code_of(created) == (400, "invalid_request")
            return
        stream = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "hi", "conversation_id": created.json()["id"]},
        )
        assert stream.types()[-1] == "done", stream.last()


async def test_an_offset_beyond_64_bits_is_a_400(server: Server) -> None:
    TALLY.bad_input()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.get("/api/conversations?offset=9223372036854775808")
        assert code_of(response) == (400, "invalid_request")


@pytest.mark.parametrize(
    "path", ["/api/generations/msg_x/events", "/v1/chat/completions/msg_x/events"]
)
async def test_a_huge_last_event_id_is_not_a_500(server: Server, path: str) -> None:
    TALLY.bad_input()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.get(path, headers={"Last-Event-ID": "9" * 5000})
        assert response.status_code in (400, 404)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"message": "\xff"}',
            "the request body is not valid UTF-8 (byte 13): JSON must be UTF-8",
        ),
        (nested(100_000), "the request body is not valid JSON: it is nested too deeply"),
    ],
    ids=["invalid_utf8", "deep"],
)
async def test_unparseable_bodies_say_invalid_request(
    server: Server, body: bytes, message: str
) -> None:
    """A body that is not UTF-8 or nests too deeply for the JSON parser got 400 with code
    'error' ('There was an error parsing the body'); docs/api.md promises invalid_request."""
    TALLY.bad_input()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post("/api/chat", content=body, headers=JSON)
        assert code_of(response) == (400, "invalid_request")
        assert response.json()["error"]["message"] == message
        v1 = await client.post("/v1/chat/completions", content=body, headers=JSON)
        assert v1.status_code == 400
        assert v1.json()["error"] == {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_request",
        }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store_server(request: pytest.FixtureRequest, make_server: Any) -> Iterator[Server]:
    if request.param == "sqlite":
        yield make_server(requests_per_minute=0)
        return
    with fresh_postgres() as url:
        yield make_server(database_url=url, requests_per_minute=0)


def unstorable(conversation_id: str, text: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, field, body) of every request that would keep ``text`` somewhere."""
    cid = conversation_id
    return [
        ("POST", "/api/chat", "message", {"message": text}),
        ("POST", "/api/chat", "message", {"message": text, "conversation_id": cid}),
        ("POST", "/api/chat", "conversation_id", {"message": "hi", "conversation_id": text}),
        ("POST", "/api/chat", "model", {"message": "hi", "model": text}),
        ("POST", f"/api/conversations/{cid}/edit", "message", {"message": text}),
        ("POST", f"/api/conversations/{cid}/regenerate", "model", {"model": text}),
        ("POST", "/stream-chat", "message", {"message": text}),
        ("POST", "/api/conversations", "title", {"title": text}),
        ("POST", "/api/conversations", "system_prompt", {"system_prompt": text}),
        ("POST", "/api/conversations", "params.stop", {"params": {"stop": text}}),
        ("POST", "/api/conversations", "params.stop.1", {"params": {"stop": ["x", text]}}),
        ("PATCH", f"/api/conversations/{cid}", "title", {"title": text}),
        ("PATCH", f"/api/conversations/{cid}", "system_prompt", {"system_prompt": text}),
        ("POST", "/api/session", "token", {"token": text}),
    ]


@pytest.mark.parametrize(
    ("text", "what"),
    [("a\u0000b", "NUL character (\\u0000) at character 2"), ("a\ud800b", "(\\ud800)")],
    ids=["nul", "surrogate"],
)
async def test_text_no_store_can_keep_is_a_400(
    any_store_server: Server, text: str, what: str
) -> None:
    """PostgreSQL refused a message with NUL (\\u0000) or a lone surrogate and the client got
    503 store_unavailable, *retryable*: told to retry input that can never be stored (SQLite
    kept the NUL, and failed on the surrogate with a 500). Now every store refuses both at the
    edge, naming the field, and nothing is written."""
    async with httpx.AsyncClient(base_url=any_store_server.url, timeout=30) as client:
        first = await read_stream(
            client, "POST", "/api/chat", json={"message": "q", "model": "gpt-4o-mini"}
        )
        cid = first.first("meta")["conversation_id"]
        before = (await client.get(f"/api/conversations/{cid}")).json()
        for method, path, field, body in unstorable(cid, text):
            TALLY.bad_input()
            content = json.dumps(body).encode()
            response = await client.request(method, path, content=content, headers=JSON)
            assert code_of(response) == (400, "invalid_request"), (path, field)
            message = response.json()["error"]["message"]
            assert message.startswith(f"{field}: the text contains "), message
            assert what in message, message
            assert response.json()["error"]["retryable"] is False
        assert await conversations(client) == 1
        assert (await client.get(f"/api/conversations/{cid}")).json() == before


NUL_IDS = [
    ("GET", "/api/conversations/conv%00x", "conversation_id"),
    ("PATCH", "/api/conversations/conv%00x", "conversation_id"),
    ("DELETE", "/api/conversations/conv%00x", "conversation_id"),
    ("POST", "/api/conversations/conv%00x/regenerate", "conversation_id"),
    ("POST", "/api/conversations/conv%00x/edit", "conversation_id"),
    ("GET", "/api/generations/msg%00x/events", "generation_id"),
    ("POST", "/api/generations/msg%00x/stop", "generation_id"),
]


async def test_an_id_with_nul_is_a_400(any_store_server: Server) -> None:
    """PostgreSQL refused an id with NUL (%00 in the path) and the client got 503
    store_unavailable, retryable."""
    async with httpx.AsyncClient(base_url=any_store_server.url, timeout=30) as client:
        for method, path, name in NUL_IDS:
            TALLY.bad_input()
            response = await client.request(method, path, json={"message": "x"})
            assert code_of(response) == (400, "invalid_request"), path
            message = response.json()["error"]["message"]
            assert message.startswith(f"path.{name}: the text contains a NUL character"), path
