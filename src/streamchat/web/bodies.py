"""What a request body may hold beyond its schema: text that every store can keep and every
encoder can write, and JSON that can be sent upstream.

JSON can spell things that are not Unicode text: a lone UTF-16 surrogate (``"\\ud800"``) decodes
to a Python ``str`` that no UTF-8 encoder accepts (SQLite, asyncpg, hashlib, orjson, the JSON
response), and PostgreSQL refuses NUL (``"\\u0000"``) in text. Such input is refused at the edge
with 400 ``invalid_request``, the same on every store, and never silently repaired:

- :data:`Text` is a ``str`` field type for pydantic models (the refusal names the field);
- :func:`text_problem` says what is wrong with one string, or ``None``;
- :func:`check_sendable` checks a whole JSON value (any depth) before it is encoded.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from streamchat.errors import InvalidRequest

__all__ = ["MAX_DEPTH", "Text", "check_sendable", "json_problem", "text_problem"]

# Deepest nesting of arrays and objects accepted in a value sent upstream (orjson stops at 255).
MAX_DEPTH = 128
_INT64 = 2**63
_BAD = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str, *, nul: bool = True) -> str | None:
    """Why ``text`` cannot be stored or encoded, or ``None``: a lone surrogate, or (with
    ``nul``) a NUL character, which PostgreSQL cannot store."""
    pattern = _BAD if nul else _SURROGATE
    found = pattern.search(text)
    if found is None:
        return None
    char = found.group()
    position = found.start() + 1
    if char == "\x00":
        return f"contains a NUL character (\\u0000) at character {position}, which cannot be stored"
    return (
        f"contains a lone UTF-16 surrogate (\\u{ord(char):04x}) at character {position}, "
        "which is not a Unicode character"
    )


def _valid_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("invalid_text", "the text {problem}", {"problem": problem})
    return value


# A string field whose value every store can keep: no lone surrogate, no NUL.
Text = Annotated[str, AfterValidator(_valid_text)]


def json_problem(
    value: Any, where: str = "body", *, nul: bool = False, max_depth: int = MAX_DEPTH
) -> str | None:
    """The first part of a decoded JSON ``value`` that cannot be encoded again (a string with
    a lone surrogate, or with NUL if ``nul``; nesting deeper than ``max_depth``; an integer
    beyond 64 bits), as ``"where.path: what"``, or ``None``."""
    pending: list[tuple[Any, str, int]] = [(value, where, 0)]
    while pending:
        item, path, depth = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item, nul=nul)
            if problem is not None:
                return f"{path}: the text {problem}"
        elif isinstance(item, bool | float) or item is None:
            continue
        elif isinstance(item, int):
            if not -_INT64 <= item < _INT64:
                return f"{path}: the integer is beyond 64 bits"
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                return f"{path}: nested more than {max_depth} levels deep"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in reversed(list(pairs)):
                problem = text_problem(key, nul=nul) if isinstance(key, str) else None
                if problem is not None:
                    return f"{path}: a key {problem}"
                pending.append((child, f"{path}.{key}", depth + 1))
    return None


def check_sendable(value: Any, where: str = "body", *, nul: bool = False) -> None:
    """Raise :class:`InvalidRequest` (400) unless ``value`` can be encoded as JSON again:
    for a body that is forwarded upstream, before anything starts."""
    problem = json_problem(value, where, nul=nul)
    if problem is not None:
        raise InvalidRequest(problem)
