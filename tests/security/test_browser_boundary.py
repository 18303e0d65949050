"""What a browser is allowed to do with streamchat's answers: CORS only for the configured
origins (never ``*``), and the page's protections on every response: a CSP without inline
script that forbids framing, no MIME sniffing, no referrer."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.faults.tally import TALLY
from tests.harness import read_stream

ALLOWED = ("https://app.example", "https://chat.example:8443")
UNLISTED = (
    "https://evil.example",
    "null",
    "https://app.example.evil.example",
    "http://app.example",  # another scheme is another origin
    "https://chat.example",  # another port too
)


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }


@pytest.mark.parametrize("configured", [False, True], ids=["no_origins", "two_origins"])
async def test_cors_only_for_listed_origins(make_server: Any, configured: bool) -> None:
    server: Server = make_server(cors_origins=", ".join(ALLOWED) if configured else "")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for origin in UNLISTED + (() if configured else ALLOWED):
            for method, path in (("OPTIONS", "/api/chat"), ("OPTIONS", "/v1/chat/completions")):
                response = await client.request(method, path, headers=preflight(origin))
                TALLY.bad_input()
                assert "access-control-allow-origin" not in response.headers, origin
                assert response.status_code >= 400
            for path in ("/api/conversations", "/v1/models", "/healthz"):
                response = await client.get(path, headers={"Origin": origin})
                TALLY.bad_input()
                assert "access-control-allow-origin" not in response.headers, origin
        if not configured:
            return
        for origin in ALLOWED:
            response = await client.options("/api/chat", headers=preflight(origin))
            assert response.status_code == 200
            assert response.headers["access-control-allow-origin"] == origin
            assert response.headers["access-control-allow-credentials"] == "true"
            assert "POST" in response.headers["access-control-allow-methods"]
            allowed_headers = response.headers["access-control-allow-headers"].lower()
            assert "authorization" in allowed_headers
            listing = await client.get("/api/conversations", headers={"Origin": origin})
            assert listing.headers["access-control-allow-origin"] == origin
            assert "origin" in listing.headers["vary"].lower()
            stream = await read_stream(
                client,
                "POST",
                "/api/chat",
                json={"message": "hi [[mock tokens=2]]", "model": "gpt-4o-mini"},
                headers={"Origin": origin},
            )
            assert stream.headers["access-control-allow-origin"] == origin
            exposed = stream.headers["access-control-expose-headers"].lower()
            assert "x-streamchat-generation-id" in exposed


def directive(text: str) -> tuple[str, str]:
    name, _, value = text.strip().partition(" ")
    return name, value


def inline_scripts(html: str) -> list[str]:
    """Script elements without src, and inline event handler attributes."""
    tags = re.findall(r"<script\b[^>]*>", html, flags=re.IGNORECASE)
    inline = [t for t in tags if not re.search(r"\bsrc\s*=", t, flags=re.IGNORECASE)]
    handlers = re.findall(r"<[^>]+\son[a-z]+\s*=", html, flags=re.IGNORECASE)
    return inline + handlers


async def test_every_response_carries_the_page_protections(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert inline_scripts(page.text) == []
        scripts = re.findall(r'<script[^>]+src="([^"]+)"', page.text)
        assert scripts
        responses = [
            page,
            await client.get(scripts[0]),
            await client.get("/api/conversations"),
            await client.get("/api/conversations/conv_x"),
            await client.post(
                "/api/chat", content=b"{", headers={"content-type": "application/json"}
            ),
            await client.get("/openapi.json"),
            await client.get("/nope"),
        ]
        stream = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "hi [[mock tokens=2 text=xss]]", "model": "gpt-4o-mini"},
        )
    headers = [r.headers for r in responses] + [stream.headers]
    for h in headers:
        csp = h["content-security-policy"]
        directives = dict(directive(d) for d in csp.split(";") if d.strip())
        assert directives["script-src"] == "'self'"
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert directives["frame-ancestors"] == "'none'"
        assert directives["object-src"] == "'none'"
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h.get("access-control-allow-origin") != "*"
    # Model text never chooses an event type: the hostile answer's "event: done" stays text.
    assert stream.types() == ["meta", "delta", "delta", "usage", "done"]


async def test_a_rebound_host_name_is_refused_without_accounts(server: Server) -> None:
    """No Host check: on loopback without accounts, a page on a DNS-rebinding name
    (evil.example resolving to 127.0.0.1) was same-origin with streamchat and could read every
    conversation and start answers on the operator's key."""
    port = server.url.rsplit(":", 1)[1]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for host in ("127.0.0.1", "localhost", "[::1]", "LOCALHOST.", "127.0.0.2", "localhost"):
            legit = await client.get("/api/conversations", headers={"Host": f"{host}:{port}"})
            assert legit.status_code == 200, host
        for host in (f"evil.example:{port}", "evil.example", "localhost.evil.example", "", "[::2]"):
            rebound = {"Host": host, "Origin": f"http://{host}"}
            for method, path, body in (
                ("GET", "/", None),
                ("GET", "/api/conversations", None),
                ("POST", "/api/chat", {"message": "hi"}),
                ("POST", "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": []}),
            ):
                TALLY.bad_input()
                response = await client.request(method, path, json=body, headers=rebound)
                assert response.status_code == 421, (host, path)
                assert response.json()["error"]["code"] == "misdirected_request"
                assert "--allowed-hosts" in response.json()["error"]["message"]
                assert response.headers["x-content-type-options"] == "nosniff"
        assert (await client.get("/api/conversations")).json()["conversations"] == []


async def test_allowed_hosts_and_accounts(make_server: Any, make_auth_server: Any) -> None:
    """A name in --allowed-hosts is answered (a proxy on this machine that passes its own Host
    on); with accounts required the Host does not matter: a rebinding page has no token."""
    listed: Server = make_server(allowed_hosts="chat.example, Other.Example.")
    port = listed.url.rsplit(":", 1)[1]
    async with httpx.AsyncClient(base_url=listed.url, timeout=30) as client:
        for host in ("chat.example", f"other.example:{port}", "localhost"):
            response = await client.get("/api/conversations", headers={"Host": host})
            assert response.status_code == 200, host
        refused = await client.get("/api/conversations", headers={"Host": "evil.example"})
        assert refused.status_code == 421
    accounts = make_auth_server()
    async with httpx.AsyncClient(base_url=accounts.url, timeout=30) as client:
        headers = {"Host": "chat.example", **accounts.bearer("alice")}
        assert (await client.get("/api/conversations", headers=headers)).status_code == 200
        anonymous = await client.get("/api/conversations", headers={"Host": "evil.example"})
        assert anonymous.status_code == 401
