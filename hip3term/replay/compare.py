"""Side-by-side replays: a baseline and variants over the same recordings.

`compare_replays(recordings, settings, variants=[Variant("gate", {...})], ...)` replays
every recording once with the baseline (the settings with `overrides`) and once per
variant (the baseline plus the variant's overrides), through the same `ReplaySession` as
`hip3term replay` (engine, gates and latch, executor, the simulator's exchange core
matching against the recorded book) with the same knobs (latency, fees, seed...), in a
process pool as `replay.sweep` does. Each run is deterministic: its fill hash is the one
`hip3term replay` prints for the same settings.

Figures per configuration (summed, or pooled, over the recordings):

- *signals*: the entry signals the strategy journaled (kind "entry"; the taker logs one
  per evaluation while a dislocation lasts, traded or not); *gated out*: those its gate
  refused (reason "gated out (p=... < threshold)"); *entries*: those it decided to trade
  (orders placed; the risk gates may still deny them); *traded*: entry orders (tag
  "entry") with at least one fill, or round trips for a strategy without entry tags;
- *orders*, *fills*, *round trips*, *win rate* and *halts* (latch trips), as in the report;
- *expected edge*: mean over the entries; *realized edge*: mean net PnL over the opening
  notional per round trip (every round trip of every recording weighs the same);
  *markout 10 s*: mean 10 s markout of every fill against the mid;
- *realized PnL* and *fees*: sums; *max drawdown*: of the recordings' PnL curves chained
  end to end (in the order given).

The verdict compares a variant with the baseline: it "trades fewer signals with a higher
average realized edge" only when it traded fewer signals, closed at least one round trip,
and its mean realized edge is strictly higher than the baseline's; otherwise it says
plainly that it does NOT, and why (no trades at all, the same trades, as many or more
trades, fewer trades but an edge no higher, nothing closed to measure). Notes flag small
samples and halted runs (a tripped latch stops a run early: not like for like).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from hip3term.config import Settings
from hip3term.replay.report import HORIZONS_S, Report, max_drawdown
from hip3term.replay.runner import ReplayConfig, replay, replay_settings

__all__ = [
    "GATED_OUT",
    "Comparison",
    "RecordingRun",
    "RunFigures",
    "RunResult",
    "Variant",
    "compare_replays",
    "describe",
    "footer",
    "format_comparison",
    "headers",
    "table_rows",
    "verdict",
]

GATED_OUT: Final = "gated out"
"""How the taker's journaled reason for a signal its gate refused begins."""
_MARKOUT_INDEX: Final = HORIZONS_S.index(10)
_FEW_TRIPS: Final = 10
_TRIPS: Final = frozenset({"latch_tripped", "latch_engaged"})


@dataclasses.dataclass(frozen=True, slots=True)
class Variant:
    """A configuration to compare with the baseline: a name and the overrides (`--set`
    keys) it adds to the baseline's."""

    name: str
    overrides: Mapping[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class RunFigures:
    """The figures of one configuration over one or more recordings (module docstring)."""

    signals: int
    gated_out: int
    entries: int
    traded: int
    orders: int
    fills: int
    round_trips: int
    wins: int
    halts: int
    expected_edge_bps: float | None
    realized_edge_bps: float | None
    markout_mid_10s_bps: float | None
    realized_pnl: Decimal
    max_drawdown: float
    fees: Decimal

    @property
    def win_rate(self) -> float | None:
        """Round trips won over round trips (None without any)."""
        return self.wins / self.round_trips if self.round_trips else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly (Decimals as exact strings)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out.update(realized_pnl=str(self.realized_pnl), fees=str(self.fees),
                   win_rate=self.win_rate)  # fmt: skip
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class RecordingRun:
    """One configuration over one recording: what its figures are made of, its fill hash,
    its latch trips ("kind: reason") and the real seconds it took."""

    recording: str
    signals: int
    gated_out: int
    entries: int
    traded: int
    orders: int
    fills: int
    entry_edges: tuple[float, ...]
    trip_edges: tuple[float, ...]
    trip_pnls: tuple[Decimal, ...]
    markouts: tuple[float, ...]
    curve: tuple[float, ...]
    fees: Decimal
    trips: tuple[str, ...]
    fill_hash: str
    wall_s: float


@dataclasses.dataclass(frozen=True, slots=True)
class RunResult:
    """One configuration of a comparison: its name, its overrides (the baseline's
    included), its figures over all recordings, and its run of each recording."""

    name: str
    overrides: Mapping[str, Any]
    figures: RunFigures
    parts: tuple[RecordingRun, ...]

    @property
    def fill_hashes(self) -> tuple[str, ...]:
        """The fill hash of each recording's run."""
        return tuple(p.fill_hash for p in self.parts)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly."""
        return {"name": self.name, "overrides": dict(self.overrides),
                "figures": self.figures.as_dict(),
                "recordings": [{"recording": p.recording, "fill_hash": p.fill_hash,
                                "wall_s": p.wall_s, "halts": list(p.trips),
                                "figures": _figures([p]).as_dict()}
                               for p in self.parts]}  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Comparison:
    """A baseline (`runs[0]`) and its variants over the same recordings, with one verdict
    per variant and notes (small samples, halted runs, in-sample data...)."""

    strategy: str
    recordings: tuple[str, ...]
    knobs: Mapping[str, Any]
    runs: tuple[RunResult, ...]
    verdicts: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def with_note(self, note: str) -> Comparison:
        """The same comparison with one more note."""
        return dataclasses.replace(self, notes=(*self.notes, note))

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly."""
        return {"strategy": self.strategy, "recordings": list(self.recordings),
                "knobs": dict(self.knobs), "runs": [r.as_dict() for r in self.runs],
                "verdicts": list(self.verdicts), "notes": list(self.notes)}  # fmt: skip


# ---------------------------------------------------------------- running


def compare_replays(recordings: Sequence[str | Path], settings: Settings, *,
                    variants: Sequence[Variant], strategy: str | None = None,
                    overrides: Mapping[str, Any] | None = None,
                    baseline_name: str = "baseline", workers: int | None = None,
                    **knobs: Any) -> Comparison:  # fmt: skip
    """Replay each recording with the baseline and with each variant; compare them.

    Args:
        recordings: the recordings (each configuration replays all of them).
        settings: the base settings.
        variants: the configurations compared with the baseline.
        strategy: the strategy (default: the settings').
        overrides: `--set` values of the baseline (and so of every variant).
        baseline_name: the baseline's name in the table.
        workers: processes (default: one per CPU, at most one per replay); 1 replays in
            this thread, one after the other.
        **knobs: `ReplayConfig` fields for every run (latency_ms, fees_bps, seed, speed...).

    Raises:
        ConfigError, PluginError: a bad key or value (checked for every run before any
            run starts).
        RecordingError: a recording cannot be read.
        RuntimeError: called with workers=1 from a running event loop.
    """
    paths = [Path(r) for r in recordings]
    base = dict(overrides or {})
    configs = [(baseline_name, base)] + [(v.name, {**base, **v.overrides}) for v in variants]
    jobs = [ReplayConfig(path, replay_settings(settings, path, strategy=strategy,
                                               overrides=merged), **knobs)
            for _, merged in configs for path in paths]  # fmt: skip
    parts = _run_all(jobs, workers)
    runs = []
    for i, (name, merged) in enumerate(configs):
        mine = tuple(parts[i * len(paths) : (i + 1) * len(paths)])
        runs.append(RunResult(name, merged, _figures(mine), mine))
    verdicts = tuple(verdict(runs[0], run, subject=_subject(v))
                     for v, run in zip(variants, runs[1:], strict=True))  # fmt: skip
    knob_values = {"latency_ms": 0.5, "feed_latency_ms": 0.0, "fees_bps": 0.0,
                   "slippage_bps": 0.0, "drop_frames": 0.0, "seed": 0, **knobs}  # fmt: skip
    name = jobs[0].settings.strategy.name if jobs else (strategy or settings.strategy.name)
    return Comparison(name, tuple(str(p) for p in paths), knob_values, tuple(runs), verdicts,
                      _notes(runs))  # fmt: skip


def _subject(variant: Variant) -> str:
    if any(key.startswith("gate_") for key in variant.overrides):
        return "the gate"
    return f"the variant {variant.name!r}"


def _notes(runs: Sequence[RunResult]) -> tuple[str, ...]:
    notes = []
    for run in runs:
        trips = [t for p in run.parts for t in p.trips]
        if trips:
            notes.append(
                f"{run.name} halted {len(trips)} time(s) ({trips[0]}) and traded no "
                "more after a trip: not like for like; relax the latch in both runs "
                "to compare the signals alone (risk.max_consecutive_losses=1000)"
            )
        if 0 < run.figures.round_trips < _FEW_TRIPS:
            notes.append(f"{run.name}: only {run.figures.round_trips} round trip(s); an edge "
                         "measured on so few may be chance")  # fmt: skip
    return tuple(notes)


def _quiet(level: int) -> None:
    # A worker logs as its parent does (the engine's warnings are in the report).
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _run_all(jobs: Sequence[ReplayConfig], workers: int | None) -> list[RecordingRun]:
    count = max(1, min(len(jobs), workers or os.cpu_count() or 1))
    if count == 1:  # `replay` refuses to run inside a running loop itself
        return [_run_part(job) for job in jobs]
    context = multiprocessing.get_context("spawn")  # no inherited threads or loops
    level = logging.getLogger().getEffectiveLevel()
    with concurrent.futures.ProcessPoolExecutor(count, mp_context=context, initializer=_quiet,
                                                initargs=(level,)) as pool:  # fmt: skip
        return list(pool.map(_run_part, jobs))


def _rows(rows: Sequence[object]) -> list[Mapping[str, Any]]:
    return [row for row in rows if isinstance(row, Mapping)]


def _run_part(config: ReplayConfig) -> RecordingRun:
    result = replay(config)
    rows = result.rows  # the journal's: the signals and their decisions are in no report
    assert rows is not None  # a replay's result always carries them
    report = result.report
    entries = [s for s in _rows(rows.signals) if s.get("kind") == "entry"]
    decided = [s for s in entries if s.get("decision") in ("traded", "observed")]
    gated = [s for s in entries if str(s.get("reason") or "").startswith(GATED_OUT)]
    tagged = {str(o["cloid"]) for o in _rows(rows.orders) if o.get("reason") == "entry"}
    traded = (len({f.cloid for f in report.fills if f.cloid in tagged}) if tagged
              else len(report.round_trips))  # fmt: skip
    return RecordingRun(
        recording=str(config.recording), signals=len(entries), gated_out=len(gated),
        entries=len(decided), traded=traded, orders=int(report.summary["orders"]),
        fills=len(report.fills),
        entry_edges=tuple(float(s["expected_edge_bps"]) for s in decided
                          if s.get("expected_edge_bps") is not None),
        trip_edges=tuple(t.realized_edge_bps for t in report.round_trips),
        trip_pnls=tuple(t.pnl for t in report.round_trips), markouts=_markouts(report),
        curve=tuple(v for _, v in report.pnl_curve), fees=Decimal(report.summary["fees"]),
        trips=tuple(reason for _, kind, reason in report.halts if kind in _TRIPS),
        fill_hash=result.fill_hash, wall_s=result.wall_s)  # fmt: skip


def _markouts(report: Report) -> tuple[float, ...]:
    return tuple(m for f in report.fills if (m := f.mid_markouts[_MARKOUT_INDEX]) is not None)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _figures(parts: Sequence[RecordingRun]) -> RunFigures:
    chained: list[tuple[int, float]] = []
    offset = 0.0
    for part in parts:
        chained += [(0, offset + v) for v in part.curve]
        offset = chained[-1][1] if chained else offset
    edges = [e for p in parts for e in p.trip_edges]
    pnls = [x for p in parts for x in p.trip_pnls]
    return RunFigures(
        signals=sum(p.signals for p in parts), gated_out=sum(p.gated_out for p in parts),
        entries=sum(p.entries for p in parts), traded=sum(p.traded for p in parts),
        orders=sum(p.orders for p in parts), fills=sum(p.fills for p in parts),
        round_trips=len(edges), wins=sum(1 for x in pnls if x > 0),
        halts=sum(len(p.trips) for p in parts),
        expected_edge_bps=_mean([e for p in parts for e in p.entry_edges]),
        realized_edge_bps=_mean(edges),
        markout_mid_10s_bps=_mean([m for p in parts for m in p.markouts]),
        realized_pnl=sum(pnls, Decimal(0)), max_drawdown=max_drawdown(chained),
        fees=sum((p.fees for p in parts), Decimal(0)))  # fmt: skip


# ---------------------------------------------------------------- the verdict


def verdict(base: RunResult, other: RunResult, *, subject: str = "the variant") -> str:
    """One plain line: whether `other` trades fewer signals than `base` with a higher
    average realized edge, and if not, why not."""
    b, v = base.figures, other.figures
    claim = f"{subject} trades fewer signals with a higher average realized edge"
    no = f"{subject} does NOT trade fewer signals with a higher average realized edge"
    if v.fills == 0:
        return (f"{no}: it made no trades at all ({v.gated_out} signal(s) gated out, "
                f"{v.entries} entries; the baseline traded {b.traded})")  # fmt: skip
    if other.fill_hashes == base.fill_hashes:
        return f"{no}: it made the same trades as the baseline ({v.traded} traded, same fills)"
    if b.traded == 0:
        return f"{no}: the baseline traded nothing, so there is nothing to improve on"
    if v.traded >= b.traded:
        return f"{no}: it traded {v.traded} signals, the baseline {b.traded}"
    fewer = f"{v.traded} traded against {b.traded}"
    if v.realized_edge_bps is None or b.realized_edge_bps is None:
        whose = "it" if v.realized_edge_bps is None else "the baseline"
        return f"{no}: {fewer}, but {whose} closed no round trip: no realized edge to compare"
    edges = f"{v.realized_edge_bps:.2f} bps against {b.realized_edge_bps:.2f}"
    if v.realized_edge_bps > b.realized_edge_bps:
        return f"{claim}: {fewer}, mean realized edge {edges}"
    return f"{no}: {fewer}, but a mean realized edge no higher ({edges})"


# ---------------------------------------------------------------- the table

_ROWS: Final = (
    ("signals", "signals", "int"), ("gated out", "gated_out", "int"),
    ("entries", "entries", "int"), ("traded", "traded", "int"), ("orders", "orders", "int"),
    ("fills", "fills", "int"), ("round trips", "round_trips", "int"),
    ("win rate", "win_rate", "pct"), ("halts", "halts", "int"),
    ("expected edge (bps)", "expected_edge_bps", "bps"),
    ("realized edge (bps)", "realized_edge_bps", "bps"),
    ("markout 10 s mid (bps)", "markout_mid_10s_bps", "bps"),
    ("realized PnL", "realized_pnl", "usd"), ("max drawdown", "max_drawdown", "usd"),
    ("fees", "fees", "usd"),
)  # fmt: skip


def _cell(value: Any, kind: str, *, sign: bool = False) -> str:
    if value is None:
        return "-"
    plus = "+" if sign else ""
    if kind == "int":
        return f"{value:{plus}d}"
    if kind == "pct":
        return f"{value * 100:{plus}.1f}{' pp' if sign else ' %'}"
    return f"{float(value):{plus},.{2 if kind == 'bps' else 4}f}"


def headers(comparison: Comparison) -> list[str]:
    """The table's column titles: the figure, each run, and "change" with one variant."""
    names = [run.name for run in comparison.runs]
    return ["", *names, *(["change"] if len(names) == 2 else [])]


def table_rows(comparison: Comparison) -> list[tuple[str, ...]]:
    """The table: one row per figure (its label, a cell per run, and with exactly one
    variant its change from the baseline)."""
    rows = []
    for label, attr, kind in _ROWS:
        values = [getattr(run.figures, attr) for run in comparison.runs]
        cells = [_cell(v, kind) for v in values]
        if len(values) == 2:
            a, b = values
            cells.append("-" if a is None or b is None else _cell(b - a, kind, sign=True))
        rows.append((label, *cells))
    return rows


def describe(comparison: Comparison) -> list[str]:
    """The lines above the table: what was replayed, and each run's overrides."""
    k = comparison.knobs
    names = ", ".join(Path(r).name for r in comparison.recordings)
    lines = [f"replay comparison: {comparison.strategy} over {len(comparison.recordings)} "
             f"recording(s) ({names}); latency {k['latency_ms']:g} ms, feed latency "
             f"{k['feed_latency_ms']:g} ms, added fees {k['fees_bps']:g} bps, slippage "
             f"{k['slippage_bps']:g} bps, dropped frames {k['drop_frames']:g}, "
             f"seed {k['seed']}"]  # fmt: skip
    base = comparison.runs[0].overrides
    for i, run in enumerate(comparison.runs):
        shown = {key: value for key, value in run.overrides.items()
                 if i == 0 or base.get(key) != value}  # fmt: skip
        text = " ".join(f"{key}={value}" for key, value in shown.items())
        lines.append(f"  {run.name}: {'' if i == 0 else 'baseline + '}{text or '(no overrides)'}")
    return lines


def footer(comparison: Comparison) -> list[str]:
    """The lines below the table: verdicts, notes, and each run's fill hashes."""
    lines = list(comparison.verdicts) + [f"note: {n}" for n in comparison.notes]
    for run in comparison.runs:
        wall = sum(p.wall_s for p in run.parts)
        hashes = " ".join(h[:16] for h in run.fill_hashes)
        lines.append(f"{run.name}: fill hash {hashes}; replayed in {wall:.2f} s")
    return lines


def format_comparison(comparison: Comparison) -> str:
    """The comparison as plain text (what `hip3term train --compare` prints)."""
    head = headers(comparison)
    rows = [head, *table_rows(comparison)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    table = [" ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in rows]  # fmt: skip
    return "\n".join([*describe(comparison), *table, *footer(comparison)])
