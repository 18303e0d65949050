"""A conversation's title, written by its own model after its first answer (issue 14).

A new conversation is titled with its question (past 80 characters cut at a word's end and
marked "…": ``prompts.title_for``); once its first answer is complete (stored, its usage
sent), one more call asks the same model for a title of at most six words in the
conversation's language, and the title replaces the automatic one, unless
the user renamed the conversation meanwhile (the store sets it only where the title is still
the automatic one). The call starts after the answer's end: its ``done`` (``title_pending``)
never waits for it; a client reads the title when it is set
(``GET /api/conversations/{id}/title``, web/conversations_api.py).

- Off with the ``titles`` setting, per model (``titles = false`` in a ``[[providers]]`` model
  entry) and always for the offline demo models (``ModelInfo.titles``).
- The call is bounded by ``title_timeout``; thinking is switched off for models that take the
  switch. A failure (the provider's error, the time out, an empty or unusable reply, the store
  away) is logged with its code only and leaves the automatic title; it never touches the answer.
- Its usage is not the answer's: nothing of the call is counted or stored but the title.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from streamchat.chat import ChunkDelta, Conversation, UpstreamRequest
from streamchat.errors import StreamchatError
from streamchat.store import Store
from streamchat.upstream import ModelInfo, Upstream

__all__ = [
    "DEFAULT_TITLE",
    "EARLIER_DEFAULT_TITLE",
    "TITLE_PROMPT",
    "Titler",
    "Titles",
    "clean_title",
    "title_request",
]

log = logging.getLogger("streamchat.titles")

Titler = Callable[[str], Awaitable[str | None]]

# The title of a conversation created without one (POST /api/conversations): none, so that
# every client shows its own placeholder in its own language; automatic too, as is the
# "New chat" earlier versions stored.
DEFAULT_TITLE = ""
EARLIER_DEFAULT_TITLE = "New chat"
# The instruction (the mock upstream recognises a title call by "title of this conversation").
TITLE_PROMPT = (
    "Write the title of this conversation: at most 6 words, in the language the user writes "
    "in, without quotes and without a final full stop. Reply with the title only."
)
# How much of the question and of the answer the model reads, in characters.
QUESTION_CHARS = 2000
ANSWER_CHARS = 2000
MAX_TITLE_CHARS = 80
# Enough for six words in any language, without a model's reasoning.
TITLE_TOKENS = 40

_QUOTES = "\"'`“”‘’«»「」『』《》〈〉*_#"
_TRAILING = ".。!！,，;；:：、"
_LABEL = re.compile(r"^(?:title|标题|題名|タイトル)\s*[:：]\s*", re.IGNORECASE)


def title_request(info: ModelInfo, question: str, answer: str) -> UpstreamRequest:
    """The title call: the instruction, then the first question and answer as one user
    message (so the question's words are the last user message a provider reads)."""
    conversation = f"User:\n{question[:QUESTION_CHARS]}\n\nAssistant:\n{answer[:ANSWER_CHARS]}"
    params: dict[str, Any] = {}
    if not info.reasoning:  # a model that always thinks spends its tokens on that first
        params["max_tokens"] = TITLE_TOKENS
    if info.thinking == "kimi":
        params["thinking"] = {"type": "disabled"}
    elif info.thinking == "reasoning_effort":
        params["reasoning_effort"] = "low"
    messages = [
        {"role": "system", "content": TITLE_PROMPT},
        {"role": "user", "content": conversation},
    ]
    return UpstreamRequest(model=info.id, messages=messages, params=params)


def clean_title(text: str) -> str | None:
    """The model's reply as a title: its first line, without a "Title:" label, quotes,
    markdown marks or a final full stop, whitespace collapsed, at most 80 characters; None
    when nothing is left."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    line = " ".join(line.split())
    line = "".join(c for c in line if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF)
    line = _LABEL.sub("", line).strip()
    line = line.strip(_QUOTES + " ").rstrip(_TRAILING).strip(_QUOTES + " ")
    line = " ".join(line.split())
    if len(line) > MAX_TITLE_CHARS:
        line = line[:MAX_TITLE_CHARS].rstrip()
    return line or None


class Titles:
    """Makes the hook (:data:`Titler`) that titles one conversation after its first answer."""

    def __init__(self, store: Store, *, enabled: bool = True, timeout: float = 10.0) -> None:
        self.store = store
        self.enabled = enabled
        self.timeout = timeout

    def titler(
        self,
        upstream: Upstream,
        info: ModelInfo,
        conversation: Conversation,
        question: str,
        automatic: Collection[str],
    ) -> Titler | None:
        """The hook for the first answer to ``question`` in ``conversation``, whose title is
        still one of the ``automatic`` ones (what the question made, now or by an earlier
        rule); None when titles are off for it (the setting, the model) or the title is the
        user's."""
        if not (self.enabled and info.titles):
            return None
        if conversation.title not in (*automatic, DEFAULT_TITLE, EARLIER_DEFAULT_TITLE):
            return None
        return functools.partial(
            self._title,
            upstream,
            info,
            conversation.owner_id,
            conversation.id,
            question,
            conversation.title,
        )

    async def _title(
        self,
        upstream: Upstream,
        info: ModelInfo,
        owner: str,
        conversation_id: str,
        question: str,
        expected: str,
        answer: str,
    ) -> str | None:
        """Ask for the title and set it; the title set (None: the title stays)."""
        title = await self._ask(upstream, info, conversation_id, question, answer)
        if title is not None and title != expected:
            try:
                if not await self.store.set_generated_title(
                    owner, conversation_id, expected, title
                ):
                    log.info("conversation %s was renamed: its title stays", conversation_id)
                    title = None
            except StreamchatError as exc:
                log.warning("conversation %s: title not saved (%s)", conversation_id, exc.code)
                title = None
        else:
            title = None
        return title

    async def _ask(
        self, upstream: Upstream, info: ModelInfo, conversation_id: str, question: str, answer: str
    ) -> str | None:
        pieces: list[str] = []

        def sink(delta: ChunkDelta) -> None:
            if delta.content:
                pieces.append(delta.content)

        request = title_request(info, question, answer)
        try:
            async with asyncio.timeout(self.timeout):
                await upstream.run(request, sink)
        except TimeoutError:
            log.warning(
                "conversation %s: no title from %s within %g s",
                conversation_id,
                info.id,
                self.timeout,
            )
            return None
        except StreamchatError as exc:
            # The code only: the provider's text stays out of the log.
            log.warning(
                "conversation %s: the title call to %s failed (%s)",
                conversation_id,
                info.id,
                exc.code,
            )
            return None
        except Exception as exc:
            log.warning(
                "conversation %s: the title call to %s failed (%s)",
                conversation_id,
                info.id,
                type(exc).__name__,
            )
            return None
        title = clean_title("".join(pieces))
        if title is None:
            log.warning("conversation %s: %s gave no usable title", conversation_id, info.id)
        return title
