"""The streamchat command, run as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.processes import free_port, wait_for_port
from streamchat.settings import Settings

CLI = [sys.executable, "-m", "streamchat"]


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "STREAMCHAT_DEMO_TOKEN_RATE": "0", "STREAMCHAT_DATA_DIR": str(tmp_path)}
    with subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    assert b"Traceback" not in stderr


def test_every_setting_is_an_option_with_its_variable() -> None:
    result = run("serve", "--help")
    assert result.returncode == 0
    for name in Settings.option_fields():
        assert "--" + name.replace("_", "-") in result.stdout
        assert "STREAMCHAT_" + name.upper() in result.stdout


def test_bad_option_is_a_clear_usage_error() -> None:
    result = run("serve", "--port", "eighty")
    assert result.returncode == 2
    assert "eighty" in result.stderr
    result = run("serve", "--flush-interval", "-1", "--port", "0")
    assert result.returncode == 2
    assert "flush_interval" in result.stderr


def test_chat_models_and_attach_against_a_running_server(served: str) -> None:
    answer = run("chat", "hello there", "--url", served, "--model", "demo")
    assert answer.returncode == 0, answer.stderr
    assert "You asked: *hello there*" in answer.stdout
    assert "streamchat's offline demo model" in answer.stdout
    assert "[demo · msg_" in answer.stderr
    generation_id = answer.stderr.split("· ")[1].split("]")[0]
    attached = run("attach", generation_id, "--url", served)
    assert attached.returncode == 0
    assert attached.stdout == answer.stdout
    models = run("models", "--url", served)
    assert "* demo " in models.stdout and "demo-thinking" in models.stdout
    conversations = httpx.get(served + "/api/conversations").json()["conversations"]
    assert [c["title"] for c in conversations] == ["hello there"]


def test_chat_starts_a_server_in_process_when_none_runs(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path), "STREAMCHAT_DEMO_TOKEN_RATE": "0"}
    result = run("chat", "offline?", "--model", "demo-thinking", env={**env, "STREAMCHAT_URL": ""})
    assert result.returncode == 0, result.stderr
    assert "You asked: *offline?*" in result.stdout
    assert "I am the demo model" in result.stderr  # the thinking goes to stderr
    assert (tmp_path / "streamchat" / "streamchat.db").exists()


def test_db_upgrade(tmp_path: Path) -> None:
    result = run("db", "upgrade", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "streamchat.db").exists()
    again = run("db", "upgrade", "--data-dir", str(tmp_path))
    assert again.returncode == 0


def test_mock_upstream_command() -> None:
    port = free_port()
    with subprocess.Popen(
        [*CLI, "mock-upstream", "--port", str(port), "--dialect", "moonshot"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as proc:
        wait_for_port(port)
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models").json()
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=10)
    assert "moonshot-v1-8k" in [m["id"] for m in models["data"]]
    assert b"(dialect moonshot)" in stdout
