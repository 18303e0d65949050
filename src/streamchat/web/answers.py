"""Starting an answer in a conversation: history, trimming, the placeholder row, the stream."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from streamchat.chat import (
    Conversation,
    Message,
    UpstreamRequest,
    estimate_tokens,
    new_id,
    trim_history,
)
from streamchat.errors import Conflict, InvalidRequest, StreamchatError
from streamchat.generations import GenerationSpec
from streamchat.sse import retry
from streamchat.upstream import ModelInfo
from streamchat.web.bodies import Text
from streamchat.web.services import Services
from streamchat.web.streaming import EventStream, encode_sse

__all__ = ["Params", "check_idle", "history_for", "message_text", "start_answer"]

log = logging.getLogger("streamchat")


class Params(BaseModel):
    """Sampling parameters a user may set on a conversation; unset ones are never sent."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, gt=0, le=1_000_000)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = Field(None, ge=-(2**63), lt=2**63)
    stop: Text | list[Text] | None = None

    def set_values(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def message_text(text: str, limit: int) -> str:
    if not text.strip():
        raise InvalidRequest("message must not be empty")
    if len(text) > limit:
        raise InvalidRequest(f"message is {len(text)} characters; the limit is {limit}")
    return text


def history_for(conversation: Conversation, messages: list[Message]) -> list[dict[str, Any]]:
    """What the model sees: the system prompt, then each turn that has text."""
    history: list[dict[str, Any]] = []
    if conversation.system_prompt:
        history.append({"role": "system", "content": conversation.system_prompt})
    for message in messages:
        if message.role in ("user", "assistant") and message.content:
            history.append({"role": message.role, "content": message.content})
    return history


async def check_idle(svc: Services, messages: list[Message]) -> None:
    """Refuse a new answer while the conversation's last one is still streaming."""
    if messages and messages[-1].status == "streaming":
        info = await svc.broker.info(messages[-1].id)
        if info is not None and not info.finished:
            raise Conflict(
                f"an answer is still streaming in this conversation ({messages[-1].id}); "
                "stop it or wait for it to end"
            )


async def start_answer(
    svc: Services,
    conversation: Conversation,
    history: list[dict[str, Any]],
    new_rows: list[Message],
    model: str | None,
    *,
    create: bool = False,
    replaced: Sequence[str] = (),
) -> EventStream:
    """Start an answer in ``conversation`` (created first if ``create``) and stream it.

    Nothing is written before the model is known and the per-minute limit allows the answer.
    Then ``new_rows`` and the answer's placeholder are inserted and the generation started; if
    it cannot start (too many answers running, shutting down), what was written is taken back.
    The ``replaced`` messages (regenerate, edit) are deleted only once the answer runs."""
    provider, info = await svc.catalog.resolve(model or conversation.model)
    owner = conversation.owner_id
    await svc.limits.answer_started(owner)
    answer = Message(
        new_id("msg"), conversation.id, owner, "assistant", model=info.id, status="streaming"
    )
    await svc.store.add_messages([*new_rows, answer], new=conversation if create else None)
    request = _upstream_request(conversation, history, info)
    spec = GenerationSpec(
        id=answer.id,
        owner_id=owner,
        model=info.id,
        upstream=provider,
        request=request,
        conversation_id=conversation.id,
        prompt_estimate=sum(estimate_tokens(str(m["content"])) for m in request.messages),
    )
    try:
        await svc.generations.start(spec)
    except StreamchatError:
        await _take_back(svc, conversation, [*new_rows, answer], create)
        raise
    if replaced:
        await svc.store.delete_messages(owner, list(replaced))
    subscription = await svc.broker.subscribe(answer.id, 0)
    return svc.stream(
        subscription,
        encode_sse,
        preamble=retry(3000),
        extra_headers=[(b"x-streamchat-generation-id", answer.id.encode())],
    )


async def _take_back(
    svc: Services, conversation: Conversation, rows: list[Message], created: bool
) -> None:
    """Undo the writes of an answer that did not start; the store being away too is logged
    (the client gets the reason the answer did not start)."""
    try:
        if created:
            await svc.store.delete_conversation(conversation.owner_id, conversation.id)
        else:
            await svc.store.delete_messages(conversation.owner_id, [m.id for m in rows])
    except StreamchatError:
        log.warning("could not remove the rows of answer %s, which did not start", rows[-1].id)


def _upstream_request(
    conversation: Conversation, history: list[dict[str, Any]], info: ModelInfo
) -> UpstreamRequest:
    params = dict(conversation.params)
    reserve = int(params.get("max_tokens") or min(4096, info.context_window // 4))
    messages = trim_history(history, max(256, info.context_window - reserve))
    return UpstreamRequest(model=info.id, messages=messages, params=params)
