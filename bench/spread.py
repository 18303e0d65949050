"""The relay's cost when tokens arrive as real providers send them: spread arrivals, streamchat
and nginx side by side in one run (issue 15 item 1; the successor of bench.relays' ladder).

Per step (c concurrent streams of ``--tokens`` tokens at ``--rate`` tokens/s): every stream
its own client connection (``Connection: close``), starts spread evenly over ``--ramp``
seconds, and its tokens paced by its own timer in the upstream (bench/paced_upstream.py: token
``i`` of a stream is due ``i / rate`` after that stream's request arrived), so that the tokens
of different streams are not aligned and the relay pays a wake-up, a read and a write per token
per stream. The relay runs on core 0; the paced upstream and the load generator (this process)
on core 1, and they must stay well below that core: a step whose load side used more than
``--max-client`` % of its core (default 70) is not published (its row says so), because a
saturated load side fires its timers late and bunches the tokens again. The upstream reports how
late its timers fired (``late p99``): the arrivals really were spread when that is a few ms.

Relays alternate within a round (the order rotates each round), each on a fresh process with a
fresh upstream and 20 warm-up streams. Relay CPU = utime + stime of its process tree over the
step. ``background`` = the rest of the machine in % of one core during the step (other work; it
disturbs latencies more than the relay's own CPU seconds).

    .venv/bin/python -m bench.spread                         # c=250,500,1000: v1, api, nginx
    .venv/bin/python -m bench.spread --steps 1000 --relays v1,nginx --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import uvloop

from bench.load import Load, Target, raise_fd_limit, raise_priority, run_load
from bench.processes import MOCK_KEY, free_port, nginx, process, streamchat_process
from bench.procstat import cpu_seconds
from bench.relays import snapshot
from bench.scenarios import CLIENT_CPU, RELAY_CPU, RELAYS, _busy_jiffies, _self_cpu

__all__ = ["main", "paced_upstream", "render", "step"]

ROOT = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")
NAMES = {r.key: r.name for r in RELAYS}
PATHS = {r.key: (r.path, r.dialect) for r in RELAYS}
TREES: dict[str, Path] = {}  # commit -> its src/ unpacked (bench.relays.snapshot)


def _name(key: str) -> str:
    base, _, commit = key.partition("@")
    return NAMES[base] + (f" at {commit}" if commit else "")


@contextlib.contextmanager
def paced_upstream(
    cpu: int | None = None, log: IO[bytes] | None = None
) -> Iterator[tuple[str, int]]:
    """bench/paced_upstream.py as a process: (base URL with /v1, pid)."""
    port = free_port()
    args = [sys.executable, "-m", "bench.paced_upstream", "--port", str(port)]
    with process([*args, "--api-key", MOCK_KEY], port, cpu=cpu, log=log) as proc:
        yield f"http://127.0.0.1:{port}/v1", proc.pid


async def _upstream_stats(upstream: str) -> dict[str, Any]:
    host, port = upstream.removeprefix("http://").split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /_stats HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    body = await reader.readexactly(length)
    writer.close()
    result: dict[str, Any] = json.loads(body)
    return result


@contextlib.contextmanager
def _relay(
    key: str, upstream: str, cpu: int | None, log: IO[bytes]
) -> Iterator[tuple[str, int | None]]:
    if key == "direct":
        yield upstream.removesuffix("/v1"), None
    elif key.split("@")[0] in ("v1", "api"):
        tree = TREES.get(key.partition("@")[2], ROOT / "src")
        command = ["env", f"PYTHONPATH={tree}{os.pathsep}{ROOT}", sys.executable, "-m"]
        with streamchat_process(
            upstream, cpu, log=log, command=[*command, "streamchat"]
        ) as started:
            yield started
    elif key == "nginx":
        with nginx(upstream, cpu, log) as started:
            yield started
    else:
        raise ValueError(f"unknown relay {key!r}")


def step(
    runner: asyncio.Runner,
    key: str,
    load: Load,
    logs: Path,
    pin: bool,
) -> dict[str, Any]:
    """One relay at one step on fresh processes: the load's summary plus the meters."""
    relay_cpu = RELAY_CPU if pin else None
    client_cpu = CLIENT_CPU if pin else None
    path, dialect = PATHS[key.split("@")[0]]
    with (
        (logs / f"{key}-{load.concurrency}.log").open("ab") as log,
        contextlib.ExitStack() as stack,
    ):
        upstream, mock_pid = stack.enter_context(paced_upstream(client_cpu, log))
        base, pid = stack.enter_context(_relay(key, upstream, relay_cpu, log))
        target = Target(base + path, dialect)
        warm = runner.run(run_load(target, Load(min(load.concurrency, 20), 5)))
        if warm.failed:
            return {"error": f"warm-up failed: {dict(warm.failures)}"}
        runner.run(_upstream_stats(upstream))  # reset
        loadavg = os.getloadavg()[0]
        start, busy = time.monotonic(), _busy_jiffies()
        client = cpu_seconds(mock_pid) + _self_cpu()
        result = runner.run(run_load(target, load, pid))
        wall = time.monotonic() - start
        client = cpu_seconds(mock_pid) + _self_cpu() - client
        machine = (_busy_jiffies() - busy) / _TICKS
        metrics: dict[str, Any] = dict(result.summary())
        metrics["failure_reasons"] = dict(result.failures)
        metrics["client_core"] = client / wall
        metrics["background"] = max(0.0, machine - (result.cpu or 0.0) - client) / wall
        metrics["loadavg"] = loadavg
        metrics["upstream"] = runner.run(_upstream_stats(upstream))
    return metrics


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def render(results: dict[str, Any], max_client: float) -> str:
    """The markdown table: one row per round, step and relay; the ratio to nginx of the same
    round and step; steps whose load side was above ``max_client`` % are not published."""
    lines = [
        "| relay | c | round | failures | TTFT p50 / p99 ms | gap p50 / p99 ms "
        "| CPU ms / 1k tokens | x nginx (same step) | of it user / kernel "
        "| relay core % | load side core % | upstream timers late p99 ms | background % "
        "| load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for number, run in enumerate(results["runs"], 1):
        for c, relays in run.items():
            base = relays.get("nginx", {}).get("cpu_ms_per_1k_tokens")
            for key, m in relays.items():
                name = _name(key)
                if "error" in m:
                    lines.append(f"| {name} | {c} | {number} | {m['error']} |" + " |" * 10)
                    continue
                client = m["client_core"] * 100
                background = f"{m['background'] * 100:.0f}"
                if client > max_client:
                    lines.append(
                        f"| {name} | {c} | {number} | not published: load side at "
                        f"{client:.0f} % of its core (> {max_client:.0f} %) |"
                        + " |"
                        * 6
                        + f" {client:.0f} | {_fmt(m['upstream'].get('late_p99_ms'))} "
                        f"| {background} | {m['loadavg']:.1f} |"
                    )
                    continue
                cost = m.get("cpu_ms_per_1k_tokens")
                ratio = f"{cost / base:.2f}x" if cost and base and key != "nginx" else "—"
                lines.append(
                    f"| {name} | {c} | {number} | {m['failures']} "
                    f"| {_fmt(m['ttft_p50_ms'])} / {_fmt(m['ttft_p99_ms'])} "
                    f"| {_fmt(m['gap_p50_ms'])} / {_fmt(m['gap_p99_ms'])} "
                    f"| {_fmt(cost)} | {ratio} "
                    f"| {_split(cost, m.get('cpu_system_share'))} "
                    f"| {_fmt(m['cpu_share'] * 100 if m.get('cpu_share') else None, 0)} "
                    f"| {client:.0f} | {_fmt(m['upstream'].get('late_p99_ms'))} "
                    f"| {background} | {m['loadavg']:.1f} |"
                )
    return "\n".join(lines)


def _split(cost: float | None, kernel_share: float | None) -> str:
    """The CPU per 1k tokens split into user and kernel time."""
    if cost is None or kernel_share is None:
        return "—"
    return f"{_fmt(cost * (1 - kernel_share))} / {_fmt(cost * kernel_share)}"


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", default="250,500,1000", help="concurrent streams per step")
    parser.add_argument("--relays", default="v1,api,nginx", help="of: direct, v1, api, nginx")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which starts spread")
    parser.add_argument("--max-client", type=float, default=70.0, help="load side core %% cap")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "spread.json")
    parser.add_argument(
        "--commits",
        default="HEAD",
        help="streamchat as of these commits, side by side (comma-separated; 'tree' is the "
        "working tree). Each is unpacked with git archive, so other work in progress in the "
        "working tree does not reach the relay",
    )
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--no-priority", action="store_true")
    args = parser.parse_args()
    steps = [int(c) for c in args.steps.split(",") if c]
    logs = Path(tempfile.mkdtemp(prefix="streamchat-spread-"))
    commits = []
    for commit in args.commits.split(","):
        if commit == "tree":
            commits.append("tree")
            TREES["tree"] = ROOT / "src"
        else:
            tree, short = snapshot(commit, logs / commit.replace("/", "_"))
            commits.append(short)
            TREES[short] = tree / "src"
    relays = []
    for key in (key for key in args.relays.split(",") if key):
        relays.extend([f"{key}@{c}" for c in commits] if key in ("v1", "api") else [key])
    if "nginx" in relays and not shutil.which("nginx"):
        _progress("nginx is not installed (apt-get install -y nginx): its row is left out")
        relays.remove("nginx")
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    os.environ["PYTHONPATH"] = str(ROOT)
    nice = None if args.no_priority else raise_priority()
    raise_fd_limit()
    if pin:
        os.sched_setaffinity(0, {CLIENT_CPU})
    _progress(f"logs in {logs}; pinning {'on' if pin else 'off'}; nice {nice}; {commits}")
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python -m bench.spread", *sys.argv[1:]]),
        "commits": commits,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "runs": [],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    try:
        for number in range(args.rounds):
            run: dict[int, dict[str, Any]] = {}
            results["runs"].append(run)
            order = relays[number % len(relays) :] + relays[: number % len(relays)]
            for c in steps:
                run[c] = {}
                load = Load(c, args.tokens, args.rate, ramp=args.ramp)
                for key in order:
                    _progress(f"round {number + 1} c={c} {key} ...")
                    m = run[c][key] = step(runner, key, load, logs, pin)
                    _progress(
                        "  "
                        + " ".join(
                            f"{k}={m.get(k)!s:.6}"
                            for k in (
                                "failures",
                                "cpu_ms_per_1k_tokens",
                                "ttft_p99_ms",
                                "gap_p99_ms",
                                "client_core",
                                "background",
                                "error",
                            )
                        )
                        + f" late_p99={m.get('upstream', {}).get('late_p99_ms')}"
                    )
                    args.json.write_text(json.dumps(results, indent=1))
    finally:
        runner.close()
    print(f"Command: `{results['command']}` ({', '.join(commits)}), {results['started']}\n")
    print(render(results, args.max_client))


if __name__ == "__main__":
    main()
