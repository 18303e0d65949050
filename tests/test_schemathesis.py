"""Schemathesis against the live /openapi.json of a real server: every operation, with valid and
invalid input, never answers 5xx. Answers are the mock's short ones, so streams end at once;
half the generated ids are real ones (a finished conversation and its answer)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error

from streamchat.chat import Conversation, Message
from streamchat.settings import Settings
from streamchat.store.sql import SqlStore
from streamchat.web.app import create_app
from tests.faults.tally import TALLY
from tests.harness import MockUpstream, mock_provider, streamchat_thread
from tests.harness import test_settings as settings_for
from tests.security.accounts import blocking

SEEDED = {"conversation_id": "conv_fuzz", "generation_id": "msg_fuzz_answer"}
EXAMPLES = 100
DERANDOMIZE = os.environ.get("SCHEMATHESIS_RANDOM") is None  # same cases in every run


async def _seed(database: str) -> None:
    store = SqlStore(database)
    await store.open()
    try:
        await store.ensure_user("local", "local")
        await store.create_conversation(Conversation(SEEDED["conversation_id"], "local", "fuzz"))
        await store.add_messages(
            [
                Message("msg_fuzz_q", SEEDED["conversation_id"], "local", "user", content="q"),
                Message(
                    SEEDED["generation_id"],
                    SEEDED["conversation_id"],
                    "local",
                    "assistant",
                    content=" w1 w2",
                    last_event_id=4,
                ),
            ]
        )
    finally:
        await store.close()


@pytest.fixture(scope="module")
def fuzzed_server(
    tmp_path_factory: pytest.TempPathFactory, mock_upstream: MockUpstream
) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    database = f"sqlite+aiosqlite:///{tmp / 'streamchat.db'}"
    blocking(_seed(database))
    settings = settings_for(
        tmp,
        database,
        providers=[mock_provider(mock_upstream)],
        requests_per_minute=0,
        max_streams_per_user=1000,
        first_token_timeout=2,
        upstream_retries=0,
    )
    with streamchat_thread(settings) as url:
        yield url


def operations() -> list[str]:
    """'METHOD /path' of every operation the app declares (read from the app, not a server)."""
    declared = create_app(Settings.model_validate({})).openapi()["paths"]
    return [f"{method.upper()} {path}" for path, methods in declared.items() for method in methods]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "operation" in metafunc.fixturenames:
        metafunc.parametrize("operation", operations())


@pytest.fixture(scope="module")
def api(fuzzed_server: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed_server}/openapi.json")


def cases(api: BaseSchema, operation: str) -> st.SearchStrategy[Case[Any]]:
    """Valid and invalid input; the real ids half the time (never for DELETE: the other
    operations need the conversation), and a model that exists half the time."""
    method, path = operation.split(" ", 1)
    endpoint = api[path][method]
    strategies = [endpoint.as_strategy(mode) for mode in GenerationMode]
    names = [p.name for p in endpoint.path_parameters]
    if names and method != "DELETE":
        real = {name: SEEDED[name] for name in names if name in SEEDED}
        strategies += [endpoint.as_strategy(mode, path_parameters=real) for mode in GenerationMode]
    return st.tuples(st.one_of(strategies), st.booleans()).map(with_known_model)


def with_known_model(drawn: tuple[Case[Any], bool]) -> Case[Any]:
    case, known = drawn
    if known and isinstance(case.body, dict) and "model" in case.body:
        case.body = {**case.body, "model": "gpt-4o-mini"}
    return case


def test_no_server_errors(api: BaseSchema, operation: str) -> None:
    @hypothesis.given(case=cases(api, operation))
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=DERANDOMIZE,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate],
    )
    def run(case: Case[Any]) -> None:
        TALLY.bad_input()
        response = case.call(timeout=10)
        case.validate_response(response, checks=[not_a_server_error])

    run()
