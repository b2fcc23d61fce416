"""The strategy host: runs the strategy's callbacks and carries out what it asks for.

After every callback the strategy's signals are journaled (traded or not, with the
expected edge, and the decision: "traded", "observed" in observe mode, "skipped") and fed
to its metrics, and its intents are carried out in order:

- `PlaceOrder`: an `OrderRequest` (origin = the strategy's name) journaled and gated
  (`GateKeeper.submit`); a denial is told to the strategy at once (status "denied"). In
  observe mode it becomes a would-be order instead (`observe.WouldBeBook`), journaled as
  a signal with decision "would_be", price, size and expected edge; nothing is sent.
- `CancelOrder`: cancel by oid (by cloid when the oid is unknown); an order still queued
  or in flight without an oid is canceled as soon as the exchange has it (a cancel sent
  first would only miss it: cancels go out before orders).
- `CancelAll`: every open order of the strategy in the market, and orders adopted from
  the exchange (likely left by an earlier run).
- `Flatten`: the engine's flattener (reduce-only IOC, retried).

The strategy hears about its own orders through `on_order_update` with a status word: the
order's state ("resting", "filled", "canceled", "rejected", "failed", ...), "denied" for a
gate's refusal, "observed" for an IOC withheld in observe mode. A strategy that raises is
logged and journaled (`strategy_error`), never allowed to stop the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hip3term.core.clock import Clock
from hip3term.core.events import OrderDenied, OrderState, OrderStateChanged
from hip3term.execution.orders import CancelRequest, OrderRequest, TrackedOrder
from hip3term.persistence.rows import RowSink
from hip3term.positions.tracker import PositionTracker
from hip3term.risk.gates import GateKeeper
from hip3term.runtime.eventlog import EventLog
from hip3term.runtime.observe import OBSERVED, LiveWouldBe, WouldBeBook
from hip3term.strategy.base import Strategy
from hip3term.strategy.context import OpenOrderLike, StrategyContext
from hip3term.strategy.intents import CancelAll, CancelOrder, Flatten, Intent, PlaceOrder, Signal
from hip3term.strategy.metrics import StrategyMetrics
from hip3term.venue.hyperliquid.markets import MarketInfo

__all__ = ["StrategyHost"]

_log = logging.getLogger("hip3term.engine")
_WORDS = {OrderState.RESTING: "resting"}
_SIDES = {"buy": "B", "sell": "A"}


@dataclass(frozen=True, slots=True)
class _Update:
    # An order update as the strategy sees it (`strategy.context.OrderUpdateLike`).
    coin: str
    cloid: str | None
    status: str


class _StrategyOrders:
    # The strategy's open orders: its own live orders, orders adopted from the exchange
    # (likely placed by an earlier run of it), and observe mode's would-be resting orders.
    def __init__(self, tracker: PositionTracker, would_be: WouldBeBook, name: str) -> None:
        self._tracker, self._would_be, self._names = tracker, would_be, (name, "exchange")

    def open_orders(self) -> tuple[OpenOrderLike, ...]:
        own: tuple[TrackedOrder | LiveWouldBe, ...] = tuple(
            o for o in self._tracker.orders.live() if o.origin in self._names)
        return own + self._would_be.open_orders()


class StrategyHost:
    """Runs one strategy for the engine (see the module docstring).

    Args:
        strategy: the strategy.
        market: the market it trades.
        clock: the injected clock.
        observe: withhold every order.
        tracker, gates: the engine's position tracker and gatekeeper.
        log: the engine's event log; `journal` its journal writer (or None).
        emit: hands events to the engine's event queue.
        asset_of: market name -> asset id (None if unknown).
    """

    def __init__(self, strategy: Strategy[Any], *, market: str, clock: Clock, observe: bool,
                 tracker: PositionTracker, gates: GateKeeper, log: EventLog,
                 journal: RowSink | None, emit: Callable[[Iterable[object]], None],
                 asset_of: Callable[[str], int | None]) -> None:  # fmt: skip
        self.strategy, self.market, self.clock, self.observe = strategy, market, clock, observe
        self.tracker, self.gates, self.log, self.journal = tracker, gates, log, journal
        self.emit, self._asset_of = emit, asset_of
        self.metrics = StrategyMetrics(strategy.name)
        self.would_be = WouldBeBook()
        self.orders_view = _StrategyOrders(tracker, self.would_be, strategy.name)
        self.ctx: StrategyContext[Any] | None = None
        self.rules: MarketInfo | None = None
        self.last_signal = ""
        self.strategy_errors = 0
        self.stopped = False
        self._deferred_cancels: dict[str, str] = {}

    def attach(self, ctx: StrategyContext[Any], rules: MarketInfo) -> None:
        """Start the strategy with its context (`on_start`)."""
        self.ctx, self.rules = ctx, rules
        self.call("on_start")

    def stop(self) -> None:
        """Run `on_stop` once (its intents are still carried out); nothing after it."""
        if not self.stopped and self.ctx is not None:
            self.call("on_stop")
        self.stopped = True

    def on_fill(self, fill: Any) -> None:
        """One of our fills in the market (positions already include it)."""
        self.metrics.on_fill(fill)
        self.call("on_fill", fill)

    def call(self, name: str, *args: object) -> None:
        """Run the strategy's callback `name` (e.g. "on_book") and carry out what it asked
        for; nothing before `attach` or after `stop`. Exceptions are logged, not raised."""
        ctx = self.ctx
        if ctx is None or self.stopped:
            return
        try:
            callback = getattr(self.strategy, name)
            if args:
                callback(ctx, *args)
            else:  # the market-data and timer callbacks: one vector call, no tuple built
                callback(ctx)
        except Exception as exc:  # a strategy bug must not stop the engine
            self.strategy_errors += 1
            if self.strategy_errors <= 10 or self.strategy_errors % 1000 == 0:
                _log.exception("strategy %s.%s failed", self.strategy.name, name)
                self.log.risk(self.clock.now_ms(), "strategy_error",
                              f"{self.strategy.name}.{name}: {type(exc).__name__}: {exc}",
                              severity="warning")  # fmt: skip
        if ctx.has_output:  # most callbacks decide nothing
            self._after_callback(ctx)

    def _after_callback(self, ctx: StrategyContext[Any]) -> None:
        signals, intents = ctx.drain_signals(), ctx.drain_intents()
        placed = {i.cloid: i for i in intents if isinstance(i, PlaceOrder)}
        for signal in signals:
            self._signal(signal, placed.get(signal.cloid or ""))
        for intent in intents:
            self.metrics.on_intent(intent)
            self._apply(intent)

    def _signal(self, signal: Signal, order: PlaceOrder | None) -> None:
        self.metrics.on_signal(signal)
        decision = ("observed" if self.observe else "traded") if signal.traded else "skipped"
        edge = signal.expected_edge_bps
        words = [signal.kind, signal.side or "", "" if edge is None else f"{edge:.1f} bps",
                 decision]
        self.last_signal = " ".join(w for w in words if w) + (
            f": {signal.reason}" if signal.reason else "")
        if self.journal is not None:
            self.journal.record_signal(
                strategy=signal.strategy, market=signal.market, kind=signal.kind,
                decision=decision, side=_SIDES.get(signal.side or ""),
                expected_edge_bps=None if edge is None else Decimal(repr(edge)),
                price=None if order is None else order.px,
                size=None if order is None else order.sz, reason=signal.reason or None,
                features=dict(signal.values), time_ms=signal.at_ns // 1_000_000,
            )  # fmt: skip

    def _apply(self, intent: Intent) -> None:
        if isinstance(intent, PlaceOrder):
            self._place(intent)
        elif isinstance(intent, CancelOrder):
            self._cancel(intent.cloid, intent.reason or "strategy cancel")
        elif isinstance(intent, CancelAll):
            self._cancel_market(intent.market, intent.reason or "strategy cancel-all")
        elif isinstance(intent, Flatten):
            self._flatten(intent)

    def _place(self, intent: PlaceOrder) -> None:
        now, rules = self.clock.now_ms(), self.rules
        if self.observe or rules is None:
            row = self.would_be.place(intent, now)
            edge = intent.expected_edge_bps
            self.log.line(now, "info", "would-be order",
                          f"{intent.tag or 'order'} {'buy' if intent.is_buy else 'sell'} "
                          f"{intent.sz} @ {intent.px} {intent.tif}"
                          f"{'' if edge is None else f', expected edge {edge:.1f} bps'}")
            if self.journal is not None:
                self.journal.record_signal(
                    strategy=self.strategy.name, market=intent.market,
                    kind=intent.tag or "order", decision="would_be", side=row.side,
                    expected_edge_bps=None if edge is None else Decimal(repr(edge)),
                    price=intent.px, size=intent.sz, time_ms=now,
                    reason=f"{intent.tif}{' reduce-only' if intent.reduce_only else ''} "
                    f"{intent.cloid}",
                )  # fmt: skip
            if row.state == "done":
                self.tell(intent.cloid, OBSERVED)
            return
        request = OrderRequest(
            cloid=intent.cloid, market=intent.market, asset=rules.asset_id,
            is_buy=intent.is_buy, px=intent.px, sz=intent.sz, tif=intent.tif,
            reduce_only=intent.reduce_only, created_ms=now, origin=self.strategy.name,
        )  # fmt: skip
        if self.journal is not None:
            self.journal.record_order(
                market=request.market, side="B" if request.is_buy else "A", price=request.px,
                size=request.sz, tif=request.tif, reduce_only=request.reduce_only,
                cloid=request.cloid, strategy=request.origin, reason=intent.tag or None,
                time_ms=now,
            )  # fmt: skip
        events = self.gates.submit(request, now)
        self.emit(events)
        if any(isinstance(e, OrderDenied) for e in events):
            self.tell(intent.cloid, "denied")

    def _cancel(self, cloid: str, reason: str) -> None:
        if self.observe:
            if self.would_be.cancel(cloid):
                self.tell(cloid, "canceled")
            return
        order = self.tracker.order(cloid=cloid)
        if order is None or order.state.terminal:
            return
        if order.oid is None and order.state in (OrderState.QUEUED, OrderState.SENT):
            self._deferred_cancels[cloid] = reason  # cancel it once it is on the book
            return
        self._submit_cancel(order, reason)

    def _cancel_market(self, market: str | None, reason: str) -> None:
        if self.observe:
            for cloid in self.would_be.cancel_market(market):
                self.tell(cloid, "canceled")
            return
        for order in self.orders_view.open_orders():
            if order.cloid is not None and (market is None or order.market == market):
                self._cancel(order.cloid, reason)
        for order in self.tracker.orders.live():  # adopted orders without a cloid
            if order.cloid is None and order.origin == "exchange" and order.oid is not None \
                    and (market is None or order.market == market):  # fmt: skip
                self._submit_cancel(order, reason)

    def _submit_cancel(self, order: TrackedOrder, reason: str) -> None:
        asset = self._asset_of(order.market)
        now = self.clock.now_ms()
        if asset is None:
            self.log.risk(now, "cancel_impossible", f"no asset id for {order.market}",
                          severity="warning")  # fmt: skip
            return
        cancel = CancelRequest(order.market, asset, order.oid,
                               order.cloid if order.oid is None else None, now, reason)
        self.emit(self.gates.submit_cancel(cancel, now))

    def _flatten(self, intent: Flatten) -> None:
        now = self.clock.now_ms()
        if self.observe:
            self.log.line(now, "info", "would-be flatten", intent.reason or "strategy flatten")
            return
        why = intent.reason or f"{self.strategy.name} flatten"
        if intent.market is None:
            self.emit(self.gates.flatten_all(now, why))
        else:
            self.emit(self.gates.flatten(intent.market, now, why))

    def tell(self, cloid: str, status: str) -> None:
        """Tell the strategy that its order `cloid` is now in `status`."""
        self.call("on_order_update", _Update(self.market, cloid, status))

    # ------------------------------------------------------------ events

    def on_order_changed(self, event: OrderStateChanged) -> None:
        """An order moved: send a deferred cancel, tell the strategy about its order."""
        cloid = event.cloid
        if cloid is None:
            return
        reason = self._deferred_cancels.get(cloid)
        if reason is not None and (event.state.terminal or event.oid is not None
                                   or event.state is OrderState.UNKNOWN):  # fmt: skip
            del self._deferred_cancels[cloid]
            order = self.tracker.order(cloid=cloid)
            if order is not None and not order.state.terminal:
                self._submit_cancel(order, reason)
        if self.is_own(cloid) and event.state is not OrderState.QUEUED:
            self.tell(cloid, _WORDS.get(event.state, str(event.state)))

    def is_own(self, cloid: str | None) -> bool:
        """Whether the order with this cloid was placed by the strategy."""
        order = None if cloid is None else self.tracker.order(cloid=cloid)
        return order is not None and order.origin == self.strategy.name
