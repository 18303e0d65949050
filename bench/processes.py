"""Start the mock upstream and streamchat as real processes on loopback, for benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

STREAMCHAT = [sys.executable, "-m", "streamchat"]
MOCK_KEY = "sk-bench-0000000000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@contextlib.contextmanager
def process(
    args: list[str], port: int, *, cpu: int | None = None, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    if cpu is not None:
        args = ["taskset", "-c", str(cpu), *args]
    proc = subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_for_port(port)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def mock_upstream(cpu: int | None = None) -> Iterator[str]:
    port = free_port()
    args = [*STREAMCHAT, "mock-upstream", "--port", str(port), "--api-key", MOCK_KEY]
    with process(args, port, cpu=cpu):
        yield f"http://127.0.0.1:{port}/v1"


@contextlib.contextmanager
def streamchat(upstream: str, cpu: int | None = None, **options: str) -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        config = Path(data) / "streamchat.toml"
        config.write_text(
            'default_model = "gpt-4o-mini"\n[[providers]]\nname = "mock"\npreset = "openai"\n'
            f'base_url = "{upstream}"\napi_key = "{MOCK_KEY}"\nmodels = ["gpt-4o-mini"]\n'
            "list_models = false\n"
        )
        args = [
            *STREAMCHAT,
            "serve",
            "--port",
            str(port),
            "--config",
            str(config),
            "--data-dir",
            data,
            "--log-level",
            "warning",
        ]
        for name, value in options.items():
            args += ["--" + name.replace("_", "-"), value]
        with process(args, port, cpu=cpu):
            yield f"http://127.0.0.1:{port}"
