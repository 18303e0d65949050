"""`streamchat serve` as an operator runs it: it will not serve beyond loopback (or with
--auth on) without accounts, and says why; with an account made by `streamchat users add` it
serves to that token only; and the real logging sink never writes the provider's key, even at
debug level with the provider echoing the key back."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bench.processes import free_port, wait_for_port
from tests.faults.tally import TALLY
from tests.harness import MockUpstream

STREAMCHAT = [sys.executable, "-m", "streamchat"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STREAMCHAT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize(
    "where", [("--host", "0.0.0.0"), ("--host", "127.0.0.1", "--auth", "on")], ids=str
)
def test_refuses_to_serve_without_accounts(tmp_path: Path, where: tuple[str, ...]) -> None:
    port = free_port()
    args = [*STREAMCHAT, "serve", *where, "--port", str(port), "--data-dir", str(tmp_path)]
    TALLY.bad_input()
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:  # it started after all: never leave it listening
                proc.kill()
                proc.communicate(timeout=10)
    assert proc.returncode == 2, stderr
    assert "no accounts" in stderr
    assert "streamchat users add NAME" in stderr
    assert "Traceback" not in stderr
    assert refused(port)


def test_served_with_an_account_and_a_planted_key(
    tmp_path: Path, mock_upstream: MockUpstream
) -> None:
    planted = "sk-" + secrets.token_urlsafe(32)
    added = cli("users", "add", "alice", "--data-dir", str(tmp_path))
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("sct_") and "shown once" in added.stderr
    assert cli("users", "list", "--data-dir", str(tmp_path)).stdout.split() == ["alice"]
    config = tmp_path / "streamchat.toml"
    config.write_text(
        # The mock accepts only its own key: it refuses this one and echoes it back.
        '[[providers]]\nname = "mock"\npreset = "openai"\n'
        f'base_url = "{mock_upstream.url}"\napi_key_env = "PLANTED_KEY"\n'
        'models = ["gpt-4o-mini"]\nlist_models = true\n'
    )
    port = free_port()
    args = [
        *STREAMCHAT,
        *("serve", "--auth", "on", "--port", str(port), "--data-dir", str(tmp_path)),
        *("--config", str(config), "--log-level", "debug", "--upstream-retries", "0"),
    ]
    env = {**os.environ, "PLANTED_KEY": planted}
    with subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            wait_for_port(port)
            url = f"http://127.0.0.1:{port}"
            body = {"message": "hi", "model": "gpt-4o-mini"}
            anonymous = httpx.post(f"{url}/api/chat", json=body)
            TALLY.bad_input()
            assert anonymous.status_code == 401
            bearer = {"Authorization": f"Bearer {token}"}
            seen = [
                httpx.post(f"{url}/api/chat", json=body, headers=bearer, timeout=30).text,
                httpx.get(f"{url}/api/models", headers=bearer).text,
                httpx.get(f"{url}/healthz").text,
                httpx.post(
                    f"{url}/v1/chat/completions",
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
                    headers=bearer,
                    timeout=30,
                ).text,
            ]
            TALLY.fault(2)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=30)
    assert "upstream_auth" in seen[0]
    assert "Incorrect API key provided" in seen[0]
    assert mock_upstream.log()[-1]["authorization"] == f"Bearer {planted}"  # it was used
    output = stdout.decode() + stderr.decode()
    assert "DEBUG" in output  # the log really was at debug level
    for text in [*seen, output]:
        assert planted not in text
        assert planted[3:20] not in text
    assert "Traceback" not in output
