"""streamchat against its peers, side by side in one run: direct to the mock upstream, streamchat
``/v1/chat/completions``, streamchat ``/api/chat`` (SQLite), the tutorial design (bench/
tutorial_app.py) and nginx ``proxy_pass`` (when installed).

Per run, per scenario, per relay (interleaved, so that drift hits every relay alike): a fresh
mock upstream on core 1, a fresh relay on core 0, a warm-up, then the measurement. Scenarios:
c=1 TTFT; the concurrency ladder at 20 tokens/s; saturation; memory per open idle stream.

    .venv/bin/python -m bench.relays            # 3 runs, medians with min..max (~35 minutes)
    .venv/bin/python -m bench.relays --quick    # smoke run of every path (~3 minutes)

The raw results go to ``--json`` (default bench/results/latest.json), the markdown to stdout;
each relay's stderr goes to a log directory that is printed at the start.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.load import raise_fd_limit, raise_priority
from bench.report import machine, render
from bench.scenarios import RELAYS, Bench, Plan

ROOT = Path(__file__).resolve().parent.parent


SCENARIOS = ("ttft", "ladder", "saturation", "idle")


def _scenarios(plan: Plan) -> list[tuple[str, int]]:
    return [
        (name, concurrency)
        for name, concurrency in [
            ("ttft", 1),
            *(("ladder", c) for c in plan.ladder),
            ("saturation", plan.saturation),
            ("idle", plan.idle_streams),
        ]
        if name in plan.scenarios
    ]


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _brief(metrics: dict[str, Any]) -> str:
    keys = (
        "error",
        "failures",
        "ttft_median_ms",
        "ttft_p99_ms",
        "gap_p99_ms",
        "cpu_ms_per_1k_tokens",
        "tokens_per_s",
        "kb_per_stream",
        "client_core",
        "background",
    )
    shown = []
    for key in keys:
        value = metrics.get(key)
        if isinstance(value, float):
            shown.append(f"{key}={value:.2f}")
        elif value is not None:
            shown.append(f"{key}={value}")
    return " ".join(shown)


def run(bench: Bench, relays: list[str], runs: int, results: dict[str, Any], out: Path) -> None:
    for number in range(runs):
        run_results: dict[str, dict[str, Any]] = {key: {} for key in relays}
        results["runs"].append(run_results)
        for name, concurrency in _scenarios(bench.plan):
            sid = name if name == "ttft" else f"{name}-{concurrency}"
            for relay in (r for r in RELAYS if r.key in relays):
                _progress(f"run {number + 1}/{runs} {sid} {relay.key} ...")
                metrics = bench.scenario(relay, name, concurrency)
                run_results[relay.key][sid] = metrics
                _progress(f"  {_brief(metrics)}")
                out.write_text(json.dumps(results, indent=1))


def snapshot(commit: str, into: Path) -> tuple[Path, str]:
    """``git archive`` of ``commit`` unpacked into ``into``: (the tree, the short hash)."""
    into.mkdir(parents=True)
    short = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", commit],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", short, "src"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into, short


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (1 run)")
    parser.add_argument("--runs", type=int, default=None, help="runs (default 3; --quick: 1)")
    parser.add_argument(
        "--relays",
        default="direct,v1,api,tutorial,nginx",
        help="comma-separated subset of: " + ", ".join(r.key for r in RELAYS),
    )
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument(
        "--commit",
        default=None,
        help="measure streamchat as of this commit (git archive into a temporary directory) "
        "instead of the working tree",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated subset of: " + ", ".join(SCENARIOS) + " (e.g. idle: memory per "
        "open idle stream only, ~1 minute per relay)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument(
        "--no-priority",
        action="store_true",
        help="leave the scheduling priority alone (by default, as root, every process of the "
        "benchmark runs at nice -20 so that other work on the machine cannot take its cores)",
    )
    args = parser.parse_args()
    plan = Plan.quick() if args.quick else Plan()
    scenarios = tuple(name for name in args.scenarios.split(",") if name)
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown or not scenarios:
        parser.error(f"--scenarios: choose from {', '.join(SCENARIOS)} (got {args.scenarios!r})")
    plan = dataclasses.replace(plan, scenarios=scenarios)
    runs = args.runs or (1 if args.quick else 3)
    relays = [key for key in args.relays.split(",") if key]
    if "nginx" in relays and not shutil.which("nginx"):
        _progress("nginx is not installed (apt-get install -y nginx): its row is left out")
        relays.remove("nginx")
    if "tutorial" in relays and importlib.util.find_spec("flask") is None:
        _progress("Flask is not installed (.venv/bin/pip install flask): the tutorial row is out")
        relays.remove("tutorial")
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    logs = Path(tempfile.mkdtemp(prefix="streamchat-bench-"))
    _progress(f"relay logs in {logs}")
    paths = [str(ROOT)]
    machine_commit = None
    if args.commit is not None:
        tree, machine_commit = snapshot(args.commit, logs / "src")
        paths.insert(0, str(tree / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    nice = None if args.no_priority else raise_priority()
    _progress(
        f"open files limit {raise_fd_limit()}; pinning {'on' if pin else 'off'}; "
        f"nice {nice if nice is not None else 'unchanged'}"
    )
    command = shlex.join([".venv/bin/python", "-m", "bench.relays", *sys.argv[1:]])
    results: dict[str, Any] = {
        "command": command,
        "machine": machine(ROOT, machine_commit),
        "plan": dataclasses.asdict(plan),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "runs": [],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    bench = Bench(plan, logs, pin=pin)
    try:
        run(bench, relays, runs, results, args.json)
    finally:
        bench.close()
    names = {r.key: r.name for r in RELAYS if r.key in relays}
    print(render(results, names))


if __name__ == "__main__":
    main()
