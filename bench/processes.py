"""Start the mock upstream, streamchat and the baseline relays as real processes on loopback,
for benchmarks. ``cpu`` pins a process (and its threads and children) to one core with taskset;
``log`` sends its stderr to a file (a pipe nobody reads would block a chatty server)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

STREAMCHAT = [sys.executable, "-m", "streamchat"]
MOCK_KEY = "sk-bench-0000000000"
# Limits that would refuse a load generator sending everything as one user.
BENCH_LIMITS = {
    "requests_per_minute": "0",
    "max_streams_per_user": "1000000",
    "max_streams": "1000000",
}
NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream mock {{ server {upstream}; keepalive 256; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 600s;
        }}
    }}
}}
"""


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
    args: list[str],
    port: int,
    *,
    cpu: int | None = None,
    env: dict[str, str] | None = None,
    log: IO[bytes] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    if cpu is not None:
        args = ["taskset", "-c", str(cpu), *args]
    proc = subprocess.Popen(
        args,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if log is None else log,
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
def uvloop_mock_upstream(
    cpu: int | None = None, log: IO[bytes] | None = None
) -> Iterator[tuple[str, int]]:
    """The shipped mock upstream on uvloop (bench/upstream.py): (base URL with /v1, pid)."""
    port = free_port()
    args = [sys.executable, "-m", "bench.upstream", "--port", str(port), "--api-key", MOCK_KEY]
    with process(args, port, cpu=cpu, log=log) as proc:
        yield f"http://127.0.0.1:{port}/v1", proc.pid


@contextlib.contextmanager
def tutorial_app(
    upstream: str, cpu: int | None = None, log: IO[bytes] | None = None
) -> Iterator[tuple[str, int]]:
    """bench/tutorial_app.py on Flask's threaded dev server: (base URL, pid)."""
    port = free_port()
    args = [sys.executable, "-m", "bench.tutorial_app", "--port", str(port)]
    args += ["--base-url", upstream, "--api-key", MOCK_KEY]
    with process(args, port, cpu=cpu, log=log) as proc:
        yield f"http://127.0.0.1:{port}", proc.pid


@contextlib.contextmanager
def nginx(
    upstream: str, cpu: int | None = None, log: IO[bytes] | None = None
) -> Iterator[tuple[str, int]]:
    """nginx ``proxy_pass`` with buffering off, in the foreground from a temporary prefix:
    (base URL, master pid; its worker is a child)."""
    port = free_port()
    upstream_host = upstream.removeprefix("http://").split("/")[0]
    with tempfile.TemporaryDirectory() as prefix:
        os.chmod(prefix, 0o755)
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=prefix, upstream=upstream_host, port=port))
        args = ["nginx", "-p", prefix, "-c", str(conf), "-e", "stderr"]
        with process(args, port, cpu=cpu, log=log) as proc:
            yield f"http://127.0.0.1:{port}", proc.pid


@contextlib.contextmanager
def streamchat(upstream: str, cpu: int | None = None, **options: str) -> Iterator[str]:
    with streamchat_process(upstream, cpu, log=None, command=STREAMCHAT, **options) as (url, _):
        yield url


@contextlib.contextmanager
def streamchat_process(
    upstream: str,
    cpu: int | None = None,
    *,
    log: IO[bytes] | None = None,
    command: Sequence[str] = STREAMCHAT,
    **options: str,
) -> Iterator[tuple[str, int]]:
    """``streamchat serve`` (SQLite in a temporary data directory): (base URL, pid).
    The per-user and per-worker limits are lifted (``BENCH_LIMITS``): one client sends every
    request; ``options`` override them. ``command`` runs it through a wrapper."""
    options = {**BENCH_LIMITS, **options}
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        config = Path(data) / "streamchat.toml"
        config.write_text(
            # titles off: each /api/chat is a new conversation, and a title call would follow
            'default_model = "gpt-4o-mini"\ntitles = false\n'
            '[[providers]]\nname = "mock"\npreset = "openai"\n'
            f'base_url = "{upstream}"\napi_key = "{MOCK_KEY}"\nmodels = ["gpt-4o-mini"]\n'
            "list_models = false\n"
        )
        args = [
            *command,
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
        with process(args, port, cpu=cpu, log=log) as proc:
            yield f"http://127.0.0.1:{port}", proc.pid
