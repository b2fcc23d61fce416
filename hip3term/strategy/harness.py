"""A small pure driver: parsed frames -> MarketState -> strategy callbacks -> intents.

`StrategyHarness` owns a `MarketState`, a `StrategyContext` and a `SimClock`-driven
timeline. Each parsed message is applied to the state at the clock's time, the matching
callback runs (`on_book`, `on_bbo`, `on_trades` with the new trades, `on_asset_ctx`,
`on_order_update`, `on_fill`), and the intents and signals the strategy asked for are
drained and kept. Nothing is sent anywhere: tests, replay and observe mode use it to see
what a strategy would do. Positions and open orders come from `ManualPositions` and
`ManualOrders` (set them by hand), or any object with the same read-only protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from hip3term.book.features import FeatureSettings
from hip3term.book.market_state import MarketState, TradesFrame
from hip3term.core.clock import SimClock
from hip3term.strategy.base import Strategy
from hip3term.strategy.context import (
    FillLike,
    MarketRules,
    NotionalLimits,
    OrdersView,
    OrderUpdateLike,
    PositionsView,
    StrategyContext,
    sequential_cloids,
)
from hip3term.strategy.intents import Intent, Signal
from hip3term.strategy.metrics import StrategyMetrics

__all__ = ["HeldOrder", "HeldPosition", "ManualOrders", "ManualPositions", "StrategyHarness"]


@dataclass(frozen=True, slots=True)
class HeldPosition:
    """A position set by hand (satisfies `PositionLike`)."""

    market: str
    size: Decimal
    entry_px: Decimal
    entry_ms: int = 0

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """`(mark - entry) * size` (no fees)."""
        return (mark - self.entry_px) * self.size


class ManualPositions:
    """Positions set by hand (satisfies `PositionsView`)."""

    def __init__(self) -> None:
        self._held: dict[str, HeldPosition] = {}

    def set(self, market: str, size: Decimal, entry_px: Decimal, entry_ms: int = 0) -> None:
        """Hold `size` (signed) in `market`; a zero size makes it flat."""
        if size == 0:
            self._held.pop(market, None)
        else:
            self._held[market] = HeldPosition(market, size, entry_px, entry_ms)

    def position(self, market: str) -> HeldPosition | None:
        """The position in `market`, None when flat."""
        return self._held.get(market)

    def positions(self) -> tuple[HeldPosition, ...]:
        """Every non-flat position, by market name."""
        return tuple(self._held[market] for market in sorted(self._held))


@dataclass(frozen=True, slots=True)
class HeldOrder:
    """A live order set by hand (satisfies `OpenOrderLike`)."""

    market: str
    is_buy: bool
    px: Decimal
    sz: Decimal
    cloid: str | None
    reduce_only: bool = False
    created_ms: int = 0


class ManualOrders:
    """Live orders set by hand (satisfies `OrdersView`)."""

    def __init__(self) -> None:
        self._orders: list[HeldOrder] = []

    def add(self, order: HeldOrder) -> None:
        """Add a live order."""
        self._orders.append(order)

    def remove(self, cloid: str) -> None:
        """Forget the order with this client order id."""
        self._orders = [o for o in self._orders if o.cloid != cloid]

    def clear(self) -> None:
        """Forget every order."""
        self._orders.clear()

    def open_orders(self) -> tuple[HeldOrder, ...]:
        """The live orders, oldest first."""
        return tuple(self._orders)


class StrategyHarness:
    """Drive one strategy from parsed messages on a simulated clock; collect its intents.

    Args:
        strategy: the strategy (built with its validated parameters).
        rules: the market's order rules (a `MarketInfo`).
        clock: the simulated clock; `feed(..., at_ms=...)` moves it.
        limits: the notional limits the context reports.
        positions: positions the strategy sees (`ManualPositions` by default).
        orders: live orders the strategy sees (`ManualOrders` by default).
        feature_settings: thresholds of the market state's features.
        metrics: when given, fed with every signal, intent and fill.
    """

    def __init__(
        self,
        strategy: Strategy[Any],
        rules: MarketRules,
        clock: SimClock,
        *,
        limits: NotionalLimits | None = None,
        positions: PositionsView | None = None,
        orders: OrdersView | None = None,
        feature_settings: FeatureSettings | None = None,
        metrics: StrategyMetrics | None = None,
    ) -> None:
        self.strategy = strategy
        self.clock = clock
        self.state = MarketState(rules.name, feature_settings)
        self.positions = positions if positions is not None else ManualPositions()
        self.orders = orders if orders is not None else ManualOrders()
        self.metrics = metrics
        self.ctx: StrategyContext[Any] = StrategyContext(
            strategy=strategy.name, state=self.state, rules=rules, clock=clock,
            params=strategy.params, limits=limits or NotionalLimits(),
            positions=self.positions, orders=self.orders,
            cloids=sequential_cloids(clock.now_ms()),
        )  # fmt: skip
        self.intents: list[Intent] = []
        self.signals: list[Signal] = []

    def start(self) -> list[Intent]:
        """Run `on_start`; returns the intents it asked for."""
        self.strategy.on_start(self.ctx)
        return self._collect()

    def stop(self) -> list[Intent]:
        """Run `on_stop`; returns the intents it asked for."""
        self.strategy.on_stop(self.ctx)
        return self._collect()

    def timer(self, *, at_ms: int | None = None) -> list[Intent]:
        """Move the clock to `at_ms` (if given) and run `on_timer`."""
        self._advance(at_ms)
        self.strategy.on_timer(self.ctx)
        return self._collect()

    def feed(self, event: object, *, at_ms: int | None = None) -> list[Intent]:
        """Move the clock to `at_ms` (if given), apply one parsed message, run its callback.

        Messages of other channels or markets, and stale frames the state ignores, run
        no callback.

        Returns:
            The intents the callback asked for.
        """
        self._advance(at_ms)
        channel = getattr(event, "channel", None)
        now = self.clock.monotonic_ns()
        strategy, ctx = self.strategy, self.ctx
        if channel == "trades":
            added = self.state.on_trades(cast(TradesFrame, event), now)
            if added:
                strategy.on_trades(ctx, tuple(self.state.recent_trades)[-added:])
        elif channel in MarketState.CHANNELS:
            if self.state.apply(event, now):
                callback = {"l2Book": strategy.on_book, "bbo": strategy.on_bbo,
                            "activeAssetCtx": strategy.on_asset_ctx}[cast(str, channel)]
                callback(ctx)
        elif channel == "orderUpdates":
            for update in cast(Sequence[OrderUpdateLike], getattr(event, "updates", ())):
                if update.coin == ctx.market:
                    strategy.on_order_update(ctx, update)
        elif channel in ("userFills", "user"):
            self._fills(cast(Sequence[FillLike], getattr(event, "fills", ())))
        return self._collect()

    def run(self, events: Iterable[tuple[int, object]]) -> list[Intent]:
        """Feed `(at_ms, message)` pairs in order; returns every intent asked for."""
        found: list[Intent] = []
        for at_ms, event in events:
            found += self.feed(event, at_ms=at_ms)
        return found

    def _fills(self, fills: Sequence[FillLike]) -> None:
        for fill in fills:
            if fill.coin == self.ctx.market:
                if self.metrics is not None:
                    self.metrics.on_fill(fill)
                self.strategy.on_fill(self.ctx, fill)

    def _advance(self, at_ms: int | None) -> None:
        if at_ms is not None:
            self.clock.set(at_ms)

    def _collect(self) -> list[Intent]:
        intents, signals = self.ctx.drain_intents(), self.ctx.drain_signals()
        if self.metrics is not None:
            for intent in intents:
                self.metrics.on_intent(intent)
            for signal in signals:
                self.metrics.on_signal(signal)
        self.intents += intents
        self.signals += signals
        return intents
