"""Pure domain helpers: token estimate, history trimming, the demo tokenizer, scrubbing."""

from __future__ import annotations

from streamchat.chat import UpstreamRequest, estimate_tokens, trim_history
from streamchat.errors import scrub
from streamchat.upstream.demo import demo_answer, tokenize
from streamchat.upstream.presets import preset


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("你好世界") == 4


def test_trim_keeps_system_and_newest_and_never_starts_with_assistant() -> None:
    history = [{"role": "system", "content": "s"}]
    for i in range(10):
        history += [
            {"role": "user", "content": f"q{i} " + "x" * 40},
            {"role": "assistant", "content": f"a{i} " + "y" * 40},
        ]
    history.append({"role": "user", "content": "last"})
    trimmed = trim_history(history, budget_tokens=60)
    assert trimmed[0] == {"role": "system", "content": "s"}
    assert trimmed[-1] == {"role": "user", "content": "last"}
    assert trimmed[1]["role"] == "user"
    assert len(trimmed) < len(history)
    assert trim_history(history, 10**6) == history
    huge = [{"role": "user", "content": "z" * 10_000}]
    assert trim_history(huge, 10) == huge  # the question itself is always sent


def test_demo_answer_is_deterministic_markdown_with_cjk_and_emoji() -> None:
    request = UpstreamRequest("demo", [{"role": "user", "content": "hi"}])
    answer = demo_answer(request)
    assert answer == demo_answer(request)
    assert "```python" in answer and "| feature |" in answer and "1. " in answer
    assert "中文" in answer and "🎉" in answer
    assert "".join(tokenize(answer)) == answer


def test_presets_context_windows() -> None:
    kimi = preset("kimi")
    assert kimi.base_url == "https://api.moonshot.cn/v1"
    assert kimi.context_window("moonshot-v1-8k") == 8192
    assert kimi.context_window("moonshot-v1-128k") == 131072
    assert kimi.is_reasoning("kimi-k2-thinking")
    assert not kimi.is_reasoning("moonshot-v1-8k")


def test_scrub_removes_keys_and_account_ids() -> None:
    text = "bad key sk-abcdef123456 for org-123abc <ak-9f8e7d> Bearer tok.en-123456 ok"
    cleaned = scrub(text, secrets=["tok.en-123456"])
    for secret in ("sk-abcdef123456", "org-123abc", "ak-9f8e7d", "tok.en-123456"):
        assert secret not in cleaned
    assert cleaned.endswith("ok")
