"""Issue 16, item 3: nothing bounded ``max_tokens`` on the defaults (``max_completion_tokens``
unset), so ``max_tokens: 10**9`` on ``/v1`` reached the provider as 1000000000. Now an answer
asked for more than the model's context window leaves after the prompt gets that much."""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory
from tests.security.test_limits import V1

CONTEXT_WINDOW = 128_000  # gpt-4o-mini on the openai preset (presets.default_context)


async def test_max_tokens_of_a_billion_does_not_reach_the_provider(
    make_server: ServerFactory,
) -> None:
    server = make_server()  # the defaults
    server.mock.reset()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for extra in ({"max_tokens": 10**9}, {"max_completion_tokens": 10**9}, {}):
            response = await client.post("/v1/chat/completions", json={**V1, **extra})
            assert response.status_code == 200, response.text
    sent = [
        {k: v for k, v in record["body"].items() if k in ("max_tokens", "max_completion_tokens")}
        for record in server.mock.log()
    ]
    assert len(sent) == 3
    for asked in sent[:2]:
        (value,) = asked.values()
        assert value < CONTEXT_WINDOW
    assert sent[2] == {}  # none asked: none added (the provider's own default applies)
