"""Operations: ``/healthz`` (store and upstream state) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from streamchat.errors import StoreError
from streamchat.web.services import Services, services

__all__ = ["router"]

router = APIRouter(tags=["operations"])
Svc = Annotated[Services, Depends(services)]


@router.get("/healthz")
async def healthz(svc: Svc) -> JSONResponse:
    """200 when the store answers, 503 when it does not; upstreams as last seen; ``pid``: the
    worker process that answered (with ``--workers N``, each connection goes to one of them)."""
    store: dict[str, Any] = {"ok": True}
    try:
        await svc.store.ping()
    except StoreError as exc:
        store = {"ok": False, "error": exc.message}
    upstreams = {
        name: {"ok": state.ok, "error": state.error} for name, state in svc.catalog.state.items()
    }
    body = {
        "status": "ok" if store["ok"] else "unavailable",
        "store": store,
        "upstreams": upstreams,
        "generations": len(svc.generations.running),
        "accepting": svc.generations.accepting,
        "pid": os.getpid(),
    }
    return JSONResponse(body, status_code=200 if store["ok"] else 503)


@router.get("/metrics", response_class=Response)
async def metrics(svc: Svc) -> Response:
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4")
