"""What the model is asked: the history of one path with its attachments and switches, as
one :class:`~streamchat.chat.UpstreamRequest`. No HTTP here; :mod:`streamchat.answers` calls it.

- The history is the system prompt and each turn of the path that has text, trimmed (oldest
  first) to the model's context window less room for the answer.
- Each question's documents go before it as system messages (always kept: a request they do
  not fit is refused), its images as ``image_url`` parts, only to models that can see.
- The conversation's switches (Kimi's builtin web search, thinking) become the provider's
  parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streamchat.chat import (
    Conversation,
    Message,
    UpstreamRequest,
    estimate_tokens,
    trim_history,
)
from streamchat.errors import InvalidRequest
from streamchat.files import StoredFile, data_url, document_message
from streamchat.store import Store
from streamchat.upstream import ModelInfo
from streamchat.upstream.catalog import Provider

__all__ = [
    "IMAGE_TOKENS",
    "SWITCHES",
    "TITLE_CHARS",
    "Attached",
    "Options",
    "Prompts",
    "automatic_titles",
    "earlier_title_for",
    "history_for",
    "prompt_estimate",
    "switched",
    "title_for",
]

# What one image costs in the estimates, in tokens (providers count images their own way).
IMAGE_TOKENS = 1000
Attached = dict[str, list[StoredFile]]  # the files of each question, by its id


@dataclass(slots=True, frozen=True)
class Options:
    """The per-conversation switches a start may set (None: keep the conversation's):
    Kimi's builtin web search, and thinking for models that take a switch (the catalog's
    ``ModelInfo.thinking``). They are kept in the conversation's ``params``."""

    web_search: bool | None = None
    thinking: bool | None = None


SWITCHES = ("web_search", "thinking")
WEB_SEARCH_TOOL = {"type": "builtin_function", "function": {"name": "$web_search"}}


TITLE_CHARS = 80  # an automatic title's length at most, in characters (code points)


def title_for(text: str) -> str:
    """A new conversation's automatic title: the question, whitespace collapsed; a longer one
    cut at the end of a word (within the last 20 characters; mid-word when none ends there)
    and marked with "…", ``TITLE_CHARS`` in all. The page makes the same (web/static/js/
    titles.js ``questionTitle``), so its title for a new conversation is the stored one."""
    title = " ".join(text.split())
    if len(title) <= TITLE_CHARS:
        return title
    cut = title[: TITLE_CHARS - 1]
    if title[TITLE_CHARS - 1] != " ":  # the cut is inside a word: back to the word's start
        space = cut.rfind(" ")
        if space >= TITLE_CHARS - 20:
            cut = cut[:space]
    return cut.rstrip() + "…"


def automatic_titles(text: str) -> tuple[str, str]:
    """The titles a conversation started by ``text`` has while nobody named it: this rule's
    and the earlier one's (a model's title may replace either)."""
    return title_for(text), earlier_title_for(text)


def earlier_title_for(text: str) -> str:
    """The automatic title of conversations made before 2026-12-06: the first 80
    characters, cut anywhere; such a title still counts as automatic (a model's title may
    replace it)."""
    return " ".join(text.split())[:TITLE_CHARS]


def history_for(conversation: Conversation, path: list[Message]) -> list[dict[str, Any]]:
    """What the model sees: the system prompt, then each turn of ``path`` that has text."""
    history: list[dict[str, Any]] = []
    if conversation.system_prompt:
        history.append({"role": "system", "content": conversation.system_prompt})
    for message in path:
        if message.role in ("user", "assistant") and message.content:
            history.append({"role": message.role, "content": message.content})
    return history


def switched(conversation: Conversation, options: Options | None) -> dict[str, Any] | None:
    """The conversation's params with the switches ``options`` sets, if that changes them."""
    if options is None:
        return None
    params = dict(conversation.params)
    for name in SWITCHES:
        value = getattr(options, name)
        if value is not None:
            params[name] = value
    return params if params != conversation.params else None


def prompt_estimate(messages: list[dict[str, Any]]) -> int:
    """The estimated prompt tokens of ``messages``; an image part counts IMAGE_TOKENS."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text":
                    total += estimate_tokens(str(part.get("text") or ""))
                else:
                    total += IMAGE_TOKENS
        else:
            total += estimate_tokens(str(content or ""))
    return total


def _upstream_request(
    history: list[dict[str, Any]], conversation: Conversation, info: ModelInfo
) -> UpstreamRequest:
    params = dict(conversation.params)
    reserve = int(params.get("max_tokens") or min(4096, info.context_window // 4))
    messages = trim_history(history, max(256, info.context_window - reserve))
    return UpstreamRequest(model=info.id, messages=messages, params=params)


class Prompts:
    """Builds each start's request; reads the files of its questions from the store."""

    def __init__(self, store: Store, *, max_attachments: int, web_search_rounds: int) -> None:
        self.store = store
        self.max_attachments = max_attachments
        self.web_search_rounds = web_search_rounds

    async def attachments(
        self, owner: str, ids: Sequence[str], conversation_id: str | None
    ) -> list[StoredFile]:
        """The owner's files ``ids`` (NotFound for others'), none of another conversation."""
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > self.max_attachments:
            raise InvalidRequest(
                f"{len(wanted)} files attached; the limit is {self.max_attachments} per question",
                details={
                    "reason": "too_many_attachments",
                    "count": len(wanted),
                    "limit": self.max_attachments,
                },
            )
        files = await self.store.get_files(owner, wanted)
        for file in files:
            if file.conversation_id not in (None, conversation_id):
                raise InvalidRequest(
                    f"file {file.id} is attached in another conversation; upload it again",
                    details={"reason": "file_elsewhere"},
                )
        return files

    @staticmethod
    def check_vision(info: ModelInfo, files: list[StoredFile]) -> None:
        images = [f.name for f in files if f.kind == "image"]
        if images and not info.vision:
            raise InvalidRequest(
                f"model {info.id} cannot see images ({', '.join(images)}); choose a model "
                "that can, or remove the images",
                code="model_cannot_see",
                details={"model": info.id, "images": ", ".join(images)},
            )

    async def read_documents(self, provider: Provider, owner: str, files: list[StoredFile]) -> None:
        """With a provider that extracts files itself (Kimi), each document's text is its
        extraction, asked once per file and kept in the store."""
        if not provider.file_extract:
            return
        source = f"provider:{provider.name}"
        for file in files:
            if file.kind == "document" and file.text_source != source:
                _, data = await self.store.file_data(owner, file.id)
                file.text = await provider.extract_file(file.name, data)
                file.text_source = source
                await self.store.set_file_text(file.id, file.text, source)

    async def request(
        self, conversation: Conversation, path: list[Message], files: Attached, info: ModelInfo
    ) -> UpstreamRequest:
        """The call for ``path``: each question's documents as system messages before it
        (always kept, and refused when they cannot fit), its images as image_url parts."""
        if not any(files.get(m.id) for m in path):
            return _upstream_request(history_for(conversation, path), conversation, info)
        history: list[dict[str, Any]] = []
        if conversation.system_prompt:
            history.append({"role": "system", "content": conversation.system_prompt})
        images: dict[int, list[StoredFile]] = {}
        for message in path:
            if message.role not in ("user", "assistant") or not message.content:
                continue
            attached = files.get(message.id, [])
            history.extend(
                {"role": "system", "content": document_message(f)}
                for f in attached
                if f.kind == "document"
            )
            turn: dict[str, Any] = {"role": message.role, "content": message.content}
            history.append(turn)
            if pictures := [f for f in attached if f.kind == "image"]:
                images[id(turn)] = pictures
        params = dict(conversation.params)
        reserve = int(params.get("max_tokens") or min(4096, info.context_window // 4))
        budget = max(256, info.context_window - reserve)
        fixed = prompt_estimate([m for m in history if m["role"] == "system"])
        fixed += estimate_tokens(path[-1].content) + IMAGE_TOKENS * len(
            images.get(id(history[-1]), [])
        )
        if fixed > budget:
            raise InvalidRequest(
                f"the attached documents and the question come to about {fixed} tokens; model "
                f"{info.id} takes {info.context_window} with {reserve} kept for the answer. "
                "Attach less, or choose a model with a larger context window",
                code="context_too_small",
                details={
                    "tokens": fixed,
                    "model": info.id,
                    "context_window": info.context_window,
                    "reserve": reserve,
                },
            )
        messages = trim_history(history, budget)
        for turn in messages:
            parts: list[dict[str, Any]] = [{"type": "text", "text": turn["content"]}]
            for file in images.get(id(turn), []):
                _, data = await self.store.file_data(conversation.owner_id, file.id)
                parts.append({"type": "image_url", "image_url": {"url": data_url(file.mime, data)}})
            if len(parts) > 1:
                turn["content"] = parts
        return UpstreamRequest(model=info.id, messages=messages, params=params)

    def switches(
        self,
        params: dict[str, Any],
        provider: Provider,
        info: ModelInfo,
        options: Options | None,
    ) -> int:
        """Turn the conversation's switches in ``params`` into the provider's parameters;
        return how many builtin tool rounds the answer may take. A switch asked for now that
        the model cannot take is a 400; one kept from before is left out."""
        wanted = {name: params.pop(name, None) for name in SWITCHES}
        asked = options or Options()
        rounds = 0
        if wanted["web_search"]:
            if provider.web_search:
                params["tools"] = [*params.get("tools", []), WEB_SEARCH_TOOL]
                rounds = self.web_search_rounds
            elif asked.web_search:
                raise InvalidRequest(
                    f"web search is not offered for model {info.id} (provider {provider.name})",
                    code="web_search_unavailable",
                    details={"model": info.id},
                )
        thinking = wanted["thinking"]
        if rounds and info.thinking == "kimi":
            thinking = False  # Kimi's $web_search runs with thinking disabled
        if thinking is not None:
            if info.thinking == "kimi":
                params["thinking"] = {"type": "enabled" if thinking else "disabled"}
            elif info.thinking == "reasoning_effort":
                params["reasoning_effort"] = "high" if thinking else "low"
            elif asked.thinking is not None:
                raise InvalidRequest(
                    f"model {info.id} has no thinking switch",
                    code="thinking_unavailable",
                    details={"model": info.id},
                )
        return rounds
