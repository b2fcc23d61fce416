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

from dataclasses import asdict, dataclass
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
        return {key: str(value) if isinstance(value, Decimal) else value
                for key, value in asdict(self).items()}


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
        self._edges: list[float] = []
        self._traded_edges: list[float] = []
        self._fills = 0
        self._slip_weighted = 0.0
        self._slip_size = 0.0
        self._fees = ZERO

    def on_signal(self, signal: Signal) -> None:
        """Count a logged signal and its expected edge."""
        self._signals += 1
        self._traded += signal.traded
        if signal.expected_edge_bps is not None:
            self._edges.append(signal.expected_edge_bps)
            if signal.traded:
                self._traded_edges.append(signal.expected_edge_bps)

    def on_intent(self, intent: Intent) -> None:
        """Register a placed order (other intents are ignored)."""
        if isinstance(intent, PlaceOrder) and intent.cloid not in self._orders:
            self._orders[intent.cloid] = _Order(intent.is_buy, intent.sz, intent.ref_px,
                                                intent.expected_edge_bps)

    def on_fill(self, fill: FillLike) -> RoundTrip | None:
        """Apply one fill in the strategy's market (duplicates by `tid` are ignored).

        Returns:
            The round trip this fill completed, if any.
        """
        if fill.tid in self._tids:
            return None
        self._tids.add(fill.tid)
        self._fills += 1
        self._fees += fill.fee
        is_buy = fill.side == "B"
        order = self._orders.get(fill.cloid) if fill.cloid is not None else None
        if order is not None:
            order.filled += fill.sz
            if order.ref_px is not None:
                slip = (fill.px - order.ref_px) / order.ref_px * (1 if is_buy else -1)
                self._slip_weighted += float(slip) * 1e4 * float(fill.sz)
                self._slip_size += float(fill.sz)
        trip = self._builder.add(
            fill.coin, is_buy=is_buy, px=fill.px, sz=fill.sz, fee=fill.fee,
            time_ms=fill.time_ms, expected_edge_bps=None if order is None else order.expected,
        )  # fmt: skip
        if trip is not None:
            self.trips.append(trip)
        return trip

    def position(self, market: str) -> Decimal:
        """The signed size built from the fills fed so far."""
        return self._builder.position(market)

    def snapshot(self) -> MetricsSnapshot:
        """The current figures."""
        orders = list(self._orders.values())
        placed_sz = sum((o.sz for o in orders), ZERO)
        filled_sz = sum((min(o.filled, o.sz) for o in orders), ZERO)
        trips = self.trips
        pnls = [t.pnl for t in trips]
        times = [t.time_to_flat_s for t in trips]
        return MetricsSnapshot(
            strategy=self.strategy,
            signals=self._signals,
            signals_traded=self._traded,
            mean_expected_edge_bps=_mean(self._edges),
            mean_expected_edge_traded_bps=_mean(self._traded_edges),
            orders_placed=len(orders),
            orders_filled=sum(1 for o in orders if o.filled > 0),
            fill_rate=sum(1 for o in orders if o.filled > 0) / len(orders) if orders else None,
            size_fill_rate=float(filled_sz / placed_sz) if placed_sz else None,
            fills=self._fills,
            mean_slippage_bps=self._slip_weighted / self._slip_size if self._slip_size else None,
            round_trips=len(trips),
            wins=sum(1 for p in pnls if p > 0),
            losses=sum(1 for p in pnls if p < 0),
            mean_realized_edge_bps=_mean([t.realized_edge_bps for t in trips]),
            mean_time_to_flat_s=_mean(times),
            max_time_to_flat_s=max(times) if times else None,
            pnl_per_trade=sum(pnls, ZERO) / len(pnls) if pnls else None,
            last_trade_pnl=pnls[-1] if pnls else None,
            cumulative_pnl=sum(pnls, ZERO),
            fees=self._fees,
        )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
