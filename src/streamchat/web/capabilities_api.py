"""What the page may offer for each model (issue 13): attaching images, the web-search and
thinking switches, Continue; and the limits of uploads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from streamchat.web.services import Services, current_user, services

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["models"])
Svc = Annotated[Services, Depends(services)]
User = Annotated[str, Depends(current_user)]

ACCEPTED = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/csv",
    "application/json",
    "text/html",
    "image/svg+xml",
)


@router.get("/capabilities")
async def capabilities(svc: Svc, user: User) -> dict[str, Any]:
    """``models``: for each model, ``vision`` (images may be attached), ``thinking`` (the
    switch: ``kimi`` | ``reasoning_effort`` | null), ``web_search`` (the switch is offered),
    ``continue`` (an answer cut at its length can be continued), ``file_extract`` (documents
    are read by the provider). ``files``: the upload limits and the types accepted."""
    await svc.catalog.refresh()
    models = []
    for info in svc.catalog.models():
        provider = svc.catalog.provider(info.provider)
        models.append(
            {
                "id": info.id,
                "provider": info.provider,
                "vision": info.vision,
                "thinking": info.thinking,
                "web_search": bool(provider and provider.web_search),
                "continue": bool(provider and provider.continuation),
                "file_extract": bool(provider and provider.file_extract),
            }
        )
    settings = svc.settings
    return {
        "models": models,
        "files": {
            "max_bytes": settings.max_file_bytes,
            "max_per_question": settings.max_attachments,
            "max_image_pixels": settings.max_image_pixels,
            "types": list(ACCEPTED),
        },
    }
