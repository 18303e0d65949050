"""Issue 16, item 8 (carried): the exit status of ``streamchat serve`` as a process supervisor
sees it. A single ``serve`` drained cleanly after SIGTERM and then died of the signal (143:
uvicorn re-raised it under the default handler), so systemd and Kubernetes saw a failure; a
``serve --workers N`` whose workers could not start exited 0, so nothing restarted or alerted."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import httpx
import pytest

from bench.processes import free_port, wait_for_port
from tests.faults.test_shutdown import config_file
from tests.harness import MockUpstream, read_stream

STARTUP_FAILURE = 3  # uvicorn's


async def serve(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "streamchat", "serve", "--log-level", "warning", *args),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_a_single_serve_exits_0_after_a_clean_sigterm_drain(
    tmp_path: Path, mock_upstream: MockUpstream
) -> None:
    port = free_port()
    proc = await serve(
        *("--port", str(port), "--data-dir", str(tmp_path)),
        *("--config", str(config_file(tmp_path, mock_upstream)), "--shutdown-grace", "2"),
    )
    try:
        try:
            await asyncio.to_thread(wait_for_port, port)
        except RuntimeError:
            proc.kill()
            _, stderr = await proc.communicate()
            raise AssertionError(f"serve did not start: {stderr.decode()[-3000:]}") from None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            stream = await read_stream(
                client, "POST", "/api/chat", json={"message": "hi", "model": "demo"}
            )
            assert stream.types()[-1] == "done"
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr


@pytest.mark.timeout(90)
async def test_a_multi_worker_startup_failure_exits_non_zero(tmp_path: Path) -> None:
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"  # each worker's startup needs Redis
    proc = await serve(
        *("--port", str(free_port()), "--workers", "2", "--data-dir", str(tmp_path)),
        *("--redis-url", nothing_there),
    )
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == STARTUP_FAILURE, stderr.decode()[-2000:]
    assert b"a worker failed to start" in stderr
    assert b"the stream broker (Redis) is unavailable" in stderr  # the reason is in the log
