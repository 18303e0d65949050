"""Issue 13 across two `streamchat serve` workers sharing Redis and PostgreSQL, with a Kimi
provider: a web-search answer started on one worker, re-attached and stopped in round 2 on
the other; a file uploaded on one attached on the other; Continue on the other worker."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import REDIS_URL, worker
from tests.files import samples
from tests.harness import MockUpstream, fresh_postgres, read_stream
from tests.kimi.conftest import KIMI_MODELS, chat_bodies
from tests.kimi.test_web_search import _events, _numbered, tool
from tests.web.test_chat_stream import words

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def kimi_cluster(tmp_path: Path, kimi_mock: MockUpstream) -> Iterator[tuple[str, str]]:
    kimi_mock.reset()
    with redis.Redis.from_url(REDIS_URL) as client:
        client.flushdb()
    config = tmp_path / "streamchat.toml"
    models = ", ".join(f'"{m}"' for m in KIMI_MODELS)
    config.write_text(
        '[[providers]]\nname = "kimi"\npreset = "kimi"\n'
        f'base_url = "{kimi_mock.url}"\napi_key = "{kimi_mock.api_key}"\n'
        f'models = [{models}, "moonshot-v1-8k-vision-preview"]\nlist_models = false\n'
    )
    with (
        fresh_postgres() as database,
        worker(config, database) as (a, _),
        worker(config, database) as (b, _),
    ):
        yield a, b


async def test_web_search_reattached_on_the_other_worker_in_round_two(
    kimi_cluster: tuple[str, str],
) -> None:
    a, b = kimi_cluster
    body = {
        "message": "[[mock search=2 slow_round=1 ttft_ms=1500 tokens=4]]",
        "model": "moonshot-v1-8k",
        "web_search": True,
    }
    async with httpx.AsyncClient(timeout=30) as client:
        seen: list[int] = []
        async with client.stream("POST", a + "/api/chat", json=body) as response:
            generation = response.headers["x-streamchat-generation-id"]
            async for event_id, kind, data in _numbered(response):
                seen.append(event_id)
                if (kind, data) == tool(0, "done"):
                    break
        rest = await read_stream(
            client,
            "GET",
            f"{b}/api/generations/{generation}/events",
            headers={"Last-Event-ID": str(seen[-1])},
        )
    assert seen + rest.ids() == list(range(1, len(seen) + len(rest.ids()) + 1))
    assert [e for e in rest.typed() if e[0] == "tool"] == [tool(1, "running"), tool(1, "done")]
    assert rest.text() == words(4)
    assert rest.types()[-1] == "done"


async def test_web_search_stopped_on_the_other_worker_in_round_two(
    kimi_cluster: tuple[str, str], kimi_mock: MockUpstream
) -> None:
    a, b = kimi_cluster
    body = {
        "message": "[[mock search=2 slow_round=1 ttft_ms=60000]]",
        "model": "moonshot-v1-8k",
        "web_search": True,
    }
    async with httpx.AsyncClient(timeout=30) as client:
        kinds: list[str] = []
        async with client.stream("POST", a + "/api/chat", json=body) as response:
            generation = response.headers["x-streamchat-generation-id"]
            events = _events(response)
            async for kind, data in events:
                if (kind, data) == tool(0, "done"):
                    break
            stopped = await client.post(f"{b}/api/generations/{generation}/stop")
            assert stopped.json()["stopped"] is True
            async for kind, data in events:
                kinds.append(kind)
                last = data
    assert kinds[-2:] == ["usage", "done"]
    assert last["finish_reason"] == "stopped"
    for _ in range(100):
        log = [r for r in kimi_mock.log() if r["path"].endswith("/chat/completions")]
        if len(log) == 2 and log[1]["client_closed"]:
            break
        await asyncio.sleep(0.05)
    assert len(log) == 2 and log[1]["client_closed"] is True


async def test_a_file_uploaded_on_one_worker_asked_about_and_continued_on_the_other(
    kimi_cluster: tuple[str, str], kimi_mock: MockUpstream
) -> None:
    a, b = kimi_cluster
    image = samples.png()
    async with httpx.AsyncClient(timeout=30) as client:
        uploaded = await client.post(a + "/api/files", files={"file": ("shot.png", image)})
        file_id = uploaded.json()["id"]
        created = await client.post(b + "/api/conversations", json={"params": {"max_tokens": 3}})
        asked = await read_stream(
            client,
            "POST",
            b + "/api/chat",
            json={
                "message": "[[mock tokens=6]]",
                "model": "moonshot-v1-8k-vision-preview",
                "conversation_id": created.json()["id"],
                "attachments": [file_id],
            },
        )
        assert asked.last()["finish_reason"] == "length"
        answer_id = asked.first("meta")["message_id"]
        more = await read_stream(client, "POST", f"{a}/api/messages/{answer_id}/continue")
        assert more.text() == " w4 w5 w6"
        stored = (await client.get(f"{b}/api/conversations/{created.json()['id']}")).json()
    assert stored["messages"][-1]["content"] == words(6)
    bodies = chat_bodies(kimi_mock)
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    for body in bodies:
        question = next(m for m in body["messages"] if m["role"] == "user")
        assert question["content"][1] == {"type": "image_url", "image_url": {"url": url}}
