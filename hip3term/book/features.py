"""Features of one market: value objects, formulas and the windowed trackers behind them.

A feature is a `Feature`: a value, or no value and the reason why. A feature whose inputs
are missing or stale is invalid, never silently zero; a zero is a measured zero (no mid
change in the window, no trade in the window). `Features` is the frozen snapshot of all
of them that `MarketState.features(now_ns)` returns.

Definitions and sign conventions (bps = 1e-4 of the reference price; all floats except
`mid`, the exact `Decimal`):

- `mid = (best_bid + best_ask) / 2`, from the merged book (l2Book plus bbo).
- `spread_bps = (best_ask - best_bid) / mid * 1e4`, positive (the book never crosses).
- `imbalance = (bid_sz - ask_sz) / (bid_sz + ask_sz)` at the top of the book, in [-1, 1];
  positive when more size waits on the bid.
- `microprice = (best_bid * ask_sz + best_ask * bid_sz) / (bid_sz + ask_sz)`: the mid
  weighted toward the side with less size (the side more likely to trade through next).
- `buy_dislocation_bps = (oracle - best_ask) / oracle * 1e4`: positive when the best ask
  sits below the oracle, i.e. buying is cheap against the oracle (a buy signal).
- `sell_dislocation_bps = (best_bid - oracle) / oracle * 1e4`: positive when the best bid
  sits above the oracle, i.e. selling is rich against the oracle (a sell signal).
  In a quiet market both are negative (about minus half the spread); a positive value on
  either side is the edge before fees. Both are invalid while the oracle is frozen
  (unchanged for longer than `oracle_frozen_after_s`: the `xyz` equity oracles stop
  off-hours, and a dislocation against a frozen price is not a signal).
- `mark_oracle_bps = (mark - oracle) / oracle * 1e4`: positive when the mark is above
  the oracle.
- `oracle_age_s`: seconds (local clock) since the oracle price last changed; the first
  price received counts as a change when it arrives.
- `rv_1s_bps`, `rv_10s_bps`, `rv_60s_bps`: realized volatility over the last 1, 10 and
  60 s of local time: `sqrt(sum(r_i ** 2)) * 1e4` over the log returns
  `r_i = ln(mid_i / mid_{i-1})` of consecutive mid *changes* received in the window (not
  annualised, not demeaned: a mean is noise at these horizons). A window is valid only
  once the mid has been observed without a gap for the whole window; a window with no
  change is a valid 0.0.
- `trade_flow`: signed aggressor volume in base units, buys minus sells, of the trades
  whose exchange time lies in the last `flow_window_s` seconds of (estimated) exchange
  time; valid once the trades channel has delivered a frame and while the book is fresh
  (the trades channel has no heartbeat of its own; a fresh book shows the feed is alive).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Final, Generic, NamedTuple, TypeVar

from hip3term.book.settings import FeatureSettings
from hip3term.core.records import new_tuple

__all__ = [
    "VOL_WINDOWS_S",
    "Feature",
    "FeatureSettings",
    "Features",
    "OracleFeatures",
    "RealizedVolatility",
    "TopFeatures",
    "TradeFlow",
    "dislocation_bps",
    "finite_feature",
    "imbalance",
    "microprice",
    "price_float",
    "relative_bps",
    "spread_bps",
    "top_features",
]

T = TypeVar("T", float, Decimal)

VOL_WINDOWS_S: tuple[float, float, float] = (1.0, 10.0, 60.0)
"""The realized-volatility windows, in seconds (`rv_1s_bps`, `rv_10s_bps`, `rv_60s_bps`)."""

_NS_PER_S = 1_000_000_000
_NEVER = 1 << 126
_new_tuple: Final = new_tuple  # `_new_tuple(Feature, value, "")` is `Feature(value)`, cheaper


class Feature(NamedTuple, Generic[T]):
    """One feature: a value, or `None` and the reason it is invalid. Immutable.

    Build a valid one as `Feature(value)` (a finite value) and an invalid one with
    `Feature.invalid(reason)`. A named tuple, and so part of the plugin API as one
    (plugins may unpack it). The hot paths build them with `core.records.new_tuple`
    (`tuple.__new__` without the arguments' handling).

    Attributes:
        value: the value; None when the feature is invalid.
        reason: why the feature is invalid ("" when valid), e.g. "book stale (25.0 s)".
    """

    value: T | None
    reason: str = ""

    @property
    def valid(self) -> bool:
        """True when the feature has a value."""
        return self.value is not None

    @classmethod
    def invalid(cls, reason: str) -> Feature[T]:
        """An invalid feature with its reason (which must not be empty)."""
        if not reason:
            raise ValueError("an invalid feature needs a reason")
        return cls(None, reason)


class OracleFeatures(NamedTuple):
    """The four oracle features alone (`MarketState.oracle_features`): what a rule on the
    dislocation reads on every book update, without the cost of the whole `Features`
    snapshot. Each is the same value `Features` holds at the same time."""

    buy_dislocation_bps: Feature[float]
    sell_dislocation_bps: Feature[float]
    mark_oracle_bps: Feature[float]
    oracle_age_s: Feature[float]


@dataclass(frozen=True, slots=True, init=False)  # a hot record: see hip3term._native
class Features:
    """All features of one market at one local time `at_ns` (see the module docstring)."""

    at_ns: int
    mid: Feature[Decimal]
    microprice: Feature[float]
    spread_bps: Feature[float]
    imbalance: Feature[float]
    buy_dislocation_bps: Feature[float]
    sell_dislocation_bps: Feature[float]
    mark_oracle_bps: Feature[float]
    oracle_age_s: Feature[float]
    rv_1s_bps: Feature[float]
    rv_10s_bps: Feature[float]
    rv_60s_bps: Feature[float]
    trade_flow: Feature[float]

    def __init__(self, at_ns: int, mid: Feature[Decimal], microprice: Feature[float],
                 spread_bps: Feature[float], imbalance: Feature[float],
                 buy_dislocation_bps: Feature[float], sell_dislocation_bps: Feature[float],
                 mark_oracle_bps: Feature[float], oracle_age_s: Feature[float],
                 rv_1s_bps: Feature[float], rv_10s_bps: Feature[float],
                 rv_60s_bps: Feature[float], trade_flow: Feature[float]) -> None:  # fmt: skip
        object.__setattr__(self, "at_ns", at_ns)
        object.__setattr__(self, "mid", mid)
        object.__setattr__(self, "microprice", microprice)
        object.__setattr__(self, "spread_bps", spread_bps)
        object.__setattr__(self, "imbalance", imbalance)
        object.__setattr__(self, "buy_dislocation_bps", buy_dislocation_bps)
        object.__setattr__(self, "sell_dislocation_bps", sell_dislocation_bps)
        object.__setattr__(self, "mark_oracle_bps", mark_oracle_bps)
        object.__setattr__(self, "oracle_age_s", oracle_age_s)
        object.__setattr__(self, "rv_1s_bps", rv_1s_bps)
        object.__setattr__(self, "rv_10s_bps", rv_10s_bps)
        object.__setattr__(self, "rv_60s_bps", rv_60s_bps)
        object.__setattr__(self, "trade_flow", trade_flow)

    def items(self) -> Iterator[tuple[str, Feature[float] | Feature[Decimal]]]:
        """(name, feature) pairs, in declaration order, without `at_ns`."""
        for name in _FEATURE_NAMES:
            yield name, getattr(self, name)

    def values(self) -> dict[str, float | Decimal | None]:
        """Name to value (None when invalid), e.g. for the journal or the TUI."""
        return {name: feature.value for name, feature in self.items()}


_FEATURE_NAMES: tuple[str, ...] = tuple(field.name for field in fields(Features))[1:]


# -- prices as floats -----------------------------------------------------------------

# `price_float`'s cache: id of a Decimal -> (that Decimal, its float). The Decimal is held,
# so its id cannot be reused while the entry stands; cleared when full.
_floats: Final[dict[int, tuple[Decimal, float]]] = {}
_FLOATS_KEPT: Final = 4096


def price_float(value: Decimal) -> float:
    """`float(value)`, kept for the same Decimal object.

    The parser hands a price text seen lately the same Decimal, and the features, the
    volatility tracker and the replay's markout series each want the float of the same
    top: `float(Decimal)` (about 1,000 instructions: through the decimal's text) is then
    made once. Exact: the same object always gives the same float.
    """
    kept = _floats.get(id(value))
    if kept is not None and kept[0] is value:
        return kept[1]
    result = float(value)
    if len(_floats) >= _FLOATS_KEPT:
        _floats.clear()
    _floats[id(value)] = (value, result)
    return result


# -- formulas: plain floats in, float (or None when undefined) out ---------------------


def relative_bps(value: float, reference: float) -> float | None:
    """`(value - reference) / reference * 1e4`; None when the reference is not positive."""
    if reference <= 0.0:
        return None
    return (value - reference) / reference * 1e4


def spread_bps(bid: float, ask: float) -> float | None:
    """`(ask - bid) / mid * 1e4`; None when the mid is not positive."""
    mid = (bid + ask) / 2.0
    return None if mid <= 0.0 else (ask - bid) / mid * 1e4


def imbalance(bid_sz: float, ask_sz: float) -> float | None:
    """`(bid_sz - ask_sz) / (bid_sz + ask_sz)`; None when there is no size at all."""
    total = bid_sz + ask_sz
    return None if total <= 0.0 else (bid_sz - ask_sz) / total


def microprice(bid: float, ask: float, bid_sz: float, ask_sz: float) -> float | None:
    """Size-weighted mid, leaning toward the thinner side; None without size."""
    total = bid_sz + ask_sz
    return None if total <= 0.0 else (bid * ask_sz + ask * bid_sz) / total


TopFeatures = tuple[Feature[Decimal], Feature[float], Feature[float], Feature[float]]
"""`(mid, microprice, spread_bps, imbalance)`, as `top_features` gives them."""


def finite_feature(value: float | None, reason: str) -> Feature[float]:
    """`Feature(value)` when `value` is a finite number, else invalid with `reason`."""
    if value is None or not math.isfinite(value):
        return Feature.invalid(reason)
    return _new_tuple(Feature, value, "")


def top_features(bid_px: Decimal, ask_px: Decimal, bid_sz: Decimal,
                 ask_sz: Decimal) -> TopFeatures:  # fmt: skip
    """The features of the top of the book: the exact mid, and the microprice, spread and
    imbalance in floats (invalid, with the reason, where the formula is undefined)."""
    bid, ask = price_float(bid_px), price_float(ask_px)
    bid_size, ask_size = price_float(bid_sz), price_float(ask_sz)
    no_size = "no size at the top of the book"
    return (Feature((bid_px + ask_px) / 2),
            finite_feature(microprice(bid, ask, bid_size, ask_size), no_size),
            finite_feature(spread_bps(bid, ask), "prices not positive"),
            finite_feature(imbalance(bid_size, ask_size), no_size))


def dislocation_bps(bid: float, ask: float, oracle: float) -> tuple[float, float] | None:
    """`(buy, sell)` dislocations in bps: `(oracle - ask)` and `(bid - oracle)` over oracle.

    Returns None when the oracle is not positive.
    """
    if oracle <= 0.0:
        return None
    return (oracle - ask) / oracle * 1e4, (bid - oracle) / oracle * 1e4


# -- trackers ---------------------------------------------------------------------------


class RealizedVolatility:
    """Realized volatility of the mid over several windows of local time.

    Feed it every mid observed (`observe`); it keeps the squared log return of each
    change with its receive time, one running sum per window. `restart` after a gap.

    Args:
        windows_s: the window lengths in seconds.
    """

    __slots__ = ("_changes", "_last", "_r2", "_since_ns", "_starts", "_sums", "_times",
                 "_values", "_windows_ns")

    def __init__(self, windows_s: tuple[float, ...] = VOL_WINDOWS_S) -> None:
        self._windows_ns = tuple(round(w * _NS_PER_S) for w in windows_s)
        # One history shared by every window, in arrival order; window i holds the samples
        # from index `_starts[i]` on. Each window's running sum gets the same additions and
        # subtractions, in the same order, as with a queue of its own.
        self._times: list[int] = []
        self._r2: list[float] = []
        self._starts = [0] * len(windows_s)
        self._sums = [0.0] * len(windows_s)
        self._last: float | None = None
        self._since_ns: int | None = None
        # `values_bps` answers: (changes, read at, good until, values). Until a sample
        # leaves a window or a window becomes covered, only time moves: the same values.
        self._changes = 0
        self._values: tuple[int, int, int, tuple[float | None, ...]] | None = None

    def restart(self) -> None:
        """Forget every sample: the next mid starts a new, uncovered history."""
        self._changes += 1
        self._times.clear()
        self._r2.clear()
        self._starts = [0] * len(self._starts)
        self._sums = [0.0] * len(self._sums)
        self._last = None
        self._since_ns = None

    def observe(self, local_ns: int, mid: float) -> None:
        """Record the mid seen at `local_ns` (a positive price)."""
        self._changes += 1
        last = self._last
        self._last = mid
        if last is None:
            if self._since_ns is None:
                self._since_ns = local_ns
            return
        if mid == last:
            return
        r2 = math.log(mid / last) ** 2
        times, squares, starts, sums = self._times, self._r2, self._starts, self._sums
        times.append(local_ns)
        squares.append(r2)
        end = len(times)
        for i, window_ns in enumerate(self._windows_ns):
            sums[i] += r2
            start, cutoff = starts[i], local_ns - window_ns
            while start < end and times[start] <= cutoff:
                sums[i] -= squares[start]
                start += 1
            if start == end:
                sums[i] = 0.0  # no drift carried over from the subtractions
            starts[i] = start
        if end > 1024 and (first := min(starts)) * 2 >= end:
            # drop what no window holds any more (amortized: at least half the history)
            del times[:first], squares[:first]
            self._starts = [start - first for start in starts]

    def _prune(self, i: int, now_ns: int) -> None:
        times, squares, end = self._times, self._r2, len(self._times)
        start, cutoff = self._starts[i], now_ns - self._windows_ns[i]
        if start < end and times[start] <= cutoff:
            self._changes += 1
            while start < end and times[start] <= cutoff:
                self._sums[i] -= squares[start]
                start += 1
        if start == end:
            self._sums[i] = 0.0
        self._starts[i] = start

    def covered_ns(self, now_ns: int) -> int:
        """How long the mid has been observed without a gap (0 before the first mid)."""
        return 0 if self._since_ns is None else max(0, now_ns - self._since_ns)

    def value_bps(self, index: int, now_ns: int) -> float | None:
        """Volatility of window `index` in bps; None until that window is covered."""
        if self.covered_ns(now_ns) < self._windows_ns[index]:
            return None
        self._prune(index, now_ns)
        return math.sqrt(max(self._sums[index], 0.0)) * 1e4

    def values_bps(self, now_ns: int) -> tuple[float | None, ...]:
        """`value_bps(i, now_ns)` of every window, in order."""
        kept = self._values
        if kept is not None and kept[0] == self._changes and kept[1] <= now_ns < kept[2]:
            return kept[3]
        covered, since, times = self.covered_ns(now_ns), self._since_ns, self._times
        values: list[float | None] = []
        until = _NEVER  # the first time a window's value can change with time alone
        for i, window_ns in enumerate(self._windows_ns):
            if covered < window_ns:
                values.append(None)
                if since is not None:
                    until = min(until, since + window_ns)  # becomes covered
            else:
                self._prune(i, now_ns)
                values.append(math.sqrt(max(self._sums[i], 0.0)) * 1e4)
                if (start := self._starts[i]) < len(times):
                    until = min(until, times[start] + window_ns)  # its oldest leaves
        result = tuple(values)
        self._values = (self._changes, now_ns, until, result)
        return result


class TradeFlow:
    """Signed aggressor volume (buys minus sells) over a window of exchange time.

    Args:
        window_ms: window length in milliseconds.
    """

    __slots__ = ("_entries", "_sum", "_window_ms")

    def __init__(self, window_ms: int) -> None:
        self._window_ms = window_ms
        self._entries: deque[tuple[int, Decimal]] = deque()
        self._sum = Decimal(0)

    def clear(self) -> None:
        """Forget every trade."""
        self._entries.clear()
        self._sum = Decimal(0)

    def add(self, time_ms: int, signed_sz: Decimal) -> None:
        """Add a trade at exchange time `time_ms`: positive size for a buy, negative a sell."""
        entries = self._entries
        if entries and time_ms < entries[-1][0]:
            # rare: an older trade (e.g. a resubscribe snapshot); keep the deque sorted so
            # that pruning from the left stays exact
            bisect.insort(entries, (time_ms, signed_sz), key=lambda entry: entry[0])
        else:
            entries.append((time_ms, signed_sz))
        self._sum += signed_sz

    def value(self, now_ms: int) -> Decimal:
        """Buys minus sells of the trades in `(now_ms - window, ...]`."""
        entries, cutoff = self._entries, now_ms - self._window_ms
        while entries and entries[0][0] <= cutoff:
            self._sum -= entries.popleft()[1]
        return self._sum
