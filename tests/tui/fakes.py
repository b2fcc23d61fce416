"""Hand-made node snapshots and a scripted node for the TUI's tests and snapshot apps.

The book comes from the real simulator's synthetic market (`SimExchange`, fixed seed,
`SimClock`), so levels have the shape the TUI meets live; everything else is built by
hand with fixed times, so nothing on screen depends on the wall clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from decimal import Decimal
from typing import Any

from hip3term.core.clock import SimClock
from hip3term.core.events import LatchState, OrderState, TripTrigger
from hip3term.risk.ready import ReadyFlags
from hip3term.runtime.snapshot import (
    BookLevelRow,
    BookSnapshot,
    ChannelStatus,
    CommandResult,
    EventLine,
    ExecutorSnapshot,
    FeatureRow,
    FeedStatus,
    LatchStatus,
    MarketSnapshot,
    NodeSnapshot,
    OperatorCommand,
    OrderRow,
    PendingPostRow,
    PnlSummary,
    PositionRow,
    StrategySnapshot,
)
from hip3term.strategy.metrics import MetricsSnapshot
from hip3term.venue.sim.exchange import SimExchange

START_MS = 1_790_000_000_000
COIN = "xyz:COIN"


def sim_book(seed: int = 7, step_ms: int = 0) -> tuple[BookSnapshot, Decimal, Decimal]:
    """The simulator's book (20 a side), oracle and mark at `START_MS + step_ms`."""
    exchange = SimExchange.create(("COIN",), seed=seed, clock=SimClock(START_MS))
    exchange.step(START_MS)
    for _ in range(step_ms // 100):
        exchange.advance_clock(100)
        exchange.step(exchange.now_ms())
    wire = exchange.l2_book(COIN, None, None, 20)
    assert wire is not None
    bids, asks = ([BookLevelRow(Decimal(lv["px"]), Decimal(lv["sz"]), int(lv["n"]))
                   for lv in side] for side in wire["levels"])  # fmt: skip
    ctx = exchange.active_asset_ctx(COIN)
    assert ctx is not None
    book = BookSnapshot(tuple(bids), tuple(asks), time_ms=exchange.now_ms(), age_s=0.1)
    return book, Decimal(ctx["ctx"]["oraclePx"]), Decimal(ctx["ctx"]["markPx"])


def feed_status(*, connected: bool = True, reconnects: int = 0) -> FeedStatus:
    channels = tuple(
        ChannelStatus(name, frames, 0, 0, 0, age, stale, True)
        for name, frames, age, stale in (("activeAssetCtx", 40, 2.4, 15.0),
                                         ("bbo", 1200, 0.1, 15.0),
                                         ("l2Book", 1200, 0.1, 15.0),
                                         ("trades", 80, 1.3, None))
    )  # fmt: skip
    return FeedStatus(url="ws://127.0.0.1:9/ws", connected=connected, ready=connected,
                      rtt_ms=0.4, connections=1 + reconnects, reconnects=reconnects,
                      pending_posts=0, malformed=0, duplicates=0, gaps=0,
                      last_disconnect=None, down_since_ms=None, channels=channels)  # fmt: skip


def metrics() -> MetricsSnapshot:
    return MetricsSnapshot(
        strategy="oracle_dislocation", signals=42, signals_traded=6,
        mean_expected_edge_bps=12.5, mean_expected_edge_traded_bps=18.0,
        orders_placed=6, orders_filled=5, fill_rate=5 / 6, size_fill_rate=0.8, fills=9,
        mean_slippage_bps=0.7, round_trips=4, wins=3, losses=1,
        mean_realized_edge_bps=9.1, mean_time_to_flat_s=21.0, max_time_to_flat_s=30.2,
        pnl_per_trade=Decimal("0.21"), last_trade_pnl=Decimal("-0.12"),
        cumulative_pnl=Decimal("0.84"), fees=Decimal("0.31"),
    )  # fmt: skip


def make_snapshot(**changes: Any) -> NodeSnapshot:
    """A running sim node on xyz:COIN with a position, an order, a post and events."""
    book, oracle, mark = sim_book()
    bid = book.bids[2]
    market = MarketSnapshot(
        market=COIN, asset_id=110007, book=book, oracle_px=oracle, mark_px=mark,
        oracle_age_s=1.2,
        features=(FeatureRow("buy_dislocation_bps", -0.3),
                  FeatureRow("sell_dislocation_bps", -0.3)),
    )  # fmt: skip
    position = PositionRow(
        market=COIN, size=Decimal("0.250"), entry_px=Decimal("190.85"), entry_ms=START_MS,
        age_s=12.4, time_stop_in_s=17.6, mark_px=mark, notional=Decimal("47.73"),
        unrealized_pnl=Decimal("0.0200"), realized_pnl=Decimal("0.84"), flattening=False,
    )  # fmt: skip
    order = OrderRow(
        cloid="0x00000000000000000000000000000001", oid=101, market=COIN, side="B",
        px=bid.px, sz=Decimal("0.100"), filled_sz=Decimal(0), tif="Alo", reduce_only=False,
        state=OrderState.RESTING, status="resting", origin="oracle_dislocation", age_s=3.2,
    )  # fmt: skip
    executor = ExecutorSnapshot(
        cancels=0, reduce_only=1, new=2, in_flight=3, running=True, sent=57,
        pending_posts=(PendingPostRow(812, "order", 41.0, START_MS + 7, 1),
                       PendingPostRow(813, "cancel", 12.0, START_MS + 8, 2)),
    )  # fmt: skip
    events = (
        EventLine(START_MS - 9000, "info", "ready", "READY-TRADING gained"),
        EventLine(START_MS - 6000, "info", "signal", "buy edge 18.0 bps @ 190.93"),
        EventLine(START_MS - 5900, "info", "fill", "B 0.250 xyz:COIN @ 190.85 fee 0.0191"),
        EventLine(START_MS - 3000, "info", "order resting", "B 0.100 @ 190.89 oid 101"),
        EventLine(START_MS - 2000, "warning", "order rejected", "Post only order would have "
                  "immediately matched"),
    )  # fmt: skip
    snapshot = NodeSnapshot(
        taken_ms=START_MS, session_id="s-test", venue="sim", market=COIN, mode="trading",
        phase="running", account="0x" + "ab" * 20, feed=feed_status(),
        ready=ReadyFlags(True, True, True, True), latch=LatchStatus(LatchState.ACTIVE),
        market_state=market, positions=(position,), orders=(order,),
        pnl=PnlSummary(realized=Decimal("0.84"), unrealized=Decimal("0.02"),
                       fees=Decimal("0.31"), trades=4, wins=3, losses=1, fills=9),
        strategy=StrategySnapshot("oracle_dislocation", observe=False, started=True,
                                  metrics=metrics(), last_signal="buy 18.0 bps"),
        executor=executor, events=events, dead_man="armed until 13:47:20",
    )  # fmt: skip
    return dataclasses.replace(snapshot, **changes)


def tripped(snapshot: NodeSnapshot, detail: str = "halt key") -> NodeSnapshot:
    """`snapshot` after an operator trip: latch TRIPPED, no orders, flat."""
    latch = LatchStatus(LatchState.TRIPPED, TripTrigger.OPERATOR, detail, START_MS + 500)
    return dataclasses.replace(snapshot, latch=latch, orders=(), positions=())


class FakeNode:
    """A scripted `NodeHandle`: commands change the latch, orders and positions as the
    real node's contract says (halt: tripped, cancel and flatten; cancel: halted, no
    orders; flatten: halted and flat; pause; resume), and are recorded."""

    def __init__(self, snapshot: NodeSnapshot | None = None) -> None:
        self.current = snapshot or make_snapshot()
        self.commands: list[tuple[OperatorCommand, str, str]] = []
        self.stop_reason: str | None = None

    def snapshot(self) -> NodeSnapshot:
        return self.current

    def command(self, command: OperatorCommand, *, who: str = "operator",
                reason: str = "") -> CommandResult:  # fmt: skip
        self.commands.append((command, who, reason))
        snap = self.current
        t = snap.taken_ms + 100
        if command is OperatorCommand.HALT:
            self.current = tripped(snap, reason)
        elif command is OperatorCommand.CANCEL:
            latch = LatchStatus(LatchState.HALTED, None, f"cancel all by {who}", t)
            self.current = dataclasses.replace(snap, latch=latch, orders=())
        elif command is OperatorCommand.FLATTEN:
            latch = LatchStatus(LatchState.HALTED, None, f"flatten by {who}", t)
            self.current = dataclasses.replace(snap, latch=latch, orders=(), positions=())
        elif command is OperatorCommand.PAUSE:
            latch = LatchStatus(LatchState.PAUSED, None, f"paused by {who}", t)
            self.current = dataclasses.replace(snap, latch=latch)
        elif command is OperatorCommand.RESUME:
            latch = LatchStatus(LatchState.ACTIVE, resumes=snap.latch.resumes + 1)
            self.current = dataclasses.replace(snap, latch=latch)
        return CommandResult(True, f"{command.value} done")

    def request_stop(self, reason: str = "operator quit") -> None:
        self.stop_reason = reason
        self.current = dataclasses.replace(self.current, phase="stopped")


class RunnableFake(FakeNode):
    """`FakeNode` as a `RunnableNode` for an `EngineThread`: `run()` waits for a stop and
    records on which thread each call ran; `fail` makes `run()` raise it."""

    def __init__(self, snapshot: NodeSnapshot | None = None, *,
                 fail: BaseException | None = None) -> None:  # fmt: skip
        super().__init__(snapshot)
        self.fail = fail
        self.threads: list[str] = []
        self.ran = False
        self._stop: asyncio.Event | None = None

    def command(self, command: OperatorCommand, *, who: str = "operator",
                reason: str = "") -> CommandResult:  # fmt: skip
        self.threads.append(threading.current_thread().name)
        return super().command(command, who=who, reason=reason)

    def request_stop(self, reason: str = "operator quit") -> None:
        super().request_stop(reason)
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> None:
        self.ran = True
        self._stop = asyncio.Event()
        if self.stop_reason is not None:
            return
        if self.fail is not None:
            await asyncio.sleep(0.05)
            raise self.fail
        await self._stop.wait()
