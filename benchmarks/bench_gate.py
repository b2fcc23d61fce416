"""Gate benchmark: the taker's cost per signal of the LightGBM gate, against LightGBM itself.

A binary LightGBM model on the gate's 11 features (random data with missing values, so the
trees are full: `--trees` rounds of `--leaves` leaves, no early stopping) is loaded the way
the taker loads it (`ml.gate.Gate` from a bundle) and timed on a realistic `Features`
snapshot:

- `gate.probability`: the whole hot path (features -> row -> compiled trees -> sigmoid);
- `signal_row`: building the row alone;
- `ensemble.raw (compiled)` and `ensemble.raw_loop`: the trees alone, compiled to nested
  `if`s (what the gate runs) and walked node by node (the fallback for very deep trees);
- `Booster.predict, 1 row`: LightGBM's own call on a 1x11 array, default settings and with
  `num_threads=1` on a pre-allocated array (the best a caller can do with the library).

Each figure is the median over `--repeat` batches of `--calls` calls, per call. Before the
timing, the gate's probabilities are checked equal to `Booster.predict` on 5000 rows.

    .venv/bin/python benchmarks/bench_gate.py [--trees 200] [--leaves 15] [--json]

Target (issue 9): under 50 µs per signal for `gate.probability`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import lightgbm as lgb
import numpy as np

from hip3term.book.features import Feature, Features
from hip3term.ml.gate import BUNDLE_FORMAT, FEATURE_NAMES, SCHEMA_HASH, Gate, signal_row

TARGET_US = 50.0
WALL_NS = 1_785_000_000_000_000_000


def train_model(trees: int, leaves: int) -> lgb.Booster:
    """A full-size model: random features with NaNs, a label that depends on several."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, len(FEATURE_NAMES)))
    x[rng.random(x.shape) < 0.1] = np.nan
    signal = np.nansum(x[:, :4], axis=1) + np.sin(np.nan_to_num(x[:, 5]) * 3)
    y = (signal + rng.normal(size=len(x)) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": leaves, "min_data_in_leaf": 5,
              "learning_rate": 0.05, "verbose": -1, "seed": 0, "deterministic": True,
              "force_row_wise": True, "num_threads": 1}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=trees)


def snapshot() -> Features:
    """A plausible market snapshot at a buy signal (every feature valid)."""
    return Features(
        at_ns=0, mid=Feature(Decimal("190.005")), microprice=Feature(190.006),
        spread_bps=Feature(0.53), imbalance=Feature(0.2), buy_dislocation_bps=Feature(35.2),
        sell_dislocation_bps=Feature(-36.0), mark_oracle_bps=Feature(-3.1),
        oracle_age_s=Feature(1.4), rv_1s_bps=Feature(2.0), rv_10s_bps=Feature(6.5),
        rv_60s_bps=Feature(14.0), trade_flow=Feature(-3.5),
    )  # fmt: skip


def per_call_us(call: Callable[[], object], calls: int, repeat: int) -> float:
    """Median over `repeat` batches of the mean time of one call, in µs."""
    batches = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(calls):
            call()
        batches.append((time.perf_counter_ns() - start) / calls / 1000)
    return statistics.median(batches)


def check_equal(gate: Gate, booster: lgb.Booster) -> float:
    """Largest |gate - LightGBM| probability over 5000 random rows (with NaNs)."""
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(5000, len(FEATURE_NAMES)))
    rows[rng.random(rows.shape) < 0.2] = np.nan
    theirs = booster.predict(rows)
    ours = np.array([gate.ensemble.probability(row) for row in rows.tolist()])
    return float(np.max(np.abs(ours - theirs)))


def run(trees: int, leaves: int, calls: int, repeat: int) -> dict[str, Any]:
    booster = train_model(trees, leaves)
    bundle = {"format": BUNDLE_FORMAT, "feature_schema": {"hash": SCHEMA_HASH},
              "model": booster.model_to_string(),
              "dataset": {"fees_bps": 18.0, "horizon_s": 10.0}}
    gate = Gate(bundle, "bench")
    features = snapshot()
    row = signal_row(features, "buy", WALL_NS)
    one = np.array([row], dtype=np.float64)
    lgb_one = booster.predict
    figures = {
        "gate.probability": per_call_us(
            lambda: gate.probability(features, "buy", WALL_NS), calls, repeat),
        "signal_row": per_call_us(lambda: signal_row(features, "buy", WALL_NS), calls, repeat),
        "ensemble.raw (compiled)": per_call_us(lambda: gate.ensemble.raw(row), calls, repeat),
        "ensemble.raw_loop": per_call_us(lambda: gate.ensemble.raw_loop(row), calls // 10,
                                         repeat),
        "Booster.predict, 1 row": per_call_us(lambda: lgb_one(one), calls // 10, repeat),
        "Booster.predict, 1 row, num_threads=1": per_call_us(
            lambda: lgb_one(one, num_threads=1), calls // 10, repeat),
    }
    return {"trees": booster.num_trees(), "leaves": leaves,
            "max_abs_diff_vs_lightgbm": check_equal(gate, booster), "us_per_call": figures,
            "target_us": TARGET_US, "pass": figures["gate.probability"] < TARGET_US}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=200, help="boosting rounds (trees)")
    parser.add_argument("--leaves", type=int, default=15, help="leaves per tree")
    parser.add_argument("--calls", type=int, default=20_000, help="calls per batch")
    parser.add_argument("--repeat", type=int, default=5, help="batches (median taken)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    result = run(args.trees, args.leaves, args.calls, args.repeat)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"model: {result['trees']} trees x {result['leaves']} leaves, 11 features; "
              f"max |gate - LightGBM| = {result['max_abs_diff_vs_lightgbm']:.3g}")
        for name, value in result["us_per_call"].items():
            print(f"  {name:<40} {value:9.2f} µs")
        verdict = "PASS" if result["pass"] else "FAIL"
        print(f"target: gate.probability under {TARGET_US:g} µs per signal: {verdict}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
