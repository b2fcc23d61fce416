"""Tick-to-post inside the running node, with the TUI drawing it at 10 Hz.

Run: `.venv/bin/python benchmarks/bench_node_latency.py [--seconds 60] [--json]`

`bench_tick_to_post.py` times the engine's path piece by piece in one process; this one
times it where it lives: `hip3term run`'s configuration (the simulator in its own process
pushing ~2000 frames/s, the real `TradingNode` in an `EngineProcess`, the workstation TUI
in this process at 10 Hz, its priority lowered by `tui.yield_cpu`), with the taker set to
trade often (threshold 0, no fees, 2 s cooldown, 10 s time stop, loose loss limits).

In the engine process the feed client's own receive stamp (`FeedClient.last_recv_ns`,
taken before the frame is parsed) is remembered for every order the scheduler queues
while that frame is being handled (orders queued by timers, such as time stops, are not
counted), and the time from it to the moment the post carrying the order's cloid was
written to the websocket (`on_post_sent`) is the order's tick-to-post; the time from it to
the order's enqueue (parse, state, strategy, gates) is printed too. Printed: count,
p50, p90, p99 and max, and the share over 1 ms. DESIGN.md section 5: p99 under 1 ms with
the TUI running.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_tui_lag import KEY, TUI_SIZE, _CountingApp, paced_simulator, wait_node_ready

from hip3term.config import Settings, load_settings
from hip3term.runtime.process import EngineProcess, NodeSpec, child_main

_CLOID = re.compile(rb'"c":"(0x[0-9a-fA-F]{32})"')
PARAMS = {"threshold_bps": 0, "taker_fee_bps": 0, "size_alpha": 0.3, "cooldown_s": 2}


def _settings(root: Path, url: str, threshold_bps: float = 0) -> Settings:
    return load_settings(None, {
        "paths.state_dir": str(root / "state"), "paths.journal": str(root / "state" / "j.sqlite"),
        "paths.recordings_dir": str(root / "recordings"), "venue.ws_url": url,
        "strategy.params": {**PARAMS, "threshold_bps": threshold_bps},
        "risk.time_stop_s": 10, "risk.max_cumulative_loss": 1000,
        "risk.max_consecutive_losses": 1000, "risk.max_flatten_failures": 1000,
        "risk.reject_storm_count": 1000,
    }, env={})  # fmt: skip


def _install(launched: Any, samples: list[int], decided: list[int]) -> None:
    # On the engine loop: wrap the feed's event and post hooks and the scheduler's enqueue.
    node = launched.node
    feed, gates, clock = node.feed, node.engine.gates, node.clock
    scheduler = gates.scheduler
    on_event, on_sent, enqueue = feed._on_event, feed._on_post_sent, scheduler.enqueue_order
    handling = [False]
    stamps: dict[str, int] = {}
    queued: dict[str, int] = {}

    def event_hook(event: Any) -> None:
        handling[0] = True
        try:
            on_event(event)
        finally:
            handling[0] = False

    def enqueue_hook(order: Any) -> Any:
        if handling[0]:
            stamps[order.cloid] = feed.last_recv_ns
            queued[order.cloid] = clock.monotonic_ns()
        return enqueue(order)

    def sent_hook(raw: bytes) -> None:
        now = clock.monotonic_ns()
        for cloid in _CLOID.findall(raw):
            key = cloid.decode().lower()
            start = stamps.pop(key, None)
            if start is not None:
                samples.append(now - start)
                decided.append(queued.pop(key) - start)
        if on_sent is not None:
            on_sent(raw)

    feed._on_event, feed._on_post_sent = event_hook, sent_hook
    # the gates' own reference (the scheduler itself may be a compiled class, its methods
    # fixed): every order the gates accept passes here on its way in
    gates.scheduler = _Enqueueing(scheduler, enqueue_hook)


class _Enqueueing:
    # The scheduler as the gates see it, with `enqueue_order` observed.
    def __init__(self, scheduler: Any, enqueue_order: Any) -> None:
        self._scheduler, self.enqueue_order = scheduler, enqueue_order

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scheduler, name)


def _child_probe(engine: Any, *, seconds: float, warmup: float, out: str) -> None:
    # In the engine process: once READY (+ warm-up) install the hooks, wait, write samples.
    def run() -> None:
        if not wait_node_ready(engine):
            return
        time.sleep(warmup)
        samples: list[int] = []
        decided: list[int] = []
        engine.call(functools.partial(_install, samples=samples, decided=decided))
        Path(out).with_suffix(".started").touch()
        time.sleep(seconds)
        Path(out + ".tmp").write_text(json.dumps({"total": list(samples),
                                                  "decided": list(decided)}))
        Path(out + ".tmp").rename(out)

    threading.Thread(target=run, name="bench-latency", daemon=True).start()


def _exists(path: Path) -> bool:
    return path.exists()


async def _measure(engine: EngineProcess, out: Path, seconds: float) -> int:
    app = _CountingApp(engine, yield_cpu=Settings().tui.yield_cpu)
    async with app.run_test(size=TUI_SIZE, headless=True):
        deadline = time.monotonic() + 90 + seconds
        while not _exists(out):
            if time.monotonic() > deadline or engine.finished:
                raise RuntimeError(f"the engine process did not finish its probe: "
                                   f"{engine.failure}")  # fmt: skip
            await asyncio.sleep(0.05)
        draws = app.draws
        app.stopping = True
        app.exit()
    return draws


def main(argv: list[str] | None = None) -> int:
    """Run it; print the distribution (or JSON)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after READY")
    parser.add_argument("--tick", type=float, default=0.0005,
                        help="simulator step (an l2Book each) in seconds (default 0.0005)")
    parser.add_argument("--threshold-bps", type=float, default=0.0,
                        help="the taker's threshold (0: a signal on nearly every book, each "
                             "journaled; higher: rarer signals, as in real use)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    with paced_simulator(args.tick) as (url, _), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        out = root / "latency.json"
        spec = NodeSpec(_settings(root, url, args.threshold_bps), KEY.address, (), "benchmark key",
                        root / "engine.log")  # fmt: skip
        probe = functools.partial(_child_probe, seconds=args.seconds, warmup=args.warmup,
                                  out=str(out))  # fmt: skip
        engine = EngineProcess(spec, KEY.secret_bytes(),
                               target=functools.partial(child_main, on_engine=probe))
        try:
            draws = asyncio.run(_measure(engine, out, args.seconds))
            measured = json.loads(out.read_text())
            samples, decided = sorted(measured["total"]), sorted(measured["decided"])
        finally:
            engine.request_stop("benchmark done")
            if not engine.join(60):
                engine.terminate()
    if not samples:
        print("no order was posted in the window", file=sys.stderr)
        return 1
    us: list[float] = [s / 1000 for s in samples]

    def q(p: float) -> float:
        return us[min(len(us) - 1, int(len(us) * p))]

    result = {"orders": len(us), "p50_us": statistics.median(us), "p90_us": q(0.9),
              "p99_us": q(0.99), "max_us": us[-1], "over_1ms": sum(u > 1000 for u in us) / len(us),
              "tui_draws": draws, "seconds": args.seconds,
              "received_to_queued_p50_us": statistics.median(decided) / 1000}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"tick-to-post in the node, TUI at 10 Hz, ~2000 frames/s: {len(us)} orders in "
              f"{args.seconds:g} s; p50 {result['p50_us']:.0f} us, p90 {result['p90_us']:.0f} "
              f"us, p99 {result['p99_us']:.0f} us, max {result['max_us']:.0f} us; "
              f"{100 * result['over_1ms']:.1f}% over 1 ms (target p99 < 1 ms); of it, frame "
              f"received -> order queued p50 {result['received_to_queued_p50_us']:.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
