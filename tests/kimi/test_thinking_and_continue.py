"""The thinking switch (issue 13 item 5) and Continue (item 4), against the moonshot mock
(which refuses what Kimi refuses: a $web_search call with thinking on, a thinking model's
tool turn without its reasoning_content), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

from streamchat.settings import ModelConfig, ProviderConfig
from tests.conftest import Server, ServerFactory
from tests.harness import MockUpstream, read_stream
from tests.kimi.conftest import chat_bodies
from tests.web.test_chat_stream import words


async def _ask(client: httpx.AsyncClient, **body: Any) -> Any:
    return await read_stream(client, "POST", "/api/chat", json=body)


async def test_thinking_switch_on_kimi_k2_5(kimi_server: Server, kimi_mock: MockUpstream) -> None:
    async with httpx.AsyncClient(base_url=kimi_server.url, timeout=30) as client:
        off = await _ask(client, message="[[mock tokens=3]]", model="kimi-k2.5", thinking=False)
        on = await _ask(client, message="[[mock tokens=3]]", model="kimi-k2.5", thinking=True)
        default = await _ask(client, message="[[mock tokens=3]]", model="kimi-k2.5")
    assert "reasoning" not in off.types() and off.types()[-1] == "done"
    assert on.types().count("reasoning") == 3
    assert default.types().count("reasoning") == 3  # on by default, as Kimi's
    bodies = chat_bodies(kimi_mock)
    assert [b.get("thinking") for b in bodies] == [
        {"type": "disabled"},
        {"type": "enabled"},
        None,
    ]


async def test_web_search_switches_thinking_off_for_the_call(
    kimi_server: Server, kimi_mock: MockUpstream
) -> None:
    """kimi-k2.5 thinks by default and Kimi runs $web_search only with thinking disabled."""
    async with httpx.AsyncClient(base_url=kimi_server.url, timeout=30) as client:
        stream = await _ask(
            client,
            message="[[mock search=1 tokens=2]]",
            model="kimi-k2.5",
            web_search=True,
            thinking=True,
        )
    assert stream.types()[-1] == "done", stream.typed()
    assert stream.text() == words(2)
    assert [b["thinking"] for b in chat_bodies(kimi_mock)] == [{"type": "disabled"}] * 2


async def test_reasoning_is_replayed_on_tool_turns(
    kimi_server: Server, kimi_mock: MockUpstream
) -> None:
    """kimi-k2-thinking always thinks: each tool turn goes back with its reasoning_content
    (the mock refuses it otherwise, as Kimi does)."""
    async with httpx.AsyncClient(base_url=kimi_server.url, timeout=30) as client:
        stream = await _ask(
            client,
            message="[[mock search=1 reasoning=2 tokens=2]]",
            model="kimi-k2-thinking",
            web_search=True,
        )
    assert stream.types()[-1] == "done", stream.typed()
    second = chat_bodies(kimi_mock)[1]
    (turn,) = [m for m in second["messages"] if m.get("tool_calls")]
    assert turn["reasoning_content"] == " r1 r2"


async def test_switches_refused_where_the_model_has_none(
    make_server: ServerFactory, mock_upstream: MockUpstream
) -> None:
    mock_upstream.reset()
    server = make_server(
        providers=[
            ProviderConfig(
                name="mock",
                preset="openai",
                base_url=mock_upstream.url,
                api_key=mock_upstream.api_key,  # type: ignore[arg-type]
                models=[ModelConfig(id="gpt-4o-mini"), ModelConfig(id="o3-mini")],
                list_models=False,
            )
        ]
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        search = await client.post(
            "/api/chat", json={"message": "x", "model": "gpt-4o-mini", "web_search": True}
        )
        thinking = await client.post(
            "/api/chat", json={"message": "x", "model": "gpt-4o-mini", "thinking": False}
        )
        effort = await _ask(client, message="[[mock tokens=2]]", model="o3-mini", thinking=False)
        listed = await client.get("/api/conversations")
    assert (search.status_code, search.json()["error"]["code"]) == (400, "web_search_unavailable")
    assert "gpt-4o-mini" in search.json()["error"]["message"]
    assert (thinking.status_code, thinking.json()["error"]["code"]) == (
        400,
        "thinking_unavailable",
    )
    assert effort.types()[-1] == "done"
    (body,) = chat_bodies(mock_upstream)
    assert body["reasoning_effort"] == "low"
    assert len(listed.json()["conversations"]) == 1  # the refused ones wrote nothing


async def test_continue_a_length_answer_in_place(
    kimi_server: Server, kimi_mock: MockUpstream
) -> None:
    async with httpx.AsyncClient(base_url=kimi_server.url, timeout=30) as client:
        patched = await client.post("/api/conversations", json={"params": {"max_tokens": 4}})
        assert patched.status_code in (200, 201), patched.text
        conversation_id = patched.json()["id"]
        first = await _ask(
            client,
            message="[[mock tokens=10]]",
            model="moonshot-v1-8k",
            conversation_id=conversation_id,
        )
        assert first.last()["finish_reason"] == "length"
        answer_id = first.first("meta")["message_id"]
        first_usage = first.first("usage")
        more = await read_stream(client, "POST", f"/api/messages/{answer_id}/continue")
        meta = more.first("meta")
        assert meta["message_id"] == answer_id
        assert meta["generation_id"] != answer_id
        assert more.text() == " w5 w6 w7 w8"
        assert more.last()["finish_reason"] == "length"
        last = await read_stream(client, "POST", f"/api/messages/{answer_id}/continue")
        assert last.text() == " w9 w10"
        assert last.last()["finish_reason"] == "stop"
        again = await client.post(f"/api/messages/{answer_id}/continue")
        conversation = (await client.get(f"/api/conversations/{conversation_id}")).json()
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_continuable"
    (answer,) = [m for m in conversation["messages"] if m["id"] == answer_id]
    assert (answer["content"], answer["status"], answer["finish_reason"]) == (
        words(10),
        "complete",
        "stop",
    )
    assert answer["usage"]["completion_tokens"] == 4 + 4 + 2
    assert answer["usage"]["completion_tokens"] > first_usage["completion_tokens"]
    bodies = chat_bodies(kimi_mock)
    assert len(bodies) == 3
    assert bodies[1]["messages"][-1] == {
        "role": "assistant",
        "content": words(4),
        "partial": True,
    }
    assert bodies[2]["messages"][-1]["content"] == words(8)


async def test_continue_is_refused_without_partial_mode(
    make_server: ServerFactory, mock_upstream: MockUpstream
) -> None:
    server = make_server()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        first = await _ask(client, message="[[mock tokens=10 finish=length]]", model="gpt-4o-mini")
        assert first.last()["finish_reason"] == "length"
        answer_id = first.first("meta")["message_id"]
        refused = await client.post(f"/api/messages/{answer_id}/continue")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "continue_unavailable"
    assert "gpt-4o-mini" in refused.json()["error"]["message"]


async def test_a_reload_during_continue_reattaches_by_the_answers_id(
    kimi_server: Server, kimi_mock: MockUpstream
) -> None:
    """The page knows the answer's id after a reload; it re-attaches to the continuation."""
    async with httpx.AsyncClient(base_url=kimi_server.url, timeout=30) as client:
        created = await client.post("/api/conversations", json={"params": {"max_tokens": 4}})
        first = await _ask(
            client,
            message="[[mock tokens=10 rate=20]]",
            model="moonshot-v1-8k",
            conversation_id=created.json()["id"],
        )
        answer_id = first.first("meta")["message_id"]
        head = await read_stream(
            client, "POST", f"/api/messages/{answer_id}/continue", stop_after=2
        )
        assert [e.event for e in head.events] == ["meta", "delta"]
        generation = head.first("meta")["generation_id"]
        assert generation == f"{answer_id}.c1"
        rest = await read_stream(
            client,
            "GET",
            f"/api/generations/{answer_id}/events",
            headers={"Last-Event-ID": "2"},
        )
        stopped = await client.post(f"/api/generations/{answer_id}/stop")
    assert rest.ids()[0] == 3
    assert head.text() + rest.text() == " w5 w6 w7 w8"
    assert rest.types()[-2:] == ["usage", "done"]
    assert stopped.json() == {"id": generation, "stopped": False}


async def test_continue_with_deepseeks_prefix_completion(make_server: ServerFactory) -> None:
    from tests.harness import mock_upstream_thread

    with mock_upstream_thread("deepseek") as mock:
        server = make_server(
            providers=[
                ProviderConfig(
                    name="deepseek",
                    preset="deepseek",
                    base_url=mock.url,
                    api_key=mock.api_key,  # type: ignore[arg-type]
                    models=[ModelConfig(id="deepseek-chat")],
                    list_models=False,
                )
            ]
        )
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            created = await client.post("/api/conversations", json={"params": {"max_tokens": 3}})
            first = await _ask(
                client,
                message="[[mock tokens=5]]",
                model="deepseek-chat",
                conversation_id=created.json()["id"],
            )
            answer_id = first.first("meta")["message_id"]
            more = await read_stream(client, "POST", f"/api/messages/{answer_id}/continue")
        bodies = chat_bodies(mock)
    assert more.text() == " w4 w5"
    assert bodies[1]["messages"][-1] == {"role": "assistant", "content": words(3), "prefix": True}


async def test_patching_params_keeps_the_switches_a_start_set(kimi_server: Server) -> None:
    """web_search / thinking live in the conversation's params (set by /api/chat); a PATCH of
    the sampling params used to replace the whole dict and drop them."""
    async with httpx.AsyncClient(base_url=kimi_server.url, timeout=30) as client:
        stream = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "[[mock tokens=2]]", "model": "kimi-k2.5", "thinking": False},
        )
        assert stream.status == 200, stream.raw
        conversation_id = stream.first("meta")["conversation_id"]
        url = f"/api/conversations/{conversation_id}"
        assert (await client.get(url)).json()["params"] == {"thinking": False}
        patched = await client.patch(url, json={"params": {"temperature": 0.3}})
        assert patched.json()["params"] == {"temperature": 0.3, "thinking": False}
