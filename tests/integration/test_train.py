"""`hip3term train` on simulator recordings: the report, the bundle, reproducibility with a
seed, refusals (too few signals, one class, a purge under the horizon) and the leakage
check (a feature that is the label or the future markout, plainly or in disguise)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner, Result

from hip3term.cli import train_cmd
from hip3term.errors import ConfigError, Hip3Error
from hip3term.ml.dataset import DatasetSpec, SignalDataset, build_dataset
from hip3term.ml.gate import SCHEMA_HASH, Gate, read_bundle
from hip3term.ml.train import LeakageError, TrainConfig, TrainingError, train_gate
from tests.unit.test_ml_dataset import write_sim_recording


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root: `train` stays a subcommand."""

    train_cmd.register(app)
    return app


def _train(*args: str) -> Result:
    return CliRunner().invoke(_app(), ["train", *args])


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("train-rec")
    return [write_sim_recording(folder / str(seed), seed=seed, minutes=10)
            for seed in (31, 32)]


FAST = ("--fees-bps", "1.8", "--max-rounds", "80")


def test_train_prints_metrics_and_sweep_and_writes_the_bundle(
        recordings: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "gate"
    result = _train(*map(str, recordings), "--out", str(out), *FAST)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "purged 5-fold CV (purge 10 s, embargo 10 s, seed 0)" in text
    assert "  OOF " in text and "leakage check passed" in text
    assert "threshold sweep" in text and text.count("\n  0.") >= 19
    assert (out / "report.txt").read_text().strip() == text.split("\n", 1)[1].strip()
    bundle = read_bundle(out)
    dataset = SignalDataset.load(out / "dataset.npz")
    assert bundle["data_hash"] == dataset.data_hash
    assert bundle["feature_schema"]["hash"] == SCHEMA_HASH
    assert bundle["dataset"]["fees_bps"] == 1.8 and bundle["dataset"]["horizon_s"] == 10.0
    assert len(bundle["metrics"]["folds"]) == 5
    assert set(bundle["metrics"]["overall"]) >= {"auc", "brier", "pr_auc", "ece"}
    assert [row["threshold"] for row in bundle["threshold_sweep"]][:3] == [0.0, 0.05, 0.1]
    assert bundle["threshold_sweep"][0]["kept"] == len(dataset)
    gate = Gate.load(out)
    assert gate.ensemble.n_trees == bundle["training"]["final_rounds"]


def _bundle_without_time(folder: Path) -> dict[str, object]:
    bundle = read_bundle(folder)
    bundle.pop("created_utc")
    return bundle


def test_training_is_reproducible_with_a_seed(recordings: list[Path], tmp_path: Path) -> None:
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        result = _train(*map(str, recordings), "--out", str(tmp_path / name), "--seed", seed,
                        *FAST)
        assert result.exit_code == 0, result.output
    first, second = _bundle_without_time(tmp_path / "a"), _bundle_without_time(tmp_path / "b")
    assert first["model"] == second["model"]
    assert json.dumps(first["metrics"]) == json.dumps(second["metrics"])
    assert first == second
    assert _bundle_without_time(tmp_path / "c")["model"] != first["model"]  # the seed matters


def test_train_refuses_too_few_signals_and_one_class(recordings: list[Path]) -> None:
    few = _train(str(recordings[0]), "--fees-bps", "1.8", "--threshold-bps", "25")
    assert isinstance(few.exception, TrainingError) and few.exception.exit_code == 2
    assert "at least 50 are needed" in few.exception.message
    one_class = _train(str(recordings[0]), "--fees-bps", "300", "--threshold-bps", "-400")
    assert isinstance(one_class.exception, TrainingError)
    assert "negative (lost after fees)" in one_class.exception.message


def test_train_refuses_a_purge_or_embargo_under_the_horizon(recordings: list[Path]) -> None:
    for flags in (("--purge", "5s"), ("--horizon", "30s", "--embargo", "20s")):
        result = _train(str(recordings[0]), *FAST, *flags)
        assert isinstance(result.exception, ConfigError), result.output
        assert result.exception.exit_code == 2 and "shorter than the label horizon" in str(
            result.exception)


def test_train_refuses_an_existing_bundle_without_force(recordings: list[Path],
                                                        tmp_path: Path) -> None:
    (tmp_path / "gate.json").write_text("{}")
    result = _train(str(recordings[0]), "--out", str(tmp_path), *FAST)
    assert isinstance(result.exception, Hip3Error) and "--force" in str(result.exception)


@pytest.fixture(scope="module")
def dataset(recordings: list[Path]) -> SignalDataset:
    return build_dataset(recordings, DatasetSpec(fees_bps=1.8))


CONFIG = TrainConfig(max_rounds=80, early_stopping_rounds=10)


def test_honest_features_pass_the_leakage_check(dataset: SignalDataset) -> None:
    result = train_gate(dataset, CONFIG)
    assert result.overall["auc"] < CONFIG.leakage_auc
    assert max(result.feature_auc.values()) < CONFIG.leakage_auc


@pytest.mark.parametrize("leak", ["label", "markout"])
def test_a_feature_that_is_the_label_or_the_future_markout_is_refused(
        dataset: SignalDataset, leak: str) -> None:
    values = dataset.label if leak == "label" else dataset.markout_bps
    leaky = dataset.with_feature(f"future_{leak}", values.astype(np.float64))
    with pytest.raises(LeakageError, match=f"future_{leak} \\(AUC 1.0000\\)") as caught:
        train_gate(leaky, CONFIG)
    assert caught.value.exit_code == 2


def test_a_disguised_future_markout_is_caught_out_of_fold(dataset: SignalDataset) -> None:
    # The markout shifted by 1000 bps on a random half of the rows: alone it ranks wins
    # over losses only about 3 times in 4 (under the single-feature limit), but two splits
    # (at 0 and 1000) separate them perfectly, so the model's out-of-fold AUC gives it away.
    coin = np.random.default_rng(9).integers(0, 2, size=len(dataset))
    disguised = dataset.markout_bps + 1000.0 * coin
    leaky = dataset.with_feature("disguised_markout", disguised)
    with pytest.raises(LeakageError, match="out-of-fold AUC") as caught:
        train_gate(leaky, CONFIG)
    assert caught.value.exit_code == 2


# -- the metrics (hand-checked values; the first two are scikit-learn's documented examples)


def test_metrics_on_hand_checked_examples() -> None:
    from hip3term.ml.train import (
        average_precision,
        brier_score,
        expected_calibration_error,
        roc_auc,
        threshold_sweep,
    )

    y, s = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    assert roc_auc(y, s) == pytest.approx(0.75)
    assert average_precision(y, s) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875)  # a tie: half
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))
    assert brier_score([0, 1], [0.2, 0.7]) == pytest.approx((0.04 + 0.09) / 2)
    # bins [0, 0.1): p 0.05 vs 1 win in 2; [0.9, 1.0]: p 0.95 and 1.0 vs 2 wins
    assert expected_calibration_error([0, 1, 1, 1], [0.05, 0.05, 0.95, 1.0]) == pytest.approx(
        0.5 * 0.45 + 0.5 * 0.025)
    rows = threshold_sweep(np.array([0.1, 0.6, 0.9]), np.array([-5.0, 2.0, 10.0]), (0.0, 0.5))
    assert (rows[0].kept, rows[0].mean_markout_bps, rows[0].win_rate) == (3, 7 / 3, 2 / 3)
    assert (rows[1].kept, rows[1].mean_markout_bps, rows[1].win_rate) == (2, 6.0, 1.0)


def test_train_compare_replays_the_taker_with_and_without_the_gate(
    recordings: list[Path], tmp_path: Path
) -> None:
    from hip3term.config import load_settings
    from hip3term.replay.runner import run_replay

    result = _train(
        str(recordings[0]),
        "--out",
        str(tmp_path),
        *FAST,
        "--compare",
        str(recordings[1]),
        "--compare-set",
        "risk.max_consecutive_losses=1000",
    )
    assert result.exit_code == 0, result.output
    text = result.output.split("held-out comparison", 1)[1]
    lines = text.splitlines()
    assert "replayed over 1 recording(s) without and with the gate (p >= 0.5)" in lines[0]
    assert lines[1].startswith("replay comparison: oracle_dislocation over 1 recording(s)")
    header = next(line for line in lines if line.endswith("change"))
    assert header.split() == ["no", "gate", "gate", "p", ">=", "0.5", "change"]
    labels = [line.split("  ")[0] for line in lines[lines.index(header) + 1 :][:15]]
    assert labels[:4] == ["signals", "gated out", "entries", "traded"]
    assert "realized edge (bps)" in labels and "markout 10 s mid (bps)" in labels
    verdicts = [line for line in lines if line.startswith("the gate ")]
    assert len(verdicts) == 1
    assert (
        "the gate trades fewer signals with a higher average realized edge" in verdicts[0]
        or "does NOT" in verdicts[0]
    )
    # the real replay: the ungated run's fills are those of `hip3term replay` with the
    # taker's rule as trained (fees 2 x 0.9 bps, threshold 0) and the --compare-set value
    replayed = run_replay(
        recordings[1],
        load_settings(overrides={}, env={}),
        overrides={"taker_fee_bps": 0.9, "threshold_bps": 0.0, "risk.max_consecutive_losses": 1000},
    )
    assert f"no gate: fill hash {replayed.fill_hash[:16]}; replayed in" in text
    assert replayed.fills  # the ungated taker traded
    assert "in-sample" not in text
    again = _train(
        str(recordings[0]),
        "--out",
        str(tmp_path),
        *FAST,
        "--force",
        "--compare",
        str(recordings[0]),
        "--gate-threshold",
        "1",
    )
    assert again.exit_code == 0, again.output
    assert "it made no trades at all" in again.output
    assert again.output.rstrip().endswith(
        f"warning: trained on {recordings[0]} too: this is in-sample"
    )
    bad = _train(str(recordings[0]), *FAST, "--compare-set", "oops")
    assert isinstance(bad.exception, ConfigError) and "--compare-set 'oops'" in str(bad.exception)
