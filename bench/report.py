"""Markdown tables from the raw results of several runs: every cell is the median over the runs
with ``(min..max)`` when they differ; the machine description; issue 4's targets, met or not.

Raw results: ``{"runs": [{relay_key: {scenario_id: metrics}}], "plan": {...}}`` where a
scenario id is ``ttft``, ``ladder-<c>``, ``saturation-<c>`` or ``idle-<n>``.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["machine", "render"]

Results = dict[str, Any]
BREAKDOWN_TTFT_MS = 10_000
TOKENS_PER_S = 20  # per stream, for "streams one core holds"
_PACKAGES = (
    "streamchat",
    "uvicorn",
    "fastapi",
    "starlette",
    "aiohttp",
    "uvloop",
    "httptools",
    "orjson",
    "SQLAlchemy",
    "aiosqlite",
    "flask",
    "werkzeug",
    "openai",
    "httpx",
)


def machine(root: Path, commit: str | None = None) -> dict[str, str]:
    """CPU, cores, kernel, Python, package versions, nginx, and the commit measured (``commit``
    when a snapshot is measured, else the working tree's HEAD and whether src/ is dirty)."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    versions = []
    for name in _PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    nginx = "nginx not installed"
    if shutil.which("nginx"):
        probe = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False)
        nginx = probe.stderr.strip().removeprefix("nginx version: ")
    return {
        "cpu": f"{cpu}, {_cores()} cores",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": ", ".join(versions),
        "nginx": nginx,
        "commit": commit or _commit(root),
    }


def _cores() -> int:
    return os.cpu_count() or 0


def _commit(root: Path) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src")
    return head + (" with uncommitted changes in src/" if dirty else "")


# -- aggregation -------------------------------------------------------------------------------


def _values(results: Results, relay: str, scenario: str, metric: str) -> list[float]:
    out = []
    for run in results["runs"]:
        value = run.get(relay, {}).get(scenario, {}).get(metric)
        if isinstance(value, int | float):
            out.append(float(value))
    return out


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float, digits: int) -> str:
    if digits == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _cell(values: Sequence[float], digits: int = 1, scale: float = 1.0) -> str:
    if not values:
        return "—"
    scaled = [v * scale for v in values]
    median = _fmt(statistics.median(scaled), digits)
    low, high = _fmt(min(scaled), digits), _fmt(max(scaled), digits)
    return median if low == high else f"{median} ({low}..{high})"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _ladder_steps(results: Results) -> list[int]:
    return [int(c) for c in results["plan"]["ladder"]]


def _cost_step(results: Results) -> int:
    steps = _ladder_steps(results)
    return 1000 if 1000 in steps else steps[-1]


def _broke_down(results: Results, relay: str, step: int) -> bool:
    sid = f"ladder-{step}"
    p99 = _median(_values(results, relay, sid, "ttft_p99_ms"))
    failures = _median(_values(results, relay, sid, "failures"))
    return (p99 is None or p99 > BREAKDOWN_TTFT_MS) or bool(failures)


def _breakdown(results: Results, relay: str) -> str:
    steps = _ladder_steps(results)
    for step in steps:
        if _broke_down(results, relay, step):
            return f"{step:,}"
    return f"none up to {steps[-1]:,}"


def _added_ttft(results: Results, relay: str) -> list[float]:
    added = []
    for run in results["runs"]:
        mine = run.get(relay, {}).get("ttft", {}).get("ttft_median_ms")
        direct = run.get("direct", {}).get("ttft", {}).get("ttft_median_ms")
        if isinstance(mine, int | float) and isinstance(direct, int | float):
            added.append(mine - direct)
    return added


# -- tables ------------------------------------------------------------------------------------


def _summary(results: Results, relays: dict[str, str]) -> list[str]:
    step = _cost_step(results)
    sat = f"saturation-{results['plan']['saturation']}"
    idle = f"idle-{results['plan']['idle_streams']}"
    rows = []
    for key, name in relays.items():
        cost = _values(results, key, f"ladder-{step}", "cpu_ms_per_1k_tokens")
        medians = [
            m
            for s in _ladder_steps(results)
            if (m := _median(_values(results, key, f"ladder-{s}", "cpu_ms_per_1k_tokens")))
        ]
        spread = f"{min(medians):,.0f}–{max(medians):,.0f}" if medians else "—"
        held = _median(cost)
        rows.append(
            [
                name,
                _cell(cost, 1),
                spread,
                f"~{1000 / (held * TOKENS_PER_S / 1000):,.0f}" if held else "—",
                _breakdown(results, key),
                "0 (reference)" if key == "direct" else _cell(_added_ttft(results, key), 2),
                _cell(_values(results, key, idle, "kb_per_stream"), 1),
                _cell(_values(results, key, sat, "tokens_per_s"), 0),
            ]
        )
    header = [
        "relay",
        f"CPU ms per 1,000 tokens at c={step:,}",
        "same, range over the ladder (step medians)",
        f"streams one core holds at {TOKENS_PER_S} tokens/s (from the c={step:,} cost)",
        "breaks down at (TTFT p99 > 10 s or failures)",
        "TTFT added at c=1 (ms, median)",
        "RSS per idle open stream (KB)",
        "saturation tokens/s",
    ]
    return _table(header, rows)


_LOAD_COLUMNS: tuple[tuple[str, str, int, float], ...] = (
    ("failures", "failures", 0, 1.0),
    ("TTFT p50 ms", "ttft_p50_ms", 1, 1.0),
    ("TTFT p99 ms", "ttft_p99_ms", 1, 1.0),
    ("gap p50 ms", "gap_p50_ms", 1, 1.0),
    ("gap p99 ms", "gap_p99_ms", 1, 1.0),
    ("gap max ms", "gap_max_ms", 0, 1.0),
    ("CPU ms / 1k tokens", "cpu_ms_per_1k_tokens", 1, 1.0),
    ("relay core %", "cpu_share", 0, 100.0),
    ("of it kernel %", "cpu_system_share", 0, 100.0),
    ("peak RSS MB", "peak_rss_mb", 0, 1.0),
    ("client core %", "client_core", 0, 100.0),
    ("background %", "background", 0, 100.0),
)


def _load_rows(
    results: Results, relays: dict[str, str], scenarios: Sequence[str], lead: Callable[[str], str]
) -> list[list[str]]:
    rows = []
    for key, name in relays.items():
        for sid in scenarios:
            row = [name, lead(sid)]
            row += [
                _cell(_values(results, key, sid, metric), digits, scale)
                for _, metric, digits, scale in _LOAD_COLUMNS
            ]
            rows.append(row)
    return rows


def _ladder(results: Results, relays: dict[str, str]) -> list[str]:
    sids = [f"ladder-{s}" for s in _ladder_steps(results)]
    header = ["relay", "c", *(title for title, *_ in _LOAD_COLUMNS)]
    return _table(header, _load_rows(results, relays, sids, lambda s: f"{int(s[7:]):,}"))


def _saturation(results: Results, relays: dict[str, str]) -> list[str]:
    sid = f"saturation-{results['plan']['saturation']}"
    header = ["relay", "tokens/s", *(title for title, *_ in _LOAD_COLUMNS)]
    rows = _load_rows(results, relays, [sid], lambda s: "")
    for row, key in zip(rows, relays, strict=True):
        row[1] = _cell(_values(results, key, sid, "tokens_per_s"), 0)
    return _table(header, rows)


def _ttft(results: Results, relays: dict[str, str]) -> list[str]:
    rows = []
    for key, name in relays.items():
        rows.append(
            [
                name,
                _cell(_values(results, key, "ttft", "ttft_median_ms"), 2),
                _cell(_values(results, key, "ttft", "ttft_min_ms"), 2),
                _cell(_values(results, key, "ttft", "ttft_max_ms"), 2),
                "—" if key == "direct" else _cell(_added_ttft(results, key), 2),
                _cell(_values(results, key, "ttft", "failures"), 0),
            ]
        )
    header = ["relay", "TTFT median ms", "min ms", "max ms", "added over direct ms", "failures"]
    return _table(header, rows)


def _idle(results: Results, relays: dict[str, str]) -> list[str]:
    sid = f"idle-{results['plan']['idle_streams']}"
    rows = []
    for key, name in relays.items():
        if key == "direct":
            continue
        rows.append(
            [
                name,
                _cell(_values(results, key, sid, "rss_before_mb"), 1),
                _cell(_values(results, key, sid, "rss_idle_mb"), 1),
                _cell(_values(results, key, sid, "kb_per_stream"), 1),
                _cell(_values(results, key, sid, "failures"), 0),
            ]
        )
    count = results["plan"]["idle_streams"]
    header = ["relay", "RSS before MB", f"RSS with {count:,} idle MB", "KB per stream", "failures"]
    return _table(header, rows)


def _targets(results: Results) -> list[str]:
    step = _cost_step(results)
    sid = f"ladder-{step}"
    top = f"ladder-{_ladder_steps(results)[-1]}"
    idle = f"idle-{results['plan']['idle_streams']}"
    v1_cost = _median(_values(results, "v1", sid, "cpu_ms_per_1k_tokens"))
    api_cost = _median(_values(results, "api", sid, "cpu_ms_per_1k_tokens"))

    def check(value: float | None, limit: float) -> str:
        return "—" if value is None else ("met" if value <= limit else "missed")

    def hold(scenario: str) -> tuple[str, str]:
        fails = _median(_values(results, "v1", scenario, "failures"))
        gap = _median(_values(results, "v1", scenario, "gap_p99_ms"))
        ttft = _median(_values(results, "v1", scenario, "ttft_p99_ms"))
        if fails is None or gap is None or ttft is None:
            return "—", "—"
        shown = f"{fails:.0f} failures, gap p99 {gap:,.0f} ms, TTFT p99 {ttft:,.0f} ms"
        return shown, "met" if not fails and gap <= 100 and ttft <= 250 else "missed"

    ratio = api_cost / v1_cost if api_cost and v1_cost else None
    added_v1 = _median(_added_ttft(results, "v1"))
    added_api = _median(_added_ttft(results, "api"))
    kb_v1 = _median(_values(results, "v1", idle, "kb_per_stream"))
    kb_api = _median(_values(results, "api", idle, "kb_per_stream"))
    held, held_ok = hold(sid)
    held_top, held_top_ok = hold(top)
    rows = [
        [f"/v1 CPU ms per 1,000 tokens at c={step:,}", "≤ 50 (stretch 25)", _num(v1_cost, 1),
         f"{check(v1_cost, 50)} (stretch {check(v1_cost, 25)})"],
        [f"/v1 at c={step:,}, 20 tokens/s", "0 failures, gap p99 ≤ 100 ms, TTFT p99 ≤ 250 ms",
         held, held_ok],
        [f"/v1 at c={_ladder_steps(results)[-1]:,} (stretch)", "the same", held_top, held_top_ok],
        [f"/api/chat (SQLite) cost vs /v1 at c={step:,}", "≤ 1.5x", _num(ratio, 2, "x"),
         check(ratio, 1.5)],
        ["TTFT added at c=1, /v1", "≤ 1 ms median", _num(added_v1, 2, " ms"),
         check(added_v1, 1)],
        ["TTFT added at c=1, /api/chat", "≤ 1 ms median", _num(added_api, 2, " ms"),
         check(added_api, 1)],
        ["RSS per idle open stream, /v1", "≤ 50 KB (stretch 20)", _num(kb_v1, 1, " KB"),
         f"{check(kb_v1, 50)} (stretch {check(kb_v1, 20)})"],
        ["RSS per idle open stream, /api/chat", "≤ 50 KB (stretch 20)", _num(kb_api, 1, " KB"),
         f"{check(kb_api, 50)} (stretch {check(kb_api, 20)})"],
    ]  # fmt: skip
    return _table(["issue 4 target", "limit", "measured (median)", "verdict"], rows)


def _num(value: float | None, digits: int, unit: str = "") -> str:
    return "—" if value is None else f"{value:,.{digits}f}{unit}"


def render(results: Results, relays: dict[str, str]) -> str:
    """Every table, the machine and the command, as markdown."""
    plan = results["plan"]
    runs = len(results["runs"])
    m = results["machine"]
    measured = set(plan.get("scenarios", ("ttft", "ladder", "saturation", "idle")))
    every = measured >= {"ttft", "ladder", "saturation", "idle"}
    sections: list[tuple[bool, str, Callable[[], list[str]]]] = [
        (every, "Summary", lambda: _summary(results, relays)),
        (
            "ttft" in measured,
            f"c=1: time to first token, {plan['ttft_requests']} sequential requests (5 tokens)",
            lambda: _ttft(results, relays),
        ),
        (
            "ladder" in measured,
            f"Concurrency ladder: {plan['ladder_tokens']} tokens per stream at "
            f"{plan['ladder_rate']:g} tokens/s, starts spread over {plan['ramp']:g} s",
            lambda: _ladder(results, relays),
        ),
        (
            "saturation" in measured,
            f"Saturation: c={plan['saturation']}, unpaced, {plan['saturation_tokens']} tokens each",
            lambda: _saturation(results, relays),
        ),
        (
            "idle" in measured,
            f"Memory per open idle stream: {plan['idle_streams']:,} streams waiting on a "
            f"{plan['idle_ttft_ms'] / 1000:g} s first token",
            lambda: _idle(results, relays),
        ),
        (every, "Against issue 4's targets", lambda: _targets(results)),
    ]
    out = [
        f"Machine: {m['cpu']}; {m['kernel']}; Python {m['python']}; {m['nginx']}.",
        f"Versions: {m['packages']}.",
        f"streamchat measured at commit {m['commit']}.",
        f"Command: `{results['command']}` ({runs} run{'s' * (runs != 1)}; cells are the median "
        "with (min..max) over the runs). Relay pinned to core 0; mock upstream and load "
        "generator on core 1.",
    ]
    for shown, heading, table in sections:
        if shown:
            out += ["", f"### {heading}", "", *table()]
    return "\n".join(out) + "\n"
