"""bench/upstream_clients.py in its smallest real configuration: every candidate in its own
worker process against the real mock upstream process, every answer checked token by token, the
CPU read from /proc and the tables rendered, so the benchmark cannot rot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.upstream_clients import CANDIDATES, Step, available, measure, render

pytestmark = pytest.mark.timeout(90)


def test_every_client_streams_every_token_and_the_tables_render(tmp_path: Path) -> None:
    steps = [Step("paced", "c=4, 5 tokens at 50/s", 4, 5, 50.0, 0.1),
             Step("unpaced", "c=4, 30 tokens unpaced", 4, 30, 0.0, 0.0)]  # fmt: skip
    candidates = available()
    assert {"aiohttp", "pool", "provider"} <= set(candidates)
    results: dict[str, Any] = {"runs": [], "plan": {"steps": [s.__dict__ for s in steps]}}
    measure(steps, candidates, 1, results, pin=False, log=tmp_path / "mock.log", quiet=True)

    (run,) = results["runs"]
    assert set(run) == set(candidates)
    for candidate, by_step in run.items():
        for step in steps:
            metrics = by_step[step.name]
            expected = (0, 0, step.concurrency * step.tokens)
            got = (metrics["failures"], metrics["warmup_failures"], metrics["tokens"])
            assert got == expected, (candidate, step.name, metrics["failure_kinds"])
            assert metrics["cpu_s"] >= 0 and metrics["peak_rss_mb"] > 10  # /proc was read

    results |= {
        "machine": {"cpu": "c", "kernel": "k", "python": "p", "packages": "x", "commit": "h"},
        "command": "cmd",
    }
    rows = [line.split(" | ") for line in render(results).splitlines() if line.startswith("| ")]
    named = [row for row in rows if row[0].removeprefix("| ") in CANDIDATES.values()]
    assert len(named) == 3 * len(candidates)  # cost, ratio, memory
    base = next(r for r in named if r[0] == f"| {CANDIDATES['aiohttp']}" and "base" in r[1])
    assert base[1:] == ["1 (base)", "1 (base) |"]
