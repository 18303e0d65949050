"""``POST /stream-chat {"message"}``: the tutorial's contract, so its page works unchanged.

The answer streams as raw UTF-8 text chunks (always whole characters) under
``text/event-stream``, and is kept as a new conversation. A failure after the stream began can
only be told in the text itself: it ends with a line ``[streamchat error: <message>]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from streamchat.events import Event
from streamchat.web.bodies import Text
from streamchat.web.services import Services, current_user, services
from streamchat.web.streaming import EventStream

__all__ = ["router"]

router = APIRouter(tags=["tutorial"])


class TutorialBody(BaseModel):
    message: Text


def encode_text(events: Sequence[Event]) -> bytes:
    parts = []
    for event in events:
        if event.type == "delta":
            parts.append(event.data["text"].encode())
        elif event.type == "error":
            parts.append(f"\n\n[streamchat error: {event.data['message']}]".encode())
    return b"".join(parts)


@router.post(
    "/stream-chat",
    response_class=Response,
    responses={
        200: {"description": "The answer as raw text chunks.", "content": {"text/event-stream": {}}}
    },
)
async def stream_chat(
    body: TutorialBody,
    svc: Annotated[Services, Depends(services)],
    user: Annotated[str, Depends(current_user)],
) -> EventStream:
    started = await svc.answers.ask(user, body.message)
    return svc.stream(
        started.subscription,
        encode_text,
        ping=None,
        extra_headers=[(b"x-streamchat-generation-id", started.id.encode())],
    )
