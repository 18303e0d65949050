"""Bad input gets a clear 4xx and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Server


async def count_conversations(client: httpx.AsyncClient) -> int:
    return len((await client.get("/api/conversations")).json()["conversations"])


@pytest.mark.parametrize(
    ("body", "status", "code", "phrase"),
    [
        (b"{not json", 400, "invalid_request", "not valid JSON"),
        (b'{"message": 5}', 400, "invalid_request", "message"),
        (b'{"message": ["a"]}', 400, "invalid_request", "message"),
        (b"{}", 400, "invalid_request", "message"),
        (b'{"message": "hi", "extra": 1}', 400, "invalid_request", "extra"),
        (b'{"message": "   "}', 400, "invalid_request", "must not be empty"),
        (b'{"message": "hi", "model": "no-such-model"}', 400, "unknown_model", "no-such-model"),
        (b'{"message": "hi", "conversation_id": "conv_missing"}', 404, "not_found", "conv_missing"),
    ],
)
async def test_bad_chat_requests(
    client: httpx.AsyncClient, body: bytes, status: int, code: str, phrase: str
) -> None:
    response = await client.post(
        "/api/chat", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert phrase in error["message"]
    assert "None" not in error["message"]
    assert await count_conversations(client) == 0


async def test_over_long_message(make_server: Any) -> None:
    server = make_server(max_message_chars=10)
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post("/api/chat", json={"message": "x" * 11})
        assert response.status_code == 400
        assert response.json()["error"]["message"] == ("message is 11 characters; the limit is 10")
        assert await count_conversations(client) == 0


async def test_body_over_limit_refused_before_reading(make_server: Any) -> None:
    server: Server = make_server(max_body_bytes=1000)
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post("/api/chat", json={"message": "x" * 5000})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        v1 = await client.post(
            "/v1/chat/completions",
            json={"model": "demo", "messages": [{"role": "user", "content": "x" * 5000}]},
        )
        assert v1.status_code == 413
        assert v1.json()["error"]["type"] == "invalid_request_error"

        async def chunks() -> Any:
            yield b'{"message": "'
            for _ in range(20):
                yield b"x" * 100
            yield b'"}'

        streamed = await client.post(
            "/api/chat", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert await count_conversations(client) == 0
        assert (await client.get("/healthz")).status_code == 200


async def test_bad_reattach_and_stop_ids(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/generations/msg_nope/events")).status_code == 404
    assert (await client.post("/api/generations/msg_nope/stop")).status_code == 404
    bad = await client.get("/api/generations/msg_nope/events", headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 400


async def test_bad_conversation_updates(client: httpx.AsyncClient) -> None:
    created = (await client.post("/api/conversations", json={"title": "t"})).json()
    for body in (
        {"title": ""},
        {"params": {"temperature": 5}},
        {"params": {"nope": 1}},
        {"model": "no-such-model"},
        {"title": 3},
    ):
        response = await client.patch(f"/api/conversations/{created['id']}", json=body)
        assert response.status_code == 400, body
    same = (await client.get(f"/api/conversations/{created['id']}")).json()
    assert (same["title"], same["params"], same["model"]) == ("t", {}, None)
    assert (await client.patch("/api/conversations/conv_x", json={"title": "a"})).status_code == 404
    assert (await client.delete("/api/conversations/conv_x")).status_code == 404
