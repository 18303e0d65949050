"""Continue: an answer cut at its length limit, written on in place by the provider's partial
mode. Each continuation is its own stream, ``<answer id>.c1``, ``.c2``, ...; the answer's id
stands for the newest of them once its own stream has ended (a re-attach, a stop).

What the provider is sent: the conversation up to the answer's question, then the answer's text
so far as a trailing assistant message flagged ``partial: true`` (Kimi) or ``prefix: true``
(DeepSeek's prefix completion), and no tools (partial mode writes text, it does not search).
"""

from __future__ import annotations

from streamchat.chat import UpstreamRequest
from streamchat.fanout import Broker, StreamInfo

__all__ = ["MAX_CONTINUATIONS", "current", "kept", "partial_request"]

# Continuations of one answer the broker is asked about (each kept for replay_ttl).
MAX_CONTINUATIONS = 100


async def kept(broker: Broker, answer_id: str) -> list[tuple[str, StreamInfo]]:
    """The continuations of ``answer_id`` the broker still keeps, oldest first."""
    found: list[tuple[str, StreamInfo]] = []
    for k in range(1, MAX_CONTINUATIONS + 1):
        stream_id = f"{answer_id}.c{k}"
        info = await broker.info(stream_id)
        if info is None:
            break
        found.append((stream_id, info))
    return found


async def current(broker: Broker, generation_id: str) -> tuple[str, StreamInfo | None]:
    """The stream an id stands for now: the answer's own, or, once that has ended, the running
    continuation of it, else the newest one the broker keeps."""
    info = await broker.info(generation_id)
    if info is not None and not info.finished:
        return generation_id, info
    streams = await kept(broker, generation_id)
    # A running one first: once an earlier continuation's events expired, the numbering
    # starts again at c1 while a later one (c2 ...) may still be kept, ended.
    running = [c for c in streams if not c[1].finished]
    if running or streams:
        return (running or streams)[-1]
    return generation_id, info


def partial_request(request: UpstreamRequest, text: str, mode: str) -> None:
    """Turn the request for the answer's question into one that writes on after ``text``
    (``mode``: the provider preset's ``continuation``, "partial" or "prefix")."""
    request.params.pop("tools", None)
    flag = "partial" if mode == "partial" else "prefix"
    request.messages.append({"role": "assistant", "content": text, flag: True})
