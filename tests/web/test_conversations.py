"""Conversations: list, rename, settings, delete; regenerate and edit; the tutorial route."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Server
from tests.harness import mock_provider, read_stream
from tests.web.test_chat_stream import conversation, words


async def new_chat(client: httpx.AsyncClient, message: str) -> str:
    stream = await read_stream(
        client, "POST", "/api/chat", json={"message": message, "model": "gpt-4o-mini"}
    )
    assert stream.types()[-1] == "done"
    conversation_id: str = stream.first("meta")["conversation_id"]
    return conversation_id


async def test_list_newest_first_with_paging(client: httpx.AsyncClient) -> None:
    ids = [await new_chat(client, f"chat {i} [[mock tokens=1]]") for i in range(3)]
    listing = (await client.get("/api/conversations?limit=2")).json()
    assert [c["id"] for c in listing["conversations"]] == [ids[2], ids[1]]
    assert listing["has_more"] is True
    rest = (await client.get("/api/conversations?limit=2&offset=2")).json()
    assert [c["id"] for c in rest["conversations"]] == [ids[0]]
    assert rest["has_more"] is False
    await read_stream(
        client,
        "POST",
        "/api/chat",
        json={"message": "again [[mock tokens=1]]", "conversation_id": ids[0]},
    )
    top = (await client.get("/api/conversations?limit=1")).json()["conversations"][0]
    assert top["id"] == ids[0]


async def test_rename_settings_and_delete(client: httpx.AsyncClient) -> None:
    conversation_id = await new_chat(client, "hello [[mock tokens=1]]")
    renamed = await client.patch(
        f"/api/conversations/{conversation_id}",
        json={
            "title": "  My   chat ",
            "system_prompt": "Answer in French.",
            "params": {"temperature": 0.2},
        },
    )
    assert renamed.status_code == 200
    body = renamed.json()
    assert (body["title"], body["system_prompt"], body["params"]) == (
        "My chat",
        "Answer in French.",
        {"temperature": 0.2},
    )
    cleared = (
        await client.patch(f"/api/conversations/{conversation_id}", json={"params": {}})
    ).json()
    assert cleared["params"] == {}
    deleted = await client.delete(f"/api/conversations/{conversation_id}")
    assert deleted.status_code == 204
    assert (await client.get(f"/api/conversations/{conversation_id}")).status_code == 404


async def test_regenerate_replaces_the_last_answer(
    client: httpx.AsyncClient, server: Server
) -> None:
    conversation_id = await new_chat(client, "q [[mock tokens=3]]")
    before = (await conversation(client, conversation_id))["messages"]
    again = await read_stream(
        client, "POST", f"/api/conversations/{conversation_id}/regenerate", json={"model": "demo"}
    )
    assert again.types()[-1] == "done"
    assert again.first("meta")["model"] == "demo"
    after = (await conversation(client, conversation_id))["messages"]
    assert len(after) == 2
    assert after[0] == before[0]
    assert after[1]["id"] != before[1]["id"]
    assert after[1]["content"] == again.text()


async def test_edit_replaces_the_last_question(client: httpx.AsyncClient, server: Server) -> None:
    conversation_id = await new_chat(client, "first [[mock tokens=2]]")
    await read_stream(
        client,
        "POST",
        "/api/chat",
        json={"message": "second [[mock tokens=2]]", "conversation_id": conversation_id},
    )
    server.mock.reset()
    edited = await read_stream(
        client,
        "POST",
        f"/api/conversations/{conversation_id}/edit",
        json={"message": "second, better [[mock tokens=4]]"},
    )
    assert edited.text() == words(4)
    messages = (await conversation(client, conversation_id))["messages"]
    assert [m["content"] for m in messages] == [
        "first [[mock tokens=2]]",
        words(2),
        "second, better [[mock tokens=4]]",
        words(4),
    ]
    assert server.mock.log()[-1]["body"]["messages"][-1]["content"] == (
        "second, better [[mock tokens=4]]"
    )


async def test_one_answer_at_a_time_per_conversation(client: httpx.AsyncClient) -> None:
    first = await read_stream(
        client,
        "POST",
        "/api/chat",
        stop_after=2,
        json={"message": "[[mock tokens=100 rate=20]]", "model": "gpt-4o-mini"},
    )
    meta = first.first("meta")
    busy = await client.post(
        "/api/chat", json={"message": "more", "conversation_id": meta["conversation_id"]}
    )
    assert busy.status_code == 409
    assert meta["message_id"] in busy.json()["error"]["message"]
    await client.post(f"/api/generations/{meta['message_id']}/stop")


async def test_tutorial_contract_streams_raw_text(client: httpx.AsyncClient) -> None:
    async with client.stream(
        "POST", "/stream-chat", json={"message": "你好 [[mock tokens=3]]"}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    assert body.decode() != ""
    assert b"event:" not in body and b"data:" not in body
    listing = (await client.get("/api/conversations")).json()["conversations"]
    assert listing[0]["title"] == "你好 [[mock tokens=3]]"
    stored = (await conversation(client, listing[0]["id"]))["messages"][-1]
    assert stored["content"] == body.decode()


async def test_models_and_health_and_metrics(client: httpx.AsyncClient) -> None:
    models = (await client.get("/api/models")).json()
    assert models["default"] == "gpt-4o-mini"
    assert {"id": "demo", "provider": "demo", "context_window": 32768, "reasoning": False} in (
        models["models"]
    )
    await new_chat(client, "[[mock tokens=2]]")
    health = (await client.get("/healthz")).json()
    assert health["status"] == "ok" and health["store"] == {"ok": True}
    assert health["upstreams"]["mock"]["ok"] is True
    metrics = (await client.get("/metrics")).text
    assert 'streamchat_generations_total{status="complete"} 1.0' in metrics
    assert "streamchat_ttft_seconds_bucket" in metrics
    schema = (await client.get("/openapi.json")).json()
    assert "/api/chat" in schema["paths"] and "/v1/chat/completions" in schema["paths"]


async def test_delete_during_an_answer_stops_it(client: httpx.AsyncClient, server: Server) -> None:
    async with client.stream(
        "POST", "/api/chat", json={"message": "[[mock tokens=500 rate=40]]", "model": "gpt-4o-mini"}
    ) as response:
        lines = response.aiter_lines()
        conversation_id = ""
        async for line in lines:
            if '"conversation_id"' in line:
                conversation_id = line.split('"conversation_id":"')[1].split('"')[0]
                break
        deleted = await client.delete(f"/api/conversations/{conversation_id}")
        assert deleted.status_code == 204
        rest = "\n".join([line async for line in lines])
    assert '"finish_reason":"stopped"' in rest
    assert (await client.get(f"/api/conversations/{conversation_id}")).status_code == 404
    assert (await client.get("/healthz")).json()["generations"] == 0


async def test_models_listed_by_the_provider_are_merged_and_cached(
    make_server: Any, server: Server
) -> None:
    listed = mock_provider(server.mock, name="listed").model_copy(
        update={"models": [], "list_models": True}
    )
    other = make_server(providers=[listed], models_cache_ttl=600)
    async with httpx.AsyncClient(base_url=other.url, timeout=30) as client:
        models = (await client.get("/api/models")).json()
        ids = [m["id"] for m in models["models"] if m["provider"] == "listed"]
        assert ids == ["gpt-4o-mini", "gpt-4o"]  # as GET /v1/models of the provider lists them
        assert models["default"] == "gpt-4o-mini"
        stream = await read_stream(
            client, "POST", "/api/chat", json={"message": "[[mock tokens=2]]", "model": "gpt-4o"}
        )
        assert stream.first("meta")["model"] == "gpt-4o"
        assert stream.text() == words(2)
        unknown = await client.post("/api/chat", json={"message": "x", "model": "gpt-9"})
        assert unknown.status_code == 400
        assert "gpt-4o-mini" in unknown.json()["error"]["message"]
