"""Training the gate: LightGBM with purged K-fold CV, metrics, threshold sweep, bundle.

`train_gate(dataset, config)`:

1. refuses too little data (fewer than `config.min_samples` labelled signals, or one
   class only) and a purge or embargo shorter than the label horizon;
2. *leakage check, before training*: the AUC of every feature alone (`max(auc, 1 - auc)`
   over the rows where it is valid) must stay under `config.leakage_auc` (0.98): a
   column that by itself nearly separates wins from losses is almost surely the label
   or the future in disguise. Training refuses with a `LeakageError` naming it;
3. purged time-series K-fold (`ml.cv`): on each fold a binary LightGBM booster trains
   on the training part with early stopping (binary log-loss) on the fold's validation
   block, which then gets its out-of-fold (OOF) probabilities. Early stopping on the
   block it is scored on makes the per-fold and OOF metrics slightly optimistic;
4. metrics per fold and overall (on the OOF probabilities): AUC (Mann-Whitney, ties
   counted half), Brier score, PR-AUC (average precision: the sum over distinct
   thresholds of recall increase times precision), and the expected calibration error
   (ECE: 10 equal-width probability bins [0, 0.1), ..., [0.9, 1.0]; the sum over
   non-empty bins of the bin's share of samples times |mean label - mean probability|);
5. *leakage check, after*: an OOF AUC at or above `config.leakage_auc` is refused the
   same way (a combination of features that knows the future);
6. the threshold sweep on the OOF probabilities: for each threshold, the signals kept
   (`p >= threshold`, the gate's rule), their win rate and their mean after-fee markout
   (the EV per trade, bps);
7. the final model: trained on every signal for the median of the folds' best
   iteration counts.

Determinism: `deterministic=True`, `force_row_wise=True`, `num_threads=1` and the seed
(bagging and feature sampling use it), so the same dataset and config give the same
model string and metrics. `save_bundle` writes the gate bundle (`ml.gate`).
"""

from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hip3term import __version__
from hip3term.errors import Hip3Error
from hip3term.ml.cv import Fold, check_purge, purged_kfold
from hip3term.ml.dataset import SignalDataset
from hip3term.ml.gate import BUNDLE_FILE, BUNDLE_FORMAT, SCHEMA_HASH, feature_schema

__all__ = [
    "SWEEP_THRESHOLDS",
    "FoldReport",
    "LeakageError",
    "SweepRow",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "average_precision",
    "brier_score",
    "classification_metrics",
    "expected_calibration_error",
    "feature_aucs",
    "roc_auc",
    "save_bundle",
    "threshold_sweep",
    "train_gate",
]

SWEEP_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(20))
"""Gate thresholds of the sweep: 0.00, 0.05, ..., 0.95."""

Floats = npt.NDArray[np.float64]


class TrainingError(Hip3Error):
    """The data cannot train a gate (too few signals, one class, no training rows)."""

    title = "training error"
    exit_code = 2


class LeakageError(TrainingError):
    """A feature, or the model, predicts the label too well to be honest."""

    title = "leakage check failed"


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Cross-validation and LightGBM settings (see the module docstring).

    Attributes:
        folds: K of the purged K-fold.
        purge_s: purge before each validation block (at least the horizon).
        embargo_s: embargo after each validation block (at least the horizon).
        seed: LightGBM's seed (bagging, feature sampling).
        max_rounds: most boosting rounds per fold (early stopping picks fewer).
        early_stopping_rounds: rounds without improvement before a fold stops.
        learning_rate, num_leaves, min_data_in_leaf, feature_fraction, bagging_fraction,
            lambda_l2, max_bin: LightGBM's parameters of those names.
        min_samples: fewer labelled signals than this are refused.
        leakage_auc: a single feature or the OOF model reaching this AUC is refused.
    """

    folds: int = 5
    purge_s: float = 10.0
    embargo_s: float = 10.0
    seed: int = 0
    max_rounds: int = 500
    early_stopping_rounds: int = 30
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 20
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    max_bin: int = 63
    min_samples: int = 50
    leakage_auc: float = 0.98

    def lgb_params(self) -> dict[str, Any]:
        """LightGBM's parameters: binary, deterministic, single-threaded, seeded."""
        return {
            "objective": "binary", "metric": "binary_logloss",
            "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction, "bagging_freq": 1,
            "lambda_l2": self.lambda_l2, "max_bin": self.max_bin, "seed": self.seed,
            "deterministic": True, "force_row_wise": True, "num_threads": 1,
            "feature_pre_filter": False, "verbose": -1,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class FoldReport:
    """One fold's sizes, best iteration and validation metrics."""

    index: int
    n_train: int
    n_validation: int
    purged: int
    embargoed: int
    best_iteration: int
    metrics: dict[str, float]


@dataclass(frozen=True, slots=True)
class SweepRow:
    """Signals kept at one gate threshold and their outcome."""

    threshold: float
    kept: int
    kept_share: float
    win_rate: float
    mean_markout_bps: float
    total_markout_bps: float


@dataclass(frozen=True)
class TrainResult:
    """What `train_gate` produced (everything `save_bundle` writes)."""

    model_string: str
    config: TrainConfig
    folds: tuple[FoldReport, ...]
    overall: dict[str, float]
    oof_probability: Floats
    sweep: tuple[SweepRow, ...]
    final_rounds: int
    feature_auc: dict[str, float]
    importance_gain: dict[str, float] = field(default_factory=dict)


# -- metrics -------------------------------------------------------------------------------


def roc_auc(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area under the ROC curve (ties count half); NaN when one class is missing."""
    labels, scores = np.asarray(y, dtype=bool), np.asarray(score, dtype=np.float64)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2.0  # 1-based mean rank of each distinct value
    rank_sum = float(average_rank[inverse][labels].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def average_precision(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """PR-AUC as average precision over distinct thresholds; NaN without positives."""
    labels, scores = np.asarray(y, dtype=np.float64), np.asarray(score, dtype=np.float64)
    n_pos = labels.sum()
    if n_pos == 0:
        return math.nan
    order = np.argsort(-scores, kind="stable")
    labels, scores = labels[order], scores[order]
    last_of_group = np.r_[np.flatnonzero(np.diff(scores) != 0), len(scores) - 1]
    true_pos = np.cumsum(labels)[last_of_group]
    precision = true_pos / (last_of_group + 1)
    recall_step = np.diff(np.r_[0.0, true_pos]) / n_pos
    return float(np.sum(recall_step * precision))


def brier_score(y: npt.ArrayLike, probability: npt.ArrayLike) -> float:
    """Mean squared difference between probability and label."""
    labels, p = np.asarray(y, dtype=np.float64), np.asarray(probability, dtype=np.float64)
    return float(np.mean((p - labels) ** 2)) if len(p) else math.nan


def expected_calibration_error(y: npt.ArrayLike, probability: npt.ArrayLike,
                               bins: int = 10) -> float:
    """ECE over `bins` equal-width bins of [0, 1] (the last bin includes 1.0)."""
    labels, p = np.asarray(y, dtype=np.float64), np.asarray(probability, dtype=np.float64)
    if not len(p):
        return math.nan
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += inside.mean() * abs(labels[inside].mean() - p[inside].mean())
    return float(total)


def classification_metrics(y: npt.ArrayLike, probability: npt.ArrayLike) -> dict[str, float]:
    """n, positives, AUC, Brier, PR-AUC and ECE of probabilities against labels."""
    labels = np.asarray(y)
    return {"n": float(len(labels)), "positives": float(np.sum(labels)),
            "auc": roc_auc(labels, probability), "brier": brier_score(labels, probability),
            "pr_auc": average_precision(labels, probability),
            "ece": expected_calibration_error(labels, probability)}


def feature_aucs(matrix: Floats, y: npt.ArrayLike,
                 names: tuple[str, ...]) -> dict[str, float]:
    """Each column's AUC alone, `max(auc, 1 - auc)`, on its valid rows (NaN if none)."""
    labels = np.asarray(y)
    found: dict[str, float] = {}
    for column, name in enumerate(names):
        valid = ~np.isnan(matrix[:, column])
        auc = roc_auc(labels[valid], matrix[valid, column])
        found[name] = auc if math.isnan(auc) else max(auc, 1.0 - auc)
    return found


def threshold_sweep(probability: Floats, markout_bps: Floats,
                    thresholds: tuple[float, ...] = SWEEP_THRESHOLDS) -> tuple[SweepRow, ...]:
    """Signals kept (`p >= threshold`), win rate and after-fee EV per threshold."""
    rows = []
    for threshold in thresholds:
        kept = markout_bps[probability >= threshold]
        n = len(kept)
        rows.append(SweepRow(
            threshold, n, n / len(markout_bps) if len(markout_bps) else math.nan,
            float(np.mean(kept > 0)) if n else math.nan,
            float(np.mean(kept)) if n else math.nan, float(np.sum(kept)),
        ))  # fmt: skip
    return tuple(rows)


# -- training ------------------------------------------------------------------------------


def train_gate(dataset: SignalDataset, config: TrainConfig | None = None) -> TrainResult:
    """Cross-validate, check for leakage, sweep thresholds and fit the final model.

    Raises:
        TrainingError: too few signals, one class only, or a fold without training rows.
        LeakageError: a feature or the OOF model separates the classes too well.
        ConfigError: the purge or embargo is shorter than the dataset's horizon.
    """
    import lightgbm as lgb  # heavy: only when training

    config = config or TrainConfig()
    _check_data(dataset, config)
    check_purge(dataset.spec.horizon_s, config.purge_s, config.embargo_s)
    aucs = feature_aucs(dataset.features, dataset.label, dataset.feature_names)
    _refuse_leaky_features(aucs, config.leakage_auc)
    folds = purged_kfold(dataset.t_ns, config.folds, purge_s=config.purge_s,
                         embargo_s=config.embargo_s)
    oof = np.full(len(dataset), np.nan)
    reports = [_fit_fold(lgb, dataset, fold, config, oof) for fold in folds]
    overall = classification_metrics(dataset.label, oof)
    if overall["auc"] >= config.leakage_auc:
        raise LeakageError(
            f"the out-of-fold AUC is {overall['auc']:.4f} (limit {config.leakage_auc}): no "
            "honest market signal is that predictable; some feature sees the future "
            "(the label or the markout); check the feature code")
    rounds = max(1, round(statistics.median(r.best_iteration for r in reports)))
    final = lgb.train(config.lgb_params(), _lgb_data(lgb, dataset, None),
                      num_boost_round=rounds)
    gains = final.feature_importance(importance_type="gain")
    return TrainResult(
        model_string=final.model_to_string(), config=config, folds=tuple(reports),
        overall=overall, oof_probability=oof,
        sweep=threshold_sweep(oof, dataset.markout_bps), final_rounds=rounds,
        feature_auc=aucs,
        importance_gain={n: float(g) for n, g in zip(dataset.feature_names, gains,
                                                     strict=True)},
    )  # fmt: skip


def _check_data(dataset: SignalDataset, config: TrainConfig) -> None:
    n, positives = len(dataset), int(dataset.label.sum())
    if n < max(config.min_samples, config.folds):
        raise TrainingError(
            f"{n} labelled signals; at least {max(config.min_samples, config.folds)} are "
            "needed: record longer sessions, add recordings, or lower --threshold-bps")
    if positives in (0, n):
        kind = "positive (won after fees)" if positives else "negative (lost after fees)"
        raise TrainingError(f"all {n} signals are {kind}: there is nothing to learn; check "
                            "--fees-bps and --horizon")


def _refuse_leaky_features(aucs: dict[str, float], limit: float) -> None:
    leaky = {name: auc for name, auc in aucs.items() if auc >= limit}
    if leaky:
        listed = ", ".join(f"{name} (AUC {auc:.4f})" for name, auc in sorted(leaky.items()))
        raise LeakageError(
            f"{listed} alone separate(s) winning from losing signals (limit AUC {limit}): "
            "such a feature is the label or the future markout in disguise; remove it")


def _lgb_data(lgb: Any, dataset: SignalDataset, rows: npt.NDArray[np.int64] | None,
              reference: Any = None) -> Any:
    matrix = dataset.features if rows is None else dataset.features[rows]
    y = dataset.label if rows is None else dataset.label[rows]
    return lgb.Dataset(matrix, label=y.astype(np.float64), feature_name=list(dataset.feature_names),
                       reference=reference, free_raw_data=False, params={"verbose": -1})


def _fit_fold(lgb: Any, dataset: SignalDataset, fold: Fold, config: TrainConfig,
              oof: Floats) -> FoldReport:
    if len(fold.train) == 0 or len(np.unique(dataset.label[fold.train])) < 2:
        raise TrainingError(
            f"fold {fold.index + 1}: after the purge and embargo its training part has "
            f"{len(fold.train)} signals of one class at most: use fewer --folds, shorter "
            "--purge/--embargo (not under the horizon), or more data")
    train_set = _lgb_data(lgb, dataset, fold.train)
    valid_set = _lgb_data(lgb, dataset, fold.validation, reference=train_set)
    booster = lgb.train(
        config.lgb_params(), train_set, num_boost_round=config.max_rounds,
        valid_sets=[valid_set], valid_names=["validation"],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, first_metric_only=True,
                                      verbose=False)],
    )  # fmt: skip
    best = int(booster.best_iteration) or booster.current_iteration()
    probability = booster.predict(dataset.features[fold.validation], num_iteration=best)
    oof[fold.validation] = probability
    return FoldReport(fold.index, len(fold.train), len(fold.validation), fold.purged,
                      fold.embargoed, best,
                      classification_metrics(dataset.label[fold.validation], probability))


# -- the bundle ----------------------------------------------------------------------------


def bundle_dict(result: TrainResult, dataset: SignalDataset) -> dict[str, Any]:
    """The gate bundle (JSON-ready): model, schema, hashes, settings, metrics, sweep."""
    return {
        "format": BUNDLE_FORMAT,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "hip3term_version": __version__,
        "feature_schema": dict(feature_schema(), hash=SCHEMA_HASH),
        "data_hash": dataset.data_hash,
        "recordings": dataset.meta["recordings"],
        "dataset": dict(dataset.meta["spec"], signals=dataset.meta["signals"],
                        labelled=len(dataset), positives=int(dataset.label.sum())),
        "training": dict(asdict(result.config), lgb_params=result.config.lgb_params(),
                         final_rounds=result.final_rounds),
        "metrics": {"folds": [asdict(f) for f in result.folds], "overall": result.overall},
        "threshold_sweep": [asdict(row) for row in result.sweep],
        "leakage": {"limit_auc": result.config.leakage_auc,
                    "feature_auc": result.feature_auc,
                    "oof_auc": result.overall["auc"]},
        "importance_gain": result.importance_gain,
        "model": result.model_string,
    }


def save_bundle(directory: str | os.PathLike[str], result: TrainResult,
                dataset: SignalDataset) -> Path:
    """Write `<directory>/gate.json` (NaN written as null); returns its path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / BUNDLE_FILE
    text = json.dumps(_finite(bundle_dict(result, dataset)), indent=1, sort_keys=True)
    path.write_text(text + "\n", "utf-8")
    return path


def _finite(value: Any) -> Any:
    # JSON has no NaN: an undefined metric (a fold with one class) is written as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
