"""One streamchat (SQLite) per module against the shipped mock upstream, and the JavaScript
clients run as node scripts whose JSON output the tests read."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamchat.settings import ModelConfig
from tests.harness import MockUpstream, mock_provider, streamchat_thread, test_settings

HERE = Path(__file__).parent
NODE = shutil.which("node") or "node"
# The model a provider may list with a slash in its id (vLLM, OpenRouter, Together do).
SLASHED = "moonshotai/kimi-k2"

REFUSAL = "I'm sorry, I can't help with that."


@pytest.fixture(scope="module")
def base_url(
    tmp_path_factory: pytest.TempPathFactory, mock_upstream: MockUpstream
) -> Iterator[str]:
    """streamchat's ``/v1`` base URL."""
    tmp = tmp_path_factory.mktemp("clients")
    provider = mock_provider(mock_upstream)
    provider.models.append(ModelConfig(id=SLASHED))
    settings = test_settings(
        tmp, f"sqlite+aiosqlite:///{tmp / 'streamchat.db'}", providers=[provider]
    )
    with streamchat_thread(settings) as url:
        yield url + "/v1"


def run_node(script: str, *args: str) -> dict[str, Any]:
    """Run ``js/<script>`` with ``args``; its one JSON line, ``{case: {ok, value|error}}``."""
    assert (HERE / "node_modules").is_dir(), "run scripts/setup --dev (npm ci in tests/clients)"
    done = subprocess.run(
        [NODE, str(HERE / "js" / script), *args],
        capture_output=True,
        timeout=90,
        check=False,
        cwd=HERE,
    )
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def ok(results: dict[str, Any], case: str) -> Any:
    """The value of a case that must have succeeded."""
    outcome = results[case]
    assert outcome["ok"], outcome["error"]
    return outcome["value"]


def failed(results: dict[str, Any], case: str) -> dict[str, Any]:
    """The error of a case that must have failed."""
    outcome = results[case]
    assert not outcome["ok"], outcome["value"]
    error: dict[str, Any] = outcome["error"]
    return error
