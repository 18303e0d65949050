"""The built-in offline provider: models ``demo`` and ``demo-thinking``.

Deterministic (the same question always gets the same answer), no network, no key. It streams a
realistic markdown answer (paragraphs, a list, a fenced code block, a table, CJK text and emoji) at
a configurable token rate, with reasoning first for ``demo-thinking``.
"""

from __future__ import annotations

import asyncio
import re

from streamchat.chat import ChunkDelta, UpstreamRequest, Usage, estimate_tokens
from streamchat.upstream import DeltaSink, ModelInfo

__all__ = ["DemoUpstream", "demo_answer", "demo_reasoning", "tokenize"]

_WIDE = "\u3040-\u30ff\u4e00-\u9fff\uff00-\uffef"
# One wide (CJK) character, or up to five other characters with the spaces before them.
_TOKEN = re.compile(rf"[{_WIDE}]|\s*[^\s{_WIDE}]{{1,5}}|\s+")

_ANSWER = """\
You asked: *{question}*

This is **streamchat's offline demo model**. It needs no API key and no network, so the whole \
stack (streaming, stop, re-attach, history) works on a fresh machine. Configure Kimi or another \
provider to get real answers (see the notice above the input).

## What a real answer looks like

1. Text streams in token by token, rendered as markdown.
2. A reload in the middle of an answer re-attaches to it, with nothing lost.
3. **Stop** cancels the upstream call at once and keeps what arrived.

```python
import asyncio

async def countdown(n: int) -> None:
    while n > 0:
        print(n)
        await asyncio.sleep(1)
        n -= 1
```

| feature | status |
|---|---|
| streaming | ✅ |
| markdown | ✅ |

中文也没问题：流式输出会把每个字完整地显示出来，不会出现乱码。🎉 👩‍💻

> The question had {length} characters. Ask another one!
"""

_REASONING = """\
The user asked about "{question}". I am the demo model, so I cannot really think about it. \
I will show what an answer with markdown, a list, code and CJK text looks like. 先想一想，再回答。\
"""


def tokenize(text: str) -> list[str]:
    """Split text into pieces that join back to exactly ``text``."""
    return _TOKEN.findall(text)


def _question(request: UpstreamRequest) -> str:
    for message in reversed(request.messages):
        if message.get("role") == "user":
            content = message.get("content")
            text = content if isinstance(content, str) else str(content)
            return " ".join(text.split())[:200].replace("*", "")
    return ""


def demo_answer(request: UpstreamRequest) -> str:
    question = _question(request)
    return _ANSWER.format(question=question or "(nothing)", length=len(question))


def demo_reasoning(request: UpstreamRequest) -> str:
    return _REASONING.format(question=_question(request))


class DemoUpstream:
    name = "demo"
    secrets: tuple[str, ...] = ()
    models = ("demo", "demo-thinking")
    # What the demo cannot do (issue 13): documents are read locally, no web search, no Continue.
    file_extract = False
    web_search = False
    continuation: str | None = None
    replay_reasoning = False

    def __init__(self, token_rate: float = 40.0) -> None:
        self.token_rate = token_rate

    async def list_models(self) -> list[ModelInfo]:
        return [self.model_info(m) for m in self.models]

    def model_info(self, model_id: str) -> ModelInfo:
        return ModelInfo(
            model_id, self.name, 32_768, reasoning=model_id.endswith("thinking"), titles=False
        )

    async def extract_file(self, name: str, data: bytes) -> str:
        raise NotImplementedError("the demo provider reads documents locally")

    async def run(self, request: UpstreamRequest, sink: DeltaSink) -> None:
        delay = 1.0 / self.token_rate if self.token_rate > 0 else 0.0
        count = 0
        if request.model == "demo-thinking":
            for piece in tokenize(demo_reasoning(request)):
                await asyncio.sleep(delay)
                count += 1
                sink(ChunkDelta(reasoning=piece))
        limit = request.params.get("max_tokens") or request.params.get("max_completion_tokens")
        finish = "stop"
        for index, piece in enumerate(tokenize(demo_answer(request))):
            if isinstance(limit, int) and index >= limit:
                finish = "length"
                break
            await asyncio.sleep(delay)
            count += 1
            sink(ChunkDelta(content=piece))
        prompt = sum(estimate_tokens(str(m.get("content") or "")) for m in request.messages)
        sink(ChunkDelta(finish_reason=finish, usage=Usage(prompt, count, prompt + count)))

    async def close(self) -> None:
        return None
