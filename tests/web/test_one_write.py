"""A stream's response head goes out with its first bytes, and its last events with the body's
end: :meth:`BodyWriter.hold_head` keeps what is written until the release, in order, and a close
writes it first. (The bytes on the wire are the same either way: every stream test reads them;
this is about how many writes carry them, which a client cannot see.)"""

from __future__ import annotations

from typing import Any

from streamchat.web.body_writer import BodyWriter


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        assert not self.closing
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str) -> Any:
        return f"info:{name}"


class Flow:
    write_paused = False


class Cycle:
    """The attributes of uvicorn's RequestResponseCycle a BodyWriter reads."""

    def __init__(self) -> None:
        self.transport: Any = Transport()
        self.flow = Flow()
        self.disconnected = False
        self.chunked_encoding = True
        self.response_started = True
        self.response_complete = False


class Protocol:
    gone_callbacks = None


def writer() -> tuple[BodyWriter, Cycle, Transport, Protocol]:
    cycle, protocol = Cycle(), Protocol()
    return BodyWriter(cycle, protocol), cycle, cycle.transport, protocol  # type: ignore[arg-type]


def test_what_is_held_leaves_in_one_write_in_order() -> None:
    body, cycle, transport, _protocol = writer()
    body.hold_head()
    cycle.transport.write(b"HTTP/1.1 200 OK\r\n\r\n")  # uvicorn's head
    assert body.write(b"retry: 3000\n\n")
    assert body.write(b"event: meta\n\n")
    assert transport.writes == []
    assert cycle.transport.get_extra_info("socket") == "info:socket"  # the rest is the transport's
    body.release_head()
    assert transport.writes == [
        b"HTTP/1.1 200 OK\r\n\r\nd\r\nretry: 3000\n\n\r\nd\r\nevent: meta\n\n\r\n"
    ]
    assert cycle.transport is transport
    assert body.write(b"x")  # straight on after the release
    assert transport.writes[-1] == b"1\r\nx\r\n"
    body.release_head()  # idempotent: nothing more is written
    assert len(transport.writes) == 2


def test_a_close_while_held_writes_first_and_a_closed_one_drops() -> None:
    body, cycle, transport, _protocol = writer()
    body.hold_head()
    cycle.transport.write(b"head")
    cycle.transport.close()  # uvicorn's close after a failure
    assert transport.writes == [b"head"] and transport.closing

    body, cycle, transport, _protocol = writer()
    body.hold_head()
    cycle.transport.write(b"head")
    transport.closing = True  # the client went away meanwhile
    body.release_head()
    assert transport.writes == [] and cycle.transport is transport


def test_nothing_is_held_on_a_closed_connection_and_a_hold_is_not_doubled() -> None:
    body, cycle, transport, _protocol = writer()
    transport.closing = True
    body.hold_head()
    assert cycle.transport is transport

    body, cycle, transport, _protocol = writer()
    body.hold_head()
    held = cycle.transport
    body.hold_head()
    assert cycle.transport is held
    body.release_head()
    assert cycle.transport is transport
