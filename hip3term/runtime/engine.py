"""The synchronous engine: feed events in, gated orders (or would-be orders) out.

`Engine` holds the pure parts of the workstation for one market and wires them together
with plain function calls (no await anywhere, so the same object runs live, in replay and
in tests): the `MarketState`, the `PositionTracker`, the `TradingReadyChecker`, the
hard-stop latch and its `RiskMonitor`, the `GateKeeper` (or `TwoSidedGateKeeper`, see
`gating`) with the `BatchScheduler` and `ActionBudget` behind it, the `Flattener` (time
stop), and the strategy with its `StrategyContext` and `StrategyMetrics`.

Flow:

- `on_feed_event(event)`: market data updates the market state, then the strategy's
  callback runs; `orderUpdates` and `userFills` update the tracker (fills are then handed
  to the strategy and its metrics). The strategy runs in a `host.StrategyHost`, which
  journals its signals and carries out its intents: gated orders, or would-be orders in
  observe mode (nothing sent).
- connection news: `on_connected`, `on_disconnected`, `on_subscribed`, and
  `on_reconciled` with the exchange's clearinghouseState and open orders;
  READY-TRADING follows (the readiness checker takes the session number).
- `on_tick()` (every executor tick, 100 ms): market-data freshness, the flattener's
  time stops and retries, the risk monitor (which trips the latch), the strategy timer.
- `operator(command, who, reason)`: halt, flatten, cancel, pause, resume; each journaled.

Every event (the engine's and the executor's, `on_executor_event`) goes through one queue:
it is journaled and shown (`eventlog.EventLog`), rejects feed the reject-storm counter,
`PositionsSynced` completes READY-TRADING (and re-applies a held latch: cancel all,
flatten), a position opened while tripped is flattened, signs of a missed fill ask the
node for a reconcile (`fillgap`), and the strategy hears about its own orders
(`on_order_update` with the words "denied", "failed", "observed" or the order's state).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from hip3term.book.market_state import AssetContext, MarketState
from hip3term.config import Settings
from hip3term.core.clock import Clock
from hip3term.core.events import (
    EngineEvent,
    FillApplied,
    LatchEngaged,
    LatchResumed,
    LatchState,
    OrderFailed,
    OrderQueued,
    OrderState,
    OrderStateChanged,
    PositionOpened,
    PositionsSynced,
    TripTrigger,
)
from hip3term.execution.flatten import Flattener, MarketRules, Quote
from hip3term.execution.orders import CloidSequence
from hip3term.execution.scheduler import BatchScheduler
from hip3term.persistence.rows import RowSink
from hip3term.positions.tracker import PositionTracker
from hip3term.risk.gates import ActionBudget, GateKeeper
from hip3term.risk.latch import HardStopLatch, MarketHealth, RiskInputs, RiskMonitor
from hip3term.risk.ready import TradingReadyChecker
from hip3term.runtime.eventlog import EventLog
from hip3term.runtime.fillgap import FillGapWatch
from hip3term.runtime.gating import TwoSidedGateKeeper, is_two_sided
from hip3term.runtime.host import StrategyHost
from hip3term.runtime.snapshot import CommandResult, OperatorCommand
from hip3term.strategy.base import Strategy
from hip3term.strategy.context import NotionalLimits, StrategyContext
from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.markets import AssetDirectory, MarketInfo

__all__ = ["Engine"]

_log = logging.getLogger("hip3term.engine")
_NS_PER_S = 1_000_000_000
_POSITION_EVERY_NS = 10 * _NS_PER_S
_MS_NS = 1_000_000
_LEVELS = frozenset({OperatorCommand.HALT, OperatorCommand.FLATTEN, OperatorCommand.CANCEL,
                     OperatorCommand.PAUSE, OperatorCommand.RESUME})
_WORDS = {OrderState.RESTING: "resting"}


_L2BOOK: Final = wire.L2Book
_BBO: Final = wire.Bbo
_ASSET_CTX: Final = wire.AssetCtx


class Engine:
    """The engine of one market (see the module docstring).

    Args:
        settings: the whole configuration (risk limits, executor sizes, market).
        clock: the injected clock.
        strategy: the strategy, built with its validated parameters.
        observe: withhold every order (would-be orders only).
        journal: the session's journal writer (None: nothing journaled).
        reflected_after_ms: journal fills of the start-up snapshot newer than this (the
            last fill time an earlier session saved).
    """

    def __init__(self, settings: Settings, *, clock: Clock, strategy: Strategy[Any],
                 observe: bool, journal: RowSink | None = None,
                 reflected_after_ms: int | None = None) -> None:  # fmt: skip
        self.settings, self.clock, self.strategy, self.observe = settings, clock, strategy, observe
        self.market, self.dex = settings.market.name, settings.market.dex
        risk = settings.risk
        self._stale_s = risk.market_data_stale_s  # read on every frame and tick
        self.state = MarketState(self.market)
        self.tracker = PositionTracker()
        self.ready = TradingReadyChecker()
        self.latch = HardStopLatch(risk)
        self.monitor = RiskMonitor(risk, self.latch)
        self.budget = ActionBudget()
        self.scheduler = BatchScheduler(settings.executor)
        self.cloids = CloidSequence(clock.now_ms())
        self.two_sided = is_two_sided(strategy)
        self.rules: MarketInfo | None = None
        self.directory: AssetDirectory | None = None
        self.flattener = Flattener(risk, self.tracker, self._rules_of, self._quote_of,
                                   self.cloids, time_stop=not self.two_sided)  # fmt: skip
        keeper = TwoSidedGateKeeper if self.two_sided else GateKeeper
        self.gates = keeper(risk, latch=self.latch, ready=self.ready, tracker=self.tracker,
                            budget=self.budget, scheduler=self.scheduler, marks=self._mark_of,
                            assets=self._asset_of, flattener=self.flattener)  # fmt: skip
        self.latch.attach(self.gates)
        self.log = EventLog(journal, reflected_after_ms=reflected_after_ms)
        self.journal = journal
        self.host = StrategyHost(strategy, market=self.market, clock=clock, observe=observe,
                                 tracker=self.tracker, gates=self.gates, log=self.log,
                                 journal=journal, emit=self._emit, asset_of=self._asset_of)
        self.session = 0
        self.held_reason = ""  # why an operator level (pause, halt) holds the latch
        self.fill_gaps = FillGapWatch(self.tracker)
        self.on_fill_gap: Callable[[], None] | None = None  # the node reconciles then
        self.ws_down_since_ms: int | None = clock.now_ms()  # down until the first connection
        self._md_ok = False
        self._queue: deque[object] = deque()
        self._draining = False
        self._next_timer_ns = 0
        self._next_positions_ns = 0
        # what the risk monitor's last quiet verdict was given (see `_check_risk`)
        self._quiet: tuple[object, ...] | None = None
        self._quiet_ctx: AssetContext | None = None
        self._idle_until_ns = 0  # see `_idle_deadline`
        self._idle_key: tuple[object, ...] | None = None
        self.skip_idle_ticks = True
        """False: every tick runs in full (what the idle skip must be indistinguishable
        from; tests and diagnosis)."""

    def attach_journal(self, journal: RowSink, *,
                       reflected_after_ms: int | None = None) -> None:  # fmt: skip
        """Journal from now on (the journal opens after the engine is built)."""
        self.journal = self.host.journal = self.log.journal = journal
        self.log.reflected_after_ms = reflected_after_ms
        self.log.last_fill_ms = reflected_after_ms

    # ------------------------------------------------------------ market rules

    def attach_rules(self, info: MarketInfo, directory: AssetDirectory | None = None) -> None:
        """The market's rules are known: build the strategy's context and start it.

        Raises:
            ValueError: `info` is not the engine's market.
        """
        if info.name != self.market:
            raise ValueError(f"rules of {info.name} given to the engine of {self.market}")
        self.rules, self.directory = info, directory
        if self.host.ctx is not None:
            return
        ctx: StrategyContext[Any] = StrategyContext(
            strategy=self.strategy.name, state=self.state, rules=info, clock=self.clock,
            params=self.strategy.params, limits=NotionalLimits.from_risk(self.settings.risk),
            positions=self.tracker, orders=self.host.orders_view, cloids=self.cloids,
        )  # fmt: skip
        self.host.attach(ctx, info)

    def _rules_of(self, market: str) -> MarketRules | None:
        if self.rules is not None and market == self.market:
            return self.rules
        return None

    def _asset_of(self, market: str) -> int | None:
        if self.rules is not None and market == self.market:
            return self.rules.asset_id
        if self.directory is not None:
            try:
                return self.directory.lookup(market).asset_id
            except Exception:  # any lookup failure means "unknown"
                return None
        return None

    def _mark_of(self, market: str) -> Decimal | None:
        ctx = self.state.ctx
        return ctx.mark_px if ctx is not None and market == self.market else None

    def _quote_of(self, market: str) -> Quote | None:
        if market != self.market:
            return None
        bid, ask = self.state.best_bid, self.state.best_ask
        return Quote(None if bid is None else bid.px, None if ask is None else ask.px,
                     self._mark_of(market))  # fmt: skip

    # ------------------------------------------------------------ feed

    def on_feed_event(self, event: wire.Event) -> None:
        """Apply one parsed message of the feed and run what it triggers."""
        now_ns = self.clock.monotonic_ns()
        # the market data (most frames) by their class, to the market state's method for
        # it (what `MarketState.apply` dispatches to by channel name, called directly)
        state = self.state
        if isinstance(event, _L2BOOK):
            if state.on_l2_book(event, now_ns):
                self._market_data_changed(now_ns, "on_book")
        elif isinstance(event, _BBO):
            if state.on_bbo(event, now_ns):
                self._market_data_changed(now_ns, "on_bbo")
        elif isinstance(event, _ASSET_CTX):
            if state.on_asset_ctx(event, now_ns):
                self._market_data_changed(now_ns, "on_asset_ctx")
        elif isinstance(event, wire.Trades):
            added = self.state.on_trades(event, now_ns)
            if added:
                self.host.call("on_trades", tuple(self.state.recent_trades)[-added:])
        elif isinstance(event, wire.OrderUpdates):
            self._emit(self.tracker.orders.on_updates(event.updates, self.clock.now_ms()))
        elif isinstance(event, wire.UserFills):
            self._on_fills(event)

    def _market_data_changed(self, now_ns: int, callback: str) -> None:
        self._check_market_data(self.data_age_s(now_ns))
        self.host.call(callback)

    def _on_fills(self, event: wire.UserFills) -> None:
        now = self.clock.now_ms()
        for fill in event.fills:
            self.log.remember_fill(fill)
        events = list(self.tracker.on_user_fills(event.fills, is_snapshot=event.is_snapshot,
                                                 now_ms=now))  # fmt: skip
        if event.is_snapshot:
            events += self.ready.on_fills_snapshot(now, self.session)
        self._emit(events)
        applied = {e.tid for e in events if isinstance(e, FillApplied) and not e.reflected}
        for fill in event.fills:
            if fill.tid in applied and fill.coin == self.market:
                self.host.on_fill(fill)

    def _check_market_data(self, age: float | None) -> None:
        # `age`: data_age_s now
        ok = age is not None and age <= self._stale_s
        if ok != self._md_ok and self.ready.connected:
            self._md_ok = ok
            reason = "market data fresh" if ok else f"market data stale ({age or 0:.1f} s)"
            self._emit(self.ready.set_market_data(ok, self.clock.now_ms(), self.session, reason))

    def data_age_s(self, now_ns: int) -> float | None:
        """Age of the older of the book and the asset context, None before both arrived."""
        book_age, ctx = self.state.book_age_s(now_ns), self.state.ctx
        if book_age is None or ctx is None:
            return None
        ctx_age = (now_ns - ctx.received_ns) / _NS_PER_S
        # max(book_age, ctx_age, 0.0) written out: compiled, max() is a generic call
        if ctx_age < 0.0:
            ctx_age = 0.0
        return book_age if book_age >= ctx_age else ctx_age

    # ------------------------------------------------------------ connection

    def on_connected(self) -> int:
        """A connection is up: returns its session number (READY must be earned again)."""
        session, events = self.ready.on_connected(self.clock.now_ms())
        self.session, self.ws_down_since_ms, self._md_ok = session, None, False
        self._emit(events)
        self._check_market_data(self.data_age_s(self.clock.monotonic_ns()))
        return session

    def on_disconnected(self, reason: str, *, release_posts: bool) -> None:
        """The connection dropped. `release_posts`: also release the scheduler's posts
        (when no executor does it, e.g. in observe mode)."""
        now = self.clock.now_ms()
        if self.ws_down_since_ms is None:
            self.ws_down_since_ms = now
        self.tracker.on_disconnect()
        if release_posts:
            self._emit(self.gates.on_disconnect(now))
        else:
            self._emit(self.ready.on_disconnect(now, reason))

    def on_subscribed(self, subscription: Mapping[str, object]) -> None:
        """A subscription was acknowledged (orderUpdates counts for READY-TRADING)."""
        if subscription.get("type") == "orderUpdates":
            self._emit(self.ready.on_order_updates_ack(self.clock.now_ms(), self.session))

    def on_reconciled(self, clearinghouse: object, open_orders: object, *, requested_ms: int,
                      session: int) -> None:  # fmt: skip
        """The exchange's clearinghouseState and open orders, fetched on connection
        `session` (asked for at `requested_ms`): adopt them. Load `userRateLimit` into
        `budget` on the same resync (the executor's `refresh_rate_limit`)."""
        if session != self.session or not self.ready.connected:
            return  # an answer from a connection that is gone
        now = self.clock.now_ms()
        self._emit(self.tracker.reconcile(clearinghouse, open_orders, now, dex=self.dex,
                                          requested_ms=requested_ms))  # fmt: skip

    # ------------------------------------------------------------ timer

    def on_tick(self) -> None:
        """Market-data freshness, time stops and flatten retries, risk triggers, timer."""
        now_ns = self.clock.monotonic_ns()
        if now_ns < self.still_idle_until_ns():
            return  # an idle tick (see `_idle_deadline`): nothing below could act
        self._idle_until_ns = 0  # until this tick ends well
        now = self.clock.now_ms()
        # one reading of the data age serves both (only feed events change it); an
        # empty list of events is not emitted (a no-op): this runs 10 times a second
        age = self.data_age_s(now_ns)
        self._check_market_data(age)
        # the gates' tick is the flattener's, which has nothing to do while it is idle
        # (flat, no episode): asked here first, as the gates are interpreted code
        if not self.observe and not self.flattener.idle and (
                events := self.gates.on_tick(now)):  # fmt: skip
            self._emit(events)
        self._check_risk(now_ns, now, age)
        if self.host.ctx is not None and now_ns >= self._next_timer_ns:
            self._next_timer_ns = now_ns + round(self.strategy.timer_interval_s * _NS_PER_S)
            self.host.call("on_timer")
        if now_ns >= self._next_positions_ns:
            self._next_positions_ns = now_ns + _POSITION_EVERY_NS
            self.journal_positions(now)
        if self.fill_gaps.due(now) and self.on_fill_gap is not None:
            self.on_fill_gap()  # a fill frame went missing: fetch the exchange's truth
        self._idle_until_ns = self._idle_deadline(now_ns, age)
        self._idle_key = self._tick_key()

    @property
    def idle_until_ns(self) -> int:
        """Right after a tick, with nothing else run since (no feed event, no command, no
        callback): the ticks before this monotonic time would return at once, if nothing
        but time moves (0: the next tick must run). What a replay's loop asks before it
        skips ticks (`VirtualTimeLoop.set_ticker`); see `_idle_deadline`."""
        return self._idle_until_ns

    def still_idle_until_ns(self) -> int:
        """`idle_until_ns`, or 0 when something a tick reads has changed since the last tick
        (a feed event may have: an asset context, a fill, market data turning fresh): the
        next tick would then run in full. A frame only makes the data fresher, so the data
        age's part of the deadline holds. The tick itself returns at once before this."""
        until = self._idle_until_ns
        if until and (self._idle_key != self._tick_key() or not self.fill_gaps.idle):
            return 0
        return until

    def _tick_key(self) -> tuple[object, ...]:
        # What a tick reads besides time; while it holds still (and the fill-gap watch
        # is idle), an idle tick stays idle until `_idle_until_ns`.
        return (self._risk_key(), self.state.ctx, self.flattener.idle, self.host.ctx,
                self.session, self._md_ok, self.ws_down_since_ms)  # fmt: skip

    def _risk_key(self) -> tuple[object, ...]:
        # What the risk monitor reads besides time and the asset context (see
        # `RiskMonitor.first_trigger`); the tracker's revision covers positions and PnL.
        latch = self.latch
        return (self.tracker.revision, self.flattener.failures,
                self.monitor.rejects.recorded, latch.resumes, latch.state)  # fmt: skip

    def _idle_deadline(self, now_ns: int, age: float | None) -> int:
        # Until when the ticks to come would do nothing, if nothing but time moves: the
        # data is fresh and stays so for a while, the risk monitor is quiet, nobody is
        # flattening, no fill is missing. Then the first of the strategy's timer, the
        # positions snapshot and the data going stale (a millisecond early: the full
        # tick decides the exact instant). 0 when the next tick must run in full.
        if (not self.skip_idle_ticks or not self._md_ok or age is None
                or self.ws_down_since_ms is not None or self._quiet is None
                or not self.flattener.idle or not self.fill_gaps.idle):
            return 0
        stale_ns = now_ns + round((self._stale_s - age)
                                  * _NS_PER_S) - _MS_NS  # fmt: skip
        until = min(stale_ns, self._next_positions_ns)
        if self.host.ctx is not None:
            until = min(until, self._next_timer_ns)
        return until

    def _check_risk(self, now_ns: int, now: int, age: float | None) -> None:
        # The monitor's verdict holds while its inputs hold still and only time moves,
        # unless a trigger that time alone can pull (stale data, the websocket down) is
        # close: so it is asked again only when the tracker, the asset context, the
        # flatten failures, the rejects or the latch moved, or when one of those is near.
        # What it reads otherwise is in `RiskMonitor.first_trigger`.
        ctx, key = self.state.ctx, self._risk_key()
        if (key == self._quiet and ctx is self._quiet_ctx and self.ws_down_since_ms is None
                and (age is None or age <= self._stale_s)):
            return
        if events := self.monitor.check(now, self._risk_inputs(now_ns, age)):
            self._quiet = None
            self._emit(events)
        else:
            self._quiet, self._quiet_ctx = key, ctx

    def risk_inputs(self, now_ns: int) -> RiskInputs:
        """What the risk monitor reads, now."""
        return self._risk_inputs(now_ns, self.data_age_s(now_ns))

    def _risk_inputs(self, now_ns: int, data_age_s: float | None) -> RiskInputs:
        ctx = self.state.ctx
        health = MarketHealth(self.market, data_age_s,
                              None if ctx is None else ctx.oracle_px,
                              None if ctx is None else ctx.mark_px)  # fmt: skip
        return RiskInputs.collect(self.tracker, self._mark_of,
                                  flatten_failures=self.flattener.failures, markets=(health,),
                                  ws_down_since_ms=self.ws_down_since_ms)  # fmt: skip

    def journal_positions(self, now_ms: int) -> None:
        """A position snapshot row per open position."""
        if self.journal is None:
            return
        for pos in self.tracker.positions():
            mark = self._mark_of(pos.market)
            self.journal.record_position(
                market=pos.market, size=pos.size, entry_px=pos.entry_px,
                unrealized_pnl=None if mark is None else pos.unrealized_pnl(mark),
                realized_pnl=pos.realized_pnl, time_ms=now_ms,
            )  # fmt: skip

    # ------------------------------------------------------------ operator

    def operator(self, command: OperatorCommand, who: str, reason: str) -> CommandResult:
        """Carry out an operator level (halt, flatten, cancel, pause, resume), journaled."""
        now, why = self.clock.now_ms(), reason.strip()
        refused = self._refusal(command, why)
        if refused is not None:
            return refused
        if self.journal is not None:
            self.journal.record_operator_action(who=who, action=str(command),
                                                reason=why or str(command), time_ms=now)
        self.log.line(now, "warning", "operator", f"{who}: {command} ({why or 'no reason'})")
        why = why or f"operator {command}"
        if command is OperatorCommand.RESUME:
            previous = f"{self.latch.state}{self._trip_text()}"
            inputs = self.risk_inputs(self.clock.monotonic_ns())
            self._emit(self.monitor.resume(who, why, now, inputs))
            return CommandResult(True, f"resumed from {previous}")
        self._emit(self._level(command, who, why, now))
        if command is OperatorCommand.CANCEL:
            for cloid in self.host.would_be.cancel_market(None):
                self.host.tell(cloid, "canceled")
        return CommandResult(True, f"{command}: latch {self.latch.state}")

    def _refusal(self, command: OperatorCommand, why: str) -> CommandResult | None:
        if command not in _LEVELS:
            return CommandResult(False, f"{command} is not an engine command")
        if command is OperatorCommand.RESUME:
            if not why:
                shown = f" (held: {self.latch.state}{self._trip_text()})"
                return CommandResult(False, f"resume needs a reason: resume <why>{shown}")
            if self.latch.state is LatchState.ACTIVE:
                return CommandResult(False, "the latch is already ACTIVE")
        return None

    def _level(self, command: OperatorCommand, who: str, why: str,
               now: int) -> list[EngineEvent]:  # fmt: skip
        latch = self.latch
        if command is OperatorCommand.HALT:
            return latch.halt(who, why, now)
        if command is OperatorCommand.FLATTEN:
            return latch.flatten(who, why, now)
        if command is OperatorCommand.CANCEL:
            return latch.cancel_all(who, why, now)
        return latch.pause(who, why, now)

    def _trip_text(self) -> str:
        latch = self.latch
        return f", {latch.trip_trigger}: {latch.trip_detail}" if latch.trip_trigger else ""

    def restore_latch(self, state: str, trigger: str | None, detail: str) -> None:
        """Hold the latch an earlier session left held (a restart is not a resume)."""
        now, why = self.clock.now_ms(), f"held before the restart: {detail}"
        known = {str(t) for t in TripTrigger}
        if state == LatchState.TRIPPED:
            cause = TripTrigger(trigger) if trigger in known else TripTrigger.OPERATOR
            self._emit(self.latch.trip(cause, why, now))
        elif state == LatchState.HALTED:
            self._emit(self.latch.cancel_all("restart", why, now))
        elif state == LatchState.PAUSED:
            self._emit(self.latch.pause("restart", why, now))

    # ------------------------------------------------------------ shutdown

    def stop_strategy(self) -> None:
        """Run the strategy's `on_stop` once (its intents are still carried out)."""
        self.host.stop()

    def cancel_all(self, reason: str) -> None:
        """Withdraw queued new orders and cancel every open order (quit)."""
        if not self.observe:
            self._emit(self.gates.cancel_all(self.clock.now_ms(), reason))

    # ------------------------------------------------------------ executor events

    def on_executor_event(self, event: object) -> None:
        """An event of the executor loop (acks, rejects, failures, resolved orders)."""
        self._emit((event,))

    # ------------------------------------------------------------ events

    def _emit(self, events: Iterable[object]) -> None:
        self._queue.extend(events)
        if self._draining:
            return
        self._draining = True
        try:
            while self._queue:
                self._dispatch(self._queue.popleft())
        finally:
            self._draining = False

    def _dispatch(self, event: object) -> None:
        self.log.record(event)
        self.fill_gaps.on_event(event, self.clock.now_ms())
        if isinstance(event, FillApplied) and not event.reflected:
            self.budget.on_fill_volume(event.px * event.sz)
        elif isinstance(event, PositionsSynced):
            self._emit(self.ready.on_positions_synced(self.clock.now_ms(), self.session))
            self._enforce_latch()
        elif isinstance(event, OrderQueued):
            self._journal_order(event)
        elif isinstance(event, PositionOpened) and self.latch.tripped:
            if self.settings.risk.halt_flattens:  # e.g. an entry in flight at the trip
                self._emit(self.gates.flatten(event.market, self.clock.now_ms(),
                                              "position opened while the latch is tripped"))
        elif isinstance(event, LatchEngaged):
            self.held_reason = f"{event.operator}: {event.reason}"
        elif isinstance(event, LatchResumed):
            self.held_reason = ""
        elif isinstance(event, OrderStateChanged):
            if event.state is OrderState.REJECTED:
                self.monitor.rejects.record(event.ts_ms, event.cloid or str(event.oid))
            self.host.on_order_changed(event)
        elif isinstance(event, OrderFailed) and self.host.is_own(event.cloid):
            self.host.tell(event.cloid, "failed")

    def _journal_order(self, event: OrderQueued) -> None:
        # The strategy's orders are journaled by the host as decided; the others (the
        # flattener's) when they pass the gates.
        order = self.tracker.order(cloid=event.cloid)
        if self.journal is None or order is None or order.origin == self.strategy.name:
            return
        self.journal.record_order(
            market=order.market, side="B" if order.is_buy else "A", price=order.px,
            size=order.sz, tif=order.tif, reduce_only=order.reduce_only, cloid=order.cloid,
            strategy=order.origin, reason=order.origin, time_ms=event.ts_ms,
        )  # fmt: skip

    def _enforce_latch(self) -> None:
        # A latch held across a reconnect or a restart: what it ordered applies to the
        # orders and positions the exchange has just reported.
        now, latch, risk = self.clock.now_ms(), self.latch, self.settings.risk
        reason = f"latch {latch.state} held at resync"
        if latch.state is LatchState.TRIPPED:
            if risk.halt_cancels_all:
                self._emit(self.gates.cancel_all(now, reason))
            if risk.halt_flattens:
                self._emit(self.gates.flatten_all(now, reason))
        elif latch.state is LatchState.HALTED:
            self._emit(self.gates.cancel_all(now, reason))
