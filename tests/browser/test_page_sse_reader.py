"""The page's SSE reader (static/js/sse.js), fed crafted byte chunks in Chromium: CR, LF and
CRLF line ends (also split across chunks), multi-line data, comments, ids, retry, a UTF-8
character split across chunks, an over-long line, and a non-2xx response."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.chat_page import ChatPage

pytestmark = pytest.mark.browser

READ = """
async ([chunks, status, repeat]) => {
  const { readEvents } = await import("/static/js/sse.js");
  const body = new ReadableStream({
    start(controller) {
      for (let i = 0; i < repeat; i++) {
        for (const chunk of chunks) controller.enqueue(new Uint8Array(chunk));
      }
      controller.close();
    },
  });
  const headers = { "content-type": status === 200 ? "text/event-stream" : "application/json" };
  const response = new Response(body, { status, headers });
  const events = [];
  const retries = [];
  try {
    for await (const event of readEvents(response, { onRetry: (ms) => retries.push(ms) })) {
      events.push(event);
    }
  } catch (error) {
    const { name, code, message } = error;
    return { events, retries, error: { name, code, message } };
  }
  return { events, retries, error: null };
}
"""


def read(chat: ChatPage, chunks: list[bytes], status: int = 200, repeat: int = 1) -> dict[str, Any]:
    """Feed ``chunks`` (``repeat`` times over) as the response body; the events read."""
    result: dict[str, Any] = chat.page.evaluate(READ, [[list(c) for c in chunks], status, repeat])
    return result


def test_line_ends_comments_ids_and_retry(chat: ChatPage) -> None:
    stream = (
        b"retry: 3000\n\n"
        b": ping\r\n"
        b'id: 1\r\nevent: meta\r\ndata: {"a": 1}\r\n\r\n'
        b'id: 2\revent: delta\rdata: {"text": "x"}\r\r'
        b'id: 3\nevent: delta\ndata:{"text": "y"}\n\n'
        b'event: done\ndata: {"finish_reason": "stop"}\n\n'
    )
    for size in (len(stream), 1, 2, 3, 7):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        result = read(chat, chunks)
        assert result["error"] is None
        assert result["retries"] == [3000]
        assert result["events"] == [
            {"id": 1, "type": "meta", "data": {"a": 1}},
            {"id": 2, "type": "delta", "data": {"text": "x"}},
            {"id": 3, "type": "delta", "data": {"text": "y"}},
            {"id": 3, "type": "done", "data": {"finish_reason": "stop"}},  # the id carries over
        ], size


def test_crlf_split_between_chunks_is_one_line_end(chat: ChatPage) -> None:
    result = read(
        chat, [b"id: 5\r", b"\nevent: delta\r", b'\ndata: {"text": "a"}\r', b"\n\r", b"\n"]
    )
    assert result["events"] == [{"id": 5, "type": "delta", "data": {"text": "a"}}]


def test_multi_line_data_is_joined_with_newlines(chat: ChatPage) -> None:
    result = read(chat, [b'event: delta\ndata: {"text":\ndata: "two lines"}\n\n'])
    assert result["events"] == [{"id": 0, "type": "delta", "data": {"text": "two lines"}}]


def test_a_character_split_across_chunks_stays_whole(chat: ChatPage) -> None:
    frame = 'id: 1\nevent: delta\ndata: {"text": "汉字👩‍💻"}\n\n'.encode()
    chunks = [frame[i : i + 1] for i in range(len(frame))]
    result = read(chat, chunks)
    assert result["events"][0]["data"]["text"] == "汉字👩‍💻"


def test_an_event_without_a_blank_line_at_the_end_is_dropped(chat: ChatPage) -> None:
    result = read(chat, [b'event: delta\ndata: {"text": "a"}\n\nevent: delta\ndata: {"text": "b"}'])
    assert [e["data"]["text"] for e in result["events"]] == ["a"]


def test_an_over_long_line_is_an_error_not_unbounded_memory(chat: ChatPage) -> None:
    result = read(chat, [b"data: ", b"x" * 65536], repeat=70)
    assert result["error"] == {
        "name": "Error",
        "code": "stream_invalid",
        "message": "an SSE line is too long",
    }


def test_a_non_2xx_response_is_an_api_error_with_the_servers_fields(chat: ChatPage) -> None:
    body = b'{"error": {"code": "conflict", "message": "busy", "retryable": false}}'
    result = read(chat, [body], status=409)
    assert result["events"] == []
    assert result["error"] == {"name": "Error", "code": "conflict", "message": "busy"}
