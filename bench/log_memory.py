"""Memory kept per relayed token by the in-process broker's replay log (issue 15 item 4).

Answers are published as a generation publishes them (meta, one delta event per token, usage,
done), each with a pushed subscriber that encodes every event's SSE frame as the stream writer
does; then the subscribers leave and what the finished streams keep for ``replay_ttl`` is
measured with tracemalloc (every allocation of this process, after a collection), divided by
the tokens, beside the tokens' UTF-8 text. Two layouts side by side in the same process:

- ``Event list``: the log as it was up to b030ac7, a list of the published Event objects (each
  with its data dict, its JSON and its SSE bytes);
- ``MemoryBroker``: the broker of this tree.

Then a replay from the middle of the longest answer is checked event by event against what was
published.

``--server A,B`` measures the same through real servers instead: ``streamchat serve`` as of
each commit (relay on core 0, paced upstream and client on core 1), 30 answers of 10,000 tokens
on ``/v1`` (every token verified), then the server's RSS once it is idle, minus its RSS after
a warm-up, per token relayed (RSS also holds what the allocator did not give back).

    .venv/bin/python -m bench.log_memory                 # 30 x 10,000 tokens and 1 x 100,000
    .venv/bin/python -m bench.log_memory --server b030ac7,HEAD
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import tracemalloc
from collections.abc import Iterator

from streamchat.events import Event, done, meta
from streamchat.fanout.memory import MemoryBroker

__all__ = ["main", "measure"]

_SENTENCE = (
    "The quick brown fox jumps over the lazy dog while streaming tokens arrive one by one from"
    " a provider that sends them as they are generated, é, ü, 東京, 😀"
)
WORDS = tuple(_SENTENCE.split(" "))


def tokens(kind: str, count: int) -> Iterator[str]:
    if kind == "mock":
        return (f" w{i}" for i in range(1, count + 1))
    return itertools.islice(itertools.cycle(" " + w for w in WORDS if w), count)


def _answer(stream: int, kind: str, count: int) -> Iterator[Event]:
    yield meta(1, conversation_id=f"c{stream}", message_id=f"m{stream}", model="gpt-4o-mini")
    for i, text in enumerate(tokens(kind, count), 2):
        yield Event(i, "delta", {"text": text})
    yield Event(count + 2, "usage", {"prompt_tokens": 9, "completion_tokens": count})
    yield done(count + 3, "stop", 1.0, 2.0)


def _encode(batch: list[Event]) -> None:
    for event in batch:
        event.sse()  # as the stream writer does


async def _broker(answers: int, kind: str, count: int) -> MemoryBroker:
    broker = MemoryBroker()
    for stream in range(answers):
        await broker.create(f"s{stream}", "u")
        subscription = await broker.subscribe(f"s{stream}", 0)
        subscription.listen(_encode)
        for event in _answer(stream, kind, count):
            broker.publish(f"s{stream}", [event])
        await subscription.close()
    return broker


def _event_list(answers: int, kind: str, count: int) -> list[list[Event]]:
    logs = []
    for stream in range(answers):
        log = list(_answer(stream, kind, count))
        for event in log:
            event.sse()
        logs.append(log)
    return logs


def measure(layout: str, answers: int, kind: str, count: int) -> dict[str, float]:
    """Bytes kept per token by ``layout`` and the tokens' mean UTF-8 length."""
    text = sum(len(t.encode()) for t in tokens(kind, count)) / count
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept: object
    if layout == "events":
        kept = _event_list(answers, kind, count)
    else:
        kept = broker = asyncio.run(_broker(answers, kind, count))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    if layout == "broker":
        middle = count // 2
        published = list(_answer(answers - 1, kind, count))
        replay = asyncio.run(_replay(broker, f"s{answers - 1}", middle))
        assert replay == published[middle:], "replay from the middle differs"
        assert [e.sse() for e in replay] == [e.sse() for e in published[middle:]]
    del kept
    per_token = (after - before) / (answers * count)
    return {"bytes_per_token": per_token, "text_bytes": text, "ratio": per_token / text}


async def _replay(broker: MemoryBroker, stream_id: str, after: int) -> list[Event]:
    subscription = await broker.subscribe(stream_id, after)
    events: list[Event] = []
    while batch := await subscription.next(1):
        events.extend(batch)
    await subscription.close()
    return events


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", default=None, help="commits to measure as servers (RSS)")
    args = parser.parse_args()
    if args.server:
        _servers(args.server.split(","))
        return
    print(
        "| answers x tokens | token text | layout | bytes kept per token | UTF-8 text per token "
        "| ratio |"
    )
    print("|---|---|---|---|---|---|")
    for answers, count in ((30, 10_000), (1, 100_000)):
        for kind in ("mock", "words"):
            for layout, name in (("events", "Event list (before)"), ("broker", "MemoryBroker")):
                m = measure(layout, answers, kind, count)
                print(
                    f"| {answers} x {count:,} | {kind} | {name} | {m['bytes_per_token']:.1f} "
                    f"| {m['text_bytes']:.1f} | {m['ratio']:.2f}x |",
                    flush=True,
                )
    print("\nreplay from the middle of each broker log: exact (checked event by event)")


def _servers(commits: list[str]) -> None:
    import contextlib
    import os
    import sys
    import tempfile
    from pathlib import Path

    import uvloop

    from bench.load import Load, Target, raise_fd_limit, run_load
    from bench.processes import streamchat_process
    from bench.procstat import memory_kb
    from bench.relays import ROOT, snapshot
    from bench.scenarios import _until_idle
    from bench.spread import paced_upstream

    raise_fd_limit()
    os.sched_setaffinity(0, {1})
    os.environ["PYTHONPATH"] = str(ROOT)
    logs = Path(tempfile.mkdtemp(prefix="streamchat-logmem-"))
    print("| commit | answers x tokens | RSS before MB | RSS idle after MB | bytes per token |")
    print("|---|---|---|---|---|")
    for commit in commits:
        tree, short = snapshot(commit, logs / commit)
        command = ["env", f"PYTHONPATH={tree / 'src'}{os.pathsep}{ROOT}", sys.executable, "-m"]
        with contextlib.ExitStack() as stack:
            log = stack.enter_context((logs / f"{short}.log").open("ab"))
            upstream, _ = stack.enter_context(paced_upstream(1, log))
            url, pid = stack.enter_context(
                streamchat_process(upstream, 0, log=log, command=[*command, "streamchat"])
            )
            target = Target(url + "/v1/chat/completions", "v1")
            uvloop.run(run_load(target, Load(30, 200)))
            uvloop.run(_until_idle(pid))
            rows = []
            for number in (1, 2):  # the second: what a heap already grown once adds
                start = memory_kb(pid)
                result = uvloop.run(run_load(target, Load(30, 10_000)))
                uvloop.run(_until_idle(pid))
                after = memory_kb(pid)
                if result.failed:
                    rows.append(f"| {short} | failed: {dict(result.failures)} | | | |")
                    break
                rows.append(
                    f"| {short} | 30 x 10,000 (batch {number}) | {start / 1024:.1f} "
                    f"| {after / 1024:.1f} | {(after - start) * 1024 / result.tokens:.0f} |"
                )
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
