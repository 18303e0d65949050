"""Who is asking, by one code path for every credential.

A credential is an API token (created with ``streamchat users add``; only its SHA-256 is
stored), sent as ``Authorization: Bearer <token>`` or held by the page in the HttpOnly,
SameSite=Strict session cookie set by ``POST /api/session``. Without a credential the user is
``local`` when accounts are not required (bound to loopback, ``--auth auto``; an unknown
token is then ignored, since SDKs always send one), else 401.
A state-changing request authenticated by the cookie must come from the page's own origin
(or an allowed CORS origin): the cookie alone never authorises it (CSRF).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict

from streamchat.errors import Forbidden, Unauthorized
from streamchat.store import Store
from streamchat.web.bodies import Text
from streamchat.web.services import LOCAL_USER, Services, services

__all__ = ["COOKIE", "Authenticator", "hash_token", "new_token", "router"]

COOKIE = "streamchat_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_token() -> str:
    return "sct_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    def __init__(
        self, store: Store, *, required: bool, origins: frozenset[str], cache_ttl: float = 30.0
    ) -> None:
        self.store = store
        self.required = required
        self.origins = origins
        self.cache_ttl = cache_ttl
        self._cache: dict[str, tuple[str | None, float]] = {}

    async def user(self, request: Request) -> str:
        token, via_cookie = _credential(request)
        if token is None:
            if self.required:
                raise Unauthorized(
                    "sign in first: send Authorization: Bearer <token> (tokens are created "
                    "with `streamchat users add NAME`)"
                )
            return LOCAL_USER
        user = await self.lookup(token)
        if user is None:
            if not self.required:
                return LOCAL_USER  # loopback: SDKs always send some key; it is not needed
            raise Unauthorized("the token is not valid")
        if via_cookie and request.method not in _SAFE_METHODS:
            self._check_origin(request)
        return user

    async def lookup(self, token: str) -> str | None:
        digest = hash_token(token)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        user = await self.store.user_for_token(digest)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (user, now + self.cache_ttl)
        return user

    def _check_origin(self, request: Request) -> None:
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin is None or (origin != own and origin not in self.origins):
            raise Forbidden(
                "a request authenticated by the session cookie must come from the page itself"
            )


def _credential(request: Request) -> tuple[str | None, bool]:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        return token.strip(), False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else (None, False)


router = APIRouter(prefix="/api", tags=["session"])
Svc = Annotated[Services, Depends(services)]


class SessionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Text


@router.get("/session")
async def session(request: Request, svc: Svc) -> dict[str, Any]:
    """Who the page is signed in as, and whether accounts are required."""
    try:
        user: str | None = await svc.auth.user(request)
    except Unauthorized:
        user = None
    return {"user": user, "auth_required": svc.auth.required}


@router.post("/session")
async def sign_in(body: SessionBody, request: Request, svc: Svc) -> Response:
    """Exchange an API token for the page's session cookie."""
    user = await svc.auth.lookup(body.token)
    if user is None:
        raise Unauthorized("the token is not valid")
    response = Response(status_code=204)
    response.set_cookie(
        COOKIE,
        body.token,
        httponly=True,
        secure=True,
        samesite="strict",
        max_age=30 * 24 * 3600,
        path="/",
    )
    return response


@router.delete("/session", status_code=204)
async def sign_out() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response
