"""``streamchat`` with its cyclic garbage collector timed, for bench/profile.py ``--gc``.

A measurement wrapper, not part of streamchat: ``gc.callbacks`` add up the time each generation's
collections take; every SIGUSR1 prints the totals so far as one stderr line,
``gc-timed {"seconds": [g0, g1, g2], "collections": [g0, g1, g2]}``.

    .venv/bin/python -m bench.gctimed serve --port 8000 ...   (the arguments of ``streamchat``)
"""

from __future__ import annotations

import gc
import json
import signal
import sys
import time
from types import FrameType
from typing import Any

from streamchat.cli import main as streamchat_main

PREFIX = "gc-timed "


class GCTimer:
    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = int(info["generation"])
        self.seconds[generation] += time.perf_counter() - self._started
        self.collections[generation] += 1

    def report(self, signum: int = 0, frame: FrameType | None = None) -> None:
        totals = {"seconds": self.seconds, "collections": self.collections}
        print(PREFIX + json.dumps(totals), file=sys.stderr, flush=True)


def main() -> None:
    timer = GCTimer()
    gc.callbacks.append(timer)
    signal.signal(signal.SIGUSR1, timer.report)
    streamchat_main()


if __name__ == "__main__":
    main()
