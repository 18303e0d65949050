"""GET /api/search over HTTP on loopback (issue 14 item 3), on SQLite and PostgreSQL: results
that open at their message, CJK, an answer found while it streams, ownership, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import ServerFactory
from tests.harness import read_stream
from tests.security.accounts import create_users
from tests.web.test_chat_stream import conversation


async def ask(client: httpx.AsyncClient, message: str, **kw: Any) -> tuple[str, str, str]:
    """A new conversation whose answer echoes the question; (conversation, question, answer)."""
    stream = await read_stream(
        client,
        "POST",
        "/api/chat",
        json={"message": f"{message} [[mock text=echo]]", "model": "gpt-4o-mini"},
        **kw,
    )
    assert stream.types()[-1] == "done", stream.raw
    meta = stream.first("meta")
    return meta["conversation_id"], meta["question_id"], meta["message_id"]


async def search(client: httpx.AsyncClient, query: str, **kw: Any) -> dict[str, Any]:
    response = await client.get("/api/search", params={"q": query, **kw.pop("params", {})}, **kw)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def marked(result: dict[str, Any]) -> list[str]:
    return [result["snippet"][s:e] for s, e in result["marks"]]


async def test_results_open_at_their_message(client: httpx.AsyncClient) -> None:
    louvre, question, answer = await ask(client, "Is the Mona Lisa in the Louvre?")
    await ask(client, "What is the capital of Peru?")
    renamed = await client.patch(f"/api/conversations/{louvre}", json={"title": "Paris museums"})
    assert renamed.status_code == 200
    body = await search(client, "mona lisa")
    assert (body["query"], body["limit"], body["offset"], body["has_more"]) == (
        "mona lisa",
        20,
        0,
        False,
    )
    results = body["results"]
    # The answer is newer than its question: both hold the whole query.
    assert [(r["conversation_id"], r["message_id"], r["role"]) for r in results] == [
        (louvre, answer, "assistant"),
        (louvre, question, "user"),
    ]
    assert results[0]["title"] == "Paris museums"
    assert marked(results[0]) == ["Mona Lisa"]
    assert results[1]["snippet"].startswith("Is the Mona Lisa in the Louvre?")
    # Each result's message is in its conversation (the page opens it there).
    stored = await conversation(client, louvre)
    assert {m["id"] for m in stored["messages"]} == {question, answer}
    titled = (await search(client, "museums"))["results"]
    assert [(r["conversation_id"], r["message_id"], r["snippet"]) for r in titled] == [
        (louvre, None, "")
    ]
    assert [titled[0]["title"][s:e] for s, e in titled[0]["title_marks"]] == ["museums"]
    assert (await search(client, "lima peru"))["results"] == []
    every = (await search(client, "capital peru"))["results"]
    assert len(every) >= 2  # the question and the answer (and the title, when it is the question)
    pages = [
        await search(client, "capital peru", params={"limit": 1, "offset": i})
        for i in range(len(every))
    ]
    assert [p["results"][0] for p in pages] == every
    assert [p["has_more"] for p in pages] == [True] * (len(every) - 1) + [False]
    deleted = await client.delete(f"/api/conversations/{louvre}")
    assert deleted.status_code == 204
    assert (await search(client, "mona lisa"))["results"] == []


async def test_chinese(client: httpx.AsyncClient) -> None:
    _, question, answer = await ask(client, "我们明天去北京的故宫参观")
    results = (await search(client, "故宫"))["results"]
    assert [r["message_id"] for r in results if r["message_id"]] == [answer, question]
    assert all(marked(r) == ["故宫"] for r in results if r["message_id"])
    long = (await search(client, "北京的故宫"))["results"]
    assert [r["message_id"] for r in long if r["message_id"]] == [answer, question]


async def test_an_answer_is_found_while_it_streams(client: httpx.AsyncClient) -> None:
    """The text saved so far (every flush_interval, 0.2 s here) is searched before the end."""
    async with client.stream(
        "POST",
        "/api/chat",
        json={"message": "count [[mock tokens=400 rate=20]]", "model": "gpt-4o-mini"},
    ) as response:
        assert response.status_code == 200
        answer = response.headers["x-streamchat-generation-id"]
        found: list[dict[str, Any]] = []
        for _ in range(50):
            await asyncio.sleep(0.1)
            found = [r for r in (await search(client, "w5"))["results"] if r["role"] == "assistant"]
            if found:
                break
        assert [r["message_id"] for r in found] == [answer]
        state = await conversation(client, found[0]["conversation_id"])
        assert state["messages"][-1]["status"] == "streaming"
        stop = await client.post(f"/api/generations/{answer}/stop")
        assert stop.status_code == 200
    assert [r["message_id"] for r in (await search(client, "w5"))["results"]] == [answer]


async def test_another_users_text_never_appears(
    make_server: ServerFactory, database_url: str
) -> None:
    tokens = create_users(database_url, "alice", "bob")
    server = make_server(auth="on")
    alice = {"Authorization": f"Bearer {tokens['alice']}"}
    bob = {"Authorization": f"Bearer {tokens['bob']}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        mine = await ask(client, "alice keeps the passphrase swordfish", headers=alice)
        theirs = await ask(client, "bob keeps the passphrase marlin", headers=bob)
        for who, own, other in ((alice, mine, "marlin"), (bob, theirs, "swordfish")):
            assert (await search(client, other, headers=who))["results"] == []
            results = (await search(client, "passphrase", headers=who))["results"]
            assert {r["conversation_id"] for r in results} == {own[0]}
            assert {r["message_id"] for r in results} >= {own[1], own[2]}
        anonymous = await client.get("/api/search", params={"q": "passphrase"})
        assert anonymous.status_code == 401


BAD_INPUT: list[tuple[dict[str, str], str]] = [
    ({}, "q: give at least one word"),
    ({"q": ""}, "q: give at least one word"),
    ({"q": "   "}, "q: give at least one word"),
    ({"q": "x" * 201}, "q: at most 200 characters, not 201"),
    ({"q": " ".join(f"w{i}" for i in range(17))}, "q: at most 16 words, not 17"),
    ({"q": "a\x00b"}, "query.q: the text contains a NUL character"),
    ({"q": "ok", "limit": "0"}, "query.limit: Input should be greater than or equal to 1"),
    ({"q": "ok", "limit": "51"}, "query.limit: Input should be less than or equal to 50"),
    ({"q": "ok", "limit": "ten"}, "query.limit: Input should be a valid integer"),
    ({"q": "ok", "offset": "-1"}, "query.offset: Input should be greater than or equal to 0"),
]


async def test_bad_input_is_a_400_naming_the_field(client: httpx.AsyncClient) -> None:
    for params, field in BAD_INPUT:
        response = await client.get("/api/search", params=params)
        assert response.status_code == 400, params
        error = response.json()["error"]
        assert error["code"] == "invalid_request"
        assert error["message"].startswith(field), error["message"]
