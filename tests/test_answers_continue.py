"""Continue without HTTP (the use case of tests/test_answers.py): a Continue the broker could
not number (Redis away) leaves the answer as it was, continuable again."""

from __future__ import annotations

import pytest

from streamchat.errors import ServiceError
from streamchat.fanout import StreamInfo
from tests.test_answers import UseCase, case, read_all

__all__ = ["case"]  # the fixture


async def test_a_continue_the_broker_refuses_leaves_the_answer_continuable(
    case: UseCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await case.answers.ask("ann", "one", model="demo")
    await read_all(first)
    await case.store.update_message(first.id, {"status": "complete", "finish_reason": "length"})
    case.demo.continuation = "partial"
    broker = case.answers.broker
    info = broker.info

    async def away(stream_id: str) -> StreamInfo | None:
        if ".c" in stream_id:
            raise ServiceError(
                "the stream broker (Redis) is unavailable", code="broker_unavailable"
            )
        return await info(stream_id)

    monkeypatch.setattr(broker, "info", away)
    with pytest.raises(ServiceError):
        await case.answers.continue_answer("ann", first.id)
    answer = await case.store.get_message("ann", first.id)
    assert (answer.status, answer.finish_reason) == ("complete", "length")
    monkeypatch.setattr(broker, "info", info)
    more = await case.answers.continue_answer("ann", first.id)
    assert (await read_all(more))[-1].type == "done"
