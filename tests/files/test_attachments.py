"""Asking with files (issue 13 item 2), through a real server and the mock upstream, on SQLite
and PostgreSQL: images as image_url data URLs only to models that can see, documents as
system messages (extracted here, or by Kimi's file-extract once per file), regenerate and edit
keep the question's files, every refusal before anything is written or sent."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from streamchat.settings import ModelConfig, ProviderConfig
from tests.conftest import Server, ServerFactory
from tests.files import samples
from tests.harness import MockUpstream, mock_upstream_thread, read_stream
from tests.security.accounts import create_users


def provider(mock: MockUpstream, *models: ModelConfig, preset: str = "openai") -> ProviderConfig:
    return ProviderConfig(
        name="mock",
        preset=preset,
        base_url=mock.url,
        api_key=mock.api_key,  # type: ignore[arg-type]
        models=list(models),
        list_models=False,
    )


async def upload(client: httpx.AsyncClient, name: str, data: bytes, **kw: Any) -> str:
    response = await client.post("/api/files", files={"file": (name, data)}, **kw)
    assert response.status_code == 201, response.text
    file_id: str = response.json()["id"]
    return file_id


def chat_bodies(mock: MockUpstream) -> list[dict[str, Any]]:
    return [r["body"] for r in mock.log() if r["path"].endswith("/chat/completions")]


async def conversations(client: httpx.AsyncClient, **kw: Any) -> list[Any]:
    listed = await client.get("/api/conversations", **kw)
    items: list[Any] = listed.json()["conversations"]
    return items


@pytest.fixture
def vision_server(make_server: ServerFactory, mock_upstream: MockUpstream) -> Server:
    mock_upstream.reset()
    return make_server(
        providers=[
            provider(
                mock_upstream,
                ModelConfig(id="gpt-4o-mini"),
                ModelConfig(id="gpt-3.5-turbo"),
                ModelConfig(id="tiny-window", context_window=1200),
                # Configured as seeing, but the provider (the mock) refuses images to it.
                ModelConfig(id="text-only-but-configured", vision=True),
            )
        ]
    )


async def test_image_goes_upstream_as_a_data_url(
    vision_server: Server, mock_upstream: MockUpstream
) -> None:
    image = samples.png()
    async with httpx.AsyncClient(base_url=vision_server.url, timeout=30) as client:
        file_id = await upload(client, "shot.png", image)
        stream = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "what is this?", "model": "gpt-4o-mini", "attachments": [file_id]},
        )
        assert stream.types()[-1] == "done", stream.typed()
        meta = stream.first("meta")
        listed = await client.get(f"/api/conversations/{meta['conversation_id']}/attachments")
    (body,) = chat_bodies(mock_upstream)
    question = body["messages"][-1]
    assert question == {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is this?"},
            {
                "type": "image_url",
                "image_url": {"url": "data:image/png;base64," + base64.b64encode(image).decode()},
            },
        ],
    }
    attached = listed.json()["attachments"]
    assert list(attached) == [meta["question_id"]]
    assert [f["id"] for f in attached[meta["question_id"]]] == [file_id]


async def test_image_to_a_model_that_cannot_see_is_refused_before_anything(
    vision_server: Server, mock_upstream: MockUpstream
) -> None:
    async with httpx.AsyncClient(base_url=vision_server.url, timeout=30) as client:
        file_id = await upload(client, "shot.png", samples.png())
        response = await client.post(
            "/api/chat",
            json={"message": "what is this?", "model": "gpt-3.5-turbo", "attachments": [file_id]},
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "model_cannot_see"
        assert "gpt-3.5-turbo" in error["message"] and "shot.png" in error["message"]
        assert await conversations(client) == []
    assert chat_bodies(mock_upstream) == []


async def test_the_providers_vision_refusal_reaches_the_client(
    vision_server: Server, mock_upstream: MockUpstream
) -> None:
    """A model the config says can see, which the provider says cannot: the provider's 400."""
    async with httpx.AsyncClient(base_url=vision_server.url, timeout=30) as client:
        file_id = await upload(client, "shot.png", samples.png())
        stream = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={
                "message": "what is this?",
                "model": "text-only-but-configured",
                "attachments": [file_id],
            },
        )
    assert stream.types() == ["meta", "usage", "error"]
    assert stream.last()["code"] == "upstream_bad_request"
    assert "Image input is not supported" in stream.last()["message"]


async def test_document_read_locally_is_a_system_message(
    vision_server: Server, mock_upstream: MockUpstream
) -> None:
    async with httpx.AsyncClient(base_url=vision_server.url, timeout=30) as client:
        pdf_id = await upload(client, "notes.pdf", samples.pdf("The secret word is pineapple."))
        csv_id = await upload(client, "t.csv", b"a,b\n1,2\n")
        stream = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "the word?", "model": "gpt-4o-mini", "attachments": [pdf_id, csv_id]},
        )
    assert stream.types()[-1] == "done"
    (body,) = chat_bodies(mock_upstream)
    *documents, question = body["messages"]
    assert question == {"role": "user", "content": "the word?"}
    assert [m["role"] for m in documents] == ["system", "system"]
    assert "'notes.pdf'" in documents[0]["content"]
    assert documents[0]["content"].endswith("The secret word is pineapple.")
    assert documents[1]["content"].endswith("a,b\n1,2\n")


async def test_regenerate_and_edit_keep_the_questions_files(
    vision_server: Server, mock_upstream: MockUpstream
) -> None:
    image = samples.png()
    async with httpx.AsyncClient(base_url=vision_server.url, timeout=30) as client:
        file_id = await upload(client, "shot.png", image)
        first = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "look", "model": "gpt-4o-mini", "attachments": [file_id]},
        )
        meta = first.first("meta")
        again = await read_stream(client, "POST", f"/api/messages/{meta['message_id']}/regenerate")
        assert again.types()[-1] == "done"
        edited = await read_stream(
            client, "POST", f"/api/messages/{meta['question_id']}/edit", json={"message": "and?"}
        )
        assert edited.types()[-1] == "done"
        dropped = await read_stream(
            client,
            "POST",
            f"/api/messages/{meta['question_id']}/edit",
            json={"message": "no image", "attachments": []},
        )
        assert dropped.types()[-1] == "done"
    bodies = chat_bodies(mock_upstream)
    assert len(bodies) == 4
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    for body, text in zip(bodies[:3], ["look", "look", "and?"], strict=True):
        content = body["messages"][-1]["content"]
        assert content == [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": url}},
        ]
    assert bodies[3]["messages"][-1] == {"role": "user", "content": "no image"}


async def test_a_document_that_cannot_fit_is_refused(
    vision_server: Server, mock_upstream: MockUpstream
) -> None:
    async with httpx.AsyncClient(base_url=vision_server.url, timeout=30) as client:
        file_id = await upload(client, "long.txt", b"word " * 4000)
        response = await client.post(
            "/api/chat",
            json={"message": "sum up", "model": "tiny-window", "attachments": [file_id]},
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "context_too_small"
        assert "tiny-window" in error["message"]
        assert await conversations(client) == []
    assert chat_bodies(mock_upstream) == []


async def test_others_files_and_other_conversations_files_are_refused(
    make_server: ServerFactory, mock_upstream: MockUpstream, database_url: str
) -> None:
    mock_upstream.reset()
    tokens = create_users(database_url, "alice", "bob")
    server = make_server(auth="on")
    alice = {"Authorization": f"Bearer {tokens['alice']}"}
    bob = {"Authorization": f"Bearer {tokens['bob']}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        alices = await upload(client, "a.txt", b"alice's notes", headers=alice)
        response = await client.post(
            "/api/chat", json={"message": "read", "attachments": [alices]}, headers=bob
        )
        assert response.status_code == 404
        assert alices in response.json()["error"]["message"]
        assert await conversations(client, headers=bob) == []
        # Attached in one of alice's conversations, it is not for another one.
        first = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "read", "attachments": [alices]},
            headers=alice,
        )
        assert first.types()[-1] == "done"
        response = await client.post(
            "/api/chat", json={"message": "again", "attachments": [alices]}, headers=alice
        )
        assert response.status_code == 400
        assert "another conversation" in response.json()["error"]["message"]
        assert len(await conversations(client, headers=alice)) == 1
    assert len(chat_bodies(mock_upstream)) == 1


async def test_files_go_with_their_conversation(vision_server: Server) -> None:
    async with httpx.AsyncClient(base_url=vision_server.url, timeout=30) as client:
        attached = await upload(client, "a.txt", b"attached")
        loose = await upload(client, "b.txt", b"not attached")
        stream = await read_stream(
            client, "POST", "/api/chat", json={"message": "read", "attachments": [attached]}
        )
        conversation = stream.first("meta")["conversation_id"]
        deleted = await client.delete(f"/api/conversations/{conversation}")
        assert deleted.status_code == 204
        assert (await client.get(f"/api/files/{attached}")).status_code == 404
        assert (await client.get(f"/api/files/{loose}")).status_code == 200


async def test_v1_relays_multimodal_content_untouched(
    vision_server: Server, mock_upstream: MockUpstream
) -> None:
    content = [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
    ]
    async with httpx.AsyncClient(base_url=vision_server.url, timeout=30) as client:
        response = await client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]},
        )
    assert response.status_code == 200, response.text
    (body,) = chat_bodies(mock_upstream)
    assert body["messages"] == [{"role": "user", "content": content}]


# -- Kimi: documents through its file-extract, once per file ---------------------------------


@pytest.fixture(scope="module")
def kimi_mock() -> Iterator[MockUpstream]:
    with mock_upstream_thread("moonshot") as mock:
        yield mock


def kimi_uploads(mock: MockUpstream) -> dict[str, int]:
    response = httpx.get(mock.url.removesuffix("/v1") + "/_mock/files")
    counts: dict[str, int] = response.json()
    return counts


async def test_kimi_reads_documents_through_file_extract_once(
    make_server: ServerFactory, kimi_mock: MockUpstream
) -> None:
    kimi_mock.reset()
    before = kimi_uploads(kimi_mock)["uploads"]
    server = make_server(
        providers=[
            provider(
                kimi_mock,
                ModelConfig(id="moonshot-v1-8k"),
                ModelConfig(id="moonshot-v1-8k-vision-preview"),
                preset="kimi",
            )
        ]
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        pdf_id = await upload(client, "notes.pdf", samples.pdf("The secret word is pineapple."))
        first = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={"message": "word?", "model": "moonshot-v1-8k", "attachments": [pdf_id]},
        )
        assert first.types()[-1] == "done", first.typed()
        again = await read_stream(
            client, "POST", f"/api/messages/{first.first('meta')['message_id']}/regenerate"
        )
        assert again.types()[-1] == "done"
        image_id = await upload(client, "shot.png", samples.png())
        refused = await client.post(
            "/api/chat",
            json={"message": "see?", "model": "moonshot-v1-8k", "attachments": [image_id]},
        )
        assert refused.status_code == 400
        assert "moonshot-v1-8k" in refused.json()["error"]["message"]
        seen = await read_stream(
            client,
            "POST",
            "/api/chat",
            json={
                "message": "see?",
                "model": "moonshot-v1-8k-vision-preview",
                "attachments": [image_id],
            },
        )
        assert seen.types()[-1] == "done"
    counts = kimi_uploads(kimi_mock)
    assert counts["uploads"] - before == 1  # extracted once, for both answers
    assert counts["kept"] == 0  # and deleted at Kimi after reading
    bodies = chat_bodies(kimi_mock)
    assert len(bodies) == 3
    for body in bodies[:2]:
        system, question = body["messages"]
        assert system["role"] == "system"
        assert orjson.loads(system["content"])["content"] == "The secret word is pineapple."
        assert question == {"role": "user", "content": "word?"}
    assert bodies[2]["messages"][-1]["content"][1]["type"] == "image_url"


async def test_too_many_attachments(
    make_server: ServerFactory, mock_upstream: MockUpstream
) -> None:
    mock_upstream.reset()
    server = make_server(max_attachments=2)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        ids = [await upload(client, f"{i}.txt", b"x") for i in range(3)]
        response = await client.post("/api/chat", json={"message": "read", "attachments": ids})
        unknown = await client.post(
            "/api/chat", json={"message": "read", "attachments": ["file_nope"]}
        )
        assert await conversations(client) == []
    assert response.status_code == 400
    assert "the limit is 2" in response.json()["error"]["message"]
    assert unknown.status_code == 404
    assert chat_bodies(mock_upstream) == []
