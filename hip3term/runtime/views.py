"""Builders of the immutable snapshot parts from the engine's live objects.

Each function reads the engine (or an executor status) once and returns frozen values of
`runtime.snapshot`; the node assembles them into a `NodeSnapshot`.
"""

from __future__ import annotations

from decimal import Decimal

from hip3term.execution.executor import ExecutorStatus
from hip3term.runtime.engine import Engine
from hip3term.runtime.snapshot import (
    BookLevelRow,
    BookSnapshot,
    ExecutorSnapshot,
    FeatureRow,
    LatchStatus,
    MarketSnapshot,
    OrderRow,
    PendingPostRow,
    PnlSummary,
    PositionRow,
    StrategySnapshot,
    TradeRow,
)

__all__ = [
    "executor_snapshot",
    "latch_status",
    "market_snapshot",
    "order_rows",
    "pnl_summary",
    "position_rows",
    "scheduler_snapshot",
    "strategy_snapshot",
]

_NS_PER_S = 1_000_000_000
_LEVELS = 20
_TRADES = 20
ZERO = Decimal(0)


def market_snapshot(engine: Engine, now_ns: int) -> MarketSnapshot:
    """Book (20 levels), oracle/mark, features and recent trades of the engine's market."""
    state = engine.state
    book = BookSnapshot(
        bids=tuple(BookLevelRow(lv.px, lv.sz, lv.n) for lv in state.bids()[:_LEVELS]),
        asks=tuple(BookLevelRow(lv.px, lv.sz, lv.n) for lv in state.asks()[:_LEVELS]),
        time_ms=state.book_time_ms, age_s=state.book_age_s(now_ns),
    )  # fmt: skip
    features = tuple(FeatureRow(name, feature.value, feature.reason)
                     for name, feature in state.features(now_ns).items())  # fmt: skip
    trades = tuple(TradeRow(t.time_ms, t.side, t.px, t.sz)
                   for t in tuple(state.recent_trades)[-_TRADES:])  # fmt: skip
    ctx = state.ctx
    return MarketSnapshot(
        market=engine.market, asset_id=None if engine.rules is None else engine.rules.asset_id,
        book=book, oracle_px=None if ctx is None else ctx.oracle_px,
        mark_px=None if ctx is None else ctx.mark_px,
        funding=None if ctx is None else ctx.funding,
        open_interest=None if ctx is None else ctx.open_interest,
        oracle_age_s=None if ctx is None else ctx.oracle_age_s(now_ns),
        features=features, trades=trades,
    )  # fmt: skip


def position_rows(engine: Engine, now_ms: int) -> tuple[PositionRow, ...]:
    """Every open position with its age, time-stop countdown and PnL."""
    rows = []
    time_stop = None if engine.two_sided else engine.settings.risk.time_stop_s
    flattening = engine.flattener.flattening
    for pos in engine.tracker.positions():
        mark = engine.state.ctx.mark_px if (engine.state.ctx is not None
                                            and pos.market == engine.market) else None
        age = (now_ms - pos.entry_ms) / 1000
        rows.append(PositionRow(
            market=pos.market, size=pos.size, entry_px=pos.entry_px, entry_ms=pos.entry_ms,
            age_s=age, time_stop_in_s=None if time_stop is None else time_stop - age,
            mark_px=mark, notional=pos.notional(mark if mark is not None else pos.entry_px),
            unrealized_pnl=pos.unrealized_pnl(mark if mark is not None else pos.entry_px),
            realized_pnl=pos.realized_pnl, flattening=pos.market in flattening,
        ))  # fmt: skip
    return tuple(rows)


def order_rows(engine: Engine, now_ms: int) -> tuple[OrderRow, ...]:
    """Every live order (queued, sent, unknown or resting), oldest first."""
    return tuple(
        OrderRow(cloid=o.cloid, oid=o.oid, market=o.market, side="B" if o.is_buy else "A",
                 px=o.px, sz=o.sz, filled_sz=o.filled_sz, tif=o.tif, reduce_only=o.reduce_only,
                 state=o.state, status=o.status, origin=o.origin,
                 age_s=(now_ms - o.created_ms) / 1000)
        for o in engine.tracker.orders.live()
    )  # fmt: skip


def pnl_summary(engine: Engine) -> PnlSummary:
    """Session PnL net of fees, with trade statistics."""
    tracker = engine.tracker
    outcomes = tracker.trade_outcomes
    metrics = engine.host.metrics.snapshot()
    return PnlSummary(
        realized=tracker.realized_pnl,
        unrealized=tracker.unrealized_pnl(
            lambda m: engine.state.ctx.mark_px if (engine.state.ctx is not None
                                                   and m == engine.market) else None),
        fees=metrics.fees, trades=len(outcomes), wins=sum(1 for p in outcomes if p > 0),
        losses=sum(1 for p in outcomes if p < 0), consecutive_losses=tracker.consecutive_losses,
        fills=metrics.fills,
    )  # fmt: skip


def latch_status(engine: Engine) -> LatchStatus:
    """The latch's state and trip reason."""
    latch = engine.latch
    detail = latch.trip_detail or engine.held_reason
    return LatchStatus(latch.state, latch.trip_trigger, detail, latch.tripped_ms,
                       latch.resumes)  # fmt: skip


def strategy_snapshot(engine: Engine) -> StrategySnapshot:
    """The strategy's own status and its metrics."""
    host = engine.host
    try:
        status = dict(engine.strategy.status())
    except Exception as exc:  # a strategy bug must not break the status view
        status = {"status_error": f"{type(exc).__name__}: {exc}"}
    return StrategySnapshot(name=engine.strategy.name, observe=engine.observe,
                            started=host.ctx is not None and not host.stopped, status=status,
                            metrics=host.metrics.snapshot(), last_signal=host.last_signal)


def scheduler_snapshot(engine: Engine) -> ExecutorSnapshot:
    """Queues and in flight from the scheduler alone (observe mode, or before start)."""
    s = engine.scheduler.status()
    inflight = engine.scheduler.inflight
    return ExecutorSnapshot(cancels=s.cancels, reduce_only=s.reduce_only, new=s.new,
                            held=s.held, in_flight=s.in_flight, reserved=s.reserved,
                            limit=inflight.limit, high_water=inflight.high_water,
                            level=str(s.level))  # fmt: skip


def executor_snapshot(status: ExecutorStatus) -> ExecutorSnapshot:
    """The executor's status as the snapshot shows it."""
    c = status.counters
    pending = tuple(PendingPostRow(p.post_id or 0, str(p.kind), p.age_ms, p.nonce, p.items)
                    for p in status.pending)  # fmt: skip
    return ExecutorSnapshot(
        cancels=status.queued_cancels, reduce_only=status.queued_reduce_only,
        new=status.queued_new, held=status.held, in_flight=status.in_flight,
        reserved=status.reserved, limit=status.limit, high_water=status.high_water,
        level=str(status.level), pending_posts=pending, sent=c.posts_sent,
        timeouts=c.timeouts, send_failures=c.send_failures, resolved=c.resolved,
        running=status.running,
    )  # fmt: skip
