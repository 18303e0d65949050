"""deploy/nginx.conf in front of two workers: events pass unbuffered, re-attach crosses workers."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.processes import free_port, wait_for_port
from tests.conftest import Cluster
from tests.harness import read_stream
from tests.web.test_chat_stream import words

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def nginx(cluster: Cluster, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    a, b, _ = cluster
    port = free_port()
    text = CONFIG.read_text()
    text = re.sub(r"server 127\.0\.0\.1:8001;", f"server {a.removeprefix('http://')};", text)
    text = re.sub(r"server 127\.0\.0\.1:8002;", f"server {b.removeprefix('http://')};", text)
    text = text.replace("listen 127.0.0.1:8000;", f"listen 127.0.0.1:{port};")
    (tmp_path / "nginx.conf").write_text(text)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / "tmp" / sub).mkdir(parents=True)
    with subprocess.Popen(
        [binary, "-p", str(tmp_path), "-c", "nginx.conf"], stderr=subprocess.PIPE
    ) as proc:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
        proc.terminate()
        proc.communicate(timeout=10)


async def test_events_pass_nginx_as_they_happen(nginx: str) -> None:
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream(
            "POST",
            nginx + "/api/chat",
            json={"message": "[[mock tokens=40 rate=10]]", "model": "gpt-4o-mini"},
        ) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        started = time.monotonic()
        async for line in response.aiter_lines():
            if line.startswith("event: delta"):
                break
        assert time.monotonic() - started < 1.5  # not held back until the 4 s answer ends
        generation_id = response.headers["x-streamchat-generation-id"]
    async with httpx.AsyncClient(timeout=30) as client:
        # Re-attach through nginx: whichever worker it picks has the whole stream.
        for _ in range(2):
            again = await read_stream(
                client, "GET", f"{nginx}/api/generations/{generation_id}/events"
            )
            assert again.text() == words(40)
            assert again.types()[-1] == "done"
