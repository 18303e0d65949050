"""A Kimi-dialect mock upstream and a server whose provider "kimi" uses the kimi preset."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from streamchat.settings import ModelConfig, ProviderConfig
from tests.conftest import Server, ServerFactory
from tests.harness import MockUpstream, mock_upstream_thread

KIMI_MODELS = ("moonshot-v1-8k", "kimi-k2.5", "kimi-k2-thinking")


@pytest.fixture(scope="module")
def kimi_mock() -> Iterator[MockUpstream]:
    with mock_upstream_thread("moonshot") as mock:
        yield mock


def kimi_provider(mock: MockUpstream) -> ProviderConfig:
    return ProviderConfig(
        name="kimi",
        preset="kimi",
        base_url=mock.url,
        api_key=mock.api_key,  # type: ignore[arg-type]
        models=[ModelConfig(id=m) for m in KIMI_MODELS],
        list_models=False,
    )


@pytest.fixture
def kimi_server(make_server: ServerFactory, kimi_mock: MockUpstream) -> Server:
    kimi_mock.reset()
    return make_server(providers=[kimi_provider(kimi_mock)])


def chat_bodies(mock: MockUpstream) -> list[dict[str, Any]]:
    return [r["body"] for r in mock.log() if r["path"].endswith("/chat/completions")]
