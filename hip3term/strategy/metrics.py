"""Per-strategy metrics: expected and realized edge, slippage, fill rate, time to flat, PnL.

Pure and synchronous. The runtime (or replay) feeds one `StrategyMetrics` with the
strategy's signals (`on_signal`), its intents (`on_intent`) and every fill in its market
(`on_fill`, including fills of the engine's flattener, which close the strategy's
positions); `snapshot()` gives the figures for the TUI and the journal.

Definitions (bps = 1e-4):

- *expected edge*: the `expected_edge_bps` of the logged signals, averaged over all of
  them and over the traded ones;
- *fill rate*: the share of placed orders with at least one fill; *size fill rate*: the
  filled size over the placed size;
- *slippage*: per fill of an order that carried a decision price `ref_px`,
  `(px - ref_px) / ref_px * 1e4` for a buy and `(ref_px - px) / ref_px * 1e4` for a sell
  (positive = worse than decided), averaged weighted by size;
- *round trip*: from the first fill that opens a position in a market to the fill that
  makes it flat again (a fill that flips the position closes one and opens the next, its
  fee split by size). Its PnL is average-cost PnL net of every fee of its fills; its
  *realized edge* is that net PnL over the notional of its opening fills, in bps; its
  *time to flat* is close time minus open time (exchange times of the fills).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

from hip3term.strategy.context import FillLike
from hip3term.strategy.intents import Intent, PlaceOrder, Signal

__all__ = ["MetricsSnapshot", "RoundTrip", "RoundTripBuilder", "StrategyMetrics"]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One position from open to flat, in one market.

    Attributes:
        market: the market.
        is_long: the side of the position.
        size: the total size opened (adds included).
        entry_px: average price of the opening fills.
        exit_px: average price of the closing fills.
        opened_ms, closed_ms: exchange times of the first and the flattening fill.
        gross_pnl: average-cost PnL before fees.
        fees: fees of every fill of the round trip (negative = rebates).
        expected_edge_bps: the expected edge of the order that opened it, if known.
    """

    market: str
    is_long: bool
    size: Decimal
    entry_px: Decimal
    exit_px: Decimal
    opened_ms: int
    closed_ms: int
    gross_pnl: Decimal
    fees: Decimal
    expected_edge_bps: float | None = None

    @property
    def pnl(self) -> Decimal:
        """Net PnL: gross PnL minus fees."""
        return self.gross_pnl - self.fees

    @property
    def entry_notional(self) -> Decimal:
        """Notional of the opening fills."""
        return self.size * self.entry_px

    @property
    def realized_edge_bps(self) -> float:
        """Net PnL over the opening notional, in bps."""
        return float(self.pnl / self.entry_notional) * 1e4

    @property
    def time_to_flat_s(self) -> float:
        """Seconds from the opening fill to the flattening fill."""
        return (self.closed_ms - self.opened_ms) / 1000


@dataclass(slots=True)
class _Open:
    is_long: bool
    opened_ms: int
    expected: float | None
    size: Decimal = ZERO  # signed
    avg_px: Decimal = ZERO
    opened: Decimal = ZERO
    opened_value: Decimal = ZERO
    closed: Decimal = ZERO
    closed_value: Decimal = ZERO
    gross: Decimal = ZERO
    fees: Decimal = ZERO


class RoundTripBuilder:
    """Turns fills into round trips (average cost, fees included), market by market."""

    def __init__(self) -> None:
        self._open: dict[str, _Open] = {}

    def position(self, market: str) -> Decimal:
        """The signed size built from the fills so far."""
        trip = self._open.get(market)
        return ZERO if trip is None else trip.size

    def add(self, market: str, *, is_buy: bool, px: Decimal, sz: Decimal, fee: Decimal,
            time_ms: int, expected_edge_bps: float | None = None) -> RoundTrip | None:
        """Apply one fill; returns the round trip it completed, if any."""
        trip = self._open.get(market)
        if trip is None or trip.is_long == is_buy:
            self._grow(market, is_buy, px, sz, fee, time_ms, expected_edge_bps)
            return None
        closing = min(sz, abs(trip.size))
        closing_fee = fee * closing / sz
        trip.gross += closing * (px - trip.avg_px) * (1 if trip.is_long else -1)
        trip.fees += closing_fee
        trip.closed += closing
        trip.closed_value += closing * px
        trip.size += closing if is_buy else -closing
        if trip.size != 0:
            return None
        del self._open[market]
        done = RoundTrip(
            market=market, is_long=trip.is_long, size=trip.opened,
            entry_px=trip.opened_value / trip.opened, exit_px=trip.closed_value / trip.closed,
            opened_ms=trip.opened_ms, closed_ms=time_ms, gross_pnl=trip.gross,
            fees=trip.fees, expected_edge_bps=trip.expected,
        )  # fmt: skip
        if sz > closing:  # a flip: the rest opens the next round trip
            self._grow(market, is_buy, px, sz - closing, fee - closing_fee, time_ms,
                       expected_edge_bps)
        return done

    def _grow(self, market: str, is_buy: bool, px: Decimal, sz: Decimal, fee: Decimal,
              time_ms: int, expected: float | None) -> None:
        trip = self._open.get(market)
        if trip is None:
            trip = self._open[market] = _Open(is_long=is_buy, opened_ms=time_ms,
                                               expected=expected)
        held = abs(trip.size)
        trip.avg_px = (trip.avg_px * held + px * sz) / (held + sz)
        trip.size += sz if is_buy else -sz
        trip.opened += sz
        trip.opened_value += sz * px
        trip.fees += fee


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """The figures of one strategy at one moment (see the module docstring).

    Averages are None while there is nothing to average.
    """

    strategy: str
    signals: int
    signals_traded: int
    mean_expected_edge_bps: float | None
    mean_expected_edge_traded_bps: float | None
    orders_placed: int
    orders_filled: int
    fill_rate: float | None
    size_fill_rate: float | None
    fills: int
    mean_slippage_bps: float | None
    round_trips: int
    wins: int
    losses: int
    mean_realized_edge_bps: float | None
    mean_time_to_flat_s: float | None
    max_time_to_flat_s: float | None
    pnl_per_trade: Decimal | None
    last_trade_pnl: Decimal | None
    cumulative_pnl: Decimal
    fees: Decimal

    def as_dict(self) -> dict[str, str | float | int | None]:
        """JSON-friendly values (Decimals as exact strings) for the journal."""
        # the fields are plain values: read directly, not through `asdict`'s deep copy
        # (which asks every int whether it is a dataclass: a replay's report reads this)
        return {name: str(value) if isinstance(value := getattr(self, name), Decimal)
                else value for name in _SNAPSHOT_FIELDS}  # fmt: skip


_SNAPSHOT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(MetricsSnapshot))


@dataclass(slots=True)
class _Order:
    is_buy: bool
    sz: Decimal
    ref_px: Decimal | None
    expected: float | None
    filled: Decimal = ZERO


class StrategyMetrics:
    """Accumulates one strategy's metrics; see the module docstring for definitions.

    Args:
        strategy: the strategy's name.
    """

    def __init__(self, strategy: str) -> None:
        self.strategy = strategy
        self.trips: list[RoundTrip] = []
        self._builder = RoundTripBuilder()
        self._orders: dict[str, _Order] = {}
        self._tids: set[int] = set()
        self._signals = self._traded = 0
        # Running totals, not lists: `snapshot()` runs 10 times a second on the engine
        # loop for a whole session, so it must not grow with the session's history.
        self._edges = _Mean()
        self._traded_edges = _Mean()
        self._placed_sz = self._filled_sz = ZERO
        self._orders_filled = 0
        self._fills = 0
        self._slip_weighted = 0.0
        self._slip_size = 0.0
        self._fees = ZERO
        self._wins = self._losses = 0
        self._pnl = ZERO
        self._trip_edges = _Mean()
        self._times = _Mean()
        self._max_time: float | None = None
        self._snapshot: MetricsSnapshot | None = None  # until something changes

    def on_signal(self, signal: Signal) -> None:
        """Count a logged signal and its expected edge."""
        self._snapshot = None
        self._signals += 1
        self._traded += signal.traded
        if signal.expected_edge_bps is not None:
            self._edges.add(signal.expected_edge_bps)
            if signal.traded:
                self._traded_edges.add(signal.expected_edge_bps)

    def on_intent(self, intent: Intent) -> None:
        """Register a placed order (other intents are ignored)."""
        if isinstance(intent, PlaceOrder) and intent.cloid not in self._orders:
            self._snapshot = None
            self._orders[intent.cloid] = _Order(intent.is_buy, intent.sz, intent.ref_px,
                                                intent.expected_edge_bps)
            self._placed_sz += intent.sz

    def on_fill(self, fill: FillLike) -> RoundTrip | None:
        """Apply one fill in the strategy's market (duplicates by `tid` are ignored).

        Returns:
            The round trip this fill completed, if any.
        """
        if fill.tid in self._tids:
            return None
        self._snapshot = None
        self._tids.add(fill.tid)
        self._fills += 1
        self._fees += fill.fee
        is_buy = fill.side == "B"
        order = self._orders.get(fill.cloid) if fill.cloid is not None else None
        if order is not None:
            before = order.filled
            order.filled += fill.sz
            self._filled_sz += min(order.filled, order.sz) - min(before, order.sz)
            self._orders_filled += before <= 0 < order.filled
            if order.ref_px is not None:
                slip = (fill.px - order.ref_px) / order.ref_px * (1 if is_buy else -1)
                self._slip_weighted += float(slip) * 1e4 * float(fill.sz)
                self._slip_size += float(fill.sz)
        trip = self._builder.add(
            fill.coin, is_buy=is_buy, px=fill.px, sz=fill.sz, fee=fill.fee,
            time_ms=fill.time_ms, expected_edge_bps=None if order is None else order.expected,
        )  # fmt: skip
        if trip is not None:
            self._add_trip(trip)
        return trip

    def _add_trip(self, trip: RoundTrip) -> None:
        self.trips.append(trip)
        pnl = trip.pnl
        self._wins += pnl > 0
        self._losses += pnl < 0
        self._pnl += pnl
        self._trip_edges.add(trip.realized_edge_bps)
        self._times.add(trip.time_to_flat_s)
        if self._max_time is None or trip.time_to_flat_s > self._max_time:
            self._max_time = trip.time_to_flat_s

    def position(self, market: str) -> Decimal:
        """The signed size built from the fills fed so far."""
        return self._builder.position(market)

    def snapshot(self) -> MetricsSnapshot:
        """The current figures (the same object until something changes)."""
        if self._snapshot is not None:
            return self._snapshot
        placed, filled, trips = len(self._orders), self._orders_filled, self.trips
        self._snapshot = MetricsSnapshot(
            strategy=self.strategy,
            signals=self._signals,
            signals_traded=self._traded,
            mean_expected_edge_bps=self._edges.value,
            mean_expected_edge_traded_bps=self._traded_edges.value,
            orders_placed=placed,
            orders_filled=filled,
            fill_rate=filled / placed if placed else None,
            size_fill_rate=float(self._filled_sz / self._placed_sz) if self._placed_sz else None,
            fills=self._fills,
            mean_slippage_bps=self._slip_weighted / self._slip_size if self._slip_size else None,
            round_trips=len(trips),
            wins=self._wins,
            losses=self._losses,
            mean_realized_edge_bps=self._trip_edges.value,
            mean_time_to_flat_s=self._times.value,
            max_time_to_flat_s=self._max_time,
            pnl_per_trade=self._pnl / len(trips) if trips else None,
            last_trade_pnl=trips[-1].pnl if trips else None,
            cumulative_pnl=self._pnl,
            fees=self._fees,
        )  # fmt: skip
        return self._snapshot


class _Mean:
    # A running mean: the values added in order (the same sum as `sum(values)` on
    # Python 3.11, which adds left to right), and how many.
    __slots__ = ("count", "total")

    def __init__(self) -> None:
        self.total, self.count = 0.0, 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    @property
    def value(self) -> float | None:
        return self.total / self.count if self.count else None
