"""bench/brokers.py in its smallest real configuration: both brokers served by real `streamchat
serve` processes on PostgreSQL (and Redis), every step loaded and every re-attach probe checked
(contiguous ids after Last-Event-ID, the exact text, a done event), so the benchmark cannot rot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.brokers import BrokerPlan, Setup, measure, render
from bench.scenarios import Bench, Plan

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(60)]

REDIS_DB = 10  # tests/conftest.py uses 14, test_brokers.py 15, test_serve_workers.py 12


def test_both_brokers_relay_every_token_and_every_probe_reattaches(tmp_path: Path) -> None:
    plan = BrokerPlan.smallest()
    bench = Bench(Plan(), tmp_path, pin=False, quiet_wait=0)
    results: dict[str, Any] = {"runs": [], "plan": plan.__dict__}
    try:
        measure(plan, Setup(redis_db=REDIS_DB, logs=tmp_path), bench, 1, results)
    finally:
        bench.close()

    (run,) = results["runs"]
    assert set(run) == {"memory", "redis"}
    for broker, steps in run.items():
        for step, tokens in [
            ("api-paced", plan.concurrency * plan.tokens),
            ("v1-paced", plan.concurrency * plan.tokens),
            ("api-saturation", plan.saturation * plan.saturation_tokens),
            ("v1-saturation", plan.saturation * plan.saturation_tokens),
            ("reattach-load", plan.concurrency * plan.reattach_tokens),
        ]:
            metrics = steps[step]
            assert (metrics["failures"], metrics["tokens"]) == (0, tokens), (broker, step)
            assert metrics["cpu_ms_per_1k_tokens"] is not None  # /proc was read
        where = ["same", "other"] if broker == "redis" else ["same"]
        assert {s for s in steps if s.startswith("reattach-")} == {
            "reattach-load",
            *(f"reattach-{w}" for w in where),
        }
        for name in where:
            probes = steps[f"reattach-{name}"]
            assert probes["probes"] >= 1 and probes["failures"] == 0, probes
            assert 0 < probes["first_p50_ms"] <= probes["caught_p50_ms"]
    assert run["redis"]["api-paced"]["redis_cpu_ms_per_1k_tokens"] is not None
    assert run["memory"]["api-paced"]["redis_cpu_ms_per_1k_tokens"] is None

    results |= {
        "machine": {"cpu": "c", "kernel": "k", "python": "p", "packages": "x", "commit": "h"},
        "servers": "s",
        "command": "cmd",
    }
    rows = [line.split(" | ") for line in render(results).splitlines() if line.startswith("| ")]
    other = next(row for row in rows if row[0] == "| Redis Streams, on the other worker (B)")
    assert int(other[1]) >= 1 and other[2] == "0"  # probes, failures
    assert sum(row[0] in ("| /api/chat", "| /v1") for row in rows) == 10
