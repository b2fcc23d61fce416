"""`hip3term train`: the taker's LightGBM signal gate, from recorded sessions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hip3term.errors import ConfigError

if TYPE_CHECKING:
    from hip3term.ml.dataset import DatasetSpec, SignalDataset
    from hip3term.ml.train import TrainResult

_HELP = """\
Train the oracle-dislocation taker's signal gate on recorded sessions.

Every recording (a .h3rec file, or a directory of them) is replayed through the same
parser and feature code as the live engine. Each dislocation episode the taker's rule
finds (dislocation - fees > --threshold-bps, one signal per episode) becomes a row:
its features at the signal and, as the label, whether taking the touch and leaving at
the touch --horizon later beats --fees-bps. A LightGBM classifier is cross-validated
with a purged time-series K-fold (--folds blocks in time; training rows within --purge
before and --embargo after a validation block are dropped), then refit on everything.

Prints per-fold and out-of-fold AUC, Brier, PR-AUC and calibration error, a leakage
check, and a threshold sweep (signals kept and their mean after-fee markout per gate
threshold). Writes OUT/gate.json (the bundle the taker loads with
strategy.params.gate_model = "OUT"), OUT/dataset.npz and OUT/report.txt. The same
recordings and --seed give the same model.

With --compare HELDOUT (recordings not trained on), each is replayed as `hip3term
replay` does (engine, risk gates and latch, executor, orders matched against the
recorded book) twice: the taker with the rule it was trained on (threshold_bps as
--threshold-bps, at least 0; taker_fee_bps half of --fees-bps) and no gate, then the
same with the new gate at --gate-threshold. The report puts both side by side (signals,
gated out, entries, traded, fills, round trips, realized edge, 10 s markout, PnL,
drawdown, fees) and says plainly whether the gate trades fewer signals with a higher
average realized edge. --compare-set adds overrides to both runs, e.g.
risk.max_consecutive_losses=1000 so that a latch trip does not end either run early.
"""


def register(app: typer.Typer) -> None:
    """Add the `train` command to the root app."""

    @app.command(help=_HELP, short_help="Train the taker's LightGBM gate on recordings.")
    def train(
        recordings: Annotated[
            list[Path], typer.Argument(metavar="RECORDINGS...", show_default=False,
                                       help="Recording files (.h3rec) or directories of them.")
        ],
        horizon: Annotated[
            str, typer.Option("--horizon", metavar="TIME", help="Markout horizon of the "
                              "label (10s, 30s, 1m): how long after the entry the exit is.")
        ] = "10s",
        out: Annotated[
            Path | None, typer.Option("--out", metavar="DIR", show_default=False,
                                      help="Model directory (default models/gate-<data hash>).")
        ] = None,
        folds: Annotated[
            int, typer.Option("--folds", min=2, max=20, help="K of the purged K-fold: "
                              "validation blocks, contiguous in time.")
        ] = 5,
        purge: Annotated[
            str | None, typer.Option("--purge", metavar="TIME", show_default=False,
                                     help="Training rows this close before a validation "
                                     "block are dropped (default: the horizon; no less).")
        ] = None,
        embargo: Annotated[
            str | None, typer.Option("--embargo", metavar="TIME", show_default=False,
                                     help="Training rows this close after a validation "
                                     "block are dropped (default: the horizon; no less).")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="LightGBM's seed (bagging and "
                                          "feature sampling); same seed, same model.")] = 0,
        fees_bps: Annotated[
            float, typer.Option("--fees-bps", metavar="BPS", help="Round-trip taker fees in "
                                "bps (the taker's 2 x taker_fee_bps): in the signal rule and "
                                "subtracted from every markout.")
        ] = 18.0,
        threshold_bps: Annotated[
            float, typer.Option("--threshold-bps", metavar="BPS", help="Signal when "
                                "dislocation - fees exceeds this (the taker trades at 15); "
                                "keep it low for many examples; may be negative.")
        ] = 0.0,
        rearm: Annotated[
            str, typer.Option("--rearm", metavar="TIME", help="A dislocation that lapses "
                              "for longer than this and returns is a new signal.")
        ] = "1s",
        exit_price: Annotated[
            str, typer.Option("--exit", metavar="touch|mid", help="Exit price of the "
                              "markout: the touch on the other side (what an IOC exit "
                              "pays) or the mid.")
        ] = "touch",
        max_rounds: Annotated[
            int, typer.Option("--max-rounds", min=1, help="Most boosting rounds per fold "
                              "(early stopping on the validation block picks fewer).")
        ] = 500,
        force: Annotated[bool, typer.Option("--force", help="Overwrite an existing "
                                            "bundle in --out.")] = False,
        compare: Annotated[
            list[Path] | None, typer.Option("--compare", metavar="HELDOUT", show_default=False,
                                            help="A held-out recording (repeatable) to "
                                            "replay the taker on, without and with the new "
                                            "gate, side by side.")
        ] = None,
        gate_threshold: Annotated[
            float, typer.Option("--gate-threshold", min=0.0, max=1.0, help="The gate "
                                "threshold of the --compare run: a signal is traded when its "
                                "probability of a positive after-fee markout is at least this.")
        ] = 0.5,
        compare_set: Annotated[
            list[str] | None, typer.Option("--compare-set", metavar="KEY=VALUE",
                                           show_default=False,
                                           help="An override for both --compare replays, "
                                           "as `hip3term replay --set` takes it (a taker "
                                           "parameter, or section.field such as "
                                           "risk.max_consecutive_losses=1000). Repeatable.")
        ] = None,
    ) -> None:
        from hip3term.cli.record_cmd import parse_duration
        from hip3term.ml.cv import check_purge
        from hip3term.ml.dataset import DatasetSpec, build_dataset
        from hip3term.ml.gate import BUNDLE_FILE
        from hip3term.ml.train import TrainConfig, save_bundle, train_gate

        horizon_s = parse_duration(horizon, flag="--horizon")
        purge_s = horizon_s if purge is None else parse_duration(purge, flag="--purge")
        embargo_s = horizon_s if embargo is None else parse_duration(embargo, flag="--embargo")
        check_purge(horizon_s, purge_s, embargo_s)
        if exit_price not in ("touch", "mid"):
            raise ConfigError(f"--exit {exit_price!r}: expected touch or mid")
        for flag, value in (("--fees-bps", fees_bps), ("--threshold-bps", threshold_bps)):
            if not math.isfinite(value) or (flag == "--fees-bps" and value < 0):
                raise ConfigError(f"{flag} {value}: expected a finite number"
                                  + (", not negative" if flag == "--fees-bps" else ""))
        paths = expand_recordings(recordings)
        extra = _compare_overrides(compare_set)
        if out is not None and (out / BUNDLE_FILE).exists() and not force:
            raise ConfigError(f"--out {out}: a bundle exists there; use --force to replace it")
        spec = DatasetSpec(horizon_s=horizon_s, fees_bps=fees_bps, threshold_bps=threshold_bps,
                           rearm_s=parse_duration(rearm, flag="--rearm"),
                           exit_price="mid" if exit_price == "mid" else "touch")
        typer.echo(f"reading {len(paths)} recording(s)...")
        dataset = build_dataset(paths, spec)
        config = TrainConfig(folds=folds, purge_s=purge_s, embargo_s=embargo_s, seed=seed,
                             max_rounds=max_rounds)
        result = train_gate(dataset, config)
        folder = out if out is not None else Path("models") / f"gate-{dataset.data_hash[:8]}"
        if out is None and (folder / BUNDLE_FILE).exists() and not force:
            raise ConfigError(f"{folder}: a bundle exists there; use --force or --out")
        bundle = save_bundle(folder, result, dataset)
        dataset.save(folder / "dataset.npz")
        text = format_report(result, dataset, bundle)
        if compare:
            trained = [item["sha256"] for item in dataset.meta["recordings"]]
            text += "\n\n" + compare_gate(expand_recordings(compare), folder, spec,
                                          gate_threshold, trained, overrides=extra)  # fmt: skip
        (folder / "report.txt").write_text(text + "\n", "utf-8")
        typer.echo(text)


def expand_recordings(given: list[Path]) -> list[Path]:
    """Files as given, directories replaced by their `*.h3rec` files (sorted).

    Raises:
        ConfigError: nothing to read, or a directory without recordings.
    """
    paths: list[Path] = []
    for item in given:
        if item.is_dir():
            found = sorted(item.glob("*.h3rec"))
            if not found:
                raise ConfigError(f"{item}: a directory without .h3rec recordings")
            paths += found
        else:
            paths.append(item)
    if not paths:
        raise ConfigError("no recordings given")
    return paths


def _compare_overrides(items: list[str] | None) -> dict[str, Any]:
    from hip3term.replay.sweep import parse_assignment

    overrides: dict[str, Any] = {}
    for item in items or ():
        key, value = parse_assignment(item, option="--compare-set",
                                      example="risk.max_consecutive_losses=1000")
        overrides[key] = value
    return overrides


def compare_gate(paths: list[Path], model: Path, spec: DatasetSpec, threshold: float,
                 trained: Sequence[str] = (), *, overrides: Mapping[str, Any] | None = None,
                 workers: int | None = None) -> str:  # fmt: skip
    """Replay held-out recordings with the taker without and with the gate; the comparison.

    Both runs go through `hip3term.replay.compare.compare_replays` (the real replay: the
    engine, the risk gates and latch, the executor and the simulator's matching against
    the recorded book), the taker with the rule the gate was trained on. `trained` lists
    the sha256 of the training recordings; a held-out one among them is named in the
    output (the comparison is then in-sample).

    Raises:
        ConfigError, PluginError: a bad override, or a gate the taker refuses.
        RecordingError: a recording cannot be read.
    """
    import logging

    from hip3term.cli.common import settings_from_cli
    from hip3term.ml.dataset import file_sha256
    from hip3term.replay.compare import Variant, compare_replays, format_comparison

    # the engine's warnings (rejects, latch trips) are in the comparison; errors still show
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    base: dict[str, Any] = {"taker_fee_bps": spec.fees_bps / 2,
                            "threshold_bps": max(spec.threshold_bps, 0.0),
                            **(overrides or {})}  # fmt: skip
    gate = Variant(f"gate p >= {threshold:g}", {"gate_model": str(model),
                                                "gate_threshold": threshold})  # fmt: skip
    comparison = compare_replays(paths, settings_from_cli(None, strategy="oracle_dislocation"),
                                 variants=[gate], overrides=base, baseline_name="no gate",
                                 workers=workers)  # fmt: skip
    lines = [f"held-out comparison: the taker replayed over {len(paths)} recording(s) without "
             f"and with the gate (p >= {threshold:g}), orders matched against the recorded "
             "book; the taker's rule as trained (threshold_bps "
             f"{base['threshold_bps']:g}, taker_fee_bps {base['taker_fee_bps']:g})",
             format_comparison(comparison)]  # fmt: skip
    seen = [str(p) for p in paths if file_sha256(p) in set(trained)]
    if seen:
        lines.append(f"warning: trained on {', '.join(seen)} too: this is in-sample")
    return "\n".join(lines)


def _num(value: float, digits: int = 3) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def format_report(result: TrainResult, dataset: SignalDataset, bundle: Path) -> str:
    """The printed report: data, folds, out-of-fold metrics, leakage check, sweep."""
    spec, meta = dataset.spec, dataset.meta
    lines = [
        f"signals: {len(dataset)} labelled ({meta['positives']} won after fees, "
        f"{meta['unlabelled']} without a horizon) from {len(meta['recordings'])} recording(s)",
        f"rule: dislocation - {spec.fees_bps:g} bps fees > {spec.threshold_bps:g} bps; "
        f"one signal per episode (rearm {spec.rearm_s:g} s); label: markout at "
        f"{spec.horizon_s:g} s, exit at the {spec.exit_price}, after fees",
        f"data hash {dataset.data_hash[:16]}  feature schema {dataset.schema_hash[:16]}",
        "",
        f"purged {result.config.folds}-fold CV (purge {result.config.purge_s:g} s, embargo "
        f"{result.config.embargo_s:g} s, seed {result.config.seed})",
        f"{'fold':>5} {'train':>6} {'valid':>6} {'purged':>6} {'embarg':>6} {'iters':>5} "
        f"{'AUC':>6} {'Brier':>6} {'PR-AUC':>6} {'ECE':>6}",
    ]
    for fold in result.folds:
        m = fold.metrics
        lines.append(f"{fold.index + 1:>5} {fold.n_train:>6} {fold.n_validation:>6} "
                     f"{fold.purged:>6} {fold.embargoed:>6} {fold.best_iteration:>5} "
                     f"{_num(m['auc']):>6} {_num(m['brier']):>6} {_num(m['pr_auc']):>6} "
                     f"{_num(m['ece']):>6}")
    o = result.overall
    lines.append(f"{'OOF':>5} {'':>6} {int(o['n']):>6} {'':>6} {'':>6} "
                 f"{result.final_rounds:>5} {_num(o['auc']):>6} {_num(o['brier']):>6} "
                 f"{_num(o['pr_auc']):>6} {_num(o['ece']):>6}")
    worst = max(result.feature_auc.items(), key=lambda kv: -1 if math.isnan(kv[1]) else kv[1])
    lines += [
        f"leakage check passed: best single feature {worst[0]} AUC {_num(worst[1])}, OOF "
        f"AUC {_num(o['auc'])} (limit {result.config.leakage_auc:g})",
        "",
        "threshold sweep (out-of-fold; a signal passes when p >= threshold)",
        f"{'p >=':>6} {'kept':>6} {'share':>6} {'win':>6} {'EV bps':>8} {'total bps':>10}",
    ]
    for row in result.sweep:
        lines.append(f"{row.threshold:>6.2f} {row.kept:>6} {_num(row.kept_share, 2):>6} "
                     f"{_num(row.win_rate, 2):>6} {_num(row.mean_markout_bps, 2):>8} "
                     f"{_num(row.total_markout_bps, 1):>10}")
    lines += ["", f"bundle: {bundle} ({result.final_rounds} trees on all {len(dataset)} "
              f"signals); use it with strategy.params.gate_model = \"{bundle.parent}\""]
    return "\n".join(lines)
