"""What one answer costs the SQLite store, for each way of running its transactions.

An answer's life in the store is: its conversation, question and placeholder row in one
transaction; its share of one batched progress save; one final update. ``SqlStore`` runs each
transaction as one plain function on a connection; what differs is who runs that function:

- ``aiosqlite``: SQLAlchemy's async engine over aiosqlite (``AsyncDatabase``, what streamchat
  used before): every statement, ``BEGIN`` and ``COMMIT`` is a hand-off to aiosqlite's thread
  and back;
- ``executor``: the whole transaction runs on one thread of its own with the standard
  ``sqlite3`` driver, one hand-off per transaction through ``loop.run_in_executor`` (what
  streamchat's ``SqliteThread`` did until 2026-12-06);
- ``thread``: streamchat's ``SqliteThread``: the same thread, the hand-off a queue it drains;
  the writes that queued meanwhile commit as one transaction (each alone again if one fails),
  and their results go back in one loop wake-up.

The process is pinned to one core; its CPU time (all threads, ``os.times``) is read around
``--answers`` answers run one after another, then around the same number run all at once. The
two runners alternate within each run; cells are the median over the runs with (min..max).

    .venv/bin/python -m bench.store_cost               # 3 runs of 1,000 answers
    .venv/bin/python -m bench.store_cost --answers 100 --runs 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import uvloop
from sqlalchemy.engine import URL, Connection

from streamchat.chat import Conversation, Message, new_id
from streamchat.store import Progress
from streamchat.store.engine import (
    AsyncDatabase,
    Database,
    SqliteThread,
    create_engine,
    normalize_url,
    open_database,
)
from streamchat.store.sql import SqlStore

_T = TypeVar("_T")


class _ExecutorThread(SqliteThread):
    """``SqliteThread`` as it was: each transaction handed over by ``run_in_executor``."""

    def __init__(self, url: URL) -> None:
        super().__init__(url)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="bench-sqlite")

    def _submit(
        self, run: Callable[[], _T], transaction: Callable[[Connection], _T] | None
    ) -> asyncio.Future[_T]:
        return asyncio.get_running_loop().run_in_executor(self._executor, run)

    async def dispose(self) -> None:
        await super().dispose()
        self._executor.shutdown()


RUNNERS: dict[str, Callable[[str], Database]] = {
    "aiosqlite (a hand-off per statement)": lambda url: AsyncDatabase(create_engine(url)),
    "own thread, run_in_executor (a hand-off per transaction)": lambda url: _ExecutorThread(
        normalize_url(url)
    ),
    "own thread, a queue it drains, what queued committed together": open_database,
}


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


async def _answer(store: SqlStore) -> Message:
    conversation = Conversation(new_id("conv"), "bench", title="a question")
    question = Message(new_id("msg"), conversation.id, "bench", "user", content="a question")
    answer = Message(
        new_id("msg"), conversation.id, "bench", "assistant", model="m", status="streaming"
    )
    await store.add_messages([question, answer], new=conversation)
    return answer


async def _finish(store: SqlStore, answer: Message) -> None:
    await store.update_message(
        answer.id,
        {
            "content": " w" * 100,
            "status": "complete",
            "finish_reason": "stop",
            "last_event_id": 103,
        },
    )


async def _measure(runner: Callable[[str], Database], answers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data:
        store = SqlStore(f"sqlite:///{Path(data) / 'bench.db'}", opener=runner)
        await store.open()
        try:
            await store.ensure_user("bench", "bench")
            for _ in range(20):
                await _finish(store, await _answer(store))
            started = _cpu()
            for _ in range(answers):
                answer = await _answer(store)
                await store.save_progress([Progress(answer.id, " w" * 50, "", 51)])
                await _finish(store, answer)
            sequential = (_cpu() - started) / answers
            started, wall = _cpu(), time.perf_counter()
            rows = await asyncio.gather(*(_answer(store) for _ in range(answers)))
            await store.save_progress([Progress(a.id, " w" * 50, "", 51) for a in rows])
            await asyncio.gather(*(_finish(store, a) for a in rows))
            concurrent = (_cpu() - started) / answers
            wall = time.perf_counter() - wall
        finally:
            await store.close()
    return {"sequential": sequential * 1e3, "concurrent": concurrent * 1e3, "wall": wall * 1e3}


def _cell(values: list[float], digits: int = 2) -> str:
    median, low, high = statistics.median(values), min(values), max(values)
    return f"{median:.{digits}f} ({low:.{digits}f}..{high:.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    results: dict[str, dict[str, list[float]]] = {name: {} for name in RUNNERS}
    for run in range(args.runs):
        names = list(RUNNERS)
        for name in names[run % len(names) :] + names[: run % len(names)]:
            measured = uvloop.run(_measure(RUNNERS[name], args.answers))
            for key, value in measured.items():
                results[name].setdefault(key, []).append(value)
    print(
        f"SQLite store, CPU ms per answer (all threads, one core), {args.answers} answers, "
        f"{args.runs} runs, median (min..max)\n"
    )
    print(f"| runner | one after another | {args.answers} at once | wall ms, all at once |")
    print("|---|---|---|---|")
    for name, values in results.items():
        cells = [_cell(values["sequential"]), _cell(values["concurrent"]), _cell(values["wall"], 0)]
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
