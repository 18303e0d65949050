"""The one exception tree of streamchat, and the one wire shape of each error.

::

    StreamchatError                      code, message, status, retryable, retry_after
    ├── RequestError                     the caller's fault, nothing was written
    │   ├── InvalidRequest               400 invalid_request
    │   ├── UnknownModel                 400 unknown_model
    │   ├── NotFound                     404 not_found
    │   ├── Conflict                     409 conflict
    │   ├── PayloadTooLarge              413 payload_too_large
    │   ├── RateLimited                  429 rate_limited / too_many_streams (retryable)
    │   ├── Unauthorized                 401 unauthorized
    │   ├── Forbidden                    403 forbidden (a cookie request from another origin)
    │   └── MisdirectedRequest           421 misdirected_request (an unknown Host, no accounts)
    ├── UpstreamError                    the provider failed (codes below)
    │   upstream_auth 401/403, upstream_not_found 404, upstream_bad_request 400,
    │   upstream_content_filter, upstream_rate_limited 429 (retryable),
    │   upstream_quota 402/429 (not retryable), upstream_unavailable 5xx (retryable),
    │   upstream_connect (retryable), upstream_dropped (retryable), upstream_timeout
    │   (first_token / gap / total, retryable), upstream_bad_response, upstream_error (in-band)
    ├── StoreError                       503 store_unavailable (retryable)
    └── ServiceError                     503 server_restarting / interrupted (retryable)

Every error reaches a client as ``{"error": {"code", "message", "retryable"[, "retry_after"]}}``
on the streamchat API (with its ``details`` beside them: the numbers and names its message
names, e.g. ``reason``, ``length``, ``limit``, so that a page can say it in its own language),
or as the OpenAI shape on ``/v1`` (:meth:`StreamchatError.openai_body`).
Foreign exceptions are translated at the edge where they arise (upstream, store, fanout), with
``raise ... from exc``. Upstream text passes :func:`scrub` before it is kept in an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "STATUS_BY_CODE",
    "Conflict",
    "Forbidden",
    "InvalidRequest",
    "MisdirectedRequest",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RequestError",
    "ServiceError",
    "StoreError",
    "StreamchatError",
    "Unauthorized",
    "UnknownModel",
    "UpstreamError",
    "scrub",
]


# The HTTP status of each error code that is not fixed by its class.
STATUS_BY_CODE: dict[str, int] = {
    "upstream_auth": 502,
    "upstream_not_found": 404,
    "upstream_bad_request": 400,
    "upstream_content_filter": 400,
    "upstream_rate_limited": 429,
    "upstream_quota": 429,
    "upstream_unavailable": 503,
    "upstream_connect": 502,
    "upstream_dropped": 502,
    "upstream_timeout": 504,
    "upstream_bad_response": 502,
    "upstream_error": 502,
    "store_unavailable": 503,
    "server_restarting": 503,
    "interrupted": 503,
    "model_not_found": 404,
    "replay_expired": 410,
    "too_many_streams": 429,
    "broker_unavailable": 503,
}


class StreamchatError(Exception):
    status: int = 500
    code: str = "internal_error"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        # What the message says, as fields (``reason``: which failure of the code it is).
        self.details = dict(details or {})
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        elif self.code in STATUS_BY_CODE:
            self.status = STATUS_BY_CODE[self.code]
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        for key, value in self.details.items():
            body.setdefault(key, value)
        return body

    def body(self) -> dict[str, Any]:
        return {"error": self.as_dict()}

    def openai_body(self) -> dict[str, Any]:
        kind = "invalid_request_error" if self.status < 500 else "api_error"
        if self.status == 429:
            kind = "rate_limit_error"
        return {
            "error": {
                "message": self.message,
                "type": kind,
                "param": None,
                "code": self.code,
            }
        }

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(0, round(self.retry_after)))}


class RequestError(StreamchatError):
    status = 400
    code = "invalid_request"


class InvalidRequest(RequestError):
    pass


class UnknownModel(RequestError):
    code = "unknown_model"


class NotFound(RequestError):
    status = 404
    code = "not_found"


class Conflict(RequestError):
    status = 409
    code = "conflict"


class PayloadTooLarge(RequestError):
    status = 413
    code = "payload_too_large"


class Unauthorized(RequestError):
    status = 401
    code = "unauthorized"


class Forbidden(RequestError):
    status = 403
    code = "forbidden"


class MisdirectedRequest(RequestError):
    status = 421
    code = "misdirected_request"


class RateLimited(RequestError):
    status = 429
    code = "rate_limited"
    retryable = True


class UpstreamError(StreamchatError):
    status = 502
    code = "upstream_error"


class StoreError(StreamchatError):
    status = 503
    code = "store_unavailable"
    retryable = True


class ServiceError(StreamchatError):
    status = 503
    code = "server_restarting"
    retryable = True


_SECRET_PATTERNS = re.compile(
    r"(sk-[A-Za-z0-9_\-]{6,})"  # OpenAI / Moonshot / DeepSeek style keys
    r"|((?:org|ak|proj|acct)-[A-Za-z0-9_\-]{4,})"  # account and organisation ids
    r"|(Bearer\s+[A-Za-z0-9_\-.=]{6,})",
    re.IGNORECASE,
)


def scrub(text: str, secrets: Iterable[str] = (), limit: int = 500) -> str:
    """Remove keys and account identifiers from text that came from outside."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = _SECRET_PATTERNS.sub("[redacted]", text)
    if len(text) > limit:
        text = text[:limit] + "…"
    return text
