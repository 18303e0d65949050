"""Does ``streamchat serve --workers N`` scale? Tokens per second at saturation with one worker
and with two, side by side in one run (issue 15 item 6).

Per row: a fresh ``streamchat serve`` (SQLite in its data directory, or a fresh PostgreSQL
database), the paced upstream (bench/paced_upstream.py) sending every answer's tokens as fast
as it can (``rate=0``), and ``wrk`` keeping ``--connections`` streams open for ``--duration``
seconds, a new request on each connection as soon as its answer ended. Three rows per surface
and store: one worker with the in-process broker (the default deployment), one worker on Redis,
two workers on Redis (which more than one worker needs); the ratio is two workers over one on
Redis, the same broker.

Tokens per second are those the upstream sent during the run (answers still open at the end
included; wrk counts only the answers that ended). wrk (C, one thread) is the load side: a
Python client parsing SSE costs about what the relay does per token and would take the second
worker's core. Nothing is pinned, the workers need both cores; so on a 2-core machine the
upstream, Redis and wrk share the cores with the workers (their CPU is in the table, in % of
one core), and the ratio shows what is left for the second worker.

    .venv/bin/python -m bench.workers [--surfaces v1,api] [--databases sqlite,postgres]
        [--tokens 200] [--connections 256] [--duration 20] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.brokers import _database, _redis_pid
from bench.load import raise_fd_limit
from bench.processes import MOCK_KEY, streamchat_process
from bench.procstat import cpu_seconds
from bench.relays import snapshot
from bench.spread import _upstream_stats, paced_upstream

__all__ = ["main", "parse_wrk", "render"]

ROOT = Path(__file__).resolve().parent.parent
PATHS = {"v1": "/v1/chat/completions", "api": "/api/chat"}
REDIS_URL = "redis://127.0.0.1:6379/14"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
SCRIPT = """\
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "text/event-stream"
wrk.headers["Authorization"] = "Bearer {key}"
"""


def _body(surface: str, tokens: int) -> bytes:
    prompt = f"[[mock tokens={tokens} rate=0]]"
    if surface == "v1":
        payload: dict[str, Any] = {
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": [{"role": "user", "content": prompt}],
        }
    else:
        payload = {"message": prompt, "model": "gpt-4o-mini"}
    return orjson.dumps(payload)


def parse_wrk(output: str) -> dict[str, float]:
    """Answers per second, answers, non-2xx answers and socket errors from wrk's summary."""
    found: dict[str, float] = {"non_2xx": 0.0, "socket_errors": 0.0}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", output):
        found["answers_per_s"] = float(m.group(1))
    if m := re.search(r"(\d+) requests in", output):
        found["answers"] = float(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        found["non_2xx"] = float(m.group(1))
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        found["socket_errors"] = float(sum(int(g) for g in m.groups()))
    return found


@contextlib.contextmanager
def _store(database: str) -> Iterator[dict[str, str]]:
    if database == "postgres":
        with _database(PG_ADMIN) as url:
            yield {"database_url": url}
    else:
        yield {}


def _wrk(url: str, script: Path, connections: int, duration: float) -> tuple[str, float]:
    """Run wrk; its output and the CPU seconds it used (it is the only child waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    args = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "30s"]
    done = subprocess.run([*args, "-s", str(script), url], capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return done.stdout + done.stderr, cpu


def row(
    workers: int,
    surface: str,
    database: str,
    tokens: int,
    connections: int,
    duration: float,
    redis_single: bool = False,
    tree: Path | None = None,
) -> dict[str, Any]:
    """One configuration on fresh processes: wrk's figures and every part's CPU."""
    import redis  # the benchmark's own dependency, as in bench.brokers

    with redis.Redis.from_url(REDIS_URL) as client:
        client.flushdb()
    redis_pid = _redis_pid(REDIS_URL) if workers > 1 or redis_single else None
    broker = {"redis_url": REDIS_URL} if workers > 1 or redis_single else {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        (Path(tmp) / "log").open("ab") as log,
        _store(database) as store,
        paced_upstream(None, log) as (upstream, upstream_pid),
        streamchat_process(
            upstream, None, log=log, command=_command(tree), workers=str(workers), **broker, **store
        ) as (base, pid),
    ):
        script = Path(tmp) / "post.lua"
        body = _body(surface, tokens).decode()
        script.write_text(SCRIPT.format(body=orjson.dumps(body).decode(), key=MOCK_KEY))
        url = base + PATHS[surface]
        _wrk(url, script, min(connections, 16), 2.0)  # warm-up: every worker, the pools
        meters = [cpu_seconds(p) if p else 0.0 for p in (pid, upstream_pid, redis_pid or 0)]
        asyncio.run(_upstream_stats(upstream))  # resets its count
        start = time.monotonic()
        output, wrk_cpu = _wrk(url, script, connections, duration)
        wall = time.monotonic() - start
        sent = asyncio.run(_upstream_stats(upstream))["tokens"]
        used = [
            (cpu_seconds(p) if p else 0.0) - m
            for p, m in zip((pid, upstream_pid, redis_pid or 0), meters, strict=True)
        ]
    result: dict[str, Any] = {
        "workers": workers,
        "broker": "redis" if broker else "in-process",
        "surface": surface,
        "database": database,
        "tokens": tokens,
        **parse_wrk(output),
    }
    # The tokens the upstream sent while wrk ran, answers still open at its end included (wrk
    # counts only the answers that ended; the relay forwards what it reads at once).
    result["tokens_per_s"] = sent / wall
    for name, seconds in zip(("streamchat", "upstream", "redis"), used, strict=True):
        result[f"{name}_core"] = seconds / wall
    result["wrk_core"] = wrk_cpu / wall
    result["loadavg"] = os.getloadavg()[0]
    if "answers" not in result:
        result["error"] = output.strip().splitlines()[-1] if output.strip() else "wrk failed"
    return result


def _command(tree: Path | None) -> list[str]:
    """``python -m streamchat``, from ``tree`` (a commit's src/ unpacked) when given."""
    if tree is None:
        return [sys.executable, "-m", "streamchat"]
    return [
        "env",
        f"PYTHONPATH={tree / 'src'}{os.pathsep}{ROOT}",
        sys.executable,
        "-m",
        "streamchat",
    ]


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| surface | store | workers | broker | answers/s | tokens/s | x 1 worker "
        "| non-2xx / socket errors | streamchat % | upstream % | redis % | wrk % | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    single: dict[tuple[str, str], float] = {}
    for r in rows:
        key = (r["surface"], r["database"])
        if r["workers"] == 1 and r["broker"] == "redis":
            single[key] = r["tokens_per_s"]
        base = single.get(key)
        ratio = f"{r['tokens_per_s'] / base:.2f}x" if base and r["workers"] != 1 else "—"
        errors = f"{r['non_2xx']:.0f} / {r['socket_errors']:.0f}"
        if r.get("error"):
            errors = r["error"]
        lines.append(
            f"| {r['surface']} | {r['database']} | {r['workers']} | {r['broker']} "
            f"| {r.get('answers_per_s', 0):,.1f} | {r['tokens_per_s']:,.0f} | {ratio} | {errors} "
            f"| {r['streamchat_core'] * 100:.0f} | {r['upstream_core'] * 100:.0f} "
            f"| {r['redis_core'] * 100:.0f} | {r['wrk_core'] * 100:.0f} | {r['loadavg']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--surfaces", default="v1,api")
    parser.add_argument("--databases", default="sqlite", help="of: sqlite, postgres")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--commit", default="HEAD", help="streamchat as of this commit (git archive), not the tree"
    )
    args = parser.parse_args()
    raise_fd_limit()
    rows = []
    unpacked = Path(tempfile.mkdtemp(prefix="streamchat-workers-"))
    tree, short = snapshot(args.commit, unpacked / "tree")
    print(f"streamchat at {short}", file=sys.stderr)
    for _ in range(args.rounds):
        for surface in args.surfaces.split(","):
            for database in args.databases.split(","):
                for workers, on_redis in ((1, False), (1, True), (2, True)):
                    print(
                        f"[{time.strftime('%H:%M:%S')}] {surface} {database} x{workers}",
                        file=sys.stderr,
                        flush=True,
                    )
                    options = (args.tokens, args.connections, args.duration, on_redis, tree)
                    rows.append(row(workers, surface, database, *options))
    if args.json:
        args.json.write_text(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
    shutil.rmtree(unpacked, ignore_errors=True)
    print(render(rows))


if __name__ == "__main__":
    main()
