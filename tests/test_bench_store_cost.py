"""bench/store_cost.py in its smallest configuration, as a process (it pins itself to a core):
every runner stores every answer and the table renders, so the benchmark cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.store_cost import RUNNERS

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[1]


def test_every_runner_measures_and_the_table_renders() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.store_cost", "--answers", "20", "--runs", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=50,
    )
    rows = {
        line.split(" | ")[0].removeprefix("| "): line
        for line in done.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| runner")
    }
    assert set(rows) == set(RUNNERS)
    number = r"\d+\.\d+ \(\d+\.\d+\.\.\d+\.\d+\)"
    for row in rows.values():
        assert re.fullmatch(rf"\| .+ \| {number} \| {number} \| \d+ \(\d+\.\.\d+\) \|", row), row
