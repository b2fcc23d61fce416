"""`hip3term replay`: a recording through the same strategy, gates and executor, in
virtual time against the simulator's exchange core; a report at the end."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hip3term.cli.common import ConfigOption
from hip3term.errors import ConfigError

if TYPE_CHECKING:
    from hip3term.config import Settings
    from hip3term.replay.report import Report
    from hip3term.replay.runner import ReplayConfig, ReplayResult

_HELP = """\
Replay a session recording (.h3rec) through the same engine as `hip3term run`: the
recorded l2Book, bbo, trades and activeAssetCtx frames are parsed by the feed's parser at
their recorded times on a simulated clock, and drive the market state, the strategy, the
risk gates and latch, the batch scheduler, the executor (nonces, signing) and the
position tracker. Orders go to the simulator's exchange core (signature, nonce, tick,
lot, margin and fee rules) and are matched against the recorded book: IOCs and crossing
orders take the book as it stood when they arrived; resting orders queue behind the size
shown at their price and fill from recorded trades at or through it.

The same recording, config and seed give the same fills, always. At the end a report
(fills with 1 s / 10 s / 60 s markouts against the mid and the oracle, expected versus
realized edge, slippage, fill rate, time to flat, PnL curve, drawdown, halts, worst
fills) is printed and saved beside the recording as <name>.replay.json and
<name>.replay.fills.csv.

What-if: --set overrides any strategy parameter (threshold_bps=10) or setting
(risk.time_stop_s=5); --latency-ms, --feed-latency-ms, --fees-bps, --slippage-bps and
--drop-frames stress it; --sweep key=v1,v2 runs a grid in a process pool and prints
one line per run.

Side by side: --compare key=value replays the recording twice, as given (the baseline)
and with the --compare assignments added (the variant), and prints one column per run:
entry signals, gated-out signals, entries, entries traded, orders, fills, round trips,
win rate, halts, expected and realized edge, 10 s markout, PnL, drawdown and fees, then
a verdict: does the variant trade fewer signals with a higher average realized edge, or
plainly why not. Saved as <name>.compare.json. To judge a gate from `hip3term train`,
give the taker's fees (the gate was trained for them) and add the gate as the variant.
A latch trip ends a run early (a note says so): --set risk.max_consecutive_losses=1000
compares the signals alone.

Examples:

\b
  hip3term replay recordings/20260101-120000-xyz_COIN-sim.h3rec
  hip3term replay REC --set threshold_bps=10 --latency-ms 50 --fees-bps 2
  hip3term replay REC --sweep threshold_bps=5,10,15 --sweep cooldown_s=1,5
  hip3term replay REC --set taker_fee_bps=0.9 --set threshold_bps=0
      --compare gate_model=models/gate-1a2b3c4d --compare gate_threshold=0.6
  hip3term replay REC --tui --speed 10x      (space pause, n step, + / - speed)
"""

RecordingArgument = Annotated[
    Path, typer.Argument(metavar="RECORDING", show_default=False,
                         help="The session recording (.h3rec) to replay.")]  # fmt: skip
StrategyOption = Annotated[
    str | None, typer.Option("--strategy", metavar="NAME", show_default=False,
                             help="Strategy plugin to replay (default strategy.name of the "
                             "config); see `hip3term plugins`.")]  # fmt: skip
SetOption = Annotated[
    list[str] | None, typer.Option("--set", metavar="KEY=VALUE", show_default=False,
                                   help="Override a strategy parameter (threshold_bps=10, "
                                   "validated by the plugin) or a setting (section.field, e.g. "
                                   "risk.time_stop_s=5). Repeatable.")]  # fmt: skip
SpeedOption = Annotated[
    str | None, typer.Option("--speed", metavar="1x|10x|max", show_default=False,
                             help="Simulated seconds per real second: 1x is real time, max "
                             "as fast as the code runs (the default; 1x with --tui).")]
TuiOption = Annotated[
    bool, typer.Option("--tui", help="Show the replay in the workstation UI; keys: space "
                       "pause/play, n one frame, + faster, - slower; q quits (report after).")]
LatencyOption = Annotated[
    float, typer.Option("--latency-ms", metavar="MS", min=0.0,
                        help="Order-entry latency: a post reaches the exchange this long after "
                        "it is written (0.5 ms: a loopback simulator).")]  # fmt: skip
FeedLatencyOption = Annotated[
    float, typer.Option("--feed-latency-ms", metavar="MS", min=0.0,
                        help="Extra delay of every frame from the exchange (market data, on "
                        "top of the recording's own; account frames; answers).")]
FeesOption = Annotated[
    float, typer.Option("--fees-bps", metavar="BPS",
                        help="Added to the market's taker and maker fee rates (2 = +0.02 %).")]
SlippageOption = Annotated[
    float, typer.Option("--slippage-bps", metavar="BPS", min=0.0,
                        help="Move every recorded level this far away from the mid before it "
                        "can be traded (asks up, bids down).")]  # fmt: skip
DropOption = Annotated[
    float, typer.Option("--drop-frames", metavar="RATE", min=0.0, max=0.99,
                        help="Lose this share of market frames in transit (seeded by --seed): "
                        "the exchange moves, the engine never hears of it.")]  # fmt: skip
SeedOption = Annotated[
    int, typer.Option("--seed", metavar="S", help="Seed of the dropped frames and of the "
                      "replayed account's key; same seed, same fills.")]
SweepOption = Annotated[
    list[str] | None, typer.Option("--sweep", metavar="KEY=V1,V2,...", show_default=False,
                                   help="Replay once per value (per combination when "
                                   "repeated) in a process pool; prints PnL, trades, edge and "
                                   "drawdown per run.")]  # fmt: skip
CompareOption = Annotated[
    list[str] | None, typer.Option("--compare", metavar="KEY=VALUE", show_default=False,
                                   help="Also replay with this override added to the "
                                   "baseline (same keys as --set; repeatable: all of them "
                                   "make one variant) and print both runs side by side with "
                                   "a verdict, e.g. --compare gate_model=models/g "
                                   "--compare gate_threshold=0.6.")]  # fmt: skip
WorkersOption = Annotated[
    int | None, typer.Option("--workers", metavar="N", min=1, show_default=False,
                             help="Processes for --sweep and --compare (default: one per "
                             "CPU, at most one per run; 1 runs them one after the other "
                             "in this process).")]  # fmt: skip
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the report (or the sweep, or the comparison) "
                       "as JSON on stdout instead of tables.")]  # fmt: skip
NoSaveOption = Annotated[
    bool, typer.Option("--no-save", help="Do not write the report files (or the sweep's or "
                       "comparison's JSON) beside the recording.")]  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the `replay` command to the root app."""
    app.command("replay", help=_HELP,
                short_help="Replay a recording through the strategy and executor.")(replay)


def parse_speed(text: str | None, *, tui: bool) -> float | None:
    """`--speed`: "max" (None), "10x", "10" or "0.5x".

    Raises:
        ConfigError: anything else.
    """
    if text is None:
        return 1.0 if tui else None
    word = text.strip().lower()
    if word == "max":
        return None
    try:
        speed = float(word.removesuffix("x"))
    except ValueError:
        speed = math.nan
    if not math.isfinite(speed) or speed <= 0:
        raise ConfigError(f"--speed {text}: expected 1x, 10x, another positive number, or max")
    return speed


def replay(
    recording: RecordingArgument,
    config: ConfigOption = None,
    strategy: StrategyOption = None,
    set_: SetOption = None,
    speed: SpeedOption = None,
    tui: TuiOption = False,
    latency_ms: LatencyOption = 0.5,
    feed_latency_ms: FeedLatencyOption = 0.0,
    fees_bps: FeesOption = 0.0,
    slippage_bps: SlippageOption = 0.0,
    drop_frames: DropOption = 0.0,
    seed: SeedOption = 0,
    sweep: SweepOption = None,
    compare: CompareOption = None,
    workers: WorkersOption = None,
    json_out: JsonOption = False,
    no_save: NoSaveOption = False,
) -> None:
    """Replay a recording."""
    from hip3term.cli.common import settings_from_cli
    from hip3term.replay.runner import ReplayConfig, replay_settings
    from hip3term.replay.sweep import parse_assignment, parse_axis

    if compare and (sweep or tui):
        raise ConfigError(f"--compare cannot be combined with {'--sweep' if sweep else '--tui'}: "
                          "a comparison replays a baseline and one variant headless; sweep or "
                          "watch one of them in a separate command")  # fmt: skip
    _quiet_logs()
    settings = settings_from_cli(config, strategy=strategy)
    overrides = dict(parse_assignment(item) for item in set_ or ())
    knobs: dict[str, Any] = {
        "latency_ms": latency_ms, "feed_latency_ms": feed_latency_ms, "fees_bps": fees_bps,
        "slippage_bps": slippage_bps, "drop_frames": drop_frames, "seed": seed}  # fmt: skip
    if sweep:
        _sweep(recording, settings, [parse_axis(s) for s in sweep], overrides, workers, knobs,
               json_out=json_out, save=not no_save)  # fmt: skip
        return
    if compare:
        variant = dict(parse_compare(item) for item in compare)
        _compare(recording, settings, overrides, variant, workers,
                 {**knobs, "speed": parse_speed(speed, tui=False)}, json_out=json_out,
                 save=not no_save)  # fmt: skip
        return
    run_config = ReplayConfig(recording, replay_settings(settings, recording, overrides=overrides),
                              speed=parse_speed(speed, tui=tui), **knobs)  # fmt: skip
    result = _tui(run_config) if tui else _headless(run_config)
    if result is None:
        raise typer.Exit(1)
    _output(result.report, recording, json_out=json_out, save=not no_save)
    if not json_out:
        typer.echo(f"replayed {result.frames} frames ({result.virtual_s:.0f} s of market) in "
                   f"{result.wall_s:.2f} s: {result.frames_per_s:,.0f} frames/s; "
                   f"fills {len(result.fills)}, fill hash {result.fill_hash[:16]}")  # fmt: skip


def parse_compare(text: str) -> tuple[str, Any]:
    """`--compare key=value` -> (key, value), read as `--set` reads it.

    Raises:
        ConfigError: no `=`, or an empty key.
    """
    from hip3term.replay.sweep import parse_assignment

    return parse_assignment(text, option="--compare", example="gate_threshold=0.6")


def _quiet_logs() -> None:
    # The engine's warnings (latch trips, stale data) are in the report; errors still show.
    import logging

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


def _headless(config: ReplayConfig) -> ReplayResult:
    from hip3term.replay.runner import replay

    return replay(config)


def _output(report: Report, recording: Path, *, json_out: bool, save: bool) -> None:
    import orjson

    from hip3term.replay.report import render
    from hip3term.replay.report import save as save_report

    if json_out:
        sys.stdout.write(orjson.dumps(report.as_dict(), default=str,
                                      option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render(report)
    if save:
        paths = save_report(report, recording.with_name(recording.stem + ".replay"))
        if not json_out:
            typer.echo("saved " + " and ".join(str(p) for p in paths))


def _sweep(recording: Path, settings: Any, axes: list[tuple[str, list[Any]]],
           overrides: dict[str, Any], workers: int | None, knobs: dict[str, Any], *,
           json_out: bool, save: bool) -> None:  # fmt: skip
    import orjson

    from hip3term.replay.sweep import run_sweep

    rows = [row.as_dict() for row in run_sweep(recording, settings, axes=axes,
                                               overrides=overrides, workers=workers, **knobs)]
    if json_out:
        sys.stdout.write(orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2).decode()
                         + "\n")  # fmt: skip
    else:
        from hip3term.replay.render import sweep_table

        sweep_table(rows, [key for key, _ in axes])
    if save:
        path = recording.with_name(recording.stem + ".sweep.json")
        path.write_bytes(orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2))
        if not json_out:
            typer.echo(f"saved {path}")


def _compare(recording: Path, settings: Settings, overrides: dict[str, Any],
             variant: dict[str, Any], workers: int | None, knobs: dict[str, Any], *,
             json_out: bool, save: bool) -> None:  # fmt: skip
    import orjson

    from hip3term.replay.compare import Variant, compare_replays

    comparison = compare_replays([recording], settings, variants=[Variant("variant", variant)],
                                 overrides=overrides, workers=workers, **knobs)  # fmt: skip
    data = orjson.dumps(comparison.as_dict(), default=str, option=orjson.OPT_INDENT_2)
    if json_out:
        sys.stdout.write(data.decode() + "\n")
    else:
        from hip3term.replay.render import comparison_table

        comparison_table(comparison)
    if save:
        path = recording.with_name(recording.stem + ".compare.json")
        path.write_bytes(data)
        if not json_out:
            typer.echo(f"saved {path}")


def _tui(config: ReplayConfig) -> ReplayResult | None:
    from hip3term.cli.replay_tui import run_replay_tui

    return run_replay_tui(config)
