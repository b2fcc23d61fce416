"""Memory: resident set size of the engine and the TUI over a long run at ~2000 frames/s.

Run: `.venv/bin/python benchmarks/bench_memory.py [--minutes 60] [--every 30] [--json]`

The setting of `hip3term run` and of DESIGN.md section 5's target ("under 300 MB RSS after
an hour at 2000 frames/s"): the simulator in its own process pushing an l2Book about
every 0.5 ms (the paced server of `bench_tui_lag.py`), the real `TradingNode` (taker,
paper trading, recorder and journal on) in an `EngineProcess`, and the workstation TUI
(headless `run_test`, 160x48, 10 Hz) in this process. Every `--every` seconds it samples
VmRSS of the engine process and of this one (from /proc), and the frames the node has
received. Printed: one line per sample, then the start (after READY), the peak and the
end RSS of each process and the growth per hour fitted over the second half of the run.
Files (the recording grows ~3 MB/s, the journal) go to a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_tui_lag import KEY, TUI_SIZE, _frames, paced_simulator

from hip3term.config import load_settings
from hip3term.runtime.process import EngineProcess, NodeSpec
from hip3term.tui.app import WorkstationApp

TARGET_MB = 300.0


def rss_mb(pid: int | str = "self") -> float:
    """VmRSS of a process in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares MB per hour over (seconds, MB) samples (0 for fewer than 2)."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    return sum((t - mt) * (v - mv) for t, v in samples) / var * 3600


async def _run(engine: EngineProcess, args: argparse.Namespace) -> list[dict[str, Any]]:
    app = WorkstationApp(engine, freeze_gc=True, yield_cpu=0)
    rows: list[dict[str, Any]] = []
    async with app.run_test(size=TUI_SIZE, headless=True):
        deadline = time.monotonic() + 60
        while not ((snap := engine.latest) is not None and snap.ready.ready):
            if time.monotonic() > deadline or engine.finished:
                raise RuntimeError(f"the node did not become READY: {engine.failure}")
            await asyncio.sleep(0.1)
        await asyncio.sleep(5)
        t0, frames0 = time.monotonic(), _frames(engine.latest)[0]
        end = t0 + args.minutes * 60
        last_t, last_frames = t0, frames0
        while True:
            now, frames = time.monotonic(), _frames(engine.latest)[0]
            assert engine.pid is not None
            rate = round((frames - last_frames) / max(now - last_t, 1e-9))
            row = {"t_s": round(now - t0, 1), "engine_mb": round(rss_mb(engine.pid), 1),
                   "tui_mb": round(rss_mb(), 1), "frames": frames - frames0,
                   "frames_per_s": rate}  # fmt: skip
            rows.append(row)
            if not args.json:
                print(f"{row['t_s']:>8.0f} s  engine {row['engine_mb']:7.1f} MB  "
                      f"TUI {row['tui_mb']:7.1f} MB  {row['frames_per_s']:>6} frames/s",
                      flush=True)  # fmt: skip
            if now >= end or engine.finished:
                break
            last_t, last_frames = now, frames
            await asyncio.sleep(min(args.every, max(end - time.monotonic(), 0.0)))
        app.stopping = True
        app.exit()
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Start, peak, end and growth per hour (second half) of each process's RSS."""
    half = [r for r in rows if r["t_s"] >= rows[-1]["t_s"] / 2]
    last = rows[-1]
    out: dict[str, Any] = {"seconds": last["t_s"], "frames": last["frames"],
                           "frames_per_s": last["frames"] / max(last["t_s"], 1e-9)}  # fmt: skip
    for key in ("engine_mb", "tui_mb"):
        out[key] = {"start": rows[0][key], "peak": max(r[key] for r in rows),
                    "end": rows[-1][key],
                    "growth_mb_per_h": round(slope_per_hour([(r["t_s"], r[key]) for r in half]),
                                             1)}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when a process ended above the target."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length (default 60)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--tick", type=float, default=0.0005,
                        help="simulator step (an l2Book each) in seconds (default 0.0005)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    with paced_simulator(args.tick) as (url, _), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = load_settings(None, {"paths.state_dir": str(root / "state"),
                                        "paths.journal": str(root / "state" / "j.sqlite"),
                                        "paths.recordings_dir": str(root / "recordings"),
                                        "venue.ws_url": url}, env={})  # fmt: skip
        spec = NodeSpec(settings, KEY.address, (), "benchmark key", root / "engine.log")
        engine = EngineProcess(spec, KEY.secret_bytes())
        gc.collect()
        try:
            rows = asyncio.run(_run(engine, args))
        finally:
            engine.request_stop("benchmark done")
            if not engine.join(60):
                engine.terminate()
    result = summary(rows)
    result["target_mb"] = TARGET_MB
    if args.json:
        print(json.dumps({"summary": result, "samples": rows}, indent=2))
    else:
        for key, name in (("engine_mb", "engine process"), ("tui_mb", "TUI process")):
            r = result[key]
            growth = (f"{r['growth_mb_per_h']:+.1f} MB/h (second half)"
                      if result["seconds"] >= 600 else "not fitted (under 10 minutes)")
            print(f"{name}: start {r['start']:.0f} MB, peak {r['peak']:.0f} MB, end "
                  f"{r['end']:.0f} MB, growth {growth}")
        print(f"{result['frames']:,} frames in {result['seconds']:.0f} s "
              f"({result['frames_per_s']:,.0f}/s); target: each under {TARGET_MB:.0f} MB")
    ok = result["engine_mb"]["end"] < TARGET_MB and result["tui_mb"]["end"] < TARGET_MB
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
