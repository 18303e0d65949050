"""What conversation search costs (issue 14; docs/api.md "GET /api/search").

1. A progress save of a streaming answer, on SQLite, with and without an FTS5 trigram index
   kept by a trigger on the text (the reason streaming answers stay out of the index until the
   final save): the same UPDATE of one row of N characters, the median of 5.
2. Searches through ``SqlStore.search`` over one user's conversations (``--conversations`` of
   20 messages of ~1,000 characters, 20 % of them Chinese), 21 results asked, the median of 5:
   rare words (the index), common ones, words too short for the trigram index (scans).

    .venv/bin/python -m bench.search_cost                         # SQLite in a temporary file
    .venv/bin/python -m bench.search_cost --url postgresql+asyncpg://postgres@127.0.0.1/db

A PostgreSQL database must be empty (it is migrated and filled); it is ANALYZEd after filling,
as autovacuum would, since the plans without statistics are far slower.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from streamchat.chat import Conversation, Message
from streamchat.store.engine import create_engine
from streamchat.store.sql import SqlStore

QUERIES = ("zebra", "故宫参观", "water", "night story", "故宫", "数据", "a", "我")
_EN_TEXT = (
    "the of and to in is you that it for on with as was are be this have from or one had by "
    "word but not what all were when we there can an your which their said if do will each "
    "about how up out them then she many some so these would other into has more her two like "
    "him see time could no make than first been its who now people my made over did down only "
    "way find use may water long little very after words called just where most know get "
    "through back much before go good new write our used me man too any day same right look "
    "think also around another came come work three must because does part even place well "
    "such here take why things help put years different away again off went old number great "
    "tell men say small every found still between name should home big give air line set own "
    "under read last never us left end along while might next sound below saw something "
    "thought both few those always looked show large often together asked house world going "
    "want school important until form food keep children feet land side without boy once "
    "animals life enough took sometimes four head above kind began almost live page got earth "
    "need far hand high year mother light country father let night story"
)
_EN = _EN_TEXT.split()
_ZH = (
    "我们今天明天北京上海故宫参观然后吃烤鸭好的周一闭馆请提前在网上预约门票数据文件读取学习问"
    "题答案模型搜索会话标题消息内容时间地点天气朋友工作生活电脑手机程序代码测试数据库服务器网络"
)


def _text(rng: random.Random, chars: int) -> str:
    if rng.random() < 0.2:
        return "".join(rng.choice(_ZH) for _ in range(chars // 3))
    return " ".join(rng.choice(_EN) for _ in range(chars // 5))


def save_costs() -> list[tuple[int, float, float]]:
    """(characters, ms per save with the trigger, ms without) on a SQLite file."""
    rng = random.Random(1)
    text = " ".join(rng.choice(_EN) for _ in range(20_000))
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "saves.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE m (id TEXT PRIMARY KEY, content TEXT)")
        db.execute("CREATE VIRTUAL TABLE f USING fts5(content, content='m', tokenize='trigram')")
        db.execute("INSERT INTO m VALUES ('s', '')")
        trigger = """CREATE TRIGGER mu AFTER UPDATE OF content ON m BEGIN
            INSERT INTO f (f, rowid, content) VALUES ('delete', old.rowid, old.content);
            INSERT INTO f (rowid, content) VALUES (new.rowid, new.content); END"""

        def per_save(n: int) -> float:
            times = []
            for k in range(5):
                start = time.perf_counter()
                db.execute("UPDATE m SET content = ? WHERE id = 's'", (text[: n + k],))
                times.append(time.perf_counter() - start)
            return statistics.median(times) * 1000

        sizes = (1_000, 8_000, 32_000, 64_000)
        db.execute(
            "INSERT INTO f (f) VALUES ('rebuild')"
        )  # the row indexed, as the trigger expects
        db.execute(trigger)
        with_index = [per_save(n) for n in sizes]
        db.execute("DROP TRIGGER mu")
        without = [per_save(n) for n in sizes]
        db.close()
    return list(zip(sizes, with_index, without, strict=True))


async def search_costs(url: str, conversations: int) -> list[tuple[str, int, float]]:
    rng = random.Random(1)
    store = SqlStore(url)
    await store.open()
    try:
        await store.ensure_user("u", "u")
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        for c in range(conversations):
            at = t0 + timedelta(minutes=c)
            await store.create_conversation(
                Conversation(f"c{c}", "u", title=_text(rng, 40), created_at=at, updated_at=at)
            )
            await store.add_messages(
                [
                    Message(
                        f"c{c}m{i}",
                        f"c{c}",
                        "u",
                        role="user" if i % 2 == 0 else "assistant",
                        content=_text(rng, 1000),
                        created_at=at + timedelta(seconds=i),
                    )
                    for i in range(20)
                ]
            )
        if not url.startswith("sqlite"):
            engine = create_engine(url)
            async with engine.connect() as conn:
                await conn.execute(sa.text("ANALYZE"))
            await engine.dispose()
        rows = []
        for query in QUERIES:
            times = []
            for _ in range(5):
                start = time.perf_counter()
                hits = await store.search("u", query, limit=21, offset=0)
                times.append(time.perf_counter() - start)
            rows.append((query, len(hits), statistics.median(times) * 1000))
        return rows
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an empty database (default: SQLite in a temporary file)")
    parser.add_argument("--conversations", type=int, default=1000)
    args = parser.parse_args()
    print("| characters saved | with the FTS5 trigger (ms) | without (ms) |\n|---|---|---|")
    for chars, with_index, without in save_costs():
        print(f"| {chars:,} | {with_index:.1f} | {without:.1f} |")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite+aiosqlite:///{Path(tmp) / 'search.db'}"
        rows = asyncio.run(search_costs(url, args.conversations))
    print(f"\n{args.conversations * 20:,} messages, {url.split(':')[0]}")
    print("| query | results | median (ms) |\n|---|---|---|")
    for query, found, ms in rows:
        print(f"| `{query}` | {found} | {ms:.1f} |")


if __name__ == "__main__":
    main()
