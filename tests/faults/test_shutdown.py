"""SIGTERM in the middle of answers (a real `streamchat serve` process, --shutdown-grace 1): an
answer that ends within the grace period ends normally; a longer one ends with a retryable
``server_restarting`` error; each is stored with every piece of text its client got; nothing new
starts meanwhile; the process exits."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.processes import free_port, wait_for_port
from streamchat.store.sql import SqlStore
from tests.faults.tally import TALLY, ended_once
from tests.harness import MockUpstream, Stream, read_stream

GRACE_S = 1.0


def config_file(directory: Path, mock: MockUpstream) -> Path:
    path = directory / "streamchat.toml"
    path.write_text(
        '[[providers]]\nname = "mock"\npreset = "openai"\n'
        f'base_url = "{mock.url}"\napi_key = "{mock.api_key}"\n'
        'models = ["gpt-4o-mini"]\nlist_models = false\n'
    )
    return path


@contextlib.contextmanager
def served(directory: Path, mock: MockUpstream) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    args = [
        *(sys.executable, "-m", "streamchat", "serve", "--port", str(port)),
        *("--config", str(config_file(directory, mock)), "--data-dir", str(directory)),
        *("--shutdown-grace", str(GRACE_S), "--flush-interval", "0.2", "--log-level", "warning"),
    ]
    with subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            wait_for_port(port)
            yield f"http://127.0.0.1:{port}", proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)


async def stored_answers(database: str) -> dict[str, dict[str, Any]]:
    store = SqlStore(database)
    await store.open()
    try:
        answers = {}
        for conversation in await store.list_conversations("local", limit=10, offset=0):
            for message in await store.list_messages("local", conversation.id):
                if message.role == "assistant":
                    answers[message.id] = {
                        "status": message.status,
                        "content": message.content,
                        "error": message.error,
                    }
        return answers
    finally:
        await store.close()


async def test_sigterm_mid_stream(tmp_path: Path, mock_upstream: MockUpstream) -> None:
    with served(tmp_path, mock_upstream) as (url, proc):
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:

            async def answer(directive: str) -> Stream:
                return await read_stream(
                    client,
                    "POST",
                    "/api/chat",
                    json={"message": f"[[mock {directive}]]", "model": "gpt-4o-mini"},
                )

            short = asyncio.create_task(answer("tokens=12 rate=20"))  # 0.6 s: within grace
            long = asyncio.create_task(answer("tokens=400 rate=40"))  # 10 s: cut by shutdown
            await asyncio.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            TALLY.fault()
            signalled = time.monotonic()
            await asyncio.sleep(0.2)
            try:
                late = await client.post("/api/chat", json={"message": "late", "model": "demo"})
            except httpx.TransportError:
                pass  # no longer accepting connections: as good as a 503
            else:
                assert late.status_code == 503
                assert late.json()["error"]["code"] == "server_restarting"
            short_stream, long_stream = await asyncio.wait_for(asyncio.gather(short, long), 15)
        exit_code = proc.wait(timeout=15)
        exited_after = time.monotonic() - signalled
        stderr = proc.stderr.read().decode() if proc.stderr else ""

    ended_once(short_stream, "short answer at SIGTERM")
    ended_once(long_stream, "long answer at SIGTERM")
    assert short_stream.types()[-1] == "done"
    assert short_stream.text() == "".join(f" w{i}" for i in range(1, 13))
    assert long_stream.types()[-1] == "error"
    error = long_stream.last()
    assert (error["code"], error["retryable"]) == ("server_restarting", True)
    assert 0 < long_stream.types().count("delta") < 400
    assert exit_code == 0  # a clean drain (tests/faults/test_exit_status.py)
    assert exited_after < GRACE_S + 8
    assert "Traceback" not in stderr

    answers = await stored_answers(f"sqlite+aiosqlite:///{tmp_path / 'streamchat.db'}")
    short_id = short_stream.first("meta")["message_id"]
    long_id = long_stream.first("meta")["message_id"]
    assert answers[short_id] == {
        "status": "complete",
        "content": short_stream.text(),
        "error": None,
    }
    assert answers[long_id]["status"] == "incomplete"
    assert answers[long_id]["content"] == long_stream.text()
    assert answers[long_id]["error"]["code"] == "server_restarting"
