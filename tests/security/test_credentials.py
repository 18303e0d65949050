"""Every form of credential with accounts required: a valid bearer token works everywhere and
needs no Origin; a missing, unknown or malformed one is a 401 on every protected operation and
changes nothing; the page's session cookie is set and cleared with the right attributes, and a
state-changing request it authenticates must come from the page's own origin (or an allowed one).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from streamchat.web.auth import COOKIE
from tests.faults.tally import TALLY, ended_once, v1_ended_once
from tests.harness import read_stream
from tests.security.accounts import signed_in
from tests.security.conftest import AuthServer, AuthServerFactory

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/models"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model_id}"),
    ("GET", "/api/session"),
    ("POST", "/api/session"),
    ("DELETE", "/api/session"),
}
BODIES: dict[str, dict[str, Any]] = {
    "/api/chat": {"message": "hi [[mock tokens=2]]", "model": "gpt-4o-mini"},
    "/api/conversations": {"title": "t"},
    "/api/conversations/{conversation_id}": {"title": "t"},
    "/api/conversations/{conversation_id}/edit": {"message": "hi"},
    "/v1/chat/completions": {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "x"}],
    },
    "/stream-chat": {"message": "hi [[mock tokens=2]]"},
}
BAD_CREDENTIALS: list[dict[str, str]] = [
    {},
    {"Authorization": "Bearer sct_not-a-token"},
    {"Authorization": "Bearer sct_a sct_b"},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
    {"Authorization": "Token sct_abc"},
    {"Authorization": "sct_abc"},
    {"Cookie": f"{COOKIE}=sct_not-a-token"},
    {"Cookie": f"{COOKIE}="},
    {"X-Api-Key": "sct_abc"},
]


async def protected_operations(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    schema = (await client.get("/openapi.json")).json()
    operations = [
        (method.upper(), path)
        for path, methods in schema["paths"].items()
        for method in methods
        if (method.upper(), path) not in PUBLIC
    ]
    assert len(operations) >= 13, operations
    return operations


def concrete(path: str) -> str:
    return path.replace("{conversation_id}", "conv_x").replace("{generation_id}", "msg_x")


async def counts(s: AuthServer) -> tuple[int, int]:
    """(alice's conversations, upstream calls): what a refused request must not change."""
    async with httpx.AsyncClient(base_url=s.url, headers=s.bearer("alice")) as alice:
        listing = (await alice.get("/api/conversations")).json()["conversations"]
    return len(listing), len(s.server.mock.log())


async def test_no_protected_operation_without_a_valid_credential(
    make_auth_server: AuthServerFactory,
) -> None:
    s = make_auth_server()
    before = await counts(s)
    async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
        operations = await protected_operations(client)
        for headers in BAD_CREDENTIALS:
            for method, path in operations:
                response = await client.request(
                    method, concrete(path), json=BODIES.get(path), headers=headers
                )
                TALLY.bad_input()
                assert response.status_code == 401, (method, path, headers, response.text)
                assert response.json()["error"]["code"] == "unauthorized"
        assert (await client.get("/api/session")).json() == {"user": None, "auth_required": True}
    assert await counts(s) == before


async def test_a_valid_bearer_token_works_everywhere_without_origin(
    make_auth_server: AuthServerFactory,
) -> None:
    s = make_auth_server()
    for scheme in ("Bearer", "bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {s.tokens['alice']}"}
        async with httpx.AsyncClient(base_url=s.url, headers=headers, timeout=30) as alice:
            stream = await read_stream(alice, "POST", "/api/chat", json=BODIES["/api/chat"])
            assert stream.status == 200
            ended_once(stream, "bearer answer")
    foreign = {"Origin": "https://evil.example"}
    async with httpx.AsyncClient(base_url=s.url, headers=s.bearer("alice"), timeout=30) as alice:
        # A bearer token is never sent by a browser on its own: no Origin check applies.
        stream = await read_stream(
            alice, "POST", "/api/chat", json=BODIES["/api/chat"], headers=foreign
        )
        ended_once(stream, "bearer answer with a foreign Origin")
        v1 = await alice.post(
            "/v1/chat/completions", json={**BODIES["/v1/chat/completions"], "stream": True}
        )
        v1_ended_once(v1.content, "bearer /v1 answer")
        listing = (await alice.get("/api/conversations")).json()["conversations"]
        assert len(listing) == 4
        who = await alice.get("/api/session")
        assert who.json() == {"user": "alice", "auth_required": True}
        for path in ("/healthz", "/api/models", "/v1/models"):
            assert (await alice.get(path)).status_code == 200
    async with httpx.AsyncClient(base_url=s.url, headers=s.bearer("bob")) as bob:
        assert (await bob.get("/api/conversations")).json()["conversations"] == []


def set_cookie(response: httpx.Response) -> str:
    values = response.headers.get_list("set-cookie")
    assert len(values) == 1, values
    return values[0]


async def test_session_cookie_sign_in_and_out(make_auth_server: AuthServerFactory) -> None:
    s = make_auth_server()
    async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
        refused = await client.post("/api/session", json={"token": "sct_wrong"})
        TALLY.bad_input()
        assert refused.status_code == 401
        assert "set-cookie" not in refused.headers

        signed_in = await client.post("/api/session", json={"token": s.tokens["alice"]})
        assert signed_in.status_code == 204
        cookie = set_cookie(signed_in)
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert cookie.startswith(f"{COOKIE}=scs_")  # a session id, not the API token
        assert s.tokens["alice"] not in cookie
        assert {"httponly", "secure", "samesite", "path", "max-age"} <= attributes
        assert "samesite=strict" in cookie.lower()
        assert "path=/" in cookie.lower()

        session = {"Cookie": cookie.split(";")[0]}
        who = await client.get("/api/session", headers=session)
        assert who.json() == {"user": "alice", "auth_required": True}
        assert (await client.get("/api/conversations", headers=session)).status_code == 200

        signed_out = await client.delete("/api/session", headers=session)
        assert signed_out.status_code == 204
        cleared = set_cookie(signed_out).lower()
        assert cleared.startswith(f"{COOKIE}=")
        assert "max-age=0" in cleared or "expires=thu, 01 jan 1970" in cleared


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "https://evil.example",
        "null",
        "http://127.0.0.1:1",  # same site (another port of the same host): still another origin
        "http://localhost",
        "https://app.example.evil",
    ],
)
async def test_cookie_requests_that_change_state_need_the_pages_origin(
    make_auth_server: AuthServerFactory, origin: str | None
) -> None:
    s = make_auth_server(cors_origins="https://app.example")
    before = await counts(s)
    session = await signed_in(s.url, s.tokens["alice"])
    if origin is not None:
        session["Origin"] = origin
    async with httpx.AsyncClient(base_url=s.url, headers=session, timeout=30) as client:
        attempts = [
            client.post("/api/chat", json=BODIES["/api/chat"]),
            client.post("/api/conversations", json={"title": "csrf"}),
            client.patch("/api/conversations/conv_x", json={"title": "csrf"}),
            client.delete("/api/conversations/conv_x"),
            client.post("/api/conversations/conv_x/regenerate"),
            client.post("/api/conversations/conv_x/edit", json={"message": "csrf"}),
            client.post("/api/generations/msg_x/stop"),
            client.post("/v1/chat/completions", json=BODIES["/v1/chat/completions"]),
            client.post("/stream-chat", json=BODIES["/stream-chat"]),
        ]
        for response in await asyncio.gather(*attempts):
            TALLY.bad_input()
            assert response.status_code == 403, (response.request.url, response.text)
            assert "page itself" in response.text
        # Reading needs no Origin: a cross-site page cannot read the answer anyway.
        assert (await client.get("/api/conversations")).status_code == 200
    assert await counts(s) == before


@pytest.mark.parametrize("origin", ["own", "https://app.example"])
async def test_cookie_requests_from_the_page_or_an_allowed_origin_work(
    make_auth_server: AuthServerFactory, origin: str
) -> None:
    s = make_auth_server(cors_origins="https://app.example")
    headers = {
        **(await signed_in(s.url, s.tokens["alice"])),
        "Origin": s.url if origin == "own" else origin,
    }
    async with httpx.AsyncClient(base_url=s.url, headers=headers, timeout=30) as client:
        stream = await read_stream(client, "POST", "/api/chat", json=BODIES["/api/chat"])
        assert stream.status == 200
        ended_once(stream, f"cookie answer from {origin}")
        conversation_id = stream.first("meta")["conversation_id"]
        renamed = await client.patch(f"/api/conversations/{conversation_id}", json={"title": "r"})
        assert renamed.status_code == 200
        deleted = await client.delete(f"/api/conversations/{conversation_id}")
        assert deleted.status_code == 204
