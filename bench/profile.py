"""Where a streamchat relay's CPU goes under load: py-spy samples the relay process (core 0) while
the load generator drives it, then the top functions by own time and by inclusive time are
printed as markdown. py-spy is a measurement tool, not a dependency: ``.venv/bin/pip install
py-spy`` first.

    .venv/bin/python -m bench.profile --relay v1 -c 1000 [--commit HEAD]
    .venv/bin/python -m bench.profile --relay api -c 500 --rate 20 --tokens 100 --native
    .venv/bin/python -m bench.profile --relay api -c 1000 --gc    # GC time, no py-spy

The collapsed stacks are kept (``--raw``) for a flame graph (``flamegraph.pl`` or speedscope).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import uvloop

from bench.gctimed import PREFIX
from bench.load import Dialect, Load, Target, raise_fd_limit, raise_priority, run_load
from bench.processes import STREAMCHAT, streamchat_process
from bench.relays import ROOT, snapshot
from bench.spread import paced_upstream

_PATHS: dict[str, tuple[str, Dialect]] = {
    "v1": ("/v1/chat/completions", "v1"),
    "api": ("/api/chat", "api"),
}


def _function(frame: str) -> str:
    """``name (path/file.py:123)`` -> ``name (file.py)``: lines of one function together."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({short})"


def top_frames(raw: str, count: int) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, top by own time, top by inclusive time) from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        n = int(samples)
        total += n
        functions = [_function(frame) for frame in stack.split(";")]
        own[functions[-1]] += n
        for function in set(functions):
            inclusive[function] += n
    below_root = [(f, n) for f, n in inclusive.most_common() if n < 0.99 * total]
    return total, own.most_common(count), below_root[:count]


# Where a sample belongs: the frame nearest the leaf that carries a marker decides (the token path
# nests: the upstream read calls the publish, which writes to the clients); within one frame, the
# first rule in this order.
PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the cyclic GC", ("gc_collect",)),
    ("persistence (store, SQLAlchemy, aiosqlite)", ("store/", "sqlalchemy/", "aiosqlite/")),
    (
        "encoding and writing to the client (EventStream, encoders, body writer, uvicorn send)",
        (
            "EventStream",
            "_Pushed",
            "BodyWriter",
            "ChunkEncoder",
            "encode_sse",
            "Event.sse",
            "RequestResponseCycle.send",
        ),
    ),
    ("numbering and publishing (generation, broker)", ("Generations.", "Generation.", "fanout/")),
    (
        "upstream read, SSE decode, chunk parse",
        (
            "Connection.data_received",
            "Connection.on_",
            "_AnswerReader",
            "SSEDecoder",
            "parse_chunk",
        ),
    ),
    (
        "request setup (accept, routing, validation, endpoint, upstream connect)",
        (
            "solve_dependencies",
            "run_endpoint_function",
            "raw_routes",
            "chat_completions (",
            "chat (web/chat_api",
            "start_answer",
            "Pool._connect",
            "Pool.send",
            "HttpToolsProtocol",
            "RequestResponseCycle.run_asgi",
        ),
    ),
)


def phases(raw: str) -> list[tuple[str, int]]:
    """Samples per phase of the relay's work (see PHASES); the rest is the event loop."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        counts[_phase(stack.split(";"))] += int(samples)
    return counts.most_common()


def _phase(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, marks in PHASES:
            if any(mark in frame for mark in marks):
                return name
    return "event loop, I/O callbacks, other"


def _table(title: str, rows: list[tuple[str, int]], total: int) -> list[str]:
    lines = [f"| {title} | share of samples |", "|---|---|"]
    lines += [f"| `{name}` | {n / total * 100:.1f} % |" for name, n in rows]
    return lines


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--relay", choices=sorted(_PATHS), default="v1")
    parser.add_argument("-c", "--concurrency", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--ramp", type=float, default=2.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sample-rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--commit", default=None, help="profile streamchat as of this commit")
    parser.add_argument(
        "--native", action="store_true", help="C frames too (syscalls, the GC, orjson)"
    )
    parser.add_argument(
        "--nonblocking", action="store_true", help="sample without pausing the relay"
    )
    parser.add_argument(
        "--gc",
        action="store_true",
        help="no py-spy: time the cyclic GC inside the relay instead (bench/gctimed.py)",
    )
    parser.add_argument("--raw", type=Path, default=None, help="keep the collapsed stacks here")
    return parser.parse_args()


def _py_spy() -> str:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    return spy


def _sampler(
    args: argparse.Namespace, pid: int, duration: int, raw: Path
) -> subprocess.Popen[bytes]:
    # --gil: only the thread holding the GIL, i.e. Python code running (not waiting).
    # py-spy pauses the relay for each sample: whole, trustworthy stacks, but tokens pile up
    # during the pauses and leave in batches, so the relay does less work per token than
    # unprofiled (~45 instead of ~85 CPU ms per 1,000 at c=1,000). --nonblocking keeps the
    # load honest but reads stacks while they change (its leaf frames are not reliable).
    mode = ["--native"] if args.native else ["--nonblocking"] if args.nonblocking else []
    record = [_py_spy(), "record", *mode, "--gil", "-p", str(pid), "-r", str(args.sample_rate)]
    record += ["-d", str(duration), "-f", "raw", "-o", str(raw)]
    return subprocess.Popen(
        ["taskset", "-c", "1", *record], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _gc_totals(log: Path) -> list[dict[str, list[float]]]:
    lines = log.read_text(errors="replace").splitlines()
    return [json.loads(line[len(PREFIX) :]) for line in lines if line.startswith(PREFIX)]


def main() -> None:
    args = _arguments()
    raise_fd_limit()
    raise_priority()
    os.sched_setaffinity(0, {1})
    work = Path(tempfile.mkdtemp(prefix="streamchat-profile-"))
    paths = [str(ROOT)]
    if args.commit:
        tree, _ = snapshot(args.commit, work / "src")
        paths.insert(0, str(tree / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    raw_path = args.raw or work / "stacks.txt"
    path, dialect = _PATHS[args.relay]
    load = Load(args.concurrency, args.tokens, args.rate, ramp=args.ramp)
    log_path = work / "relay.log"
    command = [sys.executable, "-m", "bench.gctimed"] if args.gc else STREAMCHAT
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(log_path.open("ab"))
        # spread arrivals: every stream paced by its own timer (bench/paced_upstream.py)
        upstream, _ = stack.enter_context(paced_upstream(1, log))
        base, pid = stack.enter_context(streamchat_process(upstream, 0, log=log, command=command))
        target = Target(base + path, dialect)
        uvloop.run(run_load(target, Load(20, 5)))
        duration = int(load.ramp + load.tokens / max(load.rate, 1) + 1)
        sampler = None if args.gc else _sampler(args, pid, duration, raw_path)
        if args.gc:
            os.kill(pid, signal.SIGUSR1)
        result = uvloop.run(run_load(target, load, pid))
        if args.gc:
            os.kill(pid, signal.SIGUSR1)
            time.sleep(0.5)
        if sampler is not None:
            _, err = sampler.communicate(timeout=duration + 60)
            if sampler.returncode:
                raise SystemExit(f"py-spy failed: {err.decode(errors='replace')}")
    summary = result.summary()
    print(
        f"streamchat {path}, c={load.concurrency}, {load.tokens} tokens at {load.rate:g}/s: "
        f"{summary['cpu_ms_per_1k_tokens']:.0f} CPU ms per 1,000 tokens "
        f"({summary['cpu_system_share'] or 0:.0%} in the kernel), {summary['failures']} failures "
        f"{dict(result.failures)}\n"
    )
    if args.gc:
        _print_gc(_gc_totals(log_path), result.cpu or 0.0)
        return
    raw = raw_path.read_text()
    total, own, inclusive = top_frames(raw, args.top)
    print(f"{total} samples at {args.sample_rate} Hz; stacks in {raw_path}\n")
    print("\n".join(_table("phase", phases(raw), total)))
    print()
    print("\n".join(_table("own time (function)", own, total)))
    print()
    print("\n".join(_table("inclusive time (function)", inclusive, total)))


def _print_gc(totals: list[dict[str, list[float]]], cpu: float) -> None:
    if len(totals) < 2:
        raise SystemExit("the relay reported no GC totals (see its log)")
    before, after = totals[-2], totals[-1]
    print("| generation | collections | seconds | share of the relay's CPU |")
    print("|---|---|---|---|")
    for generation in range(3):
        seconds = after["seconds"][generation] - before["seconds"][generation]
        count = after["collections"][generation] - before["collections"][generation]
        share = seconds / cpu * 100 if cpu else 0.0
        print(f"| {generation} | {count:.0f} | {seconds:.2f} | {share:.1f} % |")


if __name__ == "__main__":
    main()
