"""Parsing real frames: `parse_frame` next to raw `orjson.loads` and `json.loads`, one run.

Run: `.venv/bin/python benchmarks/bench_parse.py [--json] [--repeat N] [--number N]`

Frames (from tests/fixtures/real_ws_frames.jsonl, compact JSON as the exchange sends it):
the full 20x20 `xyz:AAPL` l2Book (1.5 KB), the `xyz:AAPL` bbo and the two-trade
`xyz:NATGAS` trades push. Rows, in microseconds per frame (best of the repeats):

- `json.loads`, `orjson.loads`: decoding only, the floor;
- `parse_frame`: decode, validate every field, build the typed message. Book levels are
  validated here but become Decimals lazily (see `wire.Ladder`);
- for the book also: `parse_frame` then the best bid and ask (what the strategy reads),
  then all 40 levels as `Level`s, then the four Decimal columns (`prices()`/`sizes()`);
- `eager Levels (reference)`: `orjson.loads` plus 40 `Level(Decimal, Decimal, int)` with
  no validation at all, the least an eager Decimal parser would pay;
- `peek_frame`: the recorder's channel and exchange time without a full parse.

Rounds are interleaved (each repeat times every row once) so that a slow spell of a
shared machine hits all rows alike. The ratio column is against `orjson.loads` of the
same frame.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import timeit
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.parse import parse_frame, peek_frame

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "real_ws_frames.jsonl"
FRAMES = {"l2Book": "full 20x20 xyz:AAPL book", "bbo": "xyz:AAPL bbo",
          "trades": "xyz:NATGAS trades"}


def _frames() -> dict[str, bytes]:
    records = [orjson.loads(line) for line in FIXTURE.read_bytes().splitlines()]
    out = {}
    for name, note in FRAMES.items():
        (msg,) = [r["msg"] for r in records if note in r["note"]]
        out[name] = orjson.dumps(msg)
    return out


def _book(raw: bytes) -> wire.L2Book:
    book = parse_frame(raw)
    assert isinstance(book, wire.L2Book), book
    return book


def _eager_levels(raw: bytes) -> object:
    levels = orjson.loads(raw)["data"]["levels"]
    return [[wire.Level(Decimal(x["px"]), Decimal(x["sz"]), x["n"]) for x in side]
            for side in levels]


def _rows(frames: dict[str, bytes]) -> list[tuple[str, str, Callable[[], object]]]:
    rows: list[tuple[str, str, Callable[[], object]]] = []
    for name, raw in frames.items():
        rows += [(name, "json.loads", partial(json.loads, raw)),
                 (name, "orjson.loads", partial(orjson.loads, raw)),
                 (name, "parse_frame", partial(parse_frame, raw))]
    book = frames["l2Book"]
    rows += [
        ("l2Book", "parse_frame + best bid/ask",
         lambda: (lambda b: (b.best_bid, b.best_ask))(_book(book))),
        ("l2Book", "parse_frame + all 40 Levels",
         lambda: (lambda b: (tuple(b.bids), tuple(b.asks)))(_book(book))),
        ("l2Book", "parse_frame + Decimal columns",
         lambda: (lambda b: (b.bids.prices(), b.bids.sizes(), b.asks.prices(),
                             b.asks.sizes()))(_book(book))),
        ("l2Book", "eager Levels (reference)", lambda: _eager_levels(book)),
        ("l2Book", "peek_frame", lambda: peek_frame(book)),
    ]
    return rows


def _check(frames: dict[str, bytes]) -> None:
    book = _book(frames["l2Book"])
    assert (len(book.bids), len(book.asks)) == (20, 20)
    assert isinstance(parse_frame(frames["bbo"]), wire.Bbo)
    assert isinstance(parse_frame(frames["trades"]), wire.Trades)
    assert peek_frame(frames["l2Book"]) == wire.FramePeek("l2Book", book.time_ms)


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
    return [{"frame": frame, "row": label, "bytes": len(frames[frame]), "us": round(us, 2),
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
    print(f"{'frame':8} {'row':32} {'bytes':>6} {'us/frame':>9} {'x orjson':>9}")
    for r in results:
        print(f"{r['frame']:8} {r['row']:32} {r['bytes']:>6} {r['us']:>9.2f} "
              f"{r['x_orjson']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
