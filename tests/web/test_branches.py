"""Conversations as trees (issue 11): every action names its message, versions are added and
never deleted, the history sent upstream is exactly one path, and a refusal writes nothing."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Server, ServerFactory
from tests.harness import read_stream
from tests.web.test_chat_stream import words

MODEL = "gpt-4o-mini"


async def ask(client: httpx.AsyncClient, message: str, **fields: Any) -> dict[str, Any]:
    """POST /api/chat to its end; the ``meta`` data."""
    stream = await read_stream(
        client, "POST", "/api/chat", json={"message": message, "model": MODEL, **fields}
    )
    assert stream.status == 200, stream.raw
    assert stream.types()[-1] == "done"
    return stream.first("meta")


async def start(client: httpx.AsyncClient, url: str, **body: Any) -> dict[str, Any]:
    stream = await read_stream(client, "POST", url, json=body)
    assert stream.status == 200, stream.raw
    assert stream.types()[-1] == "done"
    return stream.first("meta")


async def shown(client: httpx.AsyncClient, conversation_id: str, **params: str) -> dict[str, Any]:
    response = await client.get(f"/api/conversations/{conversation_id}", params=params)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def contents(conversation: dict[str, Any]) -> list[str]:
    return [m["content"] for m in conversation["messages"]]


def sent_upstream(server: Server) -> list[tuple[str, str]]:
    """The messages of the last request the mock upstream received."""
    return [(m["role"], m["content"]) for m in server.mock.log()[-1]["body"]["messages"]]


async def two_turns(client: httpx.AsyncClient) -> tuple[str, dict[str, Any], dict[str, Any]]:
    first = await ask(client, "q1 [[mock tokens=1]]")
    conversation_id = first["conversation_id"]
    second = await ask(client, "q2 [[mock tokens=2]]", conversation_id=conversation_id)
    return conversation_id, first, second


async def test_meta_names_the_question_and_messages_carry_parents_and_versions(
    client: httpx.AsyncClient,
) -> None:
    conversation_id, first, second = await two_turns(client)
    assert first["question_id"] == first["parent_id"] != first["message_id"]
    data = await shown(client, conversation_id)
    q1, a1, q2, a2 = data["messages"]
    assert data["current_message_id"] == a2["id"] == second["message_id"]
    assert (q1["id"], a1["id"], q2["id"]) == (
        first["question_id"],
        first["message_id"],
        second["question_id"],
    )
    assert [m["parent_id"] for m in data["messages"]] == [None, q1["id"], a1["id"], q2["id"]]
    assert [m["sibling_ids"] for m in data["messages"]] == [[m["id"]] for m in data["messages"]]


async def test_regenerating_an_earlier_answer_adds_a_version_with_only_its_history(
    client: httpx.AsyncClient, server: Server
) -> None:
    conversation_id, first, second = await two_turns(client)
    server.mock.reset()
    again = await start(client, f"/api/messages/{first['message_id']}/regenerate", model=MODEL)
    assert again["question_id"] == first["question_id"]
    assert sent_upstream(server) == [("user", "q1 [[mock tokens=1]]")]
    data = await shown(client, conversation_id)
    assert [m["id"] for m in data["messages"]] == [first["question_id"], again["message_id"]]
    assert data["messages"][1]["sibling_ids"] == [first["message_id"], again["message_id"]]
    tree = await shown(client, conversation_id, tree="true")
    assert len(tree["messages"]) == 5  # nothing was deleted
    # The other version, continued through its newest child, is one PATCH away.
    switched = await client.patch(
        f"/api/conversations/{conversation_id}", json={"current_message_id": first["message_id"]}
    )
    assert switched.status_code == 200
    assert [m["id"] for m in switched.json()["messages"]] == [
        first["question_id"],
        first["message_id"],
        second["question_id"],
        second["message_id"],
    ]
    assert (await shown(client, conversation_id))["current_message_id"] == second["message_id"]


async def test_editing_a_question_adds_a_sibling_question_and_its_answer(
    client: httpx.AsyncClient, server: Server
) -> None:
    conversation_id, first, _ = await two_turns(client)
    server.mock.reset()
    edited = await start(
        client,
        f"/api/messages/{first['question_id']}/edit",
        message="q1, better [[mock tokens=3]]",
    )
    assert sent_upstream(server) == [("user", "q1, better [[mock tokens=3]]")]
    data = await shown(client, conversation_id)
    assert contents(data) == ["q1, better [[mock tokens=3]]", words(3)]
    assert data["messages"][0]["sibling_ids"] == [first["question_id"], edited["question_id"]]
    assert data["messages"][0]["parent_id"] is None
    back = await client.patch(
        f"/api/conversations/{conversation_id}",
        json={"current_message_id": first["question_id"]},
    )
    assert contents(back.json()) == [
        "q1 [[mock tokens=1]]",
        words(1),
        "q2 [[mock tokens=2]]",
        words(2),
    ]


async def test_a_question_under_an_earlier_answer_starts_a_branch(
    client: httpx.AsyncClient, server: Server
) -> None:
    conversation_id, first, second = await two_turns(client)
    server.mock.reset()
    branch = await ask(
        client,
        "q2' [[mock tokens=1]]",
        conversation_id=conversation_id,
        parent_id=first["message_id"],
    )
    assert sent_upstream(server) == [
        ("user", "q1 [[mock tokens=1]]"),
        ("assistant", words(1)),
        ("user", "q2' [[mock tokens=1]]"),
    ]
    data = await shown(client, conversation_id)
    assert data["messages"][2]["sibling_ids"] == [second["question_id"], branch["question_id"]]
    # Without parent_id a question follows the end of the current path.
    server.mock.reset()
    await ask(client, "q3 [[mock tokens=1]]", conversation_id=conversation_id)
    assert [c for _, c in sent_upstream(server)] == [
        "q1 [[mock tokens=1]]",
        words(1),
        "q2' [[mock tokens=1]]",
        words(1),
        "q3 [[mock tokens=1]]",
    ]


async def test_the_shorthands_name_the_current_path(
    client: httpx.AsyncClient, server: Server
) -> None:
    conversation_id, first, _ = await two_turns(client)
    await client.patch(
        f"/api/conversations/{conversation_id}", json={"current_message_id": first["message_id"]}
    )
    await start(client, f"/api/messages/{first['message_id']}/regenerate")
    server.mock.reset()
    # The current path is now q1 -> the new answer: the shorthand regenerates that answer.
    again = await start(client, f"/api/conversations/{conversation_id}/regenerate")
    assert sent_upstream(server) == [("user", "q1 [[mock tokens=1]]")]
    data = await shown(client, conversation_id)
    assert len(data["messages"][1]["sibling_ids"]) == 3
    assert data["messages"][1]["id"] == again["message_id"]
    edited = await start(
        client, f"/api/conversations/{conversation_id}/edit", message="q1 again [[mock tokens=1]]"
    )
    data = await shown(client, conversation_id)
    assert data["messages"][0]["id"] == edited["question_id"]
    assert len(data["messages"][0]["sibling_ids"]) == 2


async def _tree(client: httpx.AsyncClient, conversation_id: str) -> tuple[list[Any], Any]:
    data = await shown(client, conversation_id, tree="true")
    return data["messages"], data["current_message_id"]


async def test_bad_message_ids_are_refused_and_write_nothing(
    client: httpx.AsyncClient, server: Server
) -> None:
    conversation_id, first, second = await two_turns(client)
    other = (await ask(client, "elsewhere [[mock tokens=1]]"))["message_id"]
    before = await _tree(client, conversation_id)
    calls = len(server.mock.log())

    async def refused(url: str, status: int, words_in_message: str, **body: Any) -> None:
        response = await client.post(url, json=body)
        assert response.status_code == status, response.text
        assert words_in_message in response.json()["error"]["message"]

    await refused(
        "/api/chat",
        404,
        "msg_nope",
        message="x",
        conversation_id=conversation_id,
        parent_id="msg_nope",
    )
    await refused(
        "/api/chat",
        400,
        "parent_id",
        message="x",
        conversation_id=conversation_id,
        parent_id=other,
    )
    await refused(
        "/api/chat",
        400,
        "parent_id",
        message="x",
        conversation_id=conversation_id,
        parent_id=second["question_id"],
    )
    await refused("/api/chat", 400, "parent_id", message="x", parent_id=first["message_id"])
    await refused(f"/api/messages/{first['question_id']}/regenerate", 400, "question")
    await refused(f"/api/messages/{first['message_id']}/edit", 400, "answer", message="x")
    await refused("/api/messages/msg_nope/regenerate", 404, "msg_nope")
    await refused("/api/messages/msg_nope/edit", 404, "msg_nope", message="x")
    await refused(f"/api/messages/{first['question_id']}/edit", 400, "empty", message="  ")
    patch = await client.patch(
        f"/api/conversations/{conversation_id}", json={"current_message_id": other}
    )
    assert patch.status_code == 400 and "current_message_id" in patch.text
    unknown = await client.patch(
        f"/api/conversations/{conversation_id}", json={"current_message_id": "msg_nope"}
    )
    assert unknown.status_code == 404
    assert await _tree(client, conversation_id) == before
    assert len(server.mock.log()) == calls


async def test_a_streaming_answer_blocks_every_branch_of_its_conversation(
    client: httpx.AsyncClient,
) -> None:
    first = await ask(client, "q1 [[mock tokens=1]]")
    conversation_id = first["conversation_id"]
    long = await read_stream(
        client,
        "POST",
        "/api/chat",
        stop_after=2,
        json={"message": "[[mock tokens=200 rate=20]]", "conversation_id": conversation_id},
    )
    running = long.first("meta")["message_id"]
    for url, body in [
        (f"/api/messages/{running}/regenerate", {}),
        (f"/api/messages/{first['message_id']}/regenerate", {}),
        (f"/api/messages/{first['question_id']}/edit", {"message": "x"}),
        (
            "/api/chat",
            {"message": "x", "conversation_id": conversation_id, "parent_id": first["message_id"]},
        ),
    ]:
        response = await client.post(url, json=body)
        assert response.status_code == 409, (url, response.text)
        assert running in response.json()["error"]["message"]
    await client.post(f"/api/generations/{running}/stop")


async def test_an_answer_refused_after_its_rows_were_written_takes_them_back(
    make_server: ServerFactory,
) -> None:
    """The per-user capacity is checked when the generation starts, after the rows are written:
    they are removed again and the conversation shows the branch it showed before."""
    server = make_server(max_streams_per_user=1)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        conversation_id, first, second = await two_turns(client)
        before = await _tree(client, conversation_id)
        busy = await read_stream(
            client,
            "POST",
            "/api/chat",
            stop_after=2,
            json={"message": "[[mock tokens=200 rate=20]]", "model": MODEL},
        )
        for url, body in [
            ("/api/chat", {"message": "x", "conversation_id": conversation_id}),
            (f"/api/messages/{first['message_id']}/regenerate", {}),
            (f"/api/messages/{second['question_id']}/edit", {"message": "y"}),
        ]:
            response = await client.post(url, json=body)
            assert response.status_code == 429, response.text
            assert response.json()["error"]["code"] == "too_many_streams"
        assert await _tree(client, conversation_id) == before
        await client.post(f"/api/generations/{busy.first('meta')['message_id']}/stop")
