"""``GET /api/search``: the caller's conversations searched, titles and message text (issue 14)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from streamchat.errors import InvalidRequest
from streamchat.store import SearchHit
from streamchat.store.search_sql import MAX_WORDS, words
from streamchat.web.bodies import Text
from streamchat.web.services import Services, current_user, services

__all__ = ["MAX_QUERY_CHARS", "hit_json", "router"]

router = APIRouter(prefix="/api", tags=["search"])
Svc = Annotated[Services, Depends(services)]
User = Annotated[str, Depends(current_user)]

MAX_QUERY_CHARS = 200


def hit_json(hit: SearchHit) -> dict[str, Any]:
    return {
        "conversation_id": hit.conversation_id,
        "title": hit.title,
        "title_marks": [list(m) for m in hit.title_marks],
        "message_id": hit.message_id,
        "role": hit.role,
        "snippet": hit.snippet,
        "marks": [list(m) for m in hit.marks],
        "at": hit.at.isoformat(),
    }


@router.get("/search")
async def search(
    svc: Svc,
    user: User,
    q: Text = "",
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> dict[str, Any]:
    """Titles and messages of the caller's conversations holding every word of ``q``, best
    match first, then recent; each opens at its message."""
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidRequest(f"q: at most {MAX_QUERY_CHARS} characters, not {len(q)}")
    found = words(q)
    if not found:
        raise InvalidRequest("q: give at least one word to search for")
    if len(found) > MAX_WORDS:
        raise InvalidRequest(f"q: at most {MAX_WORDS} words, not {len(found)}")
    hits = await svc.store.search(user, q, limit=limit + 1, offset=offset)
    return {
        "query": q,
        "results": [hit_json(h) for h in hits[:limit]],
        "limit": limit,
        "offset": offset,
        "has_more": len(hits) > limit,
    }
