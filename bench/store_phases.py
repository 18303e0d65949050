"""What each of an answer's transactions costs the SQLite store's thread, commit beside commit.

``bench.store_cost`` compares ways of running the store's transactions; this one times the
transactions themselves, the plain functions ``SqlStore`` runs on a connection, called
directly on one thread (no event loop, no hand-off), grouped as the store's thread groups
what queued meanwhile. For ``--answers`` answers, each phase of an answer's life:

- ``first question``: a new conversation, its question and the answer's placeholder row;
- ``progress save``: one of five periodic saves (each answer's part, 500 answers a transaction);
- ``final save, 5 parts``: the answer's end, folding in its five parts;
- ``next question``: a question and placeholder in that conversation (it exists);
- ``final save, no part``: that answer's end, before any periodic save.

Every commit runs in a process of its own (its ``src`` from ``git archive``), pinned to core 0;
the commits alternate within each run. Cells: CPU ms per answer (``time.process_time``),
median of the runs with (min..max).

    .venv/bin/python -m bench.store_phases --commits HEAD~1,HEAD
    .venv/bin/python -m bench.store_phases --answers 200 --runs 1      # the working tree
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.relays import ROOT, snapshot

_GROUP = 25  # answers per transaction, as when many queue on the store's thread
_PHASES = (
    "first question",
    "progress save",
    "final save, 5 parts",
    "next question",
    "final save, no part",
)


def _child(answers: int) -> dict[str, float]:
    """Run in a process whose streamchat is the commit's: the phases' CPU ms per answer."""
    import uvloop

    from streamchat.chat import Conversation, Message, Usage, new_id
    from streamchat.store import Progress, sql

    with tempfile.TemporaryDirectory() as data:
        store = sql.SqlStore(f"sqlite:///{Path(data) / 'bench.db'}")

        async def prepare() -> None:
            await store.open()
            await store.ensure_user("bench", "bench")

        uvloop.run(prepare())
        engine = store._db.engine  # type: ignore[attr-defined]  # the SqliteThread's

        def timed(items: Sequence[Any], group: int, run: Callable[[Any, Any], None]) -> float:
            started = time.process_time()
            for start in range(0, len(items), group):
                with engine.begin() as conn:
                    for item in items[start : start + group]:
                        run(conn, item)
            return (time.process_time() - started) / answers * 1e3

        def end(conn: Any, answer: Message) -> None:
            patch = {
                "content": " word" * 100,
                "status": "complete",
                "finish_reason": "stop",
                "last_event_id": 103,
                "usage": Usage(10, 100, 110),
            }
            sql._update_message(conn, answer.id, patch)  # type: ignore[arg-type]

        try:
            first, then = [], []
            for _ in range(answers):
                conversation = Conversation(new_id("conv"), "bench", title="a question")
                question = Message(new_id("msg"), conversation.id, "bench", "user", content="q")
                answer = Message(
                    new_id("msg"), conversation.id, "bench", "assistant", status="streaming"
                )
                first.append((conversation, [question, answer]))
                again = Message(
                    new_id("msg"), conversation.id, "bench", "user", parent_id=answer.id
                )
                then.append(
                    [
                        again,
                        Message(
                            new_id("msg"),
                            conversation.id,
                            "bench",
                            "assistant",
                            status="streaming",
                            parent_id=again.id,
                        ),
                    ]
                )
            result = {
                "first question": timed(
                    first, _GROUP, lambda conn, x: sql._add_messages(conn, x[1], x[0])
                )
            }
            saves = 0.0
            for seq in range(5):
                parts = [
                    Progress(m[1].id, " word" * 20, "", 20 * (seq + 1), seq=seq) for _, m in first
                ]
                batches = [parts[i : i + 500] for i in range(0, len(parts), 500)]
                saves += timed(batches, 1, sql._save_progress)
            result["progress save"] = saves / 5
            result["final save, 5 parts"] = timed([m[1] for _, m in first], _GROUP, end)
            result["next question"] = timed(
                then, _GROUP, lambda conn, x: sql._add_messages(conn, x, None)
            )
            result["final save, no part"] = timed([m[1] for m in then], _GROUP, end)
        finally:
            uvloop.run(store.close())
    return result


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}..{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", default="", help="comma-separated; default the work tree")
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.answers)))
        return
    work = Path(tempfile.mkdtemp(prefix="streamchat-store-phases-"))
    trees: dict[str, str] = {}
    for index, commit in enumerate(c for c in args.commits.split(",") if c):
        tree, short = snapshot(commit, work / str(index))
        trees[short] = str(tree / "src")
    if not trees:
        trees["work tree"] = str(ROOT / "src")
    results: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    names = list(trees)
    for run in range(args.runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([trees[name], str(ROOT)])}
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.store_phases",
                    "--child",
                    "--answers",
                    f"{args.answers}",
                ],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for phase, value in json.loads(out.splitlines()[-1]).items():
                results[name].setdefault(phase, []).append(value)
    print(
        f"SQLite store's transactions, CPU ms per answer (one thread, core 0), "
        f"{args.answers} answers, {args.runs} runs, median (min..max)\n"
    )
    print("| phase | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for phase in (*_PHASES, "all"):
        cells = []
        for name in names:
            if phase == "all":
                per_run = [
                    sum(results[name][p][i] for p in _PHASES if p != "progress save")
                    + 5 * results[name]["progress save"][i]
                    for i in range(args.runs)
                ]
                cells.append(_cell(per_run))
            else:
                cells.append(_cell(results[name][phase]))
        print(f"| {phase} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    os.sched_setaffinity(0, {0})
    main()
