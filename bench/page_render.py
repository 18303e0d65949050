"""The chat page under a long answer: Chromium renders a 20,000-token markdown answer streamed
by the mock upstream at 200 tokens/s, through streamchat, and this reports what the reader feels.

* long tasks (PerformanceObserver "longtask", > 50 ms on the main thread): count, total, max;
* token arrival to paint: from the moment the page's SSE reader hands a delta over to the first
  paint that shows it (a MessageChannel task posted from the frame that drew it runs right after
  that frame is painted); p50, p95, max;
* render cost per token (time in the bubble's draw: lex the tail, render, sanitise, insert),
  over the first and the last tenth of the answer: flat when the page does not re-parse the
  whole message per token;
* for scale, what one full re-parse and render of the final text costs (what every frame would
  cost without the incremental renderer).

    .venv/bin/python -m bench.page_render [--tokens 20000] [--rate 200] [--cpu-throttle 1]
    .venv/bin/python -m bench.page_render --open [--tokens 20000]
    .venv/bin/python -m bench.page_render --text math    # formulas in all four delimiters

``--open`` measures opening a stored conversation instead: a 20,000-token markdown answer is
stored (streamed as fast as the mock goes), then the page opens it cold (a load of
``#/c/{id}``) and warm (switching to it from another conversation), three times each, and
reports the time to interactive (the answer's visible part painted and no long task after it:
the later of the two), the longest task, and when the whole answer was in the DOM.

Servers (mock upstream and streamchat on SQLite) run in threads via tests/harness.py. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.harness import mock_provider, mock_upstream_thread, streamchat_thread, test_settings

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

PROBE = """
window.__bench = { arrivals: [], frames: [], longtasks: [] };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    window.__bench.longtasks.push({ start: e.startTime, duration: e.duration });
  }
}).observe({ type: "longtask", buffered: true });
globalThis.streamchatProbe = {
  arrival(event) {
    if (event.type === "delta") window.__bench.arrivals.push([event.id, performance.now()]);
  },
  rendered(lastId, ms, chars) {
    const drawnAt = performance.now();
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      window.__bench.frames.push([lastId, ms, chars, drawnAt, performance.now()]);
    };
    channel.port2.postMessage(0);
  },
};
"""

FULL_RENDER = """
async (text) => {
  const { renderMarkdown } = await import("/static/js/markdown.js");
  const times = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    const fragment = renderMarkdown(text);
    const host = document.createElement("div");
    host.append(fragment);
    times.push(performance.now() - start);
  }
  return Math.min(...times);
}
"""


def run(tokens: int, rate: float, throttle: float, text: str = "markdown") -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, mock_upstream_thread("openai") as mock:
        settings = test_settings(
            Path(tmp),
            f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            providers=[mock_provider(mock)],
            flush_interval=1.0,
            total_timeout=max(900.0, 3 * tokens / rate),
        )
        with streamchat_thread(settings) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script(PROBE)
            if throttle > 1:
                cdp = page.context.new_cdp_session(page)
                cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
            page.goto(url)
            page.wait_for_selector("body.ready")
            page.fill("#composer-input", f"long [[mock tokens={tokens} rate={rate} text={text}]]")
            started = time.perf_counter()
            page.press("#composer-input", "Enter")
            page.wait_for_selector(
                "sc-message.msg-assistant[data-status=complete]",
                timeout=(3 * tokens / rate + 60) * 1000,
            )
            wall = time.perf_counter() - started
            load = os.getloadavg()[0]
            page.wait_for_timeout(500)
            data: dict[str, Any] = page.evaluate("window.__bench")
            answer: str = page.evaluate(
                "document.querySelector('sc-message.msg-assistant').source.text"
            )
            data["full_render_ms"] = page.evaluate(FULL_RENDER, answer)
            data["chars"] = len(answer)
            data["wall_s"] = wall
            data["load"] = load
            data["chromium"] = browser.version
            browser.close()
    return data


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def analyse(data: dict[str, Any]) -> dict[str, Any]:
    arrivals: list[tuple[int, float]] = [(a[0], a[1]) for a in data["arrivals"]]
    frames = sorted(data["frames"], key=lambda f: f[3])
    # token arrival -> the first painted frame whose draw included it
    latencies = []
    index = 0
    for event_id, arrived in arrivals:
        while index < len(frames) and (frames[index][0] < event_id or frames[index][3] < arrived):
            index += 1
        if index == len(frames):
            break
        latencies.append(frames[index][4] - arrived)
    # render cost per token in the first and last tenth of the answer
    ids = [a[0] for a in arrivals]
    tenth = max(1, len(ids) // 10)
    early_until, late_from = ids[tenth - 1], ids[-tenth]
    early = [f for f in frames if f[0] <= early_until]
    late = [f for f in frames if f[0] >= late_from]

    def per_token(group: list[list[float]]) -> float:
        if not group:
            return 0.0
        first, last = group[0][0], group[-1][0]
        tokens = sum(1 for i in ids if first - 1 < i <= last) or 1
        return sum(f[1] for f in group) / tokens

    def per_frame(group: list[list[float]]) -> float:
        return statistics.mean(f[1] for f in group) if group else 0.0

    span_start = arrivals[0][1] if arrivals else 0.0
    long_tasks = [t["duration"] for t in data["longtasks"] if t["start"] >= span_start - 50]
    return {
        "tokens": len(arrivals),
        "chars": data["chars"],
        "wall_s": data["wall_s"],
        "frames": len(frames),
        "long_count": len(long_tasks),
        "long_total": sum(long_tasks),
        "long_max": max(long_tasks, default=0.0),
        "lat_p50": percentile(latencies, 0.5),
        "lat_p95": percentile(latencies, 0.95),
        "lat_max": max(latencies),
        "early_token_ms": per_token(early),
        "late_token_ms": per_token(late),
        "early_frame_ms": per_frame(early),
        "late_frame_ms": per_frame(late),
        "frame_max_ms": max(f[1] for f in frames),
        "full_render_ms": data["full_render_ms"],
        "machine": f"Chromium {data['chromium']}, {os.cpu_count()} CPUs, "
        f"load average {data['load']:.1f} at the end",
    }


def table(r: dict[str, Any], tokens: int, rate: float, throttle: float) -> str:
    rows = [
        ("machine", r["machine"]),
        ("answer", f"{r['tokens']} deltas, {r['chars']:,} characters of markdown"),
        ("streamed in", f"{r['wall_s']:.1f} s at {rate:g} tokens/s (CPU throttle {throttle:g}x)"),
        ("frames drawn", f"{r['frames']}"),
        (
            "long tasks (> 50 ms)",
            f"{r['long_count']}, total {r['long_total']:.0f} ms, max {r['long_max']:.0f} ms",
        ),
        (
            "token arrival to paint",
            f"p50 {r['lat_p50']:.1f} ms, p95 {r['lat_p95']:.1f} ms, max {r['lat_max']:.1f} ms",
        ),
        (
            "render cost per token, first 10%",
            f"{r['early_token_ms'] * 1000:.0f} µs ({r['early_frame_ms']:.2f} ms per frame)",
        ),
        (
            "render cost per token, last 10%",
            f"{r['late_token_ms'] * 1000:.0f} µs ({r['late_frame_ms']:.2f} ms per frame)",
        ),
        ("slowest frame's draw", f"{r['frame_max_ms']:.1f} ms"),
        ("one full re-render of the final text", f"{r['full_render_ms']:.0f} ms"),
    ]
    lines = [
        f"Chat page, {tokens:,}-token answer at {rate:g} tokens/s (Chromium, bench/page_render.py)",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


OPEN_PROBE = """
window.__open = { longtasks: [] };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    window.__open.longtasks.push({ start: e.startTime, end: e.startTime + e.duration });
  }
}).observe({ type: "longtask", buffered: true });
// When the answer's last blocks are painted, by Element Timing: the elements of the last chunk
// of the last answer are marked as soon as they are in the DOM (a MutationObserver runs before
// the frame that paints them); the browser reports the paint's time.
window.__open.painted = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__open.painted.push(e.renderTime || e.loadTime);
}).observe({ type: "element", buffered: true });
new MutationObserver(() => {
  const answer = document.querySelector("#thread sc-message.msg-assistant:last-of-type");
  const chunks = answer ? answer.querySelectorAll(".msg-body .md-chunk") : [];
  const last = chunks[chunks.length - 1];
  if (last && !last.hasAttribute("elementtiming")) {
    last.setAttribute("elementtiming", "open-end");
    for (const el of last.querySelectorAll("*")) el.setAttribute("elementtiming", "open-end");
  }
}).observe(document, { childList: true, subtree: true });
"""

# Resolves once the last answer shows its last block (painted: the MessageChannel task after
# the frame), and again once the thread has nothing left to render; times from `start`.
WAIT_OPEN = """
async ([start, id]) => {
  const painted = () => new Promise((resolve) => requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve(performance.now());
    channel.port2.postMessage(0);
  }));
  const shown = () => {
    const thread = document.querySelector("#thread");
    const answer = thread.querySelector("sc-message.msg-assistant:last-of-type");
    return thread.dataset.conversation === id && answer && answer.source
      && answer.querySelector(".msg-body").textContent.trim().length > 0;
  };
  while (!shown()) await new Promise((r) => setTimeout(r, 1));
  const visible = await painted();
  while (document.querySelector("#thread").dataset.rendering !== undefined) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const full = await painted();
  await new Promise((r) => setTimeout(r, 300));
  const tasks = window.__open.longtasks.filter((t) => t.end > start);
  const longest = Math.max(0, ...tasks.map((t) => t.end - Math.max(t.start, start)));
  const lastEnd = Math.max(visible, ...tasks.map((t) => t.end));
  const paints = window.__open.painted.filter((t) => t > start);
  return { visible: visible - start, full: full - start, tti: lastEnd - start, longest,
           count: tasks.length, painted: paints.length ? Math.min(...paints) - start : null };
}
"""


SWITCH = "(id) => { const t = performance.now(); location.hash = '#/c/' + id; return t; }"


def run_open(
    tokens: int, throttle: float, repeat: int = 3, text: str = "markdown"
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, mock_upstream_thread("openai") as mock:
        settings = test_settings(
            Path(tmp),
            f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            providers=[mock_provider(mock)],
            total_timeout=600.0,
        )
        with streamchat_thread(settings) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script(OPEN_PROBE)
            if throttle > 1:
                cdp = page.context.new_cdp_session(page)
                cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
            page.goto(url)
            page.wait_for_selector("body.ready")
            ids = []
            for prompt in (f"long [[mock tokens={tokens} rate=0 text={text}]]", "short"):
                page.goto(url + "#/")
                page.wait_for_selector("body.ready")
                page.fill("#composer-input", prompt)
                page.press("#composer-input", "Enter")
                page.wait_for_selector(
                    "sc-message.msg-assistant[data-status=complete]", timeout=120_000
                )
                ids.append(page.evaluate("location.hash.slice(4)"))
            long_id, short_id = ids
            cold, warm, short = [], [], []
            for _ in range(repeat):
                page.goto("about:blank")
                page.goto(url + "#/c/" + long_id)
                cold.append(page.evaluate(WAIT_OPEN, [0, long_id]))
                # the page's own load: the same, opening a conversation of one short answer
                page.goto("about:blank")
                page.goto(url + "#/c/" + short_id)
                short.append(page.evaluate(WAIT_OPEN, [0, short_id]))
                page.goto(url + "#/c/" + long_id)
                page.wait_for_selector(f'#thread[data-conversation="{long_id}"]')
                page.evaluate("(id) => { location.hash = '#/c/' + id; }", short_id)
                page.wait_for_selector(f'#thread[data-conversation="{short_id}"]')
                page.wait_for_timeout(300)
                start = page.evaluate(SWITCH, long_id)
                warm.append(page.evaluate(WAIT_OPEN, [start, long_id]))
            chars = page.evaluate(
                "document.querySelector('sc-message.msg-assistant').source.text.length"
            )
            version = browser.version
            browser.close()
    return {
        "cold": cold,
        "warm": warm,
        "cold_short": short,
        "chars": chars,
        "chromium": version,
        "load": os.getloadavg()[0],
    }


def open_table(r: dict[str, Any], tokens: int, throttle: float) -> str:
    lines = [
        f"Opening a stored {tokens:,}-token answer ({r['chars']:,} characters of markdown; "
        f"Chromium {r['chromium']}, {os.cpu_count()} CPUs, load average {r['load']:.1f}, "
        f"CPU throttle {throttle:g}x; bench/page_render.py --open)",
        "",
        "| open | time to interactive | visible part painted | its paint (Element Timing) "
        "| longest task | all rendered |",
        "|---|---|---|---|---|---|",
    ]
    for name, key in (("cold", "cold"), ("warm", "warm"), ("cold, a short answer", "cold_short")):
        for m in r.get(key, []):
            painted = "—" if m.get("painted") is None else f"{m['painted']:.0f} ms"
            lines.append(
                f"| {name} | {m['tti']:.0f} ms | {m['visible']:.0f} ms | {painted} "
                f"| {m['longest']:.0f} ms | {m['full']:.0f} ms |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--cpu-throttle", type=float, default=1.0)
    parser.add_argument("--open", action="store_true", help="open a stored answer instead")
    parser.add_argument(
        "--text",
        choices=("markdown", "math"),
        default="markdown",
        help="the mock's markdown text, or markdown with LaTeX formulas in all four delimiters",
    )
    args = parser.parse_args()
    if args.open:
        result = run_open(args.tokens, args.cpu_throttle, text=args.text)
        print(open_table(result, args.tokens, args.cpu_throttle))
        return
    data = run(args.tokens, args.rate, args.cpu_throttle, args.text)
    print(table(analyse(data), args.tokens, args.rate, args.cpu_throttle))


if __name__ == "__main__":
    main()
