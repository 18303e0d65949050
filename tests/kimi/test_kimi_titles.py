"""The title call on Kimi (issue 14 item 5): kimi-k2.5 thinks unless told not to, so the title
call switches thinking off, and its reasoning never becomes the title."""

from __future__ import annotations

import httpx

from streamchat.generations.titles import TITLE_PROMPT
from tests.conftest import ServerFactory
from tests.harness import MockUpstream, read_stream
from tests.kimi.conftest import chat_bodies, kimi_provider


async def test_kimi_title_call_switches_thinking_off(
    make_server: ServerFactory, kimi_mock: MockUpstream
) -> None:
    kimi_mock.reset()
    server = make_server(providers=[kimi_provider(kimi_mock)], titles=True)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        stream = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "北京的天气 [[mock tokens=3 title=北京天气]]", "model": "kimi-k2.5"},
        )
        conversation_id = stream.first("meta")["conversation_id"]
        titled = await client.get(f"/api/conversations/{conversation_id}/title")
    assert stream.text("reasoning")  # the answer itself thought (kimi-k2.5's default)
    assert stream.last()["title_pending"] is True
    assert titled.json()["title"] == "北京天气"
    answer, title = chat_bodies(kimi_mock)
    assert "thinking" not in answer
    assert title["messages"][0] == {"role": "system", "content": TITLE_PROMPT}
    assert title["thinking"] == {"type": "disabled"}
    assert title["max_tokens"] == 40
