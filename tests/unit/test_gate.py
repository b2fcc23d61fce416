"""The hot-path gate: the tree evaluator reproduces LightGBM exactly, the features map as
documented, bundles of another schema are refused, and in the taker the threshold decides
which signals trade (0: all, 1: none)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from hip3term.book.features import Feature, Features
from hip3term.ml.dataset import DatasetSpec, StrategyRun, build_dataset, run_strategy
from hip3term.ml.gate import (
    FEATURE_NAMES,
    SCHEMA_HASH,
    Gate,
    ModelError,
    TreeEnsemble,
    read_bundle,
    signal_row,
)
from hip3term.ml.train import TrainConfig, save_bundle, train_gate
from plugins.oracle_dislocation import OracleDislocation, OracleDislocationParams
from tests.unit.test_ml_dataset import sim_directory, write_sim_recording
from tests.unit.test_plugin_imports import ROOT, violations

_PARAMS = {"objective": "binary", "verbose": -1, "num_leaves": 15, "seed": 0,
           "deterministic": True, "force_row_wise": True, "num_threads": 1}


def _data(rng: np.random.Generator, n: int, width: int = 6) -> np.ndarray:
    x = rng.normal(size=(n, width))
    x[rng.random(x.shape) < 0.15] = np.nan
    x[rng.random(x.shape) < 0.05] = 0.0
    return x


def _booster(extra: dict[str, Any], rounds: int = 60) -> lgb.Booster:
    rng = np.random.default_rng(11)
    x = _data(rng, 2000)
    signal = np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) - np.isnan(x[:, 2])
    y = (signal + rng.normal(size=len(x)) * 0.7 > 0).astype(int)
    return lgb.train({**_PARAMS, **extra}, lgb.Dataset(x, y), num_boost_round=rounds)


@pytest.mark.parametrize("extra", [{}, {"zero_as_missing": True}, {"use_missing": False},
                                   {"num_leaves": 63, "min_data_in_leaf": 2}],
                         ids=["nan-missing", "zero-as-missing", "no-missing", "deep"])
def test_tree_evaluator_reproduces_booster_predict_exactly(extra: dict[str, Any]) -> None:
    booster = _booster(extra)
    ensemble = TreeEnsemble.from_model_string(booster.model_to_string())
    rows = _data(np.random.default_rng(12), 3000)
    rows[:50] = np.nan  # whole rows missing
    raw = np.asarray(booster.predict(rows, raw_score=True))
    probability = np.asarray(booster.predict(rows))
    as_lists = rows.tolist()
    assert [ensemble.raw(r) for r in as_lists] == raw.tolist()  # bit for bit
    assert [ensemble.raw_loop(r) for r in as_lists] == raw.tolist()
    assert [ensemble.probability(r) for r in as_lists] == pytest.approx(probability.tolist(),
                                                                         rel=1e-15, abs=0)
    assert ensemble.n_trees == booster.num_trees() and ensemble.n_features == 6


def test_tree_evaluator_sums_only_the_saved_iterations() -> None:
    booster = _booster({}, rounds=40)
    ensemble = TreeEnsemble.from_model_string(booster.model_to_string(num_iteration=7))
    rows = _data(np.random.default_rng(5), 500)
    expected = np.asarray(booster.predict(rows, raw_score=True, num_iteration=7))
    assert [ensemble.raw(r) for r in rows.tolist()] == expected.tolist()


def test_tree_evaluator_refuses_what_it_cannot_evaluate() -> None:
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.integers(0, 5, 500), rng.normal(size=500)])
    y = (x[:, 0] % 2 == 0).astype(int)
    categorical = lgb.train({**_PARAMS, "min_data_per_group": 5}, lgb.Dataset(
        x, y, categorical_feature=[0]), num_boost_round=5)
    with pytest.raises(ModelError, match="categorical"):
        TreeEnsemble.from_model_string(categorical.model_to_string())
    regression = lgb.train({**_PARAMS, "objective": "regression"}, lgb.Dataset(x, y), 3)
    with pytest.raises(ModelError, match="binary"):
        TreeEnsemble.from_model_string(regression.model_to_string())
    with pytest.raises(ModelError, match="LightGBM"):
        TreeEnsemble.from_model_string("hello")


def _features(**valid: float) -> Features:
    def f(name: str) -> Feature[float]:
        return Feature(valid[name]) if name in valid else Feature.invalid("stale")

    return Features(at_ns=0, mid=Feature(Decimal(100)), microprice=f("microprice"),
                    spread_bps=f("spread_bps"), imbalance=f("imbalance"),
                    buy_dislocation_bps=f("buy"), sell_dislocation_bps=f("sell"),
                    mark_oracle_bps=f("mark_oracle"), oracle_age_s=f("age"),
                    rv_1s_bps=f("rv1"), rv_10s_bps=f("rv10"), rv_60s_bps=f("rv60"),
                    trade_flow=f("flow"))


def test_signal_row_orients_by_side_and_marks_invalid_as_nan() -> None:
    features = _features(buy=30.0, sell=-32.0, spread_bps=2.0, imbalance=0.25,
                         mark_oracle=-4.0, age=1.5, rv1=0.5, rv10=3.0, flow=-2.0)
    wall_ns = (86_400 * 20_000 + 13 * 3600 + 30 * 60) * 1_000_000_000  # 13:30 UTC
    buy = dict(zip(FEATURE_NAMES, signal_row(features, "buy", wall_ns), strict=True))
    sell = dict(zip(FEATURE_NAMES, signal_row(features, "sell", wall_ns), strict=True))
    assert buy["side"] == 1.0 and sell["side"] == -1.0
    assert buy["dislocation_bps"] == 30.0 and sell["dislocation_bps"] == -32.0
    assert buy["imbalance_side"] == 0.25 and sell["imbalance_side"] == -0.25
    assert buy["mark_oracle_side_bps"] == -4.0 and sell["mark_oracle_side_bps"] == 4.0
    assert buy["trade_flow_side"] == -2.0 and sell["trade_flow_side"] == 2.0
    assert buy["spread_bps"] == sell["spread_bps"] == 2.0
    assert buy["oracle_age_s"] == 1.5 and buy["rv_1s_bps"] == 0.5 and buy["rv_10s_bps"] == 3.0
    assert math.isnan(buy["rv_60s_bps"]) and math.isnan(sell["rv_60s_bps"])
    assert buy["hour_utc"] == 13.5
    assert math.isnan(signal_row(_features(), "buy", 0)[1])


# -- a trained bundle ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("gate-rec")
    return [write_sim_recording(folder / str(seed), seed=seed, minutes=8)
            for seed in (21, 22, 23)]


SPEC = DatasetSpec(fees_bps=1.8, threshold_bps=0.0)


@pytest.fixture(scope="module")
def model_dir(recordings: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    dataset = build_dataset(recordings[:2], SPEC)
    result = train_gate(dataset, TrainConfig(max_rounds=60, early_stopping_rounds=10))
    folder = tmp_path_factory.mktemp("model")
    save_bundle(folder, result, dataset)
    return folder


def test_gate_loads_a_bundle_and_matches_lightgbm_on_the_dataset(
        model_dir: Path, recordings: list[Path]) -> None:
    gate = Gate.load(model_dir)
    assert gate.fees_bps == 1.8 and gate.horizon_s == 10.0
    dataset = build_dataset(recordings[2:], SPEC)
    booster = lgb.Booster(model_str=read_bundle(model_dir)["model"])
    mine = [gate.ensemble.probability(row) for row in dataset.features.tolist()]
    theirs = np.asarray(booster.predict(dataset.features))
    assert mine == pytest.approx(theirs.tolist(), rel=1e-15, abs=0)


def test_gate_refuses_another_feature_schema(model_dir: Path, tmp_path: Path) -> None:
    bundle = read_bundle(model_dir)
    bundle["feature_schema"]["hash"] = "0" * 64
    bundle["feature_schema"]["version"] = 0
    (tmp_path / "gate.json").write_text(json.dumps(bundle))
    with pytest.raises(ModelError, match="retrain") as caught:
        Gate.load(tmp_path)
    assert SCHEMA_HASH[:12] in caught.value.message and caught.value.exit_code == 2
    with pytest.raises(ModelError, match="retrain"):
        OracleDislocation(OracleDislocationParams(gate_model=str(tmp_path), taker_fee_bps=0.9))


def test_gate_refuses_missing_malformed_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file"):
        Gate.load(tmp_path / "absent")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelError, match="not JSON"):
        Gate.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ModelError, match="not a hip3term gate bundle"):
        Gate.load(tmp_path / "other.json")


def test_taker_refuses_a_gate_trained_with_other_fees(model_dir: Path) -> None:
    with pytest.raises(ModelError, match=r"1\.8 bps round-trip fees"):
        OracleDislocation(OracleDislocationParams(gate_model=str(model_dir), taker_fee_bps=9))


def _run(recording: Path, model_dir: Path | None, threshold: float = 0.5) -> StrategyRun:
    params: dict[str, Any] = {"taker_fee_bps": 0.9, "threshold_bps": 0.0}
    if model_dir is not None:
        params.update(gate_model=str(model_dir), gate_threshold=threshold)
    taker = OracleDislocation(OracleDislocationParams(**params))
    return run_strategy(recording, taker, sim_directory().lookup("xyz:COIN"), SPEC)


def _entry_times(run: StrategyRun) -> list[int]:
    return [entry.wall_ns for entry in run.entries]


def test_gate_threshold_decides_which_signals_trade(model_dir: Path,
                                                    recordings: list[Path]) -> None:
    held_out = recordings[2]
    ungated = _run(held_out, None)
    assert len(ungated.entries) > 20
    assert all("gate_p" not in s.values for s in ungated.signals)
    assert _entry_times(_run(held_out, model_dir, 0.0)) == _entry_times(ungated)
    closed = _run(held_out, model_dir, 1.0)
    assert closed.entries == ()
    gated = [s for s in closed.signals if s.reason.startswith("gated out")]
    assert len(gated) >= len(ungated.entries)
    assert all(0.0 < s.values["gate_p"] < 1.0 for s in gated)
    probabilities = sorted(s.values["gate_p"] for s in closed.signals if s.kind == "entry")
    middle = probabilities[len(probabilities) // 2]
    half = _run(held_out, model_dir, middle)
    assert len(half.entries) > 0 and _entry_times(half) != _entry_times(ungated)
    for signal in half.signals:
        if signal.kind != "entry":
            continue
        assert signal.values["gate_p"] >= middle if signal.traded else True
        if signal.reason.startswith("gated out"):
            assert signal.values["gate_p"] < middle


def test_gate_module_and_gated_plugin_import_no_engine_module() -> None:
    script = ("import json, sys\nimport hip3term.ml.gate, plugins.oracle_dislocation\n"
              "print(json.dumps(sorted(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert "hip3term.ml.gate" in loaded
    assert violations(loaded) == []
    assert not {"lightgbm", "numpy", "hip3term.ml.train", "hip3term.ml.dataset"} & loaded
