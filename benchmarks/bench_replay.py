"""Replay speed: frames per second at `--speed max` next to a bare decode loop, one run.

Run: `.venv/bin/python benchmarks/bench_replay.py [--minutes M] [--book-ms MS]
[--strategy NAME] [--set KEY=VALUE]... [--rounds N] [--json]`

`--set` takes what `hip3term replay --set` takes; e.g. `--set threshold_bps=0 --set
taker_fee_bps=0 --set cooldown_s=0.5 --set size_alpha=0.5 --set
risk.max_consecutive_losses=1000 --set risk.max_cumulative_loss=10000` makes the taker
trade about once a second (the default trades a few times in 10 minutes).

The recording is made first, fast: the simulator's synthetic `xyz:COIN` stepped under a
`SimClock` in 100 ms blocks, its public frames written with the `Recorder` as the
simulator's server pushes them (an l2Book every `--book-ms`, 500 ms by default; a bbo
whenever the top changed; trades as they happen; an activeAssetCtx every second).

Rows, each over the whole recording, median of the rounds (rounds are interleaved so a
slow spell of a shared machine hits every row alike; the ratio is also given as the median
of each round's own ratio, in wall time and in this process's CPU time, which a busy
neighbour on the machine disturbs less):

- `decode loop`: read every record (`RecordingReader`: mmap, CRC, msgpack unpack) and
  `orjson.loads` its frame: the DESIGN.md section 5 baseline ("read + unpack + JSON
  parse");
- `+ parse_frame`: the same with the feed's parser instead of `orjson.loads` (what replay
  must do to use the same parser);
- `+ engine`: parse, the duplicate filter and `Engine.on_feed_event` (market state, the
  strategy's callbacks, signals) with a plain clock, no loop, no venue, no ticks;
- `replay (--speed max)`: `run_replay` end to end: virtual-time loop, venue, exchange,
  markout series, the engine's 100 ms ticks, the executor's ticks and posts, the report;
- `replay, no-op strategy`: the same with the strategy's market-data and timer callbacks
  replaced by ones that do nothing: what the replay's machinery costs before any strategy
  code runs (the floor of the ratio for this recording, whatever the strategy).

The last line gives what the replay adds beyond the `+ engine` row, per frame: the
virtual-time loop, the engine's and the executor's ticks (10 a second of market time
each, so their share per frame grows as frames get rarer), the venue and the exchange.

The target (DESIGN.md section 5) is replay frames/s at least 40 % of the decode loop's.
The header says whether the hot path ran compiled (`make` builds it, `hip3term._native`);
`HIP3TERM_PURE=1` runs the Python source instead, for the comparison.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from hip3term import _native
from hip3term.config import load_settings
from hip3term.core.clock import SimClock
from hip3term.feeds.dedupe import FrameFilter
from hip3term.recording.format import RecordingHeader
from hip3term.recording.reader import RecordingReader
from hip3term.recording.recorder import Recorder
from hip3term.replay.runner import replay_settings, run_replay
from hip3term.replay.sweep import parse_assignment
from hip3term.runtime.engine import Engine
from hip3term.strategy.loader import find_strategy, load_strategy
from hip3term.venue.hyperliquid.markets import AssetDirectory
from hip3term.venue.hyperliquid.parse import parse_frame
from hip3term.venue.hyperliquid.wire import ParseError
from hip3term.venue.sim.exchange import DEX, SimExchange, load_package_json, market_spec
from hip3term.venue.sim.market import SyntheticMarket
from hip3term.venue.sim.matching import MatchingEngine

COIN = "xyz:COIN"
START_MS = 1_785_000_000_000


def make_recording(directory: Path, minutes: float, book_ms: int, seed: int = 1) -> Path:
    """A recording of the synthetic market (see the module docstring)."""
    clock = SimClock(START_MS)
    meta, dexs = load_package_json("meta_xyz.json"), load_package_json("perp_dexs.json")
    directory_ = AssetDirectory.from_responses(dexs, {DEX: meta})
    spec = market_spec(directory_.lookup(COIN))
    engine = MatchingEngine([spec], clock)
    market = SyntheticMarket(engine, spec, seed, clock=clock, start_px=Decimal(190))
    exchange = SimExchange(clock=clock, engine=engine, drivers=[market], directory=directory_,
                           meta=meta, perp_dexs=dexs)
    header = RecordingHeader(market=COIN, dex="xyz", venue="sim", ws_url="sim://bench",
                             config_hash="bench")
    last_top: Any = None
    with Recorder.open(directory, header, clock=clock) as recorder:
        for _ in range(round(minutes * 600)):
            clock.advance(100)
            now = clock.now_ms()
            for push in exchange.step(now):
                if push.channel == "trades":
                    recorder.frame_in(_frame("trades", push.data), "trades", now)
            if now % book_ms == 0:
                recorder.frame_in(_frame("l2Book", exchange.l2_book(COIN, None, None, 20)),
                                  "l2Book", now)  # fmt: skip
            top = exchange.bbo_levels(COIN)
            if top != last_top:
                last_top = top
                recorder.frame_in(_frame("bbo", {"coin": COIN, "time": now, "bbo": top}),
                                  "bbo", now)  # fmt: skip
            if now % 1000 == 0:
                recorder.frame_in(_frame("activeAssetCtx", exchange.active_asset_ctx(COIN)),
                                  "activeAssetCtx")  # fmt: skip
        return recorder.path


def _frame(channel: str, data: Any) -> bytes:
    return orjson.dumps({"channel": channel, "data": data})


def decode_loop(path: Path) -> int:
    count = 0
    for record in RecordingReader(path):
        orjson.loads(record.raw)
        count += 1
    return count


def parse_loop(path: Path) -> int:
    count = 0
    for record in RecordingReader(path):
        parse_frame(record.raw)
        count += 1
    return count


def engine_loop(path: Path, settings: Any) -> int:
    reader = RecordingReader(path)
    clock = SimClock(START_MS)
    strategy = load_strategy(settings.strategy.name, settings.strategy.params)
    engine = Engine(settings, clock=clock, strategy=strategy, observe=False)
    directory = AssetDirectory.from_responses(load_package_json("perp_dexs.json"),
                                              {DEX: load_package_json("meta_xyz.json")})
    engine.attach_rules(directory.lookup(COIN), directory)
    engine.on_connected()
    frames, count = FrameFilter(), 0
    for record in reader:
        if record.wall_ns > clock.now_ns():
            clock.advance_ns(record.wall_ns - clock.now_ns())
        event = parse_frame(record.raw)
        count += 1
        if not isinstance(event, ParseError):
            verdict = frames.check(event, record.raw)
            if verdict.event is not None:
                engine.on_feed_event(verdict.event)
    return count


_CALLBACKS = ("on_book", "on_bbo", "on_asset_ctx", "on_trades", "on_timer")


def _nothing(*_args: object) -> None:
    return None


def noop_replay(path: Path, settings: Any) -> int:
    """`run_replay` with the strategy's market-data and timer callbacks doing nothing."""
    cls = find_strategy(settings.strategy.name)
    saved = {name: cls.__dict__.get(name) for name in _CALLBACKS}
    try:
        for name in _CALLBACKS:
            setattr(cls, name, _nothing)
        return run_replay(path, settings).frames
    finally:
        for name, value in saved.items():
            if value is None:
                delattr(cls, name)
            else:
                setattr(cls, name, value)


def timed(run: Callable[[], int]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, the run's count)."""
    started, cpu = time.perf_counter(), time.process_time()
    count = run()
    return time.perf_counter() - started, time.process_time() - cpu, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--book-ms", type=int, default=500)
    parser.add_argument("--strategy", default="oracle_dislocation")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a strategy parameter or a section.field setting (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        made = time.perf_counter()
        path = make_recording(Path(tmp), args.minutes, args.book_ms)
        made_s = time.perf_counter() - made
        settings = replay_settings(
            load_settings(env={}, overrides={"strategy.name": args.strategy}), path,
            overrides=dict(parse_assignment(text) for text in args.set))
        names = ("decode loop", "+ parse_frame", "+ engine", "replay (--speed max)",
                 "replay, no-op strategy")
        rows: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        frames = fills = 0

        def replay() -> int:
            nonlocal fills
            result = run_replay(path, settings)
            fills = len(result.fills)
            return result.frames

        for _ in range(args.rounds):
            for name, run in zip(names, (lambda: decode_loop(path), lambda: parse_loop(path),
                                         lambda: engine_loop(path, settings), replay,
                                         lambda: noop_replay(path, settings)), strict=True):
                seconds, cpu_s, count = timed(run)
                rows[name].append(seconds)
                cpu[name].append(cpu_s)
                frames = count if name == "decode loop" else frames
        _report(args, rows, cpu, frames, fills, made_s, path, settings.executor.tick_ms)


def _round_ratio(rows: dict[str, list[float]], name: str) -> float:
    # the median over the rounds of decode time / `name`'s time in the same round
    return statistics.median(d / r for d, r in zip(rows["decode loop"], rows[name], strict=True))


def _report(args: argparse.Namespace, rows: dict[str, list[float]], cpu: dict[str, list[float]],
            frames: int, fills: int, made_s: float, path: Path, tick_ms: int) -> None:
    seconds = {name: statistics.median(values) for name, values in rows.items()}
    rate = {name: frames / s for name, s in seconds.items()}
    ratio = rate["replay (--speed max)"] / rate["decode loop"]
    per_round = {"wall": _round_ratio(rows, "replay (--speed max)"),
                 "cpu": _round_ratio(cpu, "replay (--speed max)"),
                 "noop_wall": _round_ratio(rows, "replay, no-op strategy"),
                 "noop_cpu": _round_ratio(cpu, "replay, no-op strategy")}
    out = {
        "python": platform.python_version(), "machine": platform.machine(),
        "hot_path": _native.STATUS,
        "recording": {"minutes": args.minutes, "frames": frames, "book_ms": args.book_ms,
                      "bytes": path.stat().st_size, "made_s": round(made_s, 2)},
        "strategy": args.strategy, "set": args.set, "fills": fills, "rounds": args.rounds,
        "rows": {name: {"seconds": round(s, 4), "frames_per_s": round(rate[name]),
                        "us_per_frame": round(s / frames * 1e6, 2)}
                 for name, s in seconds.items()},
        "replay_to_decode_ratio": round(ratio, 4), "target_ratio": 0.40,
        "noop_strategy_ratio": round(rate["replay, no-op strategy"] / rate["decode loop"], 4),
        "per_round_ratios": {key: round(value, 4) for key, value in per_round.items()},
        "market_speedup": round(args.minutes * 60 / seconds["replay (--speed max)"]),
        "ticks_per_frame": round(args.minutes * 60_000 / tick_ms / frames, 3),
        "beyond_engine_us_per_frame": round(
            (seconds["replay (--speed max)"] - seconds["+ engine"]) / frames * 1e6, 2),
    }  # fmt: skip
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"recording: {args.minutes:g} min of synthetic {COIN}, {frames} frames "
          f"(l2Book every {args.book_ms} ms), made in {made_s:.1f} s; strategy "
          f"{args.strategy}{' ' + ' '.join(args.set) if args.set else ''}, {fills} fills in "
          f"the replay; median of {args.rounds} rounds; "
          f"hot path {_native.STATUS}")
    print(f"{'row':<24}{'seconds':>10}{'frames/s':>12}{'us/frame':>10}{'x decode':>10}")
    for name, s in seconds.items():
        print(f"{name:<24}{s:>10.3f}{rate[name]:>12,.0f}{s / frames * 1e6:>10.1f}"
              f"{s / seconds['decode loop']:>10.1f}")
    print(f"replay / decode loop: {ratio:.1%} (target at least 40 %); the replay covers the "
          f"market {out['market_speedup']}x faster than real time; with a strategy that does "
          f"nothing: {out['noop_strategy_ratio']:.1%}")
    print(f"the same ratio round by round (median of the rounds' own ratios), wall time "
          f"{per_round['wall']:.1%}, CPU time {per_round['cpu']:.1%}; no-op strategy "
          f"{per_round['noop_wall']:.1%} / {per_round['noop_cpu']:.1%}")
    print(f"replay - engine row: {out['beyond_engine_us_per_frame']:.1f} us/frame: the loop in "
          f"virtual time, the engine's and the executor's {tick_ms} ms ticks "
          f"({out['ticks_per_frame']:.2f} of each per frame), the venue, the exchange side "
          f"and the markout series")


if __name__ == "__main__":
    main()
