"""Parse plus market-state update per l2Book frame, next to bare `orjson.loads`, one run.

Run: `.venv/bin/python benchmarks/bench_feed.py [--json] [--frames N] [--rounds N]`

The frame is the real full 20x20 `xyz:AAPL` l2Book of tests/fixtures/real_ws_frames.jsonl
(compact JSON as the exchange sends it). Each timed call gets a distinct copy whose
`time` is one millisecond later than the previous one, so every update is a newer
snapshot (never ignored as stale, never dropped as a duplicate) and no `Decimal` cached by
an earlier parse is reused. Rows, in microseconds per frame (p50 and p99 of single calls
timed with `perf_counter_ns`; the timer's own cost, shown as "timer", is not subtracted):

- `orjson.loads`: decoding only, the floor;
- `parse_frame`: decode, validate, build the typed `L2Book`;
- `parse_frame + MarketState.apply`: what the hot path does per book frame;
- `MarketState.apply (parsed outside)`: the state update alone, on a fresh parse;
- `parse + apply + features()`: plus every feature computed (what a strategy reading all
  features on every frame would pay);
- `FeedClient frame handler + MarketState`: the client's whole per-frame work without
  the socket: parse, channel counters, duplicate check, callback into the market state.

Rounds are interleaved (each round times every row once over all frames) so that a slow
spell of a shared machine hits every row alike. The ratio column is each row's p50 over
the p50 of `orjson.loads`.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from hip3term.book import MarketState
from hip3term.core.clock import SimClock
from hip3term.feeds import FeedClient
from hip3term.venue.hyperliquid.parse import parse_frame
from hip3term.venue.hyperliquid.wire import Event, L2Book

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "real_ws_frames.jsonl"
NOTE = "full 20x20 xyz:AAPL book"
COIN = "xyz:AAPL"


def _frames(count: int) -> list[bytes]:
    records = [orjson.loads(line) for line in FIXTURE.read_bytes().splitlines()]
    (msg,) = [r["msg"] for r in records if NOTE in r["note"]]
    base = msg["data"]["time"]
    frames = []
    for i in range(count):
        msg["data"]["time"] = base + i
        frames.append(orjson.dumps(msg))
    return frames


def _book(raw: bytes) -> L2Book:
    book = parse_frame(raw)
    assert isinstance(book, L2Book), book
    return book


class _Rows:
    # Each row: a fresh-state factory returning the per-frame callable (index, raw).
    def __init__(self) -> None:
        self.tick = 0

    def _now(self) -> int:
        self.tick += 1_000_000
        return self.tick

    def orjson(self) -> Callable[[bytes], object]:
        return orjson.loads

    def parse(self) -> Callable[[bytes], object]:
        return parse_frame

    def parse_apply(self) -> Callable[[bytes], object]:
        state = MarketState(COIN)
        return lambda raw: state.apply(parse_frame(raw), self._now())

    def parse_apply_features(self) -> Callable[[bytes], object]:
        state = MarketState(COIN)

        def call(raw: bytes) -> object:
            now = self._now()
            state.apply(parse_frame(raw), now)
            return state.features(now)
        return call

    def client(self) -> Callable[[bytes], object]:
        state = MarketState(COIN)
        clock = SimClock(1_700_000_000_000)

        def on_event(event: Event) -> None:
            state.apply(event, clock.monotonic_ns())
        feed = FeedClient("ws://127.0.0.1:1/ws", COIN, clock=clock, on_event=on_event)
        return feed._handle  # the per-frame entry point, driven without a socket


ROWS = (("orjson.loads", "orjson"), ("parse_frame", "parse"),
        ("parse_frame + MarketState.apply", "parse_apply"),
        ("parse + apply + features()", "parse_apply_features"),
        ("FeedClient frame handler + MarketState", "client"))


def _time(call: Callable[[bytes], object], frames: list[bytes]) -> list[int]:
    clock = time.perf_counter_ns
    samples = []
    for raw in frames:
        start = clock()
        call(raw)
        samples.append(clock() - start)
    return samples


def _time_apply_only(frames: list[bytes]) -> list[int]:
    state, clock, samples = MarketState(COIN), time.perf_counter_ns, []
    for i, raw in enumerate(frames):
        book = _book(raw)
        start = clock()
        state.apply(book, i)
        samples.append(clock() - start)
    return samples


def _check(frames: list[bytes]) -> None:
    book = _book(frames[0])
    assert (len(book.bids), len(book.asks)) == (20, 20)
    state = MarketState(COIN)
    assert all(state.apply(_book(raw), i) for i, raw in enumerate(frames[:3]))
    assert state.best_bid is not None
    assert state.best_bid.px == book.bids[0].px
    rows = _Rows()
    handle = rows.client()
    for raw in frames[:3]:
        handle(raw)


def measure(frames_per_round: int, rounds: int) -> list[dict[str, Any]]:
    """p50 / p99 / mean microseconds per frame of every row, rounds interleaved."""
    frames = _frames(frames_per_round)
    _check(frames)
    labels = [label for label, _ in ROWS] + ["MarketState.apply (parsed outside)", "timer"]
    samples: dict[str, list[int]] = {label: [] for label in labels}
    for _ in range(rounds):
        rows = _Rows()
        for label, name in ROWS:
            samples[label] += _time(getattr(rows, name)(), frames)
        samples["MarketState.apply (parsed outside)"] += _time_apply_only(frames)
        samples["timer"] += _time(lambda raw: None, frames)
    p50_floor = statistics.median(samples["orjson.loads"]) / 1000
    results = []
    for label in labels:
        us = sorted(ns / 1000 for ns in samples[label])
        p50 = statistics.median(us)
        results.append({
            "row": label, "p50_us": round(p50, 2), "p99_us": round(us[int(len(us) * 0.99)], 2),
            "mean_us": round(statistics.fmean(us), 2), "x_orjson_p50": round(p50 / p50_floor, 2),
            "samples": len(us)})
    return results


def main(argv: list[str] | None = None) -> int:
    """Print the table (or JSON) of per-frame costs."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--frames", type=int, default=5000,
                        help="distinct frames (1 ms apart) timed per row and round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args(argv)
    results = measure(args.frames, args.rounds)
    frame_bytes = len(_frames(1)[0])
    if args.json:
        print(json.dumps({"python": platform.python_version(), "orjson": orjson.__version__,
                          "frame_bytes": frame_bytes, "results": results}, indent=2))
        return 0
    print(f"Python {platform.python_version()}, orjson {orjson.__version__}; real 20x20 "
          f"xyz:AAPL l2Book ({frame_bytes} B); {args.rounds} x {args.frames} frames per row")
    print(f"{'row':40} {'p50 us':>8} {'p99 us':>8} {'mean us':>8} {'x orjson':>9}")
    for r in results:
        print(f"{r['row']:40} {r['p50_us']:>8.2f} {r['p99_us']:>8.2f} {r['mean_us']:>8.2f} "
              f"{r['x_orjson_p50']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
