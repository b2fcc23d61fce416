"""Parsing real frames: `parse_frame` next to raw `orjson.loads` and `json.loads`, one run.

Run: `.venv/bin/python benchmarks/bench_parse.py [--json] [--repeat N] [--number N]`

Frames (from tests/fixtures/real_ws_frames.jsonl, compact JSON as the exchange sends it):
the full 20x20 `xyz:AAPL` l2Book (1.5 KB), the `xyz:AAPL` bbo and activeAssetCtx and the
two-trade `xyz:NATGAS` trades push. Every row alternates between two versions of its
frame, so that no call sees the frame of the call before (the parser shares the ladders
of a book whose levels repeat the last book's): for the book, `new levels` alternates
with a copy whose last ask size differs, `same levels` with a copy one time later; the
others with a copy one exchange time (or one funding digit) apart. Rows, in microseconds
per frame (best of the repeats):

- `json.loads`, `orjson.loads`: decoding only, the floor;
- `parse_frame`: validate every field, build the typed message. Frames in the exchange's
  compact form are read from their text; book levels become Decimals lazily (see
  `wire.Ladder`);
- for the book also: `parse_frame` then the best bid and ask (what the strategy reads),
  then all 40 levels as `Level`s, then the four Decimal columns (`prices()`/`sizes()`);
- `eager Levels (reference)`: `orjson.loads` plus 40 `Level(Decimal, Decimal, int)` with
  no validation at all, the least an eager Decimal parser would pay;
- `peek_frame`: the recorder's channel and exchange time without a full parse.

Rounds are interleaved (each repeat times every row once) so that a slow spell of a
shared machine hits all rows alike. The ratio column is against `orjson.loads` of the
same frames.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import platform
import sys
import timeit
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.compact import peek_frame
from hip3term.venue.hyperliquid.parse import parse_frame

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "real_ws_frames.jsonl"
NOTES = {"l2Book": "full 20x20 xyz:AAPL book", "bbo": "xyz:AAPL bbo",
         "activeAssetCtx": "xyz:AAPL ctx", "trades": "xyz:NATGAS trades"}
BOOK, QUIET = "l2Book new levels", "l2Book same levels"


def _later(msg: dict[str, Any]) -> dict[str, Any]:
    # The same frame one exchange time later (a context has no time: one funding digit).
    other = copy.deepcopy(msg)
    data = other["data"]
    for item in data if isinstance(data, list) else [data]:
        if "time" in item:
            item["time"] += 1
    if "ctx" in data:
        data["ctx"]["funding"] += "1"
    return other


def _frames() -> dict[str, tuple[bytes, bytes]]:
    records = [orjson.loads(line) for line in FIXTURE.read_bytes().splitlines()]
    msgs = {}
    for name, note in NOTES.items():
        (msgs[name],) = [r["msg"] for r in records if note in r["note"]]
    moved = copy.deepcopy(msgs["l2Book"])
    moved["data"]["levels"][1][-1]["sz"] += "1"
    out = {name: (orjson.dumps(msg), orjson.dumps(_later(msg))) for name, msg in msgs.items()
           if name != "l2Book"}
    out[BOOK] = (orjson.dumps(msgs["l2Book"]), orjson.dumps(moved))
    out[QUIET] = (orjson.dumps(msgs["l2Book"]), orjson.dumps(_later(msgs["l2Book"])))
    return out


def _book(raw: bytes) -> wire.L2Book:
    book = parse_frame(raw)
    assert isinstance(book, wire.L2Book), book
    return book


def _eager_levels(raw: bytes) -> object:
    levels = orjson.loads(raw)["data"]["levels"]
    return [[wire.Level(Decimal(x["px"]), Decimal(x["sz"]), x["n"]) for x in side]
            for side in levels]


def _alternating(read: Callable[[bytes], object], pair: tuple[bytes, bytes]
                 ) -> Callable[[], object]:
    frames = itertools.cycle(pair)
    return lambda: read(next(frames))


def _rows(frames: dict[str, tuple[bytes, bytes]]
          ) -> list[tuple[str, str, Callable[[], object]]]:
    rows: list[tuple[str, str, Callable[[], object]]] = []
    for name, pair in frames.items():
        rows += [(name, label, _alternating(read, pair)) for label, read in (
            ("json.loads", json.loads), ("orjson.loads", orjson.loads),
            ("parse_frame", parse_frame))]
    book = frames[BOOK]
    rows += [(BOOK, label, _alternating(read, book)) for label, read in (
        ("parse_frame + best bid/ask", lambda raw: (lambda b: (b.best_bid, b.best_ask))(
            _book(raw))),
        ("parse_frame + all 40 Levels", lambda raw: (lambda b: (tuple(b.bids), tuple(b.asks)))(
            _book(raw))),
        ("parse_frame + Decimal columns", lambda raw: (lambda b: (
            b.bids.prices(), b.bids.sizes(), b.asks.prices(), b.asks.sizes()))(_book(raw))),
        ("eager Levels (reference)", _eager_levels),
        ("peek_frame", peek_frame))]
    return rows


def _check(frames: dict[str, tuple[bytes, bytes]]) -> None:
    for raw in frames[BOOK] + frames[QUIET]:
        book = _book(raw)
        assert (len(book.bids), len(book.asks)) == (20, 20)
        assert peek_frame(raw) == wire.FramePeek("l2Book", book.time_ms)
    for name, kind in (("bbo", wire.Bbo), ("activeAssetCtx", wire.AssetCtx),
                       ("trades", wire.Trades)):
        assert all(isinstance(parse_frame(raw), kind) for raw in frames[name])


def measure(repeat: int, number: int) -> list[dict[str, Any]]:
    """Best-of-`repeat` microseconds per call of every row, rounds interleaved."""
    frames = _frames()
    _check(frames)
    rows = _rows(frames)
    best = [float("inf")] * len(rows)
    for _ in range(repeat):
        for i, (_, _, call) in enumerate(rows):
            best[i] = min(best[i], timeit.timeit(call, number=number) / number * 1e6)
    floor = {frame: best[i] for i, (frame, label, _) in enumerate(rows)
             if label == "orjson.loads"}
    return [{"frame": frame, "row": label, "bytes": len(frames[frame][0]), "us": round(us, 2),
             "x_orjson": round(us / floor[frame], 2)}
            for (frame, label, _), us in zip(rows, best, strict=True)]


def main(argv: list[str] | None = None) -> int:
    """Print the table (or JSON) of parse times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--repeat", type=int, default=7, help="rounds; the best is kept")
    parser.add_argument("--number", type=int, default=5000, help="calls per row and round")
    args = parser.parse_args(argv)
    results = measure(args.repeat, args.number)
    if args.json:
        print(json.dumps({"python": platform.python_version(), "orjson": orjson.__version__,
                          "results": results}, indent=2))
        return 0
    print(f"Python {platform.python_version()}, orjson {orjson.__version__}; "
          f"best of {args.repeat} x {args.number} calls")
    print(f"{'frame':18} {'row':30} {'bytes':>6} {'us/frame':>9} {'x orjson':>9}")
    for r in results:
        print(f"{r['frame']:18} {r['row']:30} {r['bytes']:>6} {r['us']:>9.2f} "
              f"{r['x_orjson']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
