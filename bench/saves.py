"""Do long running answers slow a new answer down? (issue 15 item 5)

``--answers`` answers on ``/api/chat`` grow to ``1.5 x --kb`` KB each (tokens of ~1 KB, paced
by bench/paced_upstream.py) while the periodic save (``flush_interval``, 1 s) stores them; in
the last third of the run, when every one of them holds more than ``--kb`` KB, a probe starts a
new short answer every 0.25 s on a new connection and times its first token. The same probes on
the same fresh server before the long answers start are the baseline. Per commit and database
(alternated), a fresh server on core 0, the upstream and this process on core 1; SQLite in a
temporary directory, PostgreSQL in a fresh database (``--pg-admin-url``).

Columns: probe TTFT p50 / p95 / max, idle and loaded, and their difference at p95; the relay's
CPU (% of its core) and, on SQLite, the bytes it wrote per second (``/proc/<pid>/io``) while
loaded: what the periodic save writes.

First (``--bytes``, the default; ``--no-probes`` for it alone), what one periodic save writes
for an answer of growing length (``--lengths`` KB): per commit and database, a process of its
own runs that commit's ``Generation`` and ``Saver`` on its store (SQLite in a temporary
directory, a fresh PostgreSQL database), fills an answer to the length, then times
``--intervals`` saves, each after ``--arrival`` bytes arrived in 4-byte tokens. Per save: the
bytes of the statements' parameters (exact), what the database wrote (SQLite: the process's
``write()`` bytes, ``/proc/self/io`` wchar, checkpoints included, exact; PostgreSQL: WAL bytes,
``pg_current_wal_insert_lsn`` before and after, cluster-wide, so the smallest of the saves: an
upper bound when other work writes too), the save's time (median; an upper bound on a busy
machine), and what the final save (the whole text, once) sent.

    .venv/bin/python -m bench.saves --commits abc1234,HEAD            # SQLite and PostgreSQL
    .venv/bin/python -m bench.saves --databases sqlite --seconds 15
    .venv/bin/python -m bench.saves --commits abc1234,HEAD --no-probes --lengths 10,100,1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson
import uvloop

from bench.load import Load, Target, percentile, raise_fd_limit, raise_priority, run_load
from bench.processes import MOCK_KEY, streamchat_process
from bench.procstat import cpu_seconds
from bench.relays import snapshot
from bench.scenarios import CLIENT_CPU, RELAY_CPU
from bench.spread import paced_upstream

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent


def _written(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def _postgres(admin_url: str) -> Iterator[str]:
    name = f"streamchat_saves_{secrets.token_hex(4)}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_url, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://{urlsplit(admin_url).netloc}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _long_answer(url: str, prompt: str, until: float) -> int:
    """One long /api/chat answer read and discarded; the bytes read."""
    parts = urlsplit(url)
    body = orjson.dumps({"message": prompt, "model": "gpt-4o-mini"})
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        b"POST /api/chat HTTP/1.1\r\nHost: %b\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer %b\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%b"
        % (parts.netloc.encode(), MOCK_KEY.encode(), len(body), body)
    )
    read = 0
    try:
        async with asyncio.timeout(max(1.0, until - time.monotonic())):
            status = await reader.readline()
            if b" 200 " not in status:
                raise RuntimeError(f"a long answer got {status!r}")
            while chunk := await reader.read(65536):
                read += len(chunk)
    except TimeoutError:
        pass
    writer.close()
    return read


async def _probes(target: Target, start: float, end: float) -> list[float]:
    ttfts: list[float] = []
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    while time.monotonic() < end:
        began = time.monotonic()
        result = await run_load(target, Load(1, 3, timeout=10))
        ttfts.extend(result.ttfts)
        await asyncio.sleep(max(0.0, 0.25 - (time.monotonic() - began)))
    return ttfts


async def _run(url: str, pid: int, answers: int, kb: int, seconds: float) -> dict[str, Any]:
    target = Target(url + "/api/chat", "api")
    idle = await _probes(target, time.monotonic(), time.monotonic() + 3)
    tokens = kb * 3 // 2
    prompt = f"[[mock tokens={tokens} rate={tokens / seconds:g} bytes=1000]]"
    begin = time.monotonic()
    until = begin + seconds + 30
    longs = [asyncio.create_task(_long_answer(url, prompt, until)) for _ in range(answers)]
    loaded_from = begin + seconds * 2 / 3
    await asyncio.sleep(max(0.0, loaded_from - time.monotonic()))
    cpu, written, at = cpu_seconds(pid), _written(pid), time.monotonic()
    loaded = await _probes(target, loaded_from, begin + seconds)
    cpu, written = cpu_seconds(pid) - cpu, _written(pid) - written
    wall = time.monotonic() - at
    read = await asyncio.gather(*longs)
    return {
        "idle": idle,
        "loaded": loaded,
        "relay_core": cpu / wall,
        "written_mb_s": written / wall / 1e6,
        "long_mb": [r / 1e6 for r in read],
    }


def _wchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def _param_bytes(parameters: Any) -> int:
    """The bytes of a statement's parameters (a dict, a sequence, or a list of them)."""
    if isinstance(parameters, dict):
        return sum(_param_bytes(v) for v in parameters.values())
    if isinstance(parameters, list | tuple):
        return sum(_param_bytes(v) for v in parameters)
    if isinstance(parameters, str):
        return len(parameters.encode())
    if isinstance(parameters, bytes):
        return len(parameters)
    return 0 if parameters is None else 8


async def save_bytes(
    url: str, lengths_kb: list[int], arrival: int, intervals: int
) -> list[dict[str, Any]]:
    """For each length: what one periodic save of an answer that long writes (see the module's
    docstring), with whichever ``streamchat`` is on the path (a commit's tree)."""
    # Imported here: the commit's streamchat is the one on the path of this process.
    import sqlalchemy as sa

    from streamchat.generations.saving import Saver
    from streamchat.store.sql import SqlStore

    sent = [0]

    def count(*args: Any) -> None:
        sent[0] += _param_bytes(args[3])

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    wal: asyncpg.Connection | None = None
    if url.startswith("postgresql"):
        wal = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=5)
    store = SqlStore(url)
    await store.open()
    await store.ensure_user("bench", "bench")
    saver = Saver(store, 1.0, asyncio.ensure_future)
    results = []
    try:
        for kb in lengths_kb:
            results.append(await _one_length(store, saver, wal, sent, kb, arrival, intervals))
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)
        await store.close()
        if wal is not None:
            await wal.close()
    return results


async def _lsn(wal: asyncpg.Connection | None) -> int:
    """Where PostgreSQL's WAL is now, in bytes (0 without PostgreSQL)."""
    if wal is None:
        return 0
    return int(await wal.fetchval("SELECT (pg_current_wal_insert_lsn() - '0/0')::bigint"))


async def _one_length(
    store: Any,
    saver: Any,
    wal: asyncpg.Connection | None,
    sent: list[int],
    kb: int,
    arrival: int,
    intervals: int,
) -> dict[str, Any]:
    import statistics

    from streamchat.chat import Conversation, Message
    from streamchat.generations.core import Generation, GenerationSpec

    cid, aid = f"c{kb}", f"a{kb}"
    question = Message(f"q{kb}", cid, "bench", "user", content="tell me")
    answer = Message(aid, cid, "bench", "assistant", status="streaming", parent_id=question.id)
    await store.add_messages([question, answer], new=Conversation(cid, "bench", title="t"))
    spec = GenerationSpec(aid, "bench", "m", upstream=None, request=None, conversation_id=cid)  # type: ignore[arg-type]
    gen = Generation(spec, clock=time.monotonic, started=time.monotonic())
    gen.content.append(_text(kb * 1000))
    gen.next_id = 2
    await saver._flush([gen])  # the text so far, saved
    sent_per, wrote_per, took = [], [], []
    for _ in range(intervals):
        for _ in range(max(1, arrival // 4)):
            gen.content.append(" tok")
            gen.next_id += 1
        sent0, wchar0, lsn0, began = sent[0], _wchar(), await _lsn(wal), time.perf_counter()
        await saver._flush([gen])
        took.append(time.perf_counter() - began)
        sent_per.append(sent[0] - sent0)
        if wal is None:
            wrote_per.append(_wchar() - wchar0)
        else:
            wrote_per.append(await _lsn(wal) - lsn0)
    final0 = sent[0]
    patch = {"content": "".join(gen.content), "reasoning": "", "status": "complete"}
    await store.update_message(aid, patch)
    stored = await store.get_message("bench", aid)
    assert stored.content == patch["content"], "the stored text differs from the answer's"
    return {
        "kb": kb,
        "arrival": arrival,
        "sent": statistics.median(sent_per),
        "wrote": min(wrote_per) if wal is not None else statistics.median(wrote_per),
        "ms": statistics.median(took) * 1000,
        "final": sent[0] - final0,
    }


def _text(size: int) -> str:
    """About ``size`` bytes of text that does not compress (PostgreSQL compresses long values:
    a repeated word would hide what is written): random words of Latin, accented and CJK
    letters, seeded."""
    rng = random.Random(size)
    letters = "abcdefghijklmnopqrstuvwxyzéüøß" + "".join(map(chr, range(0x4E00, 0xA000)))
    pieces, length = [], 0
    while length < size:
        word = "".join(rng.choices(letters, k=rng.randint(1, 8))) + " "
        pieces.append(word)
        length += len(word.encode())
    return "".join(pieces)


def _bytes_rows(
    trees: dict[str, Path], databases: list[str], args: argparse.Namespace, logs: Path
) -> list[str]:
    rows = []
    for database in databases:
        for commit, tree in trees.items():
            print(f"[{time.strftime('%H:%M:%S')}] bytes {database} {commit} ...", file=sys.stderr)
            with contextlib.ExitStack() as stack:
                if database == "postgres":
                    url = stack.enter_context(_postgres(args.pg_admin_url))
                else:
                    url = f"sqlite+aiosqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/b.db"
                command = [
                    sys.executable,
                    "-c",
                    "import asyncio, sys, orjson; from bench.saves import save_bytes; "
                    "print(orjson.dumps(asyncio.run(save_bytes(sys.argv[1], "
                    "[int(k) for k in sys.argv[2].split(',')], int(sys.argv[3]), "
                    "int(sys.argv[4])))).decode())",
                    url,
                    args.lengths,
                    str(args.arrival),
                    str(args.intervals),
                ]
                env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{ROOT}"}
                out = subprocess.run(command, env=env, capture_output=True, check=False)
                (logs / f"bytes-{database}-{commit}.log").write_bytes(out.stderr)
                if out.returncode:
                    raise RuntimeError(f"bytes {database} {commit}: {out.stderr.decode()[-2000:]}")
            for r in orjson.loads(out.stdout.splitlines()[-1]):
                rows.append(
                    f"| {database} | {commit} | {r['kb']:,} KB | {r['arrival']:,} B "
                    f"| {r['sent']:,.0f} | {r['wrote']:,.0f} | {r['ms']:,.2f} "
                    f"| {r['final'] / 1000:,.0f} KB |"
                )
                print("  " + rows[-1], file=sys.stderr, flush=True)
    return rows


def _ms(values: list[float], pct: float) -> str:
    value = percentile(values, pct)
    return "—" if value is None else f"{value * 1000:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commits", default="HEAD", help="comma-separated; 'tree' = work tree")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--answers", type=int, default=30)
    parser.add_argument("--kb", type=int, default=1000, help="KB each answer holds when probed")
    parser.add_argument("--seconds", type=float, default=24.0, help="how long the answers grow")
    parser.add_argument("--rounds", type=int, default=1, help="commits alternate per round")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--bytes", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--probes", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--lengths", default="10,100,1000", help="answer lengths, KB")
    parser.add_argument("--arrival", type=int, default=1000, help="bytes arriving per interval")
    parser.add_argument("--intervals", type=int, default=5, help="saves timed per length")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="streamchat-saves-"))
    trees: dict[str, Path] = {}
    for commit in args.commits.split(","):
        if commit == "tree":
            trees["tree"] = ROOT / "src"
        else:
            tree, short = snapshot(commit, logs / commit.replace("/", "_"))
            trees[short] = tree / "src"
    pin = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    os.environ["PYTHONPATH"] = str(ROOT)
    raise_priority()
    raise_fd_limit()
    if pin:
        os.sched_setaffinity(0, {CLIENT_CPU})
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    if args.bytes:
        byte_rows = _bytes_rows(trees, args.databases.split(","), args, logs)
        print(
            f"Command: `.venv/bin/python -m bench.saves {' '.join(sys.argv[1:])}`, {started}; "
            f"per save: {args.arrival:,} bytes arrived, median of {args.intervals} saves "
            "(PostgreSQL WAL: the smallest)\n"
        )
        print(
            "| database | commit | answer so far | arrived per interval "
            "| statement bytes per save | database wrote per save (SQLite write() bytes; "
            "PostgreSQL WAL bytes) | save ms | final save sent |"
        )
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(byte_rows) + "\n", flush=True)
    if not args.probes:
        return
    rows = []
    plan = [
        (database, commit)
        for number in range(args.rounds)
        for database in args.databases.split(",")
        for commit in (list(trees) if number % 2 == 0 else list(trees)[::-1])
    ]
    for database, commit in plan:
        tree = trees[commit]
        print(f"[{time.strftime('%H:%M:%S')}] {database} {commit} ...", file=sys.stderr)
        with contextlib.ExitStack() as stack:
            log = stack.enter_context((logs / f"{database}-{commit}.log").open("ab"))
            options = {}
            if database == "postgres":
                options["database_url"] = stack.enter_context(_postgres(args.pg_admin_url))
            upstream, _ = stack.enter_context(paced_upstream(CLIENT_CPU if pin else None, log))
            command = ["env", f"PYTHONPATH={tree}{os.pathsep}{ROOT}", sys.executable]
            url, pid = stack.enter_context(
                streamchat_process(
                    upstream,
                    RELAY_CPU if pin else None,
                    log=log,
                    command=[*command, "-m", "streamchat"],
                    **options,
                )
            )
            loadavg = os.getloadavg()[0]
            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
            with runner:
                m = runner.run(_run(url, pid, args.answers, args.kb, args.seconds))
        idle, loaded = m["idle"], m["loaded"]
        p95_idle, p95_loaded = percentile(idle, 95), percentile(loaded, 95)
        delay = (
            f"{(p95_loaded - p95_idle) * 1000:,.1f}"
            if p95_idle is not None and p95_loaded is not None
            else "—"
        )
        rows.append(
            f"| {database} | {commit} | {len(idle)} / {len(loaded)} "
            f"| {_ms(idle, 50)} / {_ms(idle, 95)} "
            f"| {_ms(loaded, 50)} / {_ms(loaded, 95)} / {_ms(loaded, 100)} | {delay} "
            f"| {m['relay_core'] * 100:.0f} "
            f"| {m['written_mb_s']:.1f} | {min(m['long_mb']):.2f} | {loadavg:.1f} |"
        )
        print("  " + rows[-1], file=sys.stderr, flush=True)
    print(
        f"Command: `.venv/bin/python -m bench.saves {' '.join(sys.argv[1:])}`, {started}; "
        f"{args.answers} answers growing to {args.kb * 1.5 / 1000:.1f} MB in {args.seconds:g} s, "
        f"probed while each holds > {args.kb / 1000:.1f} MB\n"
    )
    print(
        "| database | commit | probes idle / loaded | TTFT idle p50 / p95 ms "
        "| TTFT loaded p50 / p95 / max ms | p95 added ms | relay core % (loaded) "
        "| relay wrote MB/s (SQLite) | smallest long answer MB read | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
