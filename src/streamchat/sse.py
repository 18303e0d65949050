"""Sans-IO server-sent events: frames to write, and a spec-correct, bounded decoder.

The decoder follows WHATWG HTML §9.2.6: UTF-8 with one leading BOM stripped; lines end at CRLF,
LF or a lone CR (a CR at the end of one chunk and an LF at the start of the next are one line end);
``:`` starts a comment; ``field: value`` with one leading space stripped; a blank line dispatches;
data pending at end of input is discarded. Lines are split as bytes and decoded whole, so a
multi-byte character split across network chunks is never broken. Both the line buffer and the
event's data are capped, so a peer that never sends a newline cannot exhaust memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "COMMENT_PING",
    "SSEDecoder",
    "SSEError",
    "ServerSentEvent",
    "comment",
    "encode",
    "retry",
]

# The heartbeat: one comment line that no known client reads as anything but a comment.
# - Not ": ping": Continue's streamSse (continuedev/continue packages/fetch/src/stream.ts,
#   parseSseLine) takes a line starting ": ping" like "data: [DONE]" and stops reading what it
#   has buffered; any other comment it skips.
# - No blank line after it: openai-python's SSEDecoder (openai/openai-python
#   src/openai/_streaming.py, SSEDecoder.decode) skips the comment but dispatches an event at
#   the blank line once any ``id:`` was seen (it keeps the last id), and json-decodes its empty
#   data: JSONDecodeError mid-stream. A comment line alone dispatches nothing anywhere.
# - openai-node (openai/openai-node src/core/streaming.ts, SSEDecoder.decode) and the AI SDK
#   (@ai-sdk/provider-utils parseJsonEventStream on rexxars/eventsource-parser src/parse.ts)
#   skip any line starting ":"; so do this page's js/sse.js and SSEDecoder below.
COMMENT_PING = b": keepalive\n"
_LINE_END = re.compile(rb"\r\n|\r|\n")


def encode(data: bytes, *, event: str | None = None, id: int | str | None = None) -> bytes:
    """One frame with a single ``data`` line. ``data`` must not contain CR or LF (compact JSON)."""
    if b"\n" in data or b"\r" in data:
        raise ValueError("SSE data must be a single line")
    head = b""
    if id is not None:
        head += b"id: %s\n" % str(id).encode()
    if event is not None:
        head += b"event: %s\n" % event.encode()
    return head + b"data: " + data + b"\n\n"


def comment(text: str) -> bytes:
    return b": " + text.replace("\r", " ").replace("\n", " ").encode() + b"\n\n"


def retry(milliseconds: int) -> bytes:
    return b"retry: %d\n\n" % milliseconds


class SSEError(Exception):
    """The peer sent more than the decoder's limits allow."""


@dataclass(slots=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Feed bytes, get complete events. ``comments`` counts comment lines seen."""

    def __init__(self, *, max_line: int = 1 << 20, max_event: int = 4 << 20) -> None:
        self.max_line = max_line
        self.max_event = max_event
        self.comments = 0
        self.last_event_id = ""
        # The last line with no known field that looks like JSON (Ollama's bare error line).
        self.stray_json: str | None = None
        self._buffer = b""
        self._started = False
        self._skip_lf = False
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if not chunk:
            return []
        if (
            chunk[:6] == b"data: "
            and chunk[-2:] == b"\n\n"
            and self._started
            and not (self._buffer or self._data or self._event or self._skip_lf)
            and self._retry is None
            and chunk.count(b"\n") == 2
            and b"\r" not in chunk
            and len(chunk) <= self.max_event
        ):
            # The usual read: exactly one whole event of one data line (what the loop below
            # would make of it, for a fraction of the cost).
            return [
                ServerSentEvent(
                    chunk[6:-2].decode("utf-8", "replace"),
                    "message",
                    self.last_event_id,
                )
            ]
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buffer = self._buffer + chunk if self._buffer else chunk
        if not self._started:
            if len(buffer) < 3 and b"\xef\xbb\xbf".startswith(buffer):
                self._buffer = buffer
                return []
            self._started = True
            if buffer.startswith(b"\xef\xbb\xbf"):
                buffer = buffer[3:]
        if b"\r" in buffer:
            lines = _LINE_END.split(buffer)
            if buffer.endswith(b"\r"):
                # The split already ended this line; an LF opening the next chunk belongs to it.
                self._skip_lf = True
        else:
            lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        if len(self._buffer) > self.max_line:
            self._buffer = b""
            raise SSEError(f"an SSE line exceeded {self.max_line} bytes")
        events: list[ServerSentEvent] = []
        for line in lines:
            # Fast path: what OpenAI-style streams are made of, a "data: " line and a blank one.
            if line[:6] == b"data: ":
                value = line[6:].decode("utf-8", "replace")
                self._data_size += len(value) + 1
                if self._data_size > self.max_event:
                    self._reset()
                    raise SSEError(f"an SSE event exceeded {self.max_event} bytes")
                self._data.append(value)
            elif not line:
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._event = ""
            else:
                self._line(line)
        return events

    def _line(self, raw: bytes) -> None:
        if raw[:1] == b":":
            self.comments += 1
            return
        line = raw.decode("utf-8", "replace")
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data_size += len(value) + 1
            if self._data_size > self.max_event:
                self._reset()
                raise SSEError(f"an SSE event exceeded {self.max_event} bytes")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        elif line[:1] == "{":
            self.stray_json = line

    def _dispatch(self) -> ServerSentEvent:
        data = self._data
        event = ServerSentEvent(
            data[0] if len(data) == 1 else "\n".join(data),
            self._event or "message",
            self.last_event_id,
            self._retry,
        )
        self._data = []
        self._data_size = 0
        self._event = ""
        self._retry = None
        return event

    def _reset(self) -> None:
        self._data = []
        self._data_size = 0
        self._event = ""
        self._retry = None
