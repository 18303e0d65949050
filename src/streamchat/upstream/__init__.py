"""Upstream chat models: one small interface, several implementations.

- :mod:`.openai`: any OpenAI-compatible HTTP API, with the provider dialects normalised in one
  place (:mod:`.chunks`);
- :mod:`.presets`: what is known about Kimi, OpenAI, DeepSeek, Ollama and vLLM, as data;
- :mod:`.demo`: the offline ``demo`` provider.

Implementations raise :class:`~streamchat.errors.UpstreamError` and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from streamchat.chat import ChunkDelta, UpstreamRequest

__all__ = ["DeltaSink", "ModelInfo", "Upstream"]

DeltaSink = Callable[[ChunkDelta], None]
"""Receives each chunk of an answer as it arrives, synchronously (from the network read's own
callback), so it must not block; it may raise to end the answer with that error."""


@dataclass(slots=True, frozen=True)
class ModelInfo:
    id: str
    provider: str
    context_window: int
    reasoning: bool = False
    # It reads image_url parts (presets.py guesses from the name; the config may say).
    vision: bool = False
    # How thinking is switched: "kimi" (thinking: {type: enabled|disabled}),
    # "reasoning_effort" (OpenAI style), None: no switch.
    thinking: str | None = None
    # Its conversations get a title written by it after their first answer (issue 14; the
    # server's ``titles`` setting must be on too). Off for the offline demo models.
    titles: bool = True


class Upstream(Protocol):
    name: str
    secrets: tuple[str, ...]

    async def list_models(self) -> list[ModelInfo]:
        """The provider's own list of models (``GET /models``), merged with configured ones."""

    async def run(self, request: UpstreamRequest, sink: DeltaSink) -> None:
        """Stream one answer into ``sink``; return when it has ended. Raises UpstreamError
        before or during the stream; cancelling closes the upstream connection."""

    async def close(self) -> None: ...
