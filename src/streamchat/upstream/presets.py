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
    # Models that read image_url parts (issue 13); a pattern that matches nothing: none.
    vision_models: str = r"vision|-vl\b|-vl-|llava"
    # (pattern, how thinking is switched: "kimi" | "reasoning_effort"), first match wins.
    thinking_switch: tuple[tuple[str, str], ...] = ()
    # Documents go through the provider's file-extract (Kimi's POST /v1/files).
    file_extract: bool = False
    # The builtin $web_search tool (Kimi's builtin_function).
    web_search: bool = False
    # How an answer cut at its length is continued: "partial" (Kimi: a trailing assistant
    # message with partial: true), "prefix" (DeepSeek: prefix: true), None: it cannot be.
    continuation: str | None = None
    # reasoning_content must go back with an assistant turn that called a tool (Kimi).
    replay_reasoning: bool = False

    def context_window(self, model: str) -> int:
        for pattern, window in self.context_windows:
            if re.search(pattern, model):
                return window
        return self.default_context

    def is_reasoning(self, model: str) -> bool:
        return re.search(self.reasoning_models, model) is not None

    def can_see(self, model: str) -> bool:
        return re.search(self.vision_models, model, re.IGNORECASE) is not None

    def thinking(self, model: str) -> str | None:
        for pattern, how in self.thinking_switch:
            if re.search(pattern, model):
                return how
        return None


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
            # moonshot-v1-*-vision-preview and kimi-k2.5 (Kimi's vision guide).
            vision_models=r"vision|kimi-k2\.[5-9]",
            # kimi-k2.5 takes thinking: {type}; kimi-k2-thinking always thinks.
            thinking_switch=((r"kimi-k2\.[5-9]", "kimi"),),
            file_extract=True,
            web_search=True,
            continuation="partial",
            replay_reasoning=True,
        ),
        Preset(
            "openai",
            "https://api.openai.com/v1",
            context_windows=((r"gpt-4\.1", 1_047_576), (r"gpt-5", 400_000)),
            vision_models=r"gpt-4o|gpt-4\.1|gpt-4-turbo|gpt-5|\bo1\b|\bo3\b|\bo4",
            thinking_switch=((r"^(o1|o3|o4|gpt-5)", "reasoning_effort"),),
        ),
        Preset(
            "deepseek",
            "https://api.deepseek.com/v1",
            default_context=131_072,
            vision_models=r"(?!)",
            continuation="prefix",
        ),
        Preset(
            "ollama",
            "http://127.0.0.1:11434/v1",
            needs_key=False,
            default_context=8_192,
            vision_models=r"llava|vision|moondream|gemma3|qwen2\.5vl|minicpm-v|llama4",
        ),
        Preset(
            "vllm",
            "http://127.0.0.1:8000/v1",
            needs_key=False,
            default_context=32_768,
            vision_models=r"-vl\b|-vl-|vl-|llava|pixtral|vision|gemma-3",
        ),
        Preset("openai-compatible", None, needs_key=False),
    )
}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ValueError(f"unknown provider preset {name!r}; known: {known}") from None
