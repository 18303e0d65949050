"""Titles written by the conversation's model after its first answer (issue 14 item 5), over
HTTP on loopback against the mock upstream, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import httpx
import pytest

from streamchat.generations.titles import TITLE_PROMPT, clean_title
from streamchat.prompts import TITLE_CHARS, earlier_title_for, title_for
from streamchat.settings import ModelConfig
from tests.conftest import Server, ServerFactory
from tests.harness import mock_provider, read_stream
from tests.web.test_chat_stream import conversation, words


def calls_about(server: Server, marker: str) -> list[dict[str, Any]]:
    """The mock's records of the requests whose messages mention ``marker``."""
    return [r for r in server.mock.log() if marker in str(r["body"])]


async def ask(client: httpx.AsyncClient, message: str, **fields: Any) -> Any:
    body = {"message": message, "model": "gpt-4o-mini", **fields}
    return await read_stream(client, "POST", "/api/chat", json=body)


async def title_of(client: httpx.AsyncClient, conversation_id: str) -> Any:
    """``GET /api/conversations/{id}/title``: the title once it is no longer automatic."""
    response = await client.get(f"/api/conversations/{conversation_id}/title")
    assert response.status_code == 200
    return response.json()["title"]


@pytest.fixture
def titled(make_server: ServerFactory) -> Server:
    return make_server(titles=True)


@pytest.fixture
async def client(titled: Server) -> Any:
    async with httpx.AsyncClient(base_url=titled.url, timeout=30) as http:
        yield http


async def test_the_first_answer_is_followed_by_the_title_its_model_wrote(
    client: httpx.AsyncClient, titled: Server
) -> None:
    marker = secrets.token_hex(4)
    question = f"How warm is Paris in May? {marker} [[mock tokens=3 title=Paris_in_May]]"
    stream = await ask(client, question)
    assert stream.types() == ["meta", "delta", "delta", "delta", "usage", "done"]
    assert stream.ids() == list(range(1, 7))
    assert stream.last()["title_pending"] is True
    conversation_id = stream.first("meta")["conversation_id"]
    assert await title_of(client, conversation_id) == "Paris in May"
    # the answer's usage is its own call's (3 tokens), not the sum with the title call's
    assert stream.first("usage")["completion_tokens"] == 3
    stored = await conversation(client, conversation_id)
    assert stored["title"] == "Paris in May"
    answer = stored["messages"][-1]
    assert (answer["content"], answer["status"]) == (words(3), "complete")
    assert answer["usage"]["completion_tokens"] == 3
    assert answer["last_event_id"] == 6
    listed = (await client.get("/api/conversations?limit=1")).json()["conversations"][0]
    assert (listed["id"], listed["title"]) == (conversation_id, "Paris in May")

    answer_call, title_call = calls_about(titled, marker)
    assert (answer_call["title"], title_call["title"]) == (False, True)
    sent = title_call["body"]
    assert sent["model"] == "gpt-4o-mini"
    assert sent["messages"] == [
        {"role": "system", "content": TITLE_PROMPT},
        {"role": "user", "content": f"User:\n{question}\n\nAssistant:\n{words(3)}"},
    ]
    assert sent["max_tokens"] == 40
    assert "6 words" in TITLE_PROMPT and "language" in TITLE_PROMPT

    # a re-attach from the start gets the same events
    replay = await read_stream(client, "GET", f"/api/generations/{answer['id']}/events?after=0")
    assert replay.types() == stream.types()


async def test_the_answer_ends_before_its_title(client: httpx.AsyncClient, titled: Server) -> None:
    """Issue 14: ``done`` waited for the title call after a first answer, so a provider slow
    to write the title held the answer's end for seconds (3 s here). The title call now
    starts after ``done``; the title is read when it is set."""
    loop = asyncio.get_running_loop()
    body = {"message": "slow title [[mock tokens=2 title=Later title_ms=2000]]"}
    ended = None
    async with client.stream("POST", "/api/chat", json={**body, "model": "gpt-4o-mini"}) as r:
        async for line in r.aiter_lines():
            if line == "event: usage":
                usage_at = loop.time()
            elif line == "event: done":
                ended = loop.time() - usage_at
            elif line.startswith("data:") and "conversation_id" in line:
                conversation_id = line.split('"conversation_id":"')[1].split('"')[0]
    assert ended is not None and ended < 0.5  # before: 2 s and more
    assert (await conversation(client, conversation_id))["title"].startswith("slow title")
    started = loop.time()
    assert await title_of(client, conversation_id) == "Later"
    assert 1.0 <= loop.time() - started <= 4


async def test_only_the_first_answer_is_titled(client: httpx.AsyncClient, titled: Server) -> None:
    marker = secrets.token_hex(4)
    first = await ask(client, f"first {marker} [[mock tokens=2 title=First_title]]")
    conversation_id = first.first("meta")["conversation_id"]
    assert await title_of(client, conversation_id) == "First title"
    second = await ask(
        client,
        f"second {marker} [[mock tokens=2 title=Second_title]]",
        conversation_id=conversation_id,
    )
    assert second.types() == ["meta", "delta", "delta", "usage", "done"]
    assert "title_pending" not in second.last()
    answer_id = second.first("meta")["message_id"]
    again = await read_stream(client, "POST", f"/api/messages/{answer_id}/regenerate")
    assert "title_pending" not in again.last()
    assert (await conversation(client, conversation_id))["title"] == "First_title".replace("_", " ")
    assert [r["title"] for r in calls_about(titled, marker)] == [False, True, False, False]


async def test_the_demo_model_writes_no_title(client: httpx.AsyncClient, titled: Server) -> None:
    before = len(titled.mock.log())
    stream = await ask(client, "Tell me about the demo model", model="demo")
    assert stream.types()[-2:] == ["usage", "done"]
    assert "title_pending" not in stream.last()
    conversation_id = stream.first("meta")["conversation_id"]
    stored = await conversation(client, conversation_id)
    assert stored["title"] == "Tell me about the demo model"
    assert len(titled.mock.log()) == before  # the demo is offline: nothing went to a provider


async def test_a_rename_during_the_first_answer_wins(
    client: httpx.AsyncClient, titled: Server
) -> None:
    marker = secrets.token_hex(4)
    body = {
        "message": f"slow {marker} [[mock tokens=10 rate=10 title=Model_title]]",
        "model": "gpt-4o-mini",
    }
    async with client.stream("POST", "/api/chat", json=body) as response:
        lines = response.aiter_lines()
        async for line in lines:
            if line.startswith("data:") and "conversation_id" in line:
                conversation_id = line.split('"conversation_id":"')[1].split('"')[0]
                break
        renamed = await client.patch(
            f"/api/conversations/{conversation_id}", json={"title": "Mine"}
        )
        assert renamed.status_code == 200
        rest = [line async for line in lines]
    assert "event: title" not in rest
    assert '"title_pending":true' in rest[-2]
    for _ in range(100):  # the title call, after the end
        if len(calls_about(titled, marker)) == 2:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert await title_of(client, conversation_id) == "Mine"
    # the model was asked, and its title was not taken
    assert [r["title"] for r in calls_about(titled, marker)] == [False, True]


async def test_a_conversation_named_by_its_user_is_not_titled(
    client: httpx.AsyncClient, titled: Server
) -> None:
    marker = secrets.token_hex(4)
    created = await client.post("/api/conversations", json={"title": "Holiday plans"})
    conversation_id = created.json()["id"]
    stream = await ask(
        client, f"where to? {marker} [[mock tokens=2]]", conversation_id=conversation_id
    )
    assert "title_pending" not in stream.last()
    assert (await conversation(client, conversation_id))["title"] == "Holiday plans"
    assert [r["title"] for r in calls_about(titled, marker)] == [False]


async def test_a_conversation_created_untitled_gets_its_first_answers_title(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/api/conversations", json={})
    conversation_id = created.json()["id"]
    assert created.json()["title"] == ""  # no placeholder: each client shows its own
    stream = await ask(
        client, "hi [[mock tokens=2 title=Greetings]]", conversation_id=conversation_id
    )
    assert stream.last()["title_pending"] is True
    assert await title_of(client, conversation_id) == "Greetings"


async def test_a_long_question_is_titled_at_a_word_s_end_then_by_its_model(
    client: httpx.AsyncClient,
) -> None:
    question = LONG + " [[mock tokens=2 title=Yangtze_cities]]"
    stream = await ask(client, question)
    conversation_id = stream.first("meta")["conversation_id"]
    listed = (await client.get("/api/conversations?limit=1")).json()["conversations"][0]
    # read before the title call ends (the mock answers it at once: either may be listed)
    assert listed["title"] in (title_for(question), "Yangtze cities")
    assert title_for(question).endswith("growth of…")
    assert await title_of(client, conversation_id) == "Yangtze cities"


async def test_an_earlier_automatic_title_is_replaced_as_before(
    client: httpx.AsyncClient,
) -> None:
    # a conversation whose title the earlier rule made (the question's first 80 characters)
    question = LONG + " [[mock tokens=2 title=Older_rule]]"
    created = await client.post("/api/conversations", json={"title": earlier_title_for(question)})
    conversation_id = created.json()["id"]
    stream = await ask(client, question, conversation_id=conversation_id)
    assert stream.last()["title_pending"] is True
    assert await title_of(client, conversation_id) == "Older rule"


@pytest.mark.parametrize("how", ["fail", "hang"])
async def test_a_failing_title_call_leaves_the_first_words(
    make_server: ServerFactory, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = make_server(titles=True, title_timeout=1)
    marker = secrets.token_hex(4)
    question = f"Why is the sky blue? {marker} [[mock tokens=2 title={how}]]"
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        with caplog.at_level(logging.WARNING, logger="streamchat.titles"):
            stream = await ask(client, question)
        assert stream.types() == ["meta", "delta", "delta", "usage", "done"]
        conversation_id = stream.first("meta")["conversation_id"]
        assert stream.last()["finish_reason"] == "stop"
        with caplog.at_level(logging.WARNING, logger="streamchat.titles"):
            # after title_timeout + 2 s: the automatic title, as it is
            assert await title_of(client, conversation_id) == question
        stored = await conversation(client, conversation_id)
    assert stored["title"] == question  # the automatic title, as before
    assert stored["messages"][-1]["status"] == "complete"
    assert stored["messages"][-1]["content"] == words(2)
    # one title call, not retried
    assert [r["title"] for r in calls_about(server, marker)] == [False, True]
    logged = [r.getMessage() for r in caplog.records if r.name == "streamchat.titles"]
    assert len(logged) == 1
    assert conversation_id in logged[0]
    assert ("upstream_unavailable" if how == "fail" else "within 1 s") in logged[0]
    assert server.mock.api_key not in logged[0]


async def test_titles_off_by_setting_and_per_model(make_server: ServerFactory) -> None:
    marker = secrets.token_hex(4)
    off = make_server(titles=False)
    async with httpx.AsyncClient(base_url=off.url, timeout=30) as client:
        stream = await ask(client, f"a {marker} [[mock tokens=1]]")
    assert "title_pending" not in stream.last()
    provider = mock_provider(off.mock)
    provider.models = [ModelConfig(id="gpt-4o-mini", titles=False)]
    per_model = make_server(titles=True, providers=[provider])
    async with httpx.AsyncClient(base_url=per_model.url, timeout=30) as client:
        stream = await ask(client, f"b {marker} [[mock tokens=1]]")
    assert "title_pending" not in stream.last()
    assert [r["title"] for r in calls_about(off, marker)] == [False, False]


async def test_the_next_question_need_not_wait_for_the_title(
    make_server: ServerFactory,
) -> None:
    """The answer is stored complete before the title call: a question sent meanwhile (the
    page waits for ``done``, a script need not) is not refused as a conflict."""
    server = make_server(titles=True, title_timeout=3)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        body = {"message": "q [[mock tokens=1 title=hang]]", "model": "gpt-4o-mini"}
        async with client.stream("POST", "/api/chat", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:") and "conversation_id" in line:
                    conversation_id = line.split('"conversation_id":"')[1].split('"')[0]
                if line == "event: usage":
                    break
            await asyncio.sleep(0.3)
            follow_up = await ask(client, "next [[mock tokens=1]]", conversation_id=conversation_id)
            assert follow_up.types()[-1] == "done"


@pytest.mark.parametrize(
    ("reply", "title"),
    [
        ('"Paris in May"', "Paris in May"),
        ("Title: Weather in Paris.", "Weather in Paris"),
        ("**巴黎的天气**。\n\nThis title fits because ...", "巴黎的天气"),
        ("「東京の天気」", "東京の天気"),
        ("   \n  ", None),
        ("x" * 120, "x" * 80),
        ("tab\tand\x00nul", "tab andnul"),
    ],
)
def test_clean_title(reply: str, title: str | None) -> None:
    assert clean_title(reply) == title


LONG = "Tell me about the history of the Yangtze river and its part in the growth of Chinese cities"


@pytest.mark.parametrize(
    ("question", "title"),
    [
        ("  short\n question\t", "short question"),
        ("x" * 80, "x" * 80),
        # cut at the end of the last whole word that fits, marked
        (LONG, "Tell me about the history of the Yangtze river and its part in the growth of…"),
        # no space in the last 20 characters: cut mid-word
        ("a " + "y" * 100, "a " + "y" * 77 + "…"),
        # the 80th character is a space: the 79 before it are whole words
        ("z" * 79 + " tail end", "z" * 79 + "…"),
        # characters, not bytes or UTF-16 units: 100 CJK characters, then emoji
        ("长" * 100, "长" * 79 + "…"),
        ("🙂" * 90, "🙂" * 79 + "…"),
    ],
)
def test_the_automatic_title_of_a_question(question: str, title: str) -> None:
    assert title_for(question) == title
    assert len(title_for(question)) <= TITLE_CHARS


def test_the_earlier_automatic_title_still_counts_as_automatic() -> None:
    assert earlier_title_for(LONG) == LONG[:80]
    assert earlier_title_for(LONG) != title_for(LONG)
