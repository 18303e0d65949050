"""The SSE codec, line by line (WHATWG HTML §9.2.6), and a property test of the round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamchat.sse import (
    COMMENT_PING,
    ServerSentEvent,
    SSEDecoder,
    SSEError,
    comment,
    encode,
    retry,
)


def feed_all(chunks: list[bytes], **limits: int) -> list[ServerSentEvent]:
    decoder = SSEDecoder(**limits)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"])
def test_every_line_ending_dispatches(end: bytes) -> None:
    raw = b"event: delta" + end + b"id: 7" + end + b"data: hello" + end + end
    assert feed_all([raw]) == [ServerSentEvent(data="hello", event="delta", id="7")]


def test_cr_at_chunk_end_and_lf_at_next_start_are_one_line_end() -> None:
    events = feed_all([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])
    assert events == [ServerSentEvent(data="a\nb")]


def test_lone_cr_followed_by_data_in_next_chunk() -> None:
    assert feed_all([b"data: a\r", b"data: b\r\r"]) == [ServerSentEvent(data="a\nb")]


def test_unicode_line_separators_are_content() -> None:
    assert feed_all(["data: a\u2028b\u0085c\n\n".encode()]) == [
        ServerSentEvent(data="a\u2028b\u0085c")
    ]


def test_multi_byte_character_split_across_chunks() -> None:
    raw = "data: 你好👩‍💻\n\n".encode()
    chunks = [raw[i : i + 1] for i in range(len(raw))]
    assert feed_all(chunks) == [ServerSentEvent(data="你好👩‍💻")]


def test_bom_stripped_once_even_when_split() -> None:
    assert feed_all([b"\xef", b"\xbb\xbfdata: x\n\n"]) == [ServerSentEvent(data="x")]
    assert feed_all([b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n"]) == []  # second BOM: unknown field


def test_comments_fields_and_spaces() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(
        b': keep-alive\ndata:no-space\ndata:  two\nretry: 10x\nid\nunknown: 1\n{"a":1}\n\n'
    )
    assert events == [ServerSentEvent(data="no-space\n two")]
    assert decoder.comments == 1
    assert decoder.stray_json == '{"a":1}'


def test_id_with_nul_is_ignored_and_empty_id_resets() -> None:
    events = feed_all([b"id: 5\ndata: a\n\nid: x\x00y\ndata: b\n\nid\ndata: c\n\n"])
    assert [e.id for e in events] == ["5", "5", ""]


def test_retry_digits_only() -> None:
    assert feed_all([b"retry: 3000\ndata: a\n\n"])[0].retry == 3000
    assert feed_all([b"retry: 3s\ndata: a\n\n"])[0].retry is None


def test_event_without_data_is_not_dispatched_and_eof_discards() -> None:
    assert feed_all([b"event: x\n\ndata: pending"]) == []


def test_line_limit() -> None:
    decoder = SSEDecoder(max_line=16)
    with pytest.raises(SSEError):
        decoder.feed(b"data: " + b"x" * 64)


def test_event_limit() -> None:
    decoder = SSEDecoder(max_event=10)
    with pytest.raises(SSEError):
        decoder.feed(b"data: 123456\ndata: 123456\n")


def test_encoder_frames() -> None:
    assert encode(b'{"a":1}', event="delta", id=3) == b'id: 3\nevent: delta\ndata: {"a":1}\n\n'
    assert comment("a\nb") == b": a b\n\n"
    assert retry(3000) == b"retry: 3000\n\n"
    with pytest.raises(ValueError, match="single line"):
        encode(b"a\nb")


@given(
    st.lists(
        st.tuples(
            st.text(
                alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"])
            ),
            st.sampled_from(["delta", "meta", "done"]),
        ),
        min_size=1,
        max_size=8,
    ),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=30),
)
def test_round_trip_at_any_chunking(items: list[tuple[str, str]], cuts: list[int]) -> None:
    raw = b"".join(encode(text.encode(), event=kind, id=i) for i, (text, kind) in enumerate(items))
    chunks, position, k = [], 0, 0
    while position < len(raw):
        size = cuts[k % len(cuts)]
        chunks.append(raw[position : position + size])
        position += size
        k += 1
    events = feed_all(chunks)
    assert [(e.data, e.event, e.id) for e in events] == [
        (text, kind, str(i)) for i, (text, kind) in enumerate(items)
    ]


def test_the_heartbeat_is_a_comment_no_client_special_cases() -> None:
    """Issue 12: ``: ping`` ends Continue's read of a buffer as ``data: [DONE]`` does
    (packages/fetch/src/stream.ts), and a blank line after a comment is an empty event to
    openai-python once an ``id:`` was seen: the heartbeat is one plain comment line."""
    assert not COMMENT_PING.startswith(b": ping")
    assert COMMENT_PING.startswith(b":") and COMMENT_PING.count(b"\n") == 1
    decoder = SSEDecoder()
    frames = b"id: 1\ndata: a\n\n" + COMMENT_PING + b"id: 2\ndata: b\n\n"
    assert decoder.feed(frames) == [ServerSentEvent("a", id="1"), ServerSentEvent("b", id="2")]
    assert decoder.comments == 1
