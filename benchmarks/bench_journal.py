"""Journal benchmark: rows/s through JournalWriter into a WAL SQLite file, with baselines.

    .venv/bin/python benchmarks/bench_journal.py [--rows N] [--batch B] [--dir DIR] [--json]

Measured in one run, on the same machine and disk, each into a fresh journal file
(WAL, synchronous=NORMAL, one transaction per batch of B rows):
- hip3term writer: µs per `record_fill` call on the hot path (the row waits in memory),
  then rows/s of `JournalWriter.flush()` (compiled Core inserts, executemany on
  aiosqlite, Decimal -> exact text conversion included);
- aiosqlite executemany: the same rows as ready tuples, straight through aiosqlite;
- stdlib sqlite3 executemany: the same tuples through the standard library, no thread.

DESIGN.md section 5 measured ~1M rows/s (stdlib), ~500k/s (aiosqlite batched) and
~180k/s (SQLAlchemy async core) for small rows; fills have 14 columns.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite

from hip3term.persistence.db import open_journal
from hip3term.persistence.writer import JournalWriter

_COLUMNS = ("session_id", "time_ms", "market", "side", "price", "size", "fee", "fee_token",
            "closed_pnl", "tid", "oid", "cloid", "crossed")  # fmt: skip
_INSERT = f"INSERT INTO fills ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


def fill_args(i: int) -> dict[str, Any]:
    """A realistic fill (prices on a 0.01 tick, sizes with 3 decimals)."""
    return {
        "market": "xyz:COIN", "side": "B" if i % 2 else "A",
        "price": Decimal(19_000 + i % 500).scaleb(-2), "size": Decimal(263 + i % 90).scaleb(-3),
        "fee": Decimal(125_082 + i).scaleb(-7), "tid": 960_840_405_993_232 + i,
        "oid": 77_738_308 + i, "time_ms": 1_790_119_188_493 + i,
        "cloid": f"0x{i:032x}", "closed_pnl": Decimal("-0.0132"), "crossed": bool(i % 3),
    }  # fmt: skip


def as_tuple(args: dict[str, Any]) -> tuple[Any, ...]:
    """The same fill as a ready-to-insert tuple (amounts already text)."""
    row = {"session_id": "bench", "fee_token": "USDC", **args}
    return tuple(format(v, "f") if isinstance(v, Decimal) else v for v in map(row.get, _COLUMNS))


async def bench_writer(path: Path, rows: list[dict[str, Any]], batch: int) -> dict[str, float]:
    """Hot-path µs per row and drain rows/s of the hip3term writer."""
    journal = await open_journal(path)
    writer = JournalWriter(journal, "bench", capacity=len(rows) + 1, batch_size=batch)
    record = writer.record_fill
    start = time.perf_counter()
    for args in rows:
        record(**args)
    put = time.perf_counter() - start
    start = time.perf_counter()
    await writer.flush()
    drain = time.perf_counter() - start
    health = writer.health()
    await writer.aclose()
    await journal.aclose()
    assert health.written == len(rows) and health.dropped == 0, health
    return {"put_us": put / len(rows) * 1e6, "rows_per_s": len(rows) / drain}


async def bench_aiosqlite(path: Path, tuples: list[tuple[Any, ...]], batch: int) -> float:
    """Rows/s of raw aiosqlite executemany, one transaction per batch."""
    await (await open_journal(path)).aclose()  # the same schema and pragmas
    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA synchronous=NORMAL")
        start = time.perf_counter()
        for i in range(0, len(tuples), batch):
            await db.executemany(_INSERT, tuples[i : i + batch])
            await db.commit()
        return len(tuples) / (time.perf_counter() - start)


def bench_stdlib(path: Path, tuples: list[tuple[Any, ...]], batch: int) -> float:
    """Rows/s of stdlib sqlite3 executemany, one transaction per batch."""
    asyncio.run(_create(path))
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA synchronous=NORMAL")
        start = time.perf_counter()
        for i in range(0, len(tuples), batch):
            with db:
                db.executemany(_INSERT, tuples[i : i + batch])
        return len(tuples) / (time.perf_counter() - start)


async def _create(path: Path) -> None:
    await (await open_journal(path)).aclose()


def run_once(folder: Path, n: int, batch: int, k: int) -> dict[str, float]:
    """One measurement of every contender, each into its own new file."""
    rows = [fill_args(i) for i in range(n)]
    tuples = [as_tuple(r) for r in rows]
    writer = asyncio.run(bench_writer(folder / f"writer{k}.sqlite", rows, batch))
    aio = asyncio.run(bench_aiosqlite(folder / f"aio{k}.sqlite", tuples, batch))
    return {
        "hot_path_put_us": writer["put_us"],
        "writer_rows_per_s": writer["rows_per_s"],
        "aiosqlite_rows_per_s": aio,
        "stdlib_rows_per_s": bench_stdlib(folder / f"std{k}.sqlite", tuples, batch),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="fills per contender")
    parser.add_argument("--batch", type=int, default=1000, help="rows per transaction")
    parser.add_argument("--repeat", type=int, default=3, help="runs (medians are shown)")
    parser.add_argument("--dir", type=Path, help="where to write (a temporary directory)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        runs = [run_once(Path(tmp), args.rows, args.batch, k) for k in range(args.repeat)]
    result = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    result["writer_vs_stdlib"] = result["writer_rows_per_s"] / result["stdlib_rows_per_s"]
    if args.json:
        meta = {"rows": args.rows, "batch": args.batch, "repeat": args.repeat}
        print(json.dumps(meta | {"results": result, "python": sys.version.split()[0]}, indent=2))
        return 0
    print(f"journal benchmark: {args.rows} fills (14 columns), batches of {args.batch}, "
          f"WAL + synchronous=NORMAL, medians of {args.repeat} runs")  # fmt: skip
    print(
        f"  hip3term JournalWriter   {result['writer_rows_per_s']:>12,.0f} rows/s   "
        f"(hot path {result['hot_path_put_us']:.2f} µs per record_fill)"
    )
    print(f"  aiosqlite executemany    {result['aiosqlite_rows_per_s']:>12,.0f} rows/s")
    print(f"  stdlib sqlite3 baseline  {result['stdlib_rows_per_s']:>12,.0f} rows/s")
    print(f"  writer / stdlib          {result['writer_vs_stdlib']:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
