"""Sans-IO translation of OpenAI-compatible wire data into streamchat's terms, for every dialect.

- :func:`parse_chunk`: one ``data:`` payload -> :class:`~streamchat.chat.ChunkDelta`. Text from
  ``delta.content``; a refusal from ``delta.refusal`` (OpenAI); reasoning from
  ``delta.reasoning_content`` (Kimi, DeepSeek) or ``delta.reasoning`` (Ollama, vLLM); usage
  from the top level, else from the choice (never both: Kimi sends the same numbers twice);
  tool-call deltas without ``index`` (Kimi) take their position; an in-band ``{"error": ...}``
  raises.
- :func:`http_error`: a non-200 answer -> :class:`~streamchat.errors.UpstreamError`, classified
  retryable or not (wire-formats.md §3-4), its text scrubbed of keys and account ids.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from streamchat.chat import ChunkDelta, Usage
from streamchat.errors import UpstreamError, scrub

__all__ = ["http_error", "inband_error", "parse_chunk", "parse_usage", "retry_after"]

_NOT_RETRYABLE_429 = ("quota", "insufficient", "balance", "billing")


def parse_chunk(data: str, secrets: Iterable[str] = ()) -> ChunkDelta:
    """Normalise one chunk. Raises UpstreamError for in-band errors and malformed JSON."""
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(
            "the provider sent a malformed chunk", code="upstream_bad_response", retryable=True
        ) from exc
    if not isinstance(chunk, dict):
        raise UpstreamError(
            "the provider sent a chunk that is not an object",
            code="upstream_bad_response",
            retryable=True,
        )
    if chunk.get("error"):
        raise inband_error(chunk["error"], secrets)
    result = ChunkDelta()
    choices = chunk.get("choices")
    choice_usage = None
    if type(choices) is list and choices and type(choice := choices[0]) is dict:
        delta = choice.get("delta")
        if type(delta) is dict:
            content = delta.get("content")
            if type(content) is str and content:
                result.content = content
            refusal = delta.get("refusal")
            if type(refusal) is str and refusal:
                result.refusal = refusal
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if type(reasoning) is str and reasoning:
                result.reasoning = reasoning
            calls = delta.get("tool_calls")
            if type(calls) is list and calls:
                result.tool_calls = _tool_calls(calls)
        finish = choice.get("finish_reason")
        if type(finish) is str and finish:
            result.finish_reason = finish
        choice_usage = choice.get("usage")
    usage = chunk.get("usage") or choice_usage
    if type(usage) is dict:
        result.usage = parse_usage(usage)
    return result


def parse_usage(usage: Mapping[str, Any]) -> Usage | None:
    try:
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        total = int(usage.get("total_tokens") or prompt + completion)
    except (TypeError, ValueError):
        return None
    return Usage(prompt, completion, total, estimated=False)


def _tool_calls(calls: list[Any]) -> list[dict[str, Any]]:
    normalised = []
    for position, call in enumerate(calls):
        if not isinstance(call, dict):
            continue
        call = dict(call)
        if call.get("index") is None:
            call["index"] = position
        normalised.append(call)
    return normalised


def inband_error(error: Any, secrets: Iterable[str] = ()) -> UpstreamError:
    """An error the provider sent inside a 200 stream."""
    if not isinstance(error, dict):
        error = {"message": str(error)}
    message = scrub(str(error.get("message") or "unknown error"), secrets)
    kind = str(error.get("type") or error.get("code") or "")
    retryable = not any(word in kind.lower() for word in ("invalid", "filter", "quota"))
    return UpstreamError(
        f"the provider reported an error mid-stream: {message}",
        code="upstream_error",
        retryable=retryable,
    )


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def http_error(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    secrets: Iterable[str] = (),
) -> UpstreamError:
    """Classify a non-200 answer from the provider."""
    message, kind = _error_text(body, headers)
    message = scrub(message, secrets)
    text = f"{message} (HTTP {status})"
    wait = retry_after(headers)
    kind_l = kind.lower()
    if status in (401, 403):
        return UpstreamError(
            f"the provider rejected streamchat's API key: {text}", code="upstream_auth"
        )
    if status == 402 or (status == 429 and any(w in kind_l for w in _NOT_RETRYABLE_429)):
        return UpstreamError(f"the provider account is out of quota: {text}", code="upstream_quota")
    if status == 429:
        return UpstreamError(
            f"the provider is rate limiting: {text}",
            code="upstream_rate_limited",
            retryable=True,
            retry_after=wait,
        )
    if status == 404:
        return UpstreamError(
            f"the provider has no such model or path: {text}", code="upstream_not_found"
        )
    if "filter" in kind_l:
        return UpstreamError(
            f"the provider's content filter refused: {text}", code="upstream_content_filter"
        )
    if 400 <= status < 500 and status not in (408, 409, 425):
        return UpstreamError(
            f"the provider refused the request: {text}", code="upstream_bad_request"
        )
    return UpstreamError(
        f"the provider is unavailable: {text}",
        code="upstream_unavailable",
        retryable=True,
        retry_after=wait,
    )


def _error_text(body: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
    """(message, type-or-code) from an OpenAI-style error body; a short note for anything else."""
    content_type = headers.get("content-type", "")
    if "json" in content_type or body[:1] in (b"{", b"["):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, dict):
            kind = " ".join(str(error.get(k) or "") for k in ("type", "code")).strip()
            return str(error.get("message") or kind or "no message"), kind
        if isinstance(error, str):
            return error, ""
    if "html" in content_type or body.lstrip()[:1] == b"<":
        return "the provider answered with an HTML page", ""
    text = body[:200].decode("utf-8", "replace").strip()
    return text or "no message", ""
