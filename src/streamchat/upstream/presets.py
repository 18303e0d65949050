"""What streamchat knows about each provider, as data: base URLs, context windows, quirks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["PRESETS", "Preset", "preset"]


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    base_url: str | None
    needs_key: bool = True
    # Ask for usage with stream_options.include_usage (every listed provider accepts it).
    stream_usage: bool = True
    default_context: int = 128_000
    # (pattern, context window), first match wins.
    context_windows: tuple[tuple[str, int], ...] = ()
    reasoning_models: str = r"thinking|reasoner|\br1\b|-r1|qwq|o1|o3|o4"
    known_models: tuple[str, ...] = field(default=())

    def context_window(self, model: str) -> int:
        for pattern, window in self.context_windows:
            if re.search(pattern, model):
                return window
        return self.default_context

    def is_reasoning(self, model: str) -> bool:
        return re.search(self.reasoning_models, model) is not None


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "kimi",
            "https://api.moonshot.cn/v1",
            context_windows=(
                (r"-8k", 8_192),
                (r"-32k", 32_768),
                (r"-128k", 131_072),
                (r"kimi-k", 262_144),
            ),
            known_models=("moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k"),
        ),
        Preset(
            "openai",
            "https://api.openai.com/v1",
            context_windows=((r"gpt-4\.1", 1_047_576), (r"gpt-5", 400_000)),
        ),
        Preset("deepseek", "https://api.deepseek.com/v1", default_context=131_072),
        Preset("ollama", "http://127.0.0.1:11434/v1", needs_key=False, default_context=8_192),
        Preset("vllm", "http://127.0.0.1:8000/v1", needs_key=False, default_context=32_768),
        Preset("openai-compatible", None, needs_key=False),
    )
}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ValueError(f"unknown provider preset {name!r}; known: {known}") from None
