"""The fields beside an error's English message (issue 14 item 6): a zh-CN page showed "message
is 32001 characters; the limit is 32000" in English, having no numbers to put in its own
sentence. The message itself is unchanged for API clients."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from streamchat.errors import STATUS_BY_CODE
from streamchat.web.problems import _HTTP_CODES
from tests.conftest import ServerFactory


async def test_validation_errors_carry_their_numbers(make_server: ServerFactory) -> None:
    server = make_server(max_message_chars=10, max_body_bytes=4096)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        long = await client.post("/api/chat", json={"message": "x" * 11})
        assert long.status_code == 400
        assert long.json() == {
            "error": {
                "code": "invalid_request",
                "message": "message is 11 characters; the limit is 10",
                "retryable": False,
                "reason": "message_too_long",
                "length": 11,
                "limit": 10,
            }
        }
        empty = (await client.post("/api/chat", json={"message": "  "})).json()["error"]
        assert (empty["reason"], empty["message"]) == ("message_empty", "message must not be empty")
        model = (await client.post("/api/chat", json={"message": "hi", "model": "nope"})).json()
        assert model["error"]["code"] == "unknown_model"
        assert model["error"]["model"] == "nope"
        big = await client.post("/api/chat", content=b"{" + b" " * 5000 + b"}")
        assert big.status_code == 413
        assert big.json()["error"] == {
            "code": "payload_too_large",
            "message": "the request body is over 4096 bytes",
            "retryable": False,
            "limit": 4096,
        }
        # /v1 keeps OpenAI's shape: no extra fields
        v1 = await client.post(
            "/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user"}]}
        )
        assert set(v1.json()["error"]) == {"message", "type", "param", "code"}


SRC = Path(__file__).parents[2] / "src" / "streamchat"
# Codes only /v1 answers with (the page never calls the Responses API).
V1_ONLY = {"previous_response_not_found", "previous_response_not_ended"}


def _zh_keys() -> set[str]:
    zh = (SRC / "web" / "static" / "js" / "i18n-zh-cn.js").read_text()
    return set(re.findall(r"^\s+err_(\w+):", zh, re.MULTILINE))


def test_every_code_and_reason_the_page_can_get_has_its_chinese_text() -> None:
    """A code added without its zh-CN text would reach a Chinese page in English."""
    source = "\n".join(p.read_text() for p in SRC.rglob("*.py") if "mock" not in p.name)
    codes = set(re.findall(r'\bcode(?:=| = )"([a-z_]+)"', source))
    codes |= set(STATUS_BY_CODE) | set(_HTTP_CODES.values())
    reasons = set(re.findall(r'"reason": "([a-z_]+)"', source))
    assert {"invalid_request", "upstream_timeout", "too_many_files"} <= codes  # the scan works
    assert {"message_too_long", "pdf_no_text"} <= reasons
    missing = sorted((codes | reasons) - V1_ONLY - _zh_keys())
    assert missing == []
