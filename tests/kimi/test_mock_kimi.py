"""The mock upstream's Kimi wire (issue 13) by itself: what it refuses as Kimi does, so the
server tests that pass against it would fail against a gateway that got the wire wrong."""

from __future__ import annotations

from typing import Any

import httpx

from streamchat.mock_scenarios import web_search_args
from tests.harness import MockUpstream

SEARCH = [{"type": "builtin_function", "function": {"name": "$web_search"}}]


def _post(mock: MockUpstream, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        mock.url + "/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {mock.api_key}"},
        timeout=10,
    )


def _round_trip(arguments: str, **turn: Any) -> list[dict[str, Any]]:
    call = {
        "id": "web_search:0",
        "type": "function",
        "function": {"name": "$web_search", "arguments": web_search_args(0)},
    }
    return [
        {"role": "user", "content": "[[mock search=1]]"},
        {"role": "assistant", "content": None, "tool_calls": [call], **turn},
        {
            "role": "tool",
            "tool_call_id": "web_search:0",
            "name": "$web_search",
            "content": arguments,
        },
    ]


def test_a_search_call_then_the_answer(kimi_mock: MockUpstream) -> None:
    first = _post(
        kimi_mock,
        {"model": "moonshot-v1-8k", "tools": SEARCH, "messages": [_round_trip("")[0]]},
    ).json()
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {
        "name": "$web_search",
        "arguments": web_search_args(0),
    }
    second = _post(
        kimi_mock,
        {"model": "moonshot-v1-8k", "tools": SEARCH, "messages": _round_trip(web_search_args(0))},
    )
    assert second.status_code == 200
    assert second.json()["choices"][0]["finish_reason"] == "stop"


def test_changed_arguments_are_refused(kimi_mock: MockUpstream) -> None:
    response = _post(
        kimi_mock,
        {"model": "moonshot-v1-8k", "tools": SEARCH, "messages": _round_trip('{"x": 1}')},
    )
    assert response.status_code == 400
    assert "unchanged" in response.json()["error"]["message"]


def test_search_with_thinking_on_is_refused(kimi_mock: MockUpstream) -> None:
    body: dict[str, Any] = {
        "model": "kimi-k2.5",
        "tools": SEARCH,
        "messages": [{"role": "user", "content": "x"}],
    }
    assert _post(kimi_mock, body).status_code == 400  # thinking is on by default
    body["thinking"] = {"type": "disabled"}
    assert _post(kimi_mock, body).status_code == 200
    body["thinking"] = {"type": "sometimes"}
    assert _post(kimi_mock, body).status_code == 400


def test_a_thinking_models_tool_turn_needs_its_reasoning(kimi_mock: MockUpstream) -> None:
    bare = _round_trip(web_search_args(0))
    body = {"model": "kimi-k2-thinking", "tools": SEARCH, "messages": bare}
    refused = _post(kimi_mock, body)
    assert refused.status_code == 400
    assert "reasoning_content" in refused.json()["error"]["message"]
    body["messages"] = _round_trip(web_search_args(0), reasoning_content=" r1")
    assert _post(kimi_mock, body).status_code == 200


def test_partial_mode_answers_only_the_rest(kimi_mock: MockUpstream) -> None:
    messages = [
        {"role": "user", "content": "[[mock tokens=5]]"},
        {"role": "assistant", "content": " w1 w2", "partial": True},
    ]
    body = _post(kimi_mock, {"model": "moonshot-v1-8k", "messages": messages}).json()
    assert body["choices"][0]["message"]["content"] == " w3 w4 w5"


def test_images_to_a_model_that_cannot_see(kimi_mock: MockUpstream) -> None:
    content = [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    messages = [{"role": "user", "content": content}]
    refused = _post(kimi_mock, {"model": "moonshot-v1-8k", "messages": messages})
    assert refused.status_code == 400
    assert set(refused.json()["error"]) == {"type", "message"}  # Kimi's shape: no code
    seen = _post(kimi_mock, {"model": "moonshot-v1-8k-vision-preview", "messages": messages})
    assert seen.status_code == 200


def test_the_files_api(kimi_mock: MockUpstream) -> None:
    auth = {"Authorization": f"Bearer {kimi_mock.api_key}"}
    with httpx.Client(base_url=kimi_mock.url, headers=auth, timeout=10) as client:
        created = client.post(
            "/files", files={"file": ("a.md", b"# Title")}, data={"purpose": "file-extract"}
        )
        assert created.status_code == 200
        obj = created.json()
        assert {k: obj[k] for k in ("object", "bytes", "filename", "purpose", "status")} == {
            "object": "file",
            "bytes": 7,
            "filename": "a.md",
            "purpose": "file-extract",
            "status": "ok",
        }
        content = client.get(f"/files/{obj['id']}/content").json()
        assert content["content"] == "# Title"
        assert [f["id"] for f in client.get("/files").json()["data"]] == [obj["id"]]
        assert client.delete(f"/files/{obj['id']}").json()["deleted"] is True
        assert client.get(f"/files/{obj['id']}").status_code == 404
        bad = client.post("/files", files={"file": ("a.md", b"x")}, data={"purpose": "fun"})
        assert bad.status_code == 400
        unauthorised = httpx.post(
            kimi_mock.url + "/files", files={"file": ("a.md", b"x")}, data={"purpose": "image"}
        )
        assert unauthorised.status_code == 401
