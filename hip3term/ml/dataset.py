"""Dislocation signals, their features and their after-fee markouts, from recordings.

Each recording is replayed through the project's parser (`parse_frame`) and a
`MarketState` of its market, exactly as the live feed builds it: frames in recorded order,
each applied at its recorded monotonic receive time. After every applied l2Book, bbo and
activeAssetCtx frame (the callbacks on which the taker evaluates) the taker's signal rule
is checked:

- *signal rule* (the oracle-dislocation taker's): with both dislocations valid, the side
  is buy when `buy_dislocation_bps >= sell_dislocation_bps`, else sell; the signal's
  dislocation is the larger one; it is a signal when `dislocation - fees_bps >
  threshold_bps`. `fees_bps` is the round trip (the taker's `2 * taker_fee_bps`), and the
  dataset uses a low `threshold_bps` (default 0, where the taker trades at 15) so that
  there are many examples on both sides of the taker's own threshold; any value,
  negative too, is allowed and recorded.
- *debounce*: one dislocation episode gives one signal, at its first evaluation. An
  episode is a run of evaluations meeting the rule on the same side; a lapse (from the
  first evaluation where the rule fails, or the features are invalid, to the next one
  where it holds again) of at most `rearm_s` seconds does not end it. A signal on the
  other side starts a new episode at once.
- *features*: `ml.gate.signal_row` of the features at the signal (the same code the gate
  runs in the taker); the time of day comes from the record's wall-clock time.
- *label*: the markout of a taker entry at the touch (the best ask for a buy, the best bid
  for a sell, at the signal) exited at the touch on the other side (`exit_price="touch"`,
  the default: the taker exits with an IOC) or at the mid (`"mid"`) as the book stood at
  `signal + horizon_s`, in bps of the entry price, minus `fees_bps`; `label = markout > 0`.
  A signal whose horizon runs past the end of the recording, or whose book is empty or
  stale (older than the `MarketState`'s `book_stale_after_s`) at the horizon, is dropped
  (counted in `unlabelled`).

The result, a `SignalDataset`, is sorted by wall-clock time and saves as a compressed
`.npz` holding the arrays and a JSON metadata string: the spec, the feature schema and
its hash, the hash of the recordings' contents (`data_hash`) and per-recording counts.

`run_strategy(path, strategy, rules, spec)` is a stand-in for replay until `hip3term
replay` exists: it drives a strategy over a recording with the `StrategyHarness` (its
timer every `timer_interval_s`), takes every entry order it places as filled at the touch
it decided on (`ref_px`), tells it at once that the order is done, and marks each entry
out exactly like a dataset label. Positions are never opened, so the strategy's own exits,
its "position open" block, partial fills and latency are left to replay; entries are
limited only by the strategy's rules (cooldown, gate). Running it with and without a gate
over the same recording compares which signals trade and what they earn.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from hip3term.book.features import Features
from hip3term.book.market_state import MarketState
from hip3term.core.clock import SimClock
from hip3term.errors import RecordingError
from hip3term.ml.gate import FEATURE_NAMES, FEATURE_VERSION, SCHEMA_HASH, signal_row
from hip3term.recording.format import RecordKind
from hip3term.recording.reader import RecordingReader
from hip3term.strategy import PlaceOrder, Signal, Strategy
from hip3term.strategy.context import MarketRules
from hip3term.strategy.harness import StrategyHarness
from hip3term.venue.hyperliquid.parse import parse_frame
from hip3term.venue.hyperliquid.wire import ParseError

__all__ = [
    "DatasetSpec",
    "EntryOutcome",
    "SignalDataset",
    "StrategyRun",
    "build_dataset",
    "file_sha256",
    "recordings_hash",
    "run_strategy",
    "taker_signal",
]

Side = Literal["buy", "sell"]
_NS_PER_S = 1_000_000_000
_EVALUATED = frozenset({"l2Book", "bbo", "activeAssetCtx"})
_META_VERSION = 1


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """How signals are found and labelled (see the module docstring).

    Attributes:
        horizon_s: markout horizon in seconds.
        fees_bps: round-trip fees in bps, in the signal rule and subtracted from markouts.
        threshold_bps: the rule's threshold on `dislocation - fees_bps` (may be negative).
        rearm_s: longest gap that does not end an episode.
        exit_price: "touch" (the other side's best price) or "mid" at the horizon.
    """

    horizon_s: float = 10.0
    fees_bps: float = 18.0
    threshold_bps: float = 0.0
    rearm_s: float = 1.0
    exit_price: Literal["touch", "mid"] = "touch"

    def __post_init__(self) -> None:
        for name in ("horizon_s", "fees_bps", "threshold_bps", "rearm_s"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite")
        if self.horizon_s <= 0 or self.rearm_s < 0 or self.fees_bps < 0:
            raise ValueError("horizon_s must be positive; rearm_s and fees_bps not negative")
        if self.exit_price not in ("touch", "mid"):
            raise ValueError(f"exit_price must be 'touch' or 'mid', got {self.exit_price!r}")


def taker_signal(features: Features, fees_bps: float,
                 threshold_bps: float) -> tuple[Side, float] | None:
    """The taker's rule: `(side, dislocation)` when `dislocation - fees > threshold`."""
    buy, sell = features.buy_dislocation_bps.value, features.sell_dislocation_bps.value
    if buy is None or sell is None:
        return None
    side: Side = "buy" if buy >= sell else "sell"
    dislocation = max(buy, sell)
    return (side, dislocation) if dislocation - fees_bps > threshold_bps else None


@dataclass(slots=True)
class _Pending:
    row: list[float]
    side: Side
    entry_px: float
    wall_ns: int
    due_ns: int


@dataclass(slots=True)
class _Collected:
    rows: list[list[float]] = field(default_factory=list)
    markouts: list[float] = field(default_factory=list)
    wall_ns: list[int] = field(default_factory=list)
    entry_px: list[float] = field(default_factory=list)
    signals: int = 0
    unlabelled: int = 0


@dataclass(frozen=True)
class SignalDataset:
    """Signals with features and labels, sorted by wall-clock time.

    Attributes:
        features: the model inputs, shape (n, len(feature_names)), NaN where invalid.
        markout_bps: the after-fee markout (the regression target).
        label: 1 when `markout_bps > 0`, else 0.
        t_ns: wall-clock time of each signal (unix ns).
        recording: index into `meta["recordings"]` of each signal's recording.
        entry_px: the touch price the entry would have paid.
        feature_names: column names of `X`.
        meta: spec, schema, hashes and per-recording counts (JSON-ready).
    """

    features: npt.NDArray[np.float64]
    markout_bps: npt.NDArray[np.float64]
    label: npt.NDArray[np.int8]
    t_ns: npt.NDArray[np.int64]
    recording: npt.NDArray[np.int32]
    entry_px: npt.NDArray[np.float64]
    feature_names: tuple[str, ...]
    meta: dict[str, Any]

    def __len__(self) -> int:
        return len(self.label)

    @property
    def spec(self) -> DatasetSpec:
        """The spec the dataset was built with."""
        return DatasetSpec(**self.meta["spec"])

    @property
    def data_hash(self) -> str:
        """Hash of the recordings' contents."""
        return str(self.meta["data_hash"])

    @property
    def schema_hash(self) -> str:
        """Hash of the feature schema the rows follow."""
        return str(self.meta["feature_schema"]["hash"])

    def with_feature(self, name: str, values: npt.NDArray[np.float64]) -> SignalDataset:
        """A copy with one more column (for experiments and the leakage test)."""
        matrix = np.column_stack([self.features, np.asarray(values, dtype=np.float64)])
        return SignalDataset(matrix, self.markout_bps, self.label, self.t_ns, self.recording,
                             self.entry_px, (*self.feature_names, name), dict(self.meta))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a compressed `.npz` (the suffix is added when missing); returns the path."""
        target = Path(path)
        if target.suffix != ".npz":
            target = target.with_name(target.name + ".npz")
        target.parent.mkdir(parents=True, exist_ok=True)
        meta = dict(self.meta, feature_names=list(self.feature_names))
        np.savez_compressed(target, features=self.features, markout_bps=self.markout_bps,
                            label=self.label, t_ns=self.t_ns, recording=self.recording,
                            entry_px=self.entry_px,
                            meta=np.array(json.dumps(meta, sort_keys=True)))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SignalDataset:
        """Read a dataset written by `save`.

        Raises:
            ValueError: the file is not such a dataset.
        """
        with np.load(Path(path), allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("meta_version") != _META_VERSION:
                raise ValueError(f"{path}: not a hip3term signal dataset")
            return cls(data["features"], data["markout_bps"], data["label"], data["t_ns"],
                       data["recording"], data["entry_px"], tuple(meta.pop("feature_names")),
                       meta)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def recordings_hash(file_hashes: Sequence[str]) -> str:
    """The data hash: sha256 over the sorted per-file hashes (independent of order)."""
    return hashlib.sha256("\n".join(sorted(file_hashes)).encode()).hexdigest()


def build_dataset(paths: Sequence[str | os.PathLike[str]],
                  spec: DatasetSpec | None = None) -> SignalDataset:
    """Every signal of every recording, with features and labels (see the module doc).

    Raises:
        RecordingError: a file is missing or not a recording.
    """
    spec = spec or DatasetSpec()
    if not paths:
        raise RecordingError("no recordings given")
    parts: list[tuple[_Collected, int]] = []
    described: list[dict[str, Any]] = []
    for index, path in enumerate(paths):
        reader = RecordingReader(path)
        collected = _collect(reader, spec)
        parts.append((collected, index))
        described.append({
            "path": str(path), "sha256": file_sha256(path), "market": reader.header.market,
            "session_id": reader.header.session_id, "signals": collected.signals,
            "labelled": len(collected.markouts), "unlabelled": collected.unlabelled,
        })
    return _assemble(parts, described, spec)


def _collect(reader: RecordingReader, spec: DatasetSpec) -> _Collected:
    state = MarketState(reader.header.market)
    stale_ns = state.settings.book_stale_after_s * _NS_PER_S
    horizon_ns = round(spec.horizon_s * _NS_PER_S)
    rearm_ns = round(spec.rearm_s * _NS_PER_S)
    out = _Collected()
    pending: deque[_Pending] = deque()
    episode: Side | None = None
    lapse_ns: int | None = None  # when the rule stopped holding in the current episode
    now = 0
    for record in reader:
        if record.kind is not RecordKind.FRAME_IN:
            continue
        now = record.mono_ns
        while pending and pending[0].due_ns < now:
            _resolve(pending.popleft(), state, spec, stale_ns, out)
        event = parse_frame(record.raw)
        if isinstance(event, ParseError):
            continue
        if event.channel == "trades":
            state.apply(event, now)
            continue
        if event.channel not in _EVALUATED or not state.apply(event, now):
            continue
        features = state.features(now)
        found = taker_signal(features, spec.fees_bps, spec.threshold_bps)
        if found is None:
            lapse_ns = now if lapse_ns is None else lapse_ns
            continue
        side = found[0]
        same = side == episode and (lapse_ns is None or now - lapse_ns <= rearm_ns)
        episode, lapse_ns = side, None
        if same:
            continue
        touch = state.best_ask if side == "buy" else state.best_bid
        if touch is None:
            continue
        out.signals += 1
        pending.append(_Pending(signal_row(features, side, record.wall_ns), side,
                                float(touch.px), record.wall_ns, now + horizon_ns))
    while pending:
        item = pending.popleft()
        if item.due_ns <= now:
            _resolve(item, state, spec, stale_ns, out)
        else:
            out.unlabelled += 1
    return out


def _resolve(item: _Pending, state: MarketState, spec: DatasetSpec, stale_ns: float,
             out: _Collected) -> None:
    # The book as it stood at the horizon: every frame up to due_ns has been applied.
    age = state.book_age_s(item.due_ns)
    bid, ask = state.best_bid, state.best_ask
    if age is None or age * _NS_PER_S > stale_ns or bid is None or ask is None:
        out.unlabelled += 1
        return
    if spec.exit_price == "mid":
        exit_px: Decimal = (bid.px + ask.px) / 2
    else:
        exit_px = bid.px if item.side == "buy" else ask.px
    direction = 1.0 if item.side == "buy" else -1.0
    markout = (float(exit_px) / item.entry_px - 1.0) * 1e4 * direction - spec.fees_bps
    out.rows.append(item.row)
    out.markouts.append(markout)
    out.wall_ns.append(item.wall_ns)
    out.entry_px.append(item.entry_px)


def _assemble(parts: Sequence[tuple[_Collected, int]], described: list[dict[str, Any]],
              spec: DatasetSpec) -> SignalDataset:
    width = len(FEATURE_NAMES)
    matrix = np.array([row for part, _ in parts for row in part.rows], dtype=np.float64)
    matrix = matrix.reshape(-1, width)
    markout = np.array([m for part, _ in parts for m in part.markouts], dtype=np.float64)
    t_ns = np.array([t for part, _ in parts for t in part.wall_ns], dtype=np.int64)
    entry = np.array([p for part, _ in parts for p in part.entry_px], dtype=np.float64)
    recording = np.array([i for part, i in parts for _ in part.markouts], dtype=np.int32)
    order = np.lexsort((recording, t_ns))  # by time, ties by recording: stable and total
    label = (markout > 0).astype(np.int8)
    meta: dict[str, Any] = {
        "meta_version": _META_VERSION,
        "spec": asdict(spec),
        "feature_schema": {"version": FEATURE_VERSION, "names": list(FEATURE_NAMES),
                           "hash": SCHEMA_HASH},
        "data_hash": recordings_hash([item["sha256"] for item in described]),
        "recordings": described,
        "signals": sum(part.signals for part, _ in parts),
        "labelled": len(label),
        "positives": int(label.sum()),
        "unlabelled": int(sum(part.unlabelled for part, _ in parts)),
    }
    return SignalDataset(matrix[order], markout[order], label[order], t_ns[order],
                         recording[order], entry[order], FEATURE_NAMES, meta)


# -- a strategy over a recording (replay's stand-in) -------------------------------------


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """One entry a strategy placed: when, which side, at what touch, and its markout.

    `markout_bps` is None when the recording ends (or the book is stale) at the horizon.
    """

    wall_ns: int
    side: Side
    entry_px: float
    markout_bps: float | None


@dataclass(frozen=True)
class StrategyRun:
    """What `run_strategy` saw: the entries with their markouts, and every signal."""

    entries: tuple[EntryOutcome, ...]
    signals: tuple[Signal, ...]

    @property
    def markouts(self) -> list[float]:
        """The markouts of the entries that have one."""
        return [e.markout_bps for e in self.entries if e.markout_bps is not None]

    @property
    def mean_markout_bps(self) -> float:
        """Mean after-fee markout per entry (NaN without entries)."""
        found = self.markouts
        return sum(found) / len(found) if found else math.nan

    @property
    def win_rate(self) -> float:
        """Share of entries with a positive markout (NaN without entries)."""
        found = self.markouts
        return sum(m > 0 for m in found) / len(found) if found else math.nan


@dataclass(frozen=True, slots=True)
class _Done:
    coin: str
    cloid: str | None
    status: str = "filled"


@dataclass(frozen=True, slots=True)
class _Updates:
    channel: ClassVar[str] = "orderUpdates"
    updates: tuple[_Done, ...]


def run_strategy(path: str | os.PathLike[str], strategy: Strategy[Any], rules: MarketRules,
                 spec: DatasetSpec) -> StrategyRun:
    """Drive `strategy` over one recording (see the module docstring).

    Raises:
        RecordingError: the file is missing or not a recording.
    """
    reader = RecordingReader(path)
    harness: StrategyHarness | None = None
    horizon_ns = round(spec.horizon_s * _NS_PER_S)
    interval_ms = max(1, round(strategy.timer_interval_s * 1000))
    pending: deque[_Pending] = deque()
    out, entries = _Collected(), []
    last_ms = next_timer = 0
    for record in reader:
        if record.kind is not RecordKind.FRAME_IN:
            continue
        at_ms = max(last_ms, record.wall_ns // 1_000_000)
        if harness is None:
            harness = StrategyHarness(strategy, rules, SimClock(at_ms))
            harness.start()
            next_timer = at_ms + interval_ms
        state, last_ms = harness.state, at_ms
        while pending and pending[0].due_ns < at_ms * 1_000_000:
            entries.append(_outcome(pending.popleft(), state, spec, out))
        while next_timer <= at_ms:
            _entered(harness, harness.timer(at_ms=next_timer), pending, horizon_ns)
            next_timer += interval_ms
        event = parse_frame(record.raw)
        if not isinstance(event, ParseError):
            _entered(harness, harness.feed(event, at_ms=at_ms), pending, horizon_ns)
    while pending and harness is not None:
        item = pending.popleft()
        due_ok = item.due_ns <= last_ms * 1_000_000
        entries.append(_outcome(item, harness.state, spec, out) if due_ok else
                       EntryOutcome(item.wall_ns, item.side, item.entry_px, None))
    signals = () if harness is None else tuple(harness.signals)
    return StrategyRun(tuple(sorted(entries, key=lambda e: e.wall_ns)), signals)


def _entered(harness: StrategyHarness, intents: Sequence[object],
             pending: deque[_Pending], horizon_ns: int) -> None:
    done: list[_Done] = []
    for intent in intents:
        if isinstance(intent, PlaceOrder) and not intent.reduce_only:
            side: Side = "buy" if intent.is_buy else "sell"
            now = harness.clock.monotonic_ns()
            px = float(intent.ref_px if intent.ref_px is not None else intent.px)
            pending.append(_Pending([], side, px, harness.clock.now_ns(), now + horizon_ns))
            done.append(_Done(intent.market, intent.cloid))
    if done:
        harness.feed(_Updates(tuple(done)))


def _outcome(item: _Pending, state: MarketState, spec: DatasetSpec,
             out: _Collected) -> EntryOutcome:
    before = len(out.markouts)
    _resolve(item, state, spec, state.settings.book_stale_after_s * _NS_PER_S, out)
    markout = out.markouts[-1] if len(out.markouts) > before else None
    return EntryOutcome(item.wall_ns, item.side, item.entry_px, markout)
