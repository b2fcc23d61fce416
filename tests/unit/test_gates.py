"""Gates: one test per gate proving it fires, the order of the gates, what reduce-only
orders and cancels pass, the enqueue step, the action budget, and the GateKeeper's
bridge from scheduler results to the tracker. Limits are the config defaults."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal, TypeVar

import pytest

from hip3term.config import ExecutorSettings, RiskSettings
from hip3term.core.events import (
    CancelQueued,
    Denial,
    EngineEvent,
    Gate,
    OrderDenied,
    OrderFailed,
    OrderQueued,
    OrderState,
)
from hip3term.execution.orders import CancelRequest, OrderRequest, Tif
from hip3term.execution.scheduler import BatchScheduler
from hip3term.positions import PositionTracker
from hip3term.risk.gates import ActionBudget, GateKeeper
from hip3term.risk.latch import HardStopLatch
from hip3term.risk.ready import TradingReadyChecker
from hip3term.venue.hyperliquid.wire import Fill

D = Decimal
T0 = 1_700_000_000_000
RISK = RiskSettings()
PER_MARKET, TOTAL = RISK.max_notional_per_market, RISK.max_notional_total
COIN, NVDA, TSLA = "xyz:COIN", "xyz:NVDA", "xyz:TSLA"
ASSETS = {COIN: 110007, NVDA: 110002, TSLA: 110001}


class Rig:
    def __init__(self, executor: ExecutorSettings | None = None) -> None:
        self.latch = HardStopLatch(RISK)
        self.ready = TradingReadyChecker()
        self.ready.on_connected(T0)
        self.ready.set_market_data(True, T0)
        self.ready.on_order_updates_ack(T0)
        self.ready.on_fills_snapshot(T0)
        self.ready.on_positions_synced(T0)
        self.tracker = PositionTracker()
        self.tracker.on_user_fills([], is_snapshot=True, now_ms=T0)
        self.tracker.reconcile({"assetPositions": [], "time": T0}, [], T0)
        self.budget = ActionBudget()
        self.scheduler = BatchScheduler(executor)
        self.marks: dict[str, Decimal] = {}
        self.gates = GateKeeper(
            RISK, latch=self.latch, ready=self.ready, tracker=self.tracker,
            budget=self.budget, scheduler=self.scheduler, marks=self.marks.get,
            assets=ASSETS.get,
        )  # fmt: skip
        self.n = 0
        self.tid = 0

    def order(self, market: str = COIN, px: str = "190", sz: str = "0.1", *,
              ro: bool = False, buy: bool = True, tif: Tif = "Ioc") -> OrderRequest:  # fmt: skip
        self.n += 1
        return OrderRequest(f"0x{self.n:032x}", market, ASSETS[market], buy, D(px), D(sz), tif,
                            ro, T0)  # fmt: skip

    def position(self, market: str, size: str, px: str) -> None:
        self.tid += 1
        held = self.tracker.position(market)
        start = held.size if held else D(0)
        side: Literal["B", "A"] = "B" if D(size) > 0 else "A"
        fill = Fill(market, D(px), abs(D(size)), side, T0 + self.tid, start, "", D(0), "0x0",
                    1, True, D(0), "USDC", self.tid, None, None, None, None)
        self.tracker.on_user_fills([fill], is_snapshot=False, now_ms=T0 + self.tid)

    def denial(self, order: OrderRequest) -> tuple[Gate, Denial] | None:
        events = self.gates.submit(order, T0 + 1_000)
        denied = [e for e in events if isinstance(e, OrderDenied)]
        return (denied[0].gate, denied[0].denial) if denied else None


E = TypeVar("E")


def only(events: Sequence[EngineEvent], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def state_of(rig: Rig, cloid: str) -> OrderState | None:
    order = rig.tracker.order(cloid=cloid)
    return None if order is None else order.state


def remaining(budget: ActionBudget) -> int | None:
    return budget.address_remaining  # a call: mypy keeps no narrowed value across steps


# ---------------------------------------------------------------- one test per gate


def test_gate_duplicate_cloid_rejected() -> None:
    rig = Rig()
    order = rig.order()
    assert rig.denial(order) is None
    assert rig.denial(order) == (Gate.DUPLICATE, Denial.REJECTED)


@pytest.mark.parametrize("level", ["halt", "pause", "cancel_all"])
def test_gate_hard_stop_rejects_new_orders_in_every_latch_level(level: str) -> None:
    rig = Rig()
    getattr(rig.latch, level)("ops", "test", T0)
    assert rig.denial(rig.order()) == (Gate.HARD_STOP, Denial.REJECTED)


def test_gate_not_ready_rejects() -> None:
    rig = Rig()
    rig.ready.on_disconnect(T0)
    assert rig.denial(rig.order()) == (Gate.NOT_READY, Denial.REJECTED)


def test_gate_max_notional_per_market_rejects_and_is_inclusive() -> None:
    rig = Rig()
    assert PER_MARKET == 50  # the plan's starting limit
    assert rig.denial(rig.order(px="100", sz="0.51")) == (Gate.MAX_NOTIONAL_MARKET,
                                                          Denial.REJECTED)  # fmt: skip
    assert rig.denial(rig.order(px="100", sz="0.5")) is None  # exactly $50 passes


def test_gate_max_notional_per_market_counts_position_at_mark_and_pending_orders() -> None:
    rig = Rig()
    rig.position(COIN, "0.2", "150")
    rig.marks[COIN] = D("200")  # position worth 40 at mark (30 at entry)
    assert rig.denial(rig.order(px="100", sz="0.11")) == (Gate.MAX_NOTIONAL_MARKET,
                                                          Denial.REJECTED)  # fmt: skip
    rig2 = Rig()
    rig2.gates.submit(rig2.order(TSLA, px="100", sz="0.45"), T0)  # pending: 45 in TSLA
    assert rig2.denial(rig2.order(TSLA, px="100", sz="0.06")) == (Gate.MAX_NOTIONAL_MARKET,
                                                                  Denial.REJECTED)  # fmt: skip


def test_gate_max_notional_total_rejects() -> None:
    rig = Rig()
    rig.position(NVDA, "0.45", "100")
    rig.position(TSLA, "-0.45", "100")
    order = rig.order(COIN, px="100", sz="0.11")  # 11 in COIN, 101 in all
    assert rig.denial(order) == (Gate.MAX_NOTIONAL_TOTAL, Denial.REJECTED)
    assert TOTAL == 100 and rig.denial(rig.order(COIN, px="100", sz="0.1")) is None


def test_gate_existing_position_skips() -> None:
    rig = Rig()
    rig.position(COIN, "0.1", "190")
    assert rig.denial(rig.order()) == (Gate.HAS_POSITION, Denial.SKIPPED)


def test_gate_pending_order_skips() -> None:
    rig = Rig()
    assert rig.denial(rig.order()) is None
    assert rig.denial(rig.order(sz="0.01")) == (Gate.PENDING_ORDER, Denial.SKIPPED)
    assert rig.denial(rig.order(NVDA)) is None  # another market is free


def test_gate_action_budget_skips_on_address_budget() -> None:
    rig = Rig()
    rig.budget.on_user_rate_limit({"cumVlm": "0.0", "nRequestsUsed": 10_000,
                                   "nRequestsCap": 10_000, "nRequestsSurplus": 0})
    assert rig.denial(rig.order()) == (Gate.ACTION_BUDGET, Denial.SKIPPED)


def test_gate_action_budget_skips_on_ip_weight() -> None:
    rig = Rig()
    rig.budget.on_ip_weight(rig.budget.ip_limit - rig.budget.ip_reserve, T0 + 500)
    assert rig.denial(rig.order()) == (Gate.ACTION_BUDGET, Denial.SKIPPED)
    # The weight leaves the window a minute later.
    assert rig.gates.submit(rig.order(), T0 + 60_500) != []
    assert rig.budget.ip_weight_used(T0 + 60_500) == 0


def test_gate_all_passed_marks_pending_and_enqueues() -> None:
    rig = Rig()
    order = rig.order()
    (queued,) = rig.gates.submit(order, T0 + 1)
    assert queued == OrderQueued(T0 + 1, order.cloid, COIN, False, False)
    assert rig.tracker.pending_markets() == {COIN}
    assert rig.scheduler.queued()[2] == (order,)


def test_gate_refused_enqueue_undoes_the_pending_mark() -> None:
    rig = Rig(ExecutorSettings(queue_capacity_new=1))
    rig.gates.submit(rig.order(NVDA, sz="0.01"), T0)
    order = rig.order(COIN)
    assert rig.denial(order) == (Gate.QUEUE, Denial.REJECTED)
    assert rig.tracker.pending_markets() == {NVDA} and rig.tracker.order(cloid=order.cloid) is None
    full = Rig()
    for i in range(full.scheduler.inflight.limit):
        full.scheduler.inflight.acquire(("info", i))
    assert full.denial(full.order()) == (Gate.QUEUE, Denial.SKIPPED)  # in-flight full


def test_gate_degraded_enqueue_is_reported() -> None:
    rig = Rig()
    for i in range(rig.scheduler.inflight.high_water):
        rig.scheduler.inflight.acquire(("info", i))
    (queued,) = rig.gates.submit(rig.order(), T0)
    assert isinstance(queued, OrderQueued) and queued.degraded


# ---------------------------------------------------------------- order of the gates


def test_gates_run_in_the_design_order_first_failure_decides() -> None:
    rig = Rig()
    assert only(rig.gates.submit(rig.order(TSLA, sz="0.01"), T0), OrderQueued)  # pending
    rig.position(COIN, "0.3", "190")  # 57 in COIN: market and total notional both over
    rig.position(NVDA, "0.3", "190")
    rig.budget.on_user_rate_limit({"cumVlm": "0", "nRequestsUsed": 99_999,
                                   "nRequestsCap": 10_000})
    rig.ready.on_disconnect(T0)
    rig.latch.halt("ops", "test", T0)
    assert rig.denial(rig.order(COIN)) == (Gate.HARD_STOP, Denial.REJECTED)
    rig.latch.resume("ops", "gate order test", T0)
    assert rig.denial(rig.order(COIN)) == (Gate.NOT_READY, Denial.REJECTED)
    rig.ready.on_connected(T0)
    for setter in (rig.ready.on_order_updates_ack, rig.ready.on_fills_snapshot,
                   rig.ready.on_positions_synced):  # fmt: skip
        setter(T0)
    rig.ready.set_market_data(True, T0)
    assert rig.denial(rig.order(COIN)) == (Gate.MAX_NOTIONAL_MARKET, Denial.REJECTED)
    # TSLA: its own notional is fine, the total is not (57 + 57 + 1.9 pending + 19).
    assert rig.denial(rig.order(TSLA)) == (Gate.MAX_NOTIONAL_TOTAL, Denial.REJECTED)
    assert rig.denial(rig.order(NVDA, sz="0.001")) == (Gate.MAX_NOTIONAL_MARKET,
                                                       Denial.REJECTED)  # fmt: skip
    rig.marks[NVDA] = D("100")  # NVDA at 30 now; total 57 + 30 + 1.9 + 0.19
    assert rig.denial(rig.order(NVDA, sz="0.001")) == (Gate.HAS_POSITION, Denial.SKIPPED)
    assert rig.denial(rig.order(TSLA, sz="0.001")) == (Gate.PENDING_ORDER, Denial.SKIPPED)
    rig.tracker.orders.resolve(rig.scheduler.queued()[2][0].cloid, None, T0)  # never placed
    assert rig.denial(rig.order(TSLA, sz="0.001")) == (Gate.ACTION_BUDGET, Denial.SKIPPED)


# ---------------------------------------------------------------- reduce-only and cancels


def test_reduce_only_passes_latch_notional_and_position_gates() -> None:
    rig = Rig()
    rig.position(COIN, "0.5", "190")  # 95: over the per-market limit
    rig.latch.halt("ops", "test", T0)
    flatten = rig.order(COIN, sz="0.5", ro=True, buy=False)
    (queued,) = rig.gates.submit(flatten, T0)
    assert isinstance(queued, OrderQueued) and queued.reduce_only
    assert rig.scheduler.queued()[1] == (flatten,)


def test_reduce_only_is_held_back_when_not_ready() -> None:
    rig = Rig()
    rig.position(COIN, "0.1", "190")
    rig.ready.on_disconnect(T0)
    assert rig.denial(rig.order(ro=True, buy=False)) == (Gate.NOT_READY, Denial.REJECTED)


def test_reduce_only_pending_gate_counts_only_reduce_only_orders() -> None:
    rig = Rig()
    rig.gates.submit(rig.order(COIN, tif="Gtc"), T0)  # a resting quote in COIN
    rig.position(COIN, "0.1", "190")
    assert rig.denial(rig.order(ro=True, buy=False)) is None
    assert rig.denial(rig.order(ro=True, buy=False)) == (Gate.PENDING_ORDER, Denial.SKIPPED)


def test_reduce_only_may_use_the_budget_reserve() -> None:
    rig = Rig()
    rig.position(COIN, "0.1", "190")
    rig.position(NVDA, "0.1", "190")
    left = rig.budget.new_order_reserve // 2
    rig.budget.on_user_rate_limit({"cumVlm": "0.0", "nRequestsUsed": 10_000 - left,
                                   "nRequestsCap": 10_000, "nRequestsSurplus": 0})
    assert rig.denial(rig.order(TSLA)) == (Gate.ACTION_BUDGET, Denial.SKIPPED)
    assert rig.denial(rig.order(COIN, ro=True, buy=False)) is None
    rig.budget.on_user_rate_limit({"cumVlm": "0.0", "nRequestsUsed": 10_000,
                                   "nRequestsCap": 10_000, "nRequestsSurplus": 0})
    assert rig.denial(rig.order(NVDA, ro=True, buy=False)) == (Gate.ACTION_BUDGET,
                                                               Denial.SKIPPED)  # fmt: skip


def test_cancels_pass_a_tripped_latch_and_a_lost_connection() -> None:
    rig = Rig()
    rig.latch.halt("ops", "test", T0)
    rig.ready.on_disconnect(T0)
    (queued,) = rig.gates.submit_cancel(CancelRequest(COIN, ASSETS[COIN], oid=5), T0)
    assert isinstance(queued, CancelQueued) and rig.scheduler.status().cancels == 1


def test_cancel_all_withdraws_queued_orders_and_cancels_open_ones() -> None:
    rig = Rig()
    queued = rig.order(COIN)
    resting = rig.order(NVDA, tif="Gtc")
    ioc = rig.order(TSLA)
    for order in (queued, resting, ioc):
        rig.gates.submit(order, T0)
    (batch,) = rig.scheduler.tick()  # takes all three; put the first one back
    rig.gates.on_batch_sent(batch, T0)
    rig.tracker.orders.on_resting(resting.cloid, 777, T0)
    rig.scheduler.on_response(batch.batch_id)
    again = rig.order(COIN, sz="0.01")
    rig.tracker.orders.resolve(queued.cloid, "filled", T0)
    rig.gates.submit(again, T0)
    events = rig.gates.cancel_all(T0 + 5, "test")
    (failed,) = only(events, OrderFailed)
    assert failed.cloid == again.cloid and rig.scheduler.status().new == 0
    (cancel,) = rig.scheduler.queued()[0]
    assert (cancel.market, cancel.oid, cancel.asset) == (NVDA, 777, ASSETS[NVDA])


# ---------------------------------------------------------------- scheduler results


def test_sent_timed_out_then_resolved_never_placed_clears_pending() -> None:
    rig = Rig()
    order = rig.order()
    rig.gates.submit(order, T0)
    (batch,) = rig.scheduler.tick()
    rig.gates.on_batch_sent(batch, T0 + 1)
    assert state_of(rig, order.cloid) is OrderState.SENT
    assert rig.budget.ip_weight_used(T0 + 1) == 1
    events = rig.gates.on_timeout(batch.batch_id, T0 + 5_001)
    (failed,) = only(events, OrderFailed)
    assert failed.cloid == order.cloid
    assert rig.tracker.pending_markets() == {COIN}  # fate unknown: still pending
    rig.gates.resolve(order.cloid, None, T0 + 5_100)
    assert rig.tracker.pending_markets() == frozenset()


def test_timed_out_reduce_only_is_requeued_after_resolution() -> None:
    rig = Rig()
    rig.position(COIN, "0.1", "190")
    flatten = rig.order(ro=True, buy=False)
    rig.gates.submit(flatten, T0)
    (batch,) = rig.scheduler.tick()
    rig.gates.on_batch_sent(batch, T0)
    rig.gates.on_disconnect(T0 + 10)
    assert rig.scheduler.held == {flatten.cloid}
    rig.gates.resolve(flatten.cloid, None, T0 + 20)
    assert rig.scheduler.held == frozenset()
    assert state_of(rig, flatten.cloid) is OrderState.QUEUED


# ---------------------------------------------------------------- the action budget


def test_budget_reads_user_rate_limit_and_grows_with_volume() -> None:
    budget = ActionBudget()
    assert remaining(budget) is None  # unknown until read
    # The shape of a documented userRateLimit answer: cap = 10,000 + floor(cumVlm).
    budget.on_user_rate_limit({"cumVlm": "2854574.593578", "nRequestsUsed": 2890,
                               "nRequestsCap": 2864574, "nRequestsSurplus": 0})
    assert budget.address_remaining == 2864574 - 2890
    fresh = ActionBudget()
    fresh.on_user_rate_limit({"cumVlm": "0.0", "nRequestsUsed": 9_990,
                              "nRequestsCap": 10_000, "nRequestsSurplus": 5})
    assert fresh.address_remaining == 15
    fresh.on_fill_volume(D("25.5"))
    assert fresh.address_remaining == 40  # + floor(25.5)
    with pytest.raises(ValueError, match="userRateLimit"):
        fresh.on_user_rate_limit({"cumVlm": 1.5, "nRequestsUsed": 1, "nRequestsCap": 2})
    with pytest.raises(ValueError, match="userRateLimit"):
        fresh.on_user_rate_limit({"nRequestsUsed": 1})
