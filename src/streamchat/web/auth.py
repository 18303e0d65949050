"""Who is asking, by one code path for every credential.

A credential is an API token (created with ``streamchat users add``; only its SHA-256 is
stored), sent as ``Authorization: Bearer <token>``, or a session: ``POST /api/session`` takes a
token and sets the HttpOnly, SameSite=Strict cookie to a new random session id (only its
SHA-256 is stored, with an expiry), never the token itself; signing in again replaces it,
``DELETE /api/session`` ends it, removing the user or giving them a new token ends all of theirs.
Lookups are cached for ``--credential-cache-ttl`` (1 s): a revocation made anywhere (another
worker, the CLI) takes effect on every worker within that; on the worker that signs out, at
once; with Redis it is also announced (``revoke`` on the control channel), and every worker
drops what it cached at once.
Without a credential the user is
``local`` when accounts are not required (bound to loopback, ``--auth auto``; an unknown
token is then ignored, since SDKs always send one), else 401.
A state-changing request authenticated by the cookie must come from the page's own origin
(or an allowed CORS origin): the cookie alone never authorises it (CSRF).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict

from streamchat.chat import utcnow
from streamchat.errors import Forbidden, Unauthorized
from streamchat.store import Store
from streamchat.web.bodies import Text
from streamchat.web.services import LOCAL_USER, Services, services

__all__ = ["CACHE_TTL_S", "COOKIE", "Authenticator", "hash_token", "new_token", "router"]

COOKIE = "streamchat_session"
# How long a token's or a session's lookup is trusted: the bound on a revocation made elsewhere.
CACHE_TTL_S = 1.0
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_token() -> str:
    return "sct_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    def __init__(
        self,
        store: Store,
        *,
        required: bool,
        origins: frozenset[str],
        cache_ttl: float = CACHE_TTL_S,
        session_ttl: float = 30 * 24 * 3600,
    ) -> None:
        self.store = store
        self.required = required
        self.origins = origins
        self.cache_ttl = cache_ttl
        self.session_ttl = session_ttl
        self._cache: dict[str, tuple[str | None, float]] = {}
        # Tells every worker of a revocation (the Redis broker's), when there is one.
        self.announce: Callable[[str], Awaitable[None]] | None = None

    async def user(self, request: Request) -> str:
        credential, via_cookie = _credential(request)
        if credential is None:
            if self.required:
                raise Unauthorized(
                    "sign in first: send Authorization: Bearer <token> (tokens are created "
                    "with `streamchat users add NAME`)"
                )
            return LOCAL_USER
        user = await (self.session_user(credential) if via_cookie else self.lookup(credential))
        if user is None:
            if not self.required:
                return LOCAL_USER  # loopback: SDKs always send some key; it is not needed
            raise Unauthorized(
                "the session has ended: sign in again" if via_cookie else "the token is not valid"
            )
        if via_cookie and request.method not in _SAFE_METHODS:
            self._check_origin(request)
        return user

    async def lookup(self, token: str) -> str | None:
        """The user of an API token."""
        digest = hash_token(token)
        return await self._cached("t:" + digest, self.store.user_for_token, digest)

    async def session_user(self, session_id: str) -> str | None:
        """The user of an unexpired session."""
        digest = hash_token(session_id)
        return await self._cached("s:" + digest, self.store.user_for_session, digest)

    async def start_session(self, user: str, previous: str | None) -> str:
        """A new session id for ``user`` (the previous session of this client, if any, ends)."""
        if previous:
            await self.end_session(previous)
        session_id = "scs_" + secrets.token_urlsafe(32)
        expires = utcnow() + timedelta(seconds=self.session_ttl)
        await self.store.create_session(hash_token(session_id), user, expires)
        return session_id

    async def end_session(self, session_id: str) -> None:
        digest = hash_token(session_id)
        self._cache.pop("s:" + digest, None)
        await self.store.end_session(digest)
        if self.announce is not None:
            await self.announce(f"session:{digest}")

    def forget(self, subject: str) -> None:
        """Drop what is cached for a revoked ``user:<id>`` or ``session:<hash>``."""
        kind, _, value = subject.partition(":")
        if kind == "user":
            self._cache = {k: v for k, v in self._cache.items() if v[0] != value}
        elif kind == "session":
            self._cache.pop("s:" + value, None)

    async def _cached(self, key: str, find: Any, digest: str) -> str | None:
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        user: str | None = await find(digest)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (user, now + self.cache_ttl)
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
    """Exchange an API token for a new session: the cookie holds the session's id, not the
    token. A session this client already had ends."""
    user = await svc.store.user_for_token(hash_token(body.token))  # uncached: a fresh answer
    if user is None:
        raise Unauthorized("the token is not valid")
    session_id = await svc.auth.start_session(user, request.cookies.get(COOKIE))
    response = Response(status_code=204)
    response.set_cookie(
        COOKIE,
        session_id,
        httponly=True,
        secure=True,
        samesite="strict",
        max_age=int(svc.auth.session_ttl),
        path="/",
    )
    return response


@router.delete("/session", status_code=204)
async def sign_out(request: Request, svc: Svc) -> Response:
    """End this client's session (on the server: a copy of the cookie stops working too)."""
    session_id = request.cookies.get(COOKIE)
    if session_id:
        await svc.auth.end_session(session_id)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response
