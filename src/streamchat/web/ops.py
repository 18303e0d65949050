"""Operations: ``/healthz`` (store and upstream state) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from streamchat.errors import StoreError
from streamchat.web.services import Services, services

__all__ = ["router"]

router = APIRouter(tags=["operations"])
Svc = Annotated[Services, Depends(services)]


# A write that failed this recently is reported by /healthz (with its age and error).
RECENT_WRITE_FAILURE_S = 300.0


@router.get("/healthz")
async def healthz(svc: Svc) -> JSONResponse:
    """200 when the store can be written, 503 (with the reason) when it cannot answer or refuses
    writes (read-only, locked by another process); a write that failed in the last five minutes
    is reported (``store.last_write_failure``, status ``degraded``); upstreams as last seen;
    ``pid``: the worker process that answered (with ``--workers N``, each connection goes to
    one of them)."""
    store = await _store_health(svc)
    upstreams = {
        name: {"ok": state.ok, "error": state.error} for name, state in svc.catalog.state.items()
    }
    status = (
        "unavailable" if not store["ok"] else "degraded" if "last_write_failure" in store else "ok"
    )
    body = {
        "status": status,
        "store": store,
        "upstreams": upstreams,
        "generations": len(svc.generations.running),
        "accepting": svc.generations.accepting,
        "pid": os.getpid(),
    }
    return JSONResponse(body, status_code=200 if store["ok"] else 503)


async def _store_health(svc: Services) -> dict[str, Any]:
    """One write probe (an UPDATE of no row, committed: the write lock taken and released)."""
    store: dict[str, Any] = {"ok": True}
    try:
        await svc.store.check_writable()
    except StoreError as exc:
        store = {"ok": False, "error": exc.message}
    failure = svc.store.last_write_failure
    if failure is not None:
        age = time.monotonic() - failure[0]
        if age < RECENT_WRITE_FAILURE_S:
            store["last_write_failure"] = {"seconds_ago": round(age, 1), "error": failure[1]}
    return store


@router.get("/metrics", response_class=Response)
async def metrics(svc: Svc) -> Response:
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4")
