"""Tick-to-post latency: a book frame in hand to the signed order written to the socket.

Run: `.venv/bin/python benchmarks/bench_tick_to_post.py [--json] [--frames N] [--uvloop]`

The path timed per frame is the engine's own, end to end, with `time.perf_counter_ns`:

1. the frame's bytes in hand ("frame received"): the real full 20x20 l2Book of
   tests/fixtures/real_ws_frames.jsonl (xyz:AAPL, renamed xyz:COIN so that it is the
   traded market's book; its `time` one millisecond later per frame);
2. `parse_frame`, then `MarketState.apply`;
3. a trivial decision: one IOC buy of 0.1 at half the best bid (so that the simulator
   refuses it as unmatched and nothing accumulates between frames);
4. the gates (`GateKeeper.submit`: every gate, mark pending, enqueue);
5. `ExecutorLoop.tick()`: `BatchScheduler.tick`, the action built, a nonce, the L1
   signature, the post registered and its task started;
6. that task's `FeedClient.post`: the envelope serialised and written to a real
   websocket connection to the simulator (running in its own process, on loopback);
   the clock stops in the feed client's `on_post_sent` hook, right after the write.

The answer is awaited (untimed) before the next frame: the pending-order gate allows one
order in the market at a time. The first `--warmup` frames are not counted.

Measured in the same run, interleaved with the frames: `orjson.loads` of the same frame
(the parser `parse_frame` uses), `json.loads` of it (reference), and the raw coincurve
recoverable signature of a 32-byte digest (the floor of any L1 signer). DESIGN.md section
5 target: tick-to-post p50 within 5x of (JSON parse + raw signature); the ratio printed
uses `orjson.loads`, the stricter baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Coroutine
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import orjson

from hip3term.book import MarketState
from hip3term.config import ExecutorSettings, RiskSettings
from hip3term.core.clock import SimClock
from hip3term.core.events import (
    ActionPostFailed,
    ActionRejected,
    OrderAcknowledged,
    OrderDenied,
    OrderRejected,
)
from hip3term.core.nonce import NonceManager, system_clock_ms
from hip3term.execution.executor import ExecutorLoop, Signer
from hip3term.execution.orders import CloidSequence, OrderRequest
from hip3term.execution.posts import build_action
from hip3term.execution.scheduler import BatchScheduler
from hip3term.feeds import FeedClient
from hip3term.keys import SecretKey
from hip3term.positions import PositionTracker
from hip3term.risk.gates import ActionBudget, GateKeeper
from hip3term.risk.latch import HardStopLatch, RiskMonitor
from hip3term.risk.ready import TradingReadyChecker
from hip3term.venue.hyperliquid.parse import parse_frame
from hip3term.venue.hyperliquid.signing import signed_body

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "real_ws_frames.jsonl"
NOTE = "full 20x20 xyz:AAPL book"
COIN, ASSET = "xyz:COIN", 110007
KEY = SecretKey.from_hex("0x" + "5b" * 32)  # a throwaway benchmark key
TARGET_RATIO = 5.0
CENT = Decimal("0.01")
_DONE = (OrderAcknowledged, OrderRejected, ActionRejected, ActionPostFailed)


def _frames(count: int) -> list[bytes]:
    records = [orjson.loads(line) for line in FIXTURE.read_bytes().splitlines()]
    (msg,) = [r["msg"] for r in records if NOTE in r["note"]]
    msg["data"]["coin"] = COIN
    base = msg["data"]["time"]
    frames = []
    for i in range(count):
        msg["data"]["time"] = base + i
        frames.append(orjson.dumps(msg))
    return frames


# --- the simulator, in its own process ---------------------------------------------------


def _serve(port_out: Any, stop: Any) -> None:
    from hip3term.venue.sim.exchange import SimExchange
    from hip3term.venue.sim.server import SimServer

    async def main() -> None:
        exchange = SimExchange.create(["COIN"], seed=1, fund={KEY.address: Decimal(10**6)})
        async with SimServer(exchange) as server:
            port_out.put(server.port)
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)

    asyncio.run(main())


# --- the engine, as the runtime wires it ---------------------------------------------------


class Engine:
    """Feed client, market state, gates, scheduler, executor: one frame at a time."""

    def __init__(self, url: str) -> None:
        self.clock = SimClock(system_clock_ms())  # the engine's time: 100 ms per frame
        risk = RiskSettings()
        self.written_ns = 0
        self.done = asyncio.Event()
        self.feed = FeedClient(url, COIN, on_post_sent=self._written)
        self.state = MarketState(COIN)
        ready = TradingReadyChecker()
        now = self.clock.now_ms()
        ready.on_connected(now)
        ready.set_market_data(True, now)
        ready.on_order_updates_ack(now)
        ready.on_fills_snapshot(now)
        ready.on_positions_synced(now)
        tracker = PositionTracker()
        tracker.on_user_fills([], is_snapshot=True, now_ms=now)
        tracker.reconcile({"assetPositions": [], "time": now}, [], now)
        latch = HardStopLatch(risk)
        budget, settings = ActionBudget(), ExecutorSettings()
        self.scheduler = scheduler = BatchScheduler(settings)
        self.gates = GateKeeper(risk, latch=latch, ready=ready, tracker=tracker, budget=budget,
                                scheduler=scheduler, marks=lambda market: None,
                                assets={COIN: ASSET}.get)
        self.nonces = NonceManager(system_clock_ms)
        self.executor = ExecutorLoop(
            gatekeeper=self.gates, scheduler=scheduler, tracker=tracker, budget=budget,
            monitor=RiskMonitor(risk, latch), poster=self.feed, signer=Signer(KEY, True),
            nonces=self.nonces, clock=self.clock, settings=settings, user=KEY.address,
            on_event=self._on_event)
        self.cloids = CloidSequence(now)
        self.outcomes: dict[str, int] = {}

    def _written(self, raw: bytes) -> None:
        self.written_ns = time.perf_counter_ns()

    def _on_event(self, event: object) -> None:
        if isinstance(event, _DONE):
            self.outcomes[type(event).__name__] = self.outcomes.get(type(event).__name__, 0) + 1
            self.done.set()

    def decide(self) -> OrderRequest:
        """The trivial strategy: an IOC buy of 0.1 at half the best bid."""
        bid = self.state.best_bid
        assert bid is not None
        px = (bid.px / 2).quantize(CENT, ROUND_DOWN)
        return OrderRequest(self.cloids(), COIN, ASSET, True, px, Decimal("0.1"), "Ioc",
                            False, self.clock.now_ms(), origin="bench")

    def on_frame(self, raw: bytes, local_ns: int) -> None:
        """The hot path: parse, state, decide, gate, tick (sign and start the post)."""
        self.state.apply(parse_frame(raw), local_ns)
        order = self.decide()
        denied = self.gates.submit(order, order.created_ms)
        if isinstance(denied[-1], OrderDenied):
            raise RuntimeError(f"the gates refused the order: {denied[-1]}")
        if self.executor.tick() != 1:
            raise RuntimeError("the tick started no post")


Samples = dict[str, list[int]]


async def _measure(url: str, frames: list[bytes], warmup: int) -> tuple[Samples, dict[str, int]]:
    engine = Engine(url)
    clock = time.perf_counter_ns
    samples: Samples = {"tick_to_post": [], "sync_part": [], "orjson": [],
                                     "json": [], "sign": []}
    signer = KEY.signer
    async with engine.feed:
        await engine.feed.wait_ready(30.0)
        for i, raw in enumerate(frames):
            engine.clock.advance(100)
            engine.done.clear()
            start = clock()
            engine.on_frame(raw, start)
            ticked = clock()
            async with asyncio.timeout(10.0):
                await engine.done.wait()
            # the baselines, timed on the same frame, between two frames
            digest = os.urandom(32)
            t0 = clock()
            orjson.loads(raw)
            t1 = clock()
            json.loads(raw)
            t2 = clock()
            signer.sign_recoverable(digest, hasher=None)
            t3 = clock()
            if i >= warmup:
                samples["tick_to_post"].append(engine.written_ns - start)
                samples["sync_part"].append(ticked - start)
                samples["orjson"].append(t1 - t0)
                samples["json"].append(t2 - t1)
                samples["sign"].append(t3 - t2)
        await engine.executor.aclose()
    return samples, engine.outcomes


STAGES = ("parse_frame", "MarketState.apply", "decision (OrderRequest)", "GateKeeper.submit",
          "BatchScheduler.tick", "build_action", "NonceManager.next", "signed_body")


def _stages(frames: list[bytes], warmup: int) -> dict[str, list[int]]:
    # The synchronous path step by step, without a socket (each batch reported unsent).
    engine, clock = Engine("ws://127.0.0.1:1/ws"), time.perf_counter_ns
    samples: dict[str, list[int]] = {name: [] for name in STAGES}
    for i, raw in enumerate(frames):
        engine.clock.advance(100)
        t0 = clock()
        event = parse_frame(raw)
        t1 = clock()
        engine.state.apply(event, t0)
        t2 = clock()
        order = engine.decide()
        t3 = clock()
        engine.gates.submit(order, order.created_ms)
        t4 = clock()
        (batch,) = engine.scheduler.tick()
        t5 = clock()
        action = build_action(batch)
        t6 = clock()
        nonce = engine.nonces.next()
        t7 = clock()
        signed_body(KEY, action, nonce, None, None, True)
        t8 = clock()
        engine.gates.on_send_failed(batch.batch_id, order.created_ms)
        if i >= warmup:
            for name, start, end in zip(STAGES, (t0, t1, t2, t3, t4, t5, t6, t7),
                                        (t1, t2, t3, t4, t5, t6, t7, t8), strict=True):
                samples[name].append(end - start)
    return samples


def _stats(ns: list[int]) -> dict[str, float]:
    us = sorted(n / 1000 for n in ns)
    return {"p50_us": round(statistics.median(us), 2), "p99_us": round(us[int(len(us) * 0.99)], 2),
            "mean_us": round(statistics.fmean(us), 2), "samples": len(us)}


def _run(coroutine: Coroutine[Any, Any, Any], use_uvloop: bool) -> Any:
    if use_uvloop:
        import uvloop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


ROWS = (("tick_to_post", "tick-to-post (frame -> signed post written)"),
        ("sync_part", "  of which parse..tick (sync, incl. signing)"),
        ("orjson", "orjson.loads(frame)"), ("json", "json.loads(frame) (reference)"),
        ("sign", "raw coincurve signature"))


async def _in_process(frames: list[bytes], warmup: int) -> tuple[Samples, dict[str, int]]:
    from hip3term.venue.sim.exchange import SimExchange
    from hip3term.venue.sim.server import SimServer

    exchange = SimExchange.create(["COIN"], seed=1, fund={KEY.address: Decimal(10**6)})
    async with SimServer(exchange) as server:
        return await _measure(server.url, frames, warmup)


def measure(frames: int, warmup: int, use_uvloop: bool, sim_process: bool) -> dict[str, Any]:
    """Time `frames` frames against the simulator (in this process, or in a child)."""
    all_frames = _frames(frames + warmup)
    if sim_process:
        ctx = multiprocessing.get_context("spawn")
        port_out, stop = ctx.Queue(), ctx.Event()
        child = ctx.Process(target=_serve, args=(port_out, stop), daemon=True)
        child.start()
        try:
            url = f"ws://127.0.0.1:{port_out.get(timeout=30)}/ws"
            samples, answers = _run(_measure(url, all_frames, warmup), use_uvloop)
        finally:
            stop.set()
            child.join(timeout=10)
    else:
        samples, answers = _run(_in_process(all_frames, warmup), use_uvloop)
    rows = {name: _stats(samples[name]) for name, _ in ROWS}
    stages = {name: _stats(ns) for name, ns in _stages(all_frames, warmup).items()}
    baseline = rows["orjson"]["p50_us"] + rows["sign"]["p50_us"]
    ratio = rows["tick_to_post"]["p50_us"] / baseline
    return {"rows": rows, "baseline_p50_us": round(baseline, 2), "ratio_p50": round(ratio, 2),
            "target_ratio": TARGET_RATIO, "meets_target": ratio <= TARGET_RATIO,
            "tick_to_post_p99_under_1ms": rows["tick_to_post"]["p99_us"] < 1000,
            "answers": answers, "stages_no_socket": stages}


def main(argv: list[str] | None = None) -> int:
    """Print the table (or JSON) of the tick-to-post latency and its baseline."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--frames", type=int, default=3000, help="frames timed")
    parser.add_argument("--warmup", type=int, default=200, help="frames run before timing")
    parser.add_argument("--uvloop", action="store_true", help="run the client on uvloop")
    parser.add_argument("--sim-process", action="store_true",
                        help="run the simulator in a child process instead of this one")
    args = parser.parse_args(argv)
    result = measure(args.frames, args.warmup, args.uvloop, args.sim_process)
    loop = "uvloop" if args.uvloop else "asyncio"
    if args.json:
        print(json.dumps({"python": platform.python_version(), "loop": loop, **result},
                         indent=2))
        return 0
    where = "in its own process" if args.sim_process else "in this process"
    print(f"Python {platform.python_version()} ({loop}); simulator {where}; "
          f"{args.frames} frames after {args.warmup} warm-up")
    print(f"{'row':46} {'p50 us':>8} {'p99 us':>8} {'mean us':>8}")
    for name, label in ROWS:
        r = result["rows"][name]
        print(f"{label:46} {r['p50_us']:>8.2f} {r['p99_us']:>8.2f} {r['mean_us']:>8.2f}")
    print("the synchronous steps alone (no socket), for where the time goes:")
    for name, r in result["stages_no_socket"].items():
        print(f"  {name:44} {r['p50_us']:>8.2f} {r['p99_us']:>8.2f} {r['mean_us']:>8.2f}")
    verdict = "meets" if result["meets_target"] else "misses"
    print(f"baseline (orjson + raw signature) p50 {result['baseline_p50_us']:.2f} us; "
          f"tick-to-post p50 = {result['ratio_p50']:.2f}x baseline ({verdict} the "
          f"{TARGET_RATIO:g}x target); answers: {result['answers']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
