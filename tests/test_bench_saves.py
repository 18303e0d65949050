"""bench/saves.py's bytes-per-save measurement in its smallest configuration, on real SQLite:
what a periodic save writes stays at what arrived whatever the answer's length (issue 15
item 5), the final save writes the whole text once, and the table renders, so the benchmark
cannot rot. (The probe half starts servers on pinned cores: too long for a test.)"""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from bench.saves import _text, save_bytes

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[1]


async def test_a_save_writes_what_arrived_whatever_the_length(tmp_path: Path) -> None:
    rows = await save_bytes(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", [1, 50], 400, 2)
    assert [r["kb"] for r in rows] == [1, 50]
    for row in rows:
        # The part (400 bytes of text) and its row's few other values; not the text so far.
        assert 400 <= row["sent"] < 600
        assert row["final"] >= row["kb"] * 1000  # the final save writes the whole text
    assert rows[0]["wrote"] == rows[1]["wrote"]  # the same pages, however long the answer


def test_the_text_does_not_compress() -> None:
    """PostgreSQL compresses long values: a repetitive text would hide what a save writes
    (this one PostgreSQL's pglz stores as is; zlib, stronger, saves about a quarter)."""
    text = _text(100_000).encode()
    assert 100_000 <= len(text) < 100_020
    assert len(zlib.compress(text)) > len(text) * 0.7


def test_the_bytes_table_renders() -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.saves", "--commits", "tree", "--no-probes"),
            *("--databases", "sqlite", "--lengths", "1,20", "--intervals", "2"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=100,
    )
    rows = [line for line in done.stdout.splitlines() if line.startswith("| sqlite | tree |")]
    assert [row.split(" | ")[2] for row in rows] == ["1 KB", "20 KB"]
