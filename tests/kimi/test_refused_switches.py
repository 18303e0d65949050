"""A start refused after its checks (too many answers running) writes nothing: not its rows,
and not the switches (web_search, thinking) it asked for either."""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory
from tests.harness import MockUpstream, read_stream
from tests.kimi.conftest import kimi_provider


async def test_a_refused_start_keeps_the_conversations_switches(
    make_server: ServerFactory, kimi_mock: MockUpstream
) -> None:
    kimi_mock.reset()
    server = make_server(providers=[kimi_provider(kimi_mock)], max_streams_per_user=1)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        first = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "[[mock tokens=2]]", "model": "kimi-k2.5", "thinking": True},
        )
        assert first.types()[-1] == "done", first.typed()
        conversation_id = first.first("meta")["conversation_id"]
        before = (await client.get(f"/api/conversations/{conversation_id}")).json()
        assert before["params"] == {"thinking": True}
        busy = await read_stream(
            client,
            "POST",
            "/api/chat",
            stop_after=2,
            json={"message": "[[mock tokens=200 rate=20]]", "model": "kimi-k2.5"},
        )
        try:
            for url, body in [
                ("/api/chat", {"message": "x", "conversation_id": conversation_id}),
                (f"/api/messages/{first.first('meta')['message_id']}/regenerate", {}),
                (f"/api/conversations/{conversation_id}/edit", {"message": "y"}),
            ]:
                response = await client.post(url, json={**body, "thinking": False})
                assert response.status_code == 429, response.text
                assert response.json()["error"]["code"] == "too_many_streams"
            after = (await client.get(f"/api/conversations/{conversation_id}")).json()
            # (updated_at moves: the rows were written, then taken back)
            assert {**after, "updated_at": None} == {**before, "updated_at": None}
        finally:
            await client.post(f"/api/generations/{busy.first('meta')['message_id']}/stop")
