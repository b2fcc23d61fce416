"""StrategyContext: the only API a strategy sees, and the read-only views it hands out.

The context gives a strategy the market (a read-only `MarketView` of the `MarketState`
and its `Features`), the market's order rules (`MarketRules`, which the venue's
`MarketInfo` satisfies), its positions and own open orders (read-only protocols the
runtime implements, e.g. with the `PositionTracker`), a clock, its validated parameters
and the configured notional limits. It turns the intent calls (`place`, `cancel`,
`cancel_all`, `flatten`) into `intents` and keeps them, with the logged `Signal`s, until
the runtime drains them. Nothing here performs I/O or awaits: the same context object
runs live, in replay and in tests.

Times: `now_ns()` / `now_ms()` are the injected clock's wall time (exchange-comparable,
e.g. position entry times); `monotonic_ns()` is its monotonic reading, the time base the
`MarketState` measures ages on (its updates take `clock.monotonic_ns()`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from hip3term.book.features import Features, OracleFeatures
from hip3term.book.market_state import AssetContext, LevelLike, MarketState, TradeLike
from hip3term.core.clock import Clock
from hip3term.strategy.intents import (
    CancelAll,
    CancelOrder,
    Flatten,
    Intent,
    IntentError,
    PlaceOrder,
    Side,
    Signal,
    Tif,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hip3term.config import RiskSettings
    from hip3term.strategy.base import StrategyParams

__all__ = [
    "MIN_ORDER_NOTIONAL",
    "FillLike",
    "MarketRules",
    "MarketView",
    "NotionalLimits",
    "OpenOrderLike",
    "OrderUpdateLike",
    "OrdersView",
    "PositionLike",
    "PositionsView",
    "StrategyContext",
    "order_done",
    "sequential_cloids",
]

MIN_ORDER_NOTIONAL = Decimal(10)
"""Smallest order value (USD) the exchange accepts; the same $10 as the venue's rules."""

LIVE_STATUSES = frozenset({"open", "triggered", "resting", "queued", "sent", "unknown"})
"""Order status words of an order that is (or may still be) live."""

P = TypeVar("P", bound="StrategyParams")
_NS_PER_MS = 1_000_000


def order_done(status: str) -> bool:
    """True when an order in `status` can no longer trade.

    Live words are those of `LIVE_STATUSES` (the exchange's `open` and `triggered`, and
    the engine's `queued`, `sent`, `resting`, `unknown`); every other word (`filled`,
    `canceled`, `rejected`, `badAloPxRejected`, `failed`, `denied`, ...) is final.
    """
    return status not in LIVE_STATUSES


# -- what the runtime hands in ----------------------------------------------------------


class MarketRules(Protocol):
    """The order rules of the market (`venue.hyperliquid.markets.MarketInfo` has them).

    `round_price` and `round_size` raise the venue's `MarketError` when no valid value
    exists in the asked direction.
    """

    @property
    def name(self) -> str: ...
    @property
    def sz_decimals(self) -> int: ...
    def price_tick(self, px: Decimal | int) -> Decimal: ...
    def is_valid_price(self, px: Decimal | int) -> bool: ...
    def round_price(self, px: Decimal | int, *, is_buy: bool, aggressive: bool) -> Decimal: ...
    def round_size(self, sz: Decimal | int, *, reduce_only: bool) -> Decimal: ...
    @property
    def taker_fee_rate(self) -> Decimal:
        """Tier-0 taker fee rate of the market (0.00009 = 0.9 bps)."""
        ...


class PositionLike(Protocol):
    """A non-flat position: signed size (positive long), entry price and time."""

    @property
    def market(self) -> str: ...
    @property
    def size(self) -> Decimal: ...
    @property
    def entry_px(self) -> Decimal: ...
    @property
    def entry_ms(self) -> int: ...
    def unrealized_pnl(self, mark: Decimal) -> Decimal: ...


class PositionsView(Protocol):
    """Read-only positions (the `PositionTracker` satisfies it)."""

    def position(self, market: str) -> PositionLike | None: ...
    def positions(self) -> Sequence[PositionLike]: ...


class OpenOrderLike(Protocol):
    """One live order of the strategy."""

    @property
    def market(self) -> str: ...
    @property
    def is_buy(self) -> bool: ...
    @property
    def px(self) -> Decimal: ...
    @property
    def sz(self) -> Decimal: ...
    @property
    def reduce_only(self) -> bool: ...
    @property
    def cloid(self) -> str | None: ...
    @property
    def created_ms(self) -> int: ...


class OrdersView(Protocol):
    """Read-only live orders of the strategy, all markets (the tracker satisfies it)."""

    def open_orders(self) -> Sequence[OpenOrderLike]: ...


class OrderUpdateLike(Protocol):
    """A new status of one order (`wire.OrderUpdate`, or one the runtime makes for a
    denial or a failed send, with status "denied" or "failed")."""

    @property
    def coin(self) -> str: ...
    @property
    def cloid(self) -> str | None: ...
    @property
    def status(self) -> str: ...


class FillLike(Protocol):
    """One of the strategy's fills (`wire.Fill`): side "B" buys; a negative fee is a rebate."""

    @property
    def coin(self) -> str: ...
    @property
    def px(self) -> Decimal: ...
    @property
    def sz(self) -> Decimal: ...
    @property
    def side(self) -> str: ...
    @property
    def time_ms(self) -> int: ...
    @property
    def tid(self) -> int: ...
    @property
    def cloid(self) -> str | None: ...
    @property
    def fee(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class NotionalLimits:
    """The configured notional limits (the gates enforce them; strategies size within).

    Attributes:
        per_market: largest position plus open-order notional in one market (USD).
        total: largest notional over all markets (USD).
        time_stop_s: age at which the engine flattens a taker position.
    """

    per_market: Decimal = Decimal(50)
    total: Decimal = Decimal(100)
    time_stop_s: float = 30.0

    @classmethod
    def from_risk(cls, risk: RiskSettings) -> NotionalLimits:
        """The limits of `Settings.risk`."""
        return cls(risk.max_notional_per_market, risk.max_notional_total, risk.time_stop_s)


def sequential_cloids(seed: int) -> Callable[[], str]:
    """Client order ids `0x` + 16 hex digits of `seed` + a 16-hex-digit counter.

    The runtime passes its own generator (shared by every order source); this one is for
    the harness and tests. Seed it with the clock's start time in ms.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 64:
        raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
    counter = 0

    def next_cloid() -> str:
        nonlocal counter
        counter += 1
        return f"0x{seed:016x}{counter:016x}"

    return next_cloid


class MarketView:
    """A read-only view of one `MarketState`: book, trades, oracle/mark, features."""

    __slots__ = ("_state",)

    def __init__(self, state: MarketState) -> None:
        self._state = state

    @property
    def coin(self) -> str:
        """The market's exchange name."""
        return self._state.coin

    @property
    def best_bid(self) -> LevelLike | None:
        """The best bid of the merged book (None when the side is empty)."""
        return self._state.best_bid

    @property
    def best_ask(self) -> LevelLike | None:
        """The best ask of the merged book (None when the side is empty)."""
        return self._state.best_ask

    @property
    def mid(self) -> Decimal | None:
        """The exact mid, None when a side is empty."""
        return self._state.mid

    def bids(self) -> tuple[LevelLike, ...]:
        """The merged bid side, best first."""
        return self._state.bids()

    def asks(self) -> tuple[LevelLike, ...]:
        """The merged ask side, best first."""
        return self._state.asks()

    @property
    def asset_ctx(self) -> AssetContext | None:
        """The last oracle/mark context, None before any."""
        return self._state.ctx

    @property
    def recent_trades(self) -> Sequence[TradeLike]:
        """Recent public trades, oldest first."""
        return self._state.recent_trades

    def book_age_s(self, monotonic_ns: int) -> float | None:
        """Seconds since the last book update at `monotonic_ns`, None before any."""
        return self._state.book_age_s(monotonic_ns)

    def features(self, monotonic_ns: int) -> Features:
        """Every feature at the monotonic time `monotonic_ns` (with validity)."""
        return self._state.features(monotonic_ns)

    def oracle_features(self, monotonic_ns: int) -> OracleFeatures:
        """The four oracle features alone, as `features(monotonic_ns)` has them (cheaper)."""
        return self._state.oracle_features(monotonic_ns)


class StrategyContext(Generic[P]):
    """What one strategy instance may read and ask for. Not thread-safe.

    Args:
        strategy: the strategy's name (stamped on signals).
        state: the market's state; the strategy gets a read-only `MarketView` of it.
        rules: the market's order rules (a `MarketInfo`).
        clock: the injected clock.
        params: the validated parameters.
        limits: the configured notional limits.
        positions: read-only positions.
        orders: read-only live orders of this strategy.
        cloids: the source of client order ids (the runtime's, shared process-wide).
        min_order_notional: the exchange's minimum order value.
    """

    def __init__(
        self,
        *,
        strategy: str,
        state: MarketState,
        rules: MarketRules,
        clock: Clock,
        params: P,
        limits: NotionalLimits,
        positions: PositionsView,
        orders: OrdersView,
        cloids: Callable[[], str],
        min_order_notional: Decimal = MIN_ORDER_NOTIONAL,
    ) -> None:
        if state.coin != rules.name:
            raise ValueError(f"market state of {state.coin} given with the rules of {rules.name}")
        self.strategy = strategy
        self.market = rules.name
        self.book = MarketView(state)
        self._state = state
        self.rules = rules
        self.params = params
        self.limits = limits
        self.min_order_notional = min_order_notional
        self._clock = clock
        self._positions = positions
        self._orders = orders
        self._cloids = cloids
        self._intents: list[Intent] = []
        self._signals: list[Signal] = []

    # -- reads -------------------------------------------------------------------------

    def now_ns(self) -> int:
        """Wall-clock time in unix nanoseconds."""
        return self._clock.now_ns()

    def now_ms(self) -> int:
        """Wall-clock time in unix milliseconds."""
        return self._clock.now_ms()

    def monotonic_ns(self) -> int:
        """The clock's monotonic reading (the time base of the market state)."""
        return self._clock.monotonic_ns()

    def features(self) -> Features:
        """The market's features now (each with its validity and reason)."""
        return self._state.features(self._clock.monotonic_ns())

    def oracle_features(self) -> OracleFeatures:
        """The oracle features now (dislocations, mark-oracle, oracle age): the same values
        as `features()` has, for rules that read only those on every update."""
        return self._state.oracle_features(self._clock.monotonic_ns())

    def position(self, market: str | None = None) -> PositionLike | None:
        """The position in `market` (this strategy's market by default), None when flat."""
        return self._positions.position(self.market if market is None else market)

    def positions(self) -> Sequence[PositionLike]:
        """Every non-flat position, all markets."""
        return self._positions.positions()

    def open_orders(self, market: str | None = None) -> tuple[OpenOrderLike, ...]:
        """The strategy's live orders in `market` (its own market by default)."""
        wanted = self.market if market is None else market
        return tuple(o for o in self._orders.open_orders() if o.market == wanted)

    def notional_room(self, px: Decimal) -> Decimal:
        """How much more notional (USD) the limits allow in this market, never negative.

        Counts every position (this market's at `px`, the others at their entry price),
        every live order that is not reduce-only, and the orders placed in this callback
        that the runtime has not drained yet.
        """
        market_used = total_used = Decimal(0)
        for pos in self._positions.positions():
            here = pos.market == self.market
            notional = abs(pos.size) * (px if here else pos.entry_px)
            total_used += notional
            market_used += notional if here else 0
        pending = [(o.market, o.px * o.sz) for o in self._orders.open_orders()
                   if not o.reduce_only]
        pending += [(i.market, i.notional) for i in self._intents
                    if isinstance(i, PlaceOrder) and not i.reduce_only]
        for market, notional in pending:
            total_used += notional
            market_used += notional if market == self.market else 0
        room = min(self.limits.per_market - market_used, self.limits.total - total_used)
        return max(room, Decimal(0))

    # -- intents -----------------------------------------------------------------------

    def place(
        self,
        *,
        is_buy: bool,
        px: Decimal,
        sz: Decimal,
        tif: Tif,
        reduce_only: bool = False,
        expected_edge_bps: float | None = None,
        tag: str = "",
        ref_px: Decimal | None = None,
    ) -> str:
        """Ask for a limit order in this market; returns its client order id.

        The order must already obey the market's rules: a valid price, a whole number of
        lots and (unless reduce-only) at least the $10 minimum.

        Raises:
            IntentError: the order breaks those rules (a bug in the strategy).
        """
        cloid = self._cloids()
        intent = PlaceOrder(
            cloid=cloid, market=self.market, is_buy=is_buy, px=px, sz=sz, tif=tif,
            reduce_only=reduce_only, expected_edge_bps=expected_edge_bps, tag=tag,
            ref_px=ref_px, created_ns=self._clock.now_ns(),
        )  # fmt: skip
        self._check_rules(intent)
        self._intents.append(intent)
        return cloid

    def _check_rules(self, intent: PlaceOrder) -> None:
        if not self.rules.is_valid_price(intent.px):
            raise IntentError(f"{self.market}: price {intent.px} breaks the tick rules")
        step = Decimal(1).scaleb(-self.rules.sz_decimals)
        if intent.sz % step != 0:
            raise IntentError(f"{self.market}: size {intent.sz} is not a multiple of {step}")
        if not intent.reduce_only and intent.notional < self.min_order_notional:
            raise IntentError(
                f"{self.market}: order of {intent.sz} at {intent.px} is under the "
                f"${self.min_order_notional} minimum"
            )

    def cancel(self, cloid: str, reason: str = "") -> None:
        """Ask to cancel one of the strategy's orders."""
        self._intents.append(CancelOrder(cloid, self.market, reason))

    def cancel_all(self, reason: str = "", *, every_market: bool = False) -> None:
        """Ask to cancel every open order of the strategy in this market (or everywhere)."""
        self._intents.append(CancelAll(None if every_market else self.market, reason))

    def flatten(self, reason: str = "", *, every_market: bool = False) -> None:
        """Ask the engine's flattener to close the position in this market (or all)."""
        self._intents.append(Flatten(None if every_market else self.market, reason))

    def log_signal(
        self,
        *,
        kind: str,
        side: Side | None,
        expected_edge_bps: float | None,
        traded: bool,
        reason: str = "",
        cloid: str | None = None,
        values: Mapping[str, float] | None = None,
    ) -> Signal:
        """Record a decision (traded or not) with its expected edge; returns the record."""
        signal = Signal(
            strategy=self.strategy, market=self.market, kind=kind, side=side,
            expected_edge_bps=expected_edge_bps, traded=traded, reason=reason, cloid=cloid,
            at_ns=self._clock.now_ns(), values=dict(values or {}),
        )  # fmt: skip
        self._signals.append(signal)
        return signal

    # -- for the runtime ---------------------------------------------------------------

    @property
    def has_output(self) -> bool:
        """True when signals or intents wait to be drained."""
        return bool(self._intents or self._signals)

    @property
    def pending_intents(self) -> tuple[Intent, ...]:
        """The intents not yet drained, oldest first."""
        return tuple(self._intents)

    def drain_intents(self) -> list[Intent]:
        """Hand over (and forget) the intents collected since the last drain, in order."""
        intents, self._intents = self._intents, []
        return intents

    def drain_signals(self) -> list[Signal]:
        """Hand over (and forget) the signals logged since the last drain, in order."""
        signals, self._signals = self._signals, []
        return signals
