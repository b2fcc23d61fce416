"""HardStopLatch and RiskMonitor: every trigger trips (and not one step before its
limit), a trip produces cancel-all and flatten-all requests, resume needs the explicit
call, the losing streak resets on a win, operator levels, and (hypothesis) the latch
never leaves TRIPPED without a resume. Limits are the config defaults."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.config import RiskSettings
from hip3term.core.events import (
    AlertRaised,
    CancelQueued,
    EngineEvent,
    FlattenStarted,
    LatchEngaged,
    LatchResumed,
    LatchState,
    LatchTripped,
    OrderFailed,
    OrderQueued,
    TripTrigger,
)
from hip3term.execution.flatten import Flattener, Quote
from hip3term.execution.orders import CloidSequence, OrderRequest
from hip3term.execution.scheduler import BatchScheduler
from hip3term.positions import PositionTracker
from hip3term.risk.gates import ActionBudget, GateKeeper
from hip3term.risk.latch import HardStopLatch, MarketHealth, RiskInputs, RiskMonitor
from hip3term.risk.ready import TradingReadyChecker
from hip3term.venue.hyperliquid.markets import MarketInfo
from hip3term.venue.hyperliquid.wire import Fill

D = Decimal
T0 = 1_700_000_000_000
RISK = RiskSettings()
COIN, NVDA = "xyz:COIN", "xyz:NVDA"
E = TypeVar("E")


def only(events: Sequence[EngineEvent], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def state(latch: HardStopLatch) -> LatchState:
    return latch.state  # a call: mypy keeps no narrowed value across steps


def healthy(**changes: Any) -> RiskInputs:
    base = RiskInputs(markets=(MarketHealth(COIN, 1.0, D(100), D(100)),))
    return RiskInputs(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **changes})


def feed(age: float | None = 1.0, oracle: str = "100", mark: str = "100") -> tuple[MarketHealth]:
    return (MarketHealth(COIN, age, D(oracle), D(mark)),)


LOSS = RISK.max_cumulative_loss
TRIGGERS: list[tuple[TripTrigger, dict[str, Any], dict[str, Any]]] = [
    # (trigger, inputs just over the limit, inputs exactly at the limit)
    (TripTrigger.CUMULATIVE_LOSS,
     {"realized_pnl": -LOSS + 5, "unrealized_pnl": D("-5.01")},
     {"realized_pnl": -LOSS + 5, "unrealized_pnl": D(-5)}),
    (TripTrigger.CONSECUTIVE_LOSSES,
     {"closed_trades": 9, "consecutive_losses": RISK.max_consecutive_losses + 1},
     {"closed_trades": 9, "consecutive_losses": RISK.max_consecutive_losses}),
    (TripTrigger.FLATTEN_FAILURES,
     {"flatten_failures": RISK.max_flatten_failures + 1},
     {"flatten_failures": RISK.max_flatten_failures}),
    (TripTrigger.MARKET_DATA_STALE,
     {"markets": feed(age=RISK.market_data_stale_s + 0.001)},
     {"markets": feed(age=RISK.market_data_stale_s)}),
    (TripTrigger.ORACLE_MARK_DIVERGENCE,  # 100 bps is the default limit
     {"markets": feed(oracle="100", mark="101.01")},
     {"markets": feed(oracle="100", mark="99")}),
    (TripTrigger.WS_DOWN,
     {"ws_down_since_ms": T0 - round(RISK.ws_down_s * 1000) - 1},
     {"ws_down_since_ms": T0 - round(RISK.ws_down_s * 1000)}),
]  # fmt: skip


@pytest.mark.parametrize(("trigger", "over", "at"), TRIGGERS, ids=[t[0] for t in TRIGGERS])
def test_latch_trips_on_each_trigger_just_over_its_limit(
    trigger: TripTrigger, over: dict[str, Any], at: dict[str, Any]
) -> None:
    latch = HardStopLatch(RISK)
    monitor = RiskMonitor(RISK, latch)
    assert monitor.check(T0, healthy(**at)) == []
    assert state(latch) is LatchState.ACTIVE
    events = monitor.check(T0, healthy(**over))
    (tripped,) = only(events, LatchTripped)
    assert tripped.trigger is trigger and tripped.ts_ms == T0
    assert state(latch) is LatchState.TRIPPED and latch.trip_trigger is trigger
    assert only(events, AlertRaised)


def test_latch_trips_on_a_reject_storm_counting_each_order_once() -> None:
    latch = HardStopLatch(RISK)
    monitor = RiskMonitor(RISK, latch)
    window_ms = round(RISK.reject_storm_window_s * 1000)
    monitor.rejects.record(T0 - window_ms, "old")  # leaves the window
    for i in range(RISK.reject_storm_count - 1):
        monitor.rejects.record(T0 - 100 + i, f"0x{i}")
        monitor.rejects.record(T0 - 50 + i, f"0x{i}")  # post status + orderUpdates
    assert monitor.check(T0, healthy()) == []
    monitor.rejects.record(T0, "0xlast")
    (tripped,) = only(monitor.check(T0, healthy()), LatchTripped)
    assert tripped.trigger is TripTrigger.REJECT_STORM


def test_latch_operator_halt_trips() -> None:
    latch = HardStopLatch(RISK)
    (tripped, alert) = latch.halt("alice", "news", T0)
    assert isinstance(tripped, LatchTripped) and tripped.trigger is TripTrigger.OPERATOR
    assert tripped.detail == "alice: news" and isinstance(alert, AlertRaised)


def test_latch_holds_until_explicit_resume_and_rebases() -> None:
    latch = HardStopLatch(RISK)
    monitor = RiskMonitor(RISK, latch)
    lost = healthy(realized_pnl=-LOSS - 1)
    monitor.check(T0, lost)
    assert monitor.check(T0 + 1, healthy()) == []  # healthy again: still tripped
    assert monitor.check(T0 + 1, lost) == []  # no second trip either
    assert latch.halt("alice", "again", T0 + 2) == []  # a second trip keeps the first
    assert state(latch) is LatchState.TRIPPED and latch.trip_trigger is TripTrigger.CUMULATIVE_LOSS
    with pytest.raises(ValueError, match="operator"):
        latch.resume(" ", "because", T0 + 3)
    (resumed,) = only(latch.resume("alice", "reviewed", T0 + 4), LatchResumed)
    assert (resumed.ts_ms, resumed.operator, resumed.reason, resumed.previous) == (
        T0 + 4, "alice", "reviewed", LatchState.TRIPPED,
    )  # fmt: skip
    assert resumed.trip_trigger is TripTrigger.CUMULATIVE_LOSS
    assert resumed.trip_detail == "PnL -21.00 < -20"  # shown to the operator
    assert state(latch) is LatchState.ACTIVE and latch.resume("alice", "x", T0 + 5) == []
    # The loss counts from the resume: a further $20 is needed to trip again.
    assert monitor.check(T0 + 6, healthy(realized_pnl=-LOSS - 1 - LOSS)) == []
    assert only(monitor.check(T0 + 7, healthy(realized_pnl=-LOSS - D("1.01") - LOSS)),
                LatchTripped)  # fmt: skip


def test_monitor_resume_rebases_on_the_figures_given() -> None:
    latch = HardStopLatch(RISK)
    monitor = RiskMonitor(RISK, latch)
    monitor.check(T0, healthy(realized_pnl=-LOSS - 1, flatten_failures=2))
    with pytest.raises(ValueError, match="reason"):
        monitor.resume("alice", "", T0 + 1, healthy())
    at_resume = healthy(realized_pnl=-LOSS - 5, flatten_failures=3)
    assert only(monitor.resume("alice", "ok", T0 + 1, at_resume), LatchResumed)
    assert monitor.check(T0 + 2, healthy(realized_pnl=-LOSS - 5 - LOSS,
                                         flatten_failures=3 + RISK.max_flatten_failures)) == []
    (tripped,) = only(monitor.check(T0 + 3, healthy(
        realized_pnl=-LOSS - 5, flatten_failures=4 + RISK.max_flatten_failures)), LatchTripped)
    assert tripped.trigger is TripTrigger.FLATTEN_FAILURES
    assert monitor.resume("alice", "ok", T0 + 4, at_resume) != []
    assert monitor.resume("alice", "ok", T0 + 5, at_resume) == []  # already active


def test_latch_operator_levels_only_rise() -> None:
    latch = HardStopLatch(RISK)
    (paused,) = latch.pause("bob", "lunch", T0)
    assert paused == LatchEngaged(T0, LatchState.PAUSED, "bob", "lunch")
    assert only(latch.cancel_all("bob", "tidy", T0), LatchEngaged)[0].state is LatchState.HALTED
    assert latch.pause("bob", "again", T0) == []
    assert state(latch) is LatchState.HALTED
    latch.halt("bob", "stop", T0)
    assert latch.pause("bob", "x", T0) == [] and latch.flatten("bob", "x", T0) == []
    assert state(latch) is LatchState.TRIPPED


# ---------------------------------------------------------------- what a trip does


class Rig:
    def __init__(self, settings: RiskSettings = RISK) -> None:
        self.tracker = PositionTracker()
        self.tracker.on_user_fills([], is_snapshot=True, now_ms=T0)
        self.tracker.reconcile({"assetPositions": [], "time": T0}, [], T0)
        self.ready = TradingReadyChecker()
        self.ready.on_connected(T0)
        for setter in (self.ready.on_order_updates_ack, self.ready.on_fills_snapshot,
                       self.ready.on_positions_synced):  # fmt: skip
            setter(T0)
        self.ready.set_market_data(True, T0)
        self.latch = HardStopLatch(settings)
        self.scheduler = BatchScheduler()
        market = MarketInfo(COIN, 110007, "xyz", 1, 7, 3, 10, "noCross", True, False, False)
        self.flattener = Flattener(settings, self.tracker, {COIN: market}.get,
                                   lambda m: Quote(D(190), D("190.01"), None), CloidSequence(1))
        self.gates = GateKeeper(
            settings, latch=self.latch, ready=self.ready, tracker=self.tracker,
            budget=ActionBudget(), scheduler=self.scheduler, marks=lambda m: None,
            assets={COIN: 110007, NVDA: 110002}.get, flattener=self.flattener,
        )  # fmt: skip
        self.latch.attach(self.gates)
        self.monitor = RiskMonitor(settings, self.latch)
        self.tid = 0

    def fill(self, side: str, px: str, sz: str = "0.1", market: str = COIN) -> None:
        self.tid += 1
        held = self.tracker.position(market)
        start = held.size if held else D(0)
        fill = Fill(market, D(px), D(sz), "B" if side == "B" else "A", T0 + self.tid, start, "",
                    D(0), "0x0", 1, True, D(0), "USDC", self.tid, None, None, None, None)
        self.tracker.on_user_fills([fill], is_snapshot=False, now_ms=T0 + self.tid)

    def inputs(self) -> RiskInputs:
        return RiskInputs.collect(self.tracker, lambda m: None,
                                  flatten_failures=self.flattener.failures)  # fmt: skip


def test_trip_cancels_all_and_flattens_all() -> None:
    rig = Rig()
    rig.fill("B", "190")  # a long COIN position
    resting = OrderRequest(f"0x{1:032x}", NVDA, 110002, True, D(100), D("0.1"), "Gtc", False, T0)
    queued = OrderRequest(f"0x{2:032x}", NVDA, 110002, True, D(100), D("0.1"), "Ioc", False, T0)
    rig.gates.submit(resting, T0)
    (batch,) = rig.scheduler.tick()
    rig.gates.on_batch_sent(batch, T0)
    rig.tracker.orders.on_resting(resting.cloid, 4242, T0)
    rig.scheduler.on_response(batch.batch_id)
    rig.tracker.orders.resolve(resting.cloid, "open", T0)
    rig.scheduler.enqueue_order(queued)  # queued behind the gates' back, to be withdrawn
    rig.tracker.mark_pending(queued, T0)
    events = rig.monitor.check(T0 + 100, RiskInputs(flatten_failures=4))
    kinds = [type(e) for e in events]
    assert kinds[0] is LatchTripped and kinds[-1] is AlertRaised
    assert [e.cloid for e in only(events, OrderFailed)] == [queued.cloid]
    (cancel_event,) = only(events, CancelQueued)
    assert cancel_event.oid == 4242
    assert only(events, FlattenStarted)[0].market == COIN
    (flatten_queued,) = only(events, OrderQueued)
    assert flatten_queued.reduce_only and flatten_queued.market == COIN
    cancels, reduce_only, new = rig.scheduler.queued()
    assert [c.oid for c in cancels] == [4242] and new == ()
    assert [(o.market, o.is_buy, o.sz, o.tif) for o in reduce_only] == [(COIN, False, D("0.1"),
                                                                         "Ioc")]  # fmt: skip


def test_trip_follows_halt_config() -> None:
    rig = Rig(RiskSettings(halt_cancels_all=False, halt_flattens=False))
    rig.fill("B", "190")
    events = rig.latch.halt("ops", "test", T0)
    (tripped,) = only(events, LatchTripped)
    assert (tripped.cancels_all, tripped.flattens) == (False, False)
    assert rig.scheduler.queued() == ((), (), ())


def test_operator_flatten_one_market_cancels_and_flattens_it() -> None:
    rig = Rig()
    rig.fill("A", "190", sz="0.2")
    events = rig.latch.flatten("carol", "manual", T0 + 50, market=COIN)
    assert only(events, LatchEngaged)[0].state is LatchState.HALTED
    (order,) = rig.scheduler.queued()[1]
    assert (order.is_buy, order.sz, order.reduce_only) == (True, D("0.2"), True)


def test_consecutive_losses_reset_on_a_win_through_the_tracker() -> None:
    rig = Rig()
    limit = RISK.max_consecutive_losses
    for _ in range(limit):
        rig.fill("B", "190")
        rig.fill("A", "189.9")
    rig.fill("B", "190")
    rig.fill("A", "190.5")  # a win: the streak restarts
    for _ in range(limit):
        rig.fill("B", "190")
        rig.fill("A", "189.9")
    assert rig.tracker.consecutive_losses == limit
    assert rig.monitor.check(T0 + 1_000, rig.inputs()) == []
    rig.fill("B", "190")
    rig.fill("A", "189.9")
    (tripped,) = only(rig.monitor.check(T0 + 2_000, rig.inputs()), LatchTripped)
    assert tripped.trigger is TripTrigger.CONSECUTIVE_LOSSES


def test_resume_restarts_the_losing_streak() -> None:
    rig = Rig()
    for _ in range(RISK.max_consecutive_losses + 1):
        rig.fill("B", "190")
        rig.fill("A", "189.9")
    assert only(rig.monitor.check(T0 + 1_000, rig.inputs()), LatchTripped)
    rig.latch.resume("dave", "ok", T0 + 2_000)
    assert rig.monitor.check(T0 + 2_001, rig.inputs()) == []
    rig.fill("B", "190")
    rig.fill("A", "189.9")  # 1 loss since the resume, 7 in a row in all
    assert rig.monitor.check(T0 + 3_000, rig.inputs()) == []


# ---------------------------------------------------------------- stickiness (hypothesis)

ops = st.lists(
    st.one_of(
        st.tuples(st.just("trip"), st.sampled_from(list(TripTrigger))),
        st.tuples(st.just("check"), st.sampled_from(TRIGGERS).map(lambda t: t[1])),
        st.tuples(st.just("check"), st.just({})),
        st.tuples(st.sampled_from(["pause", "cancel_all", "flatten", "halt", "resume"]),
                  st.none()),
    ),
    max_size=40,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(ops)
def test_latch_never_leaves_tripped_without_resume(steps: list[tuple[str, Any]]) -> None:
    latch = HardStopLatch(RISK)
    monitor = RiskMonitor(RISK, latch)
    for i, (op, arg) in enumerate(steps):
        before = latch.state
        now = T0 + i
        if op == "trip":
            latch.trip(arg, "random", now)
        elif op == "check":
            monitor.check(now, healthy(**arg))
        elif op == "resume":
            latch.resume("eve", "random", now)
        else:
            getattr(latch, op)("eve", "random", now)
        if op == "resume":
            assert latch.state is LatchState.ACTIVE
        else:
            assert latch.state.severity >= before.severity
            if before is LatchState.TRIPPED:
                assert latch.state is LatchState.TRIPPED


def test_divergence_is_figured_again_for_a_new_context_not_for_the_same_one() -> None:
    monitor = RiskMonitor(RISK, HardStopLatch(RISK))
    limit = RISK.max_oracle_mark_divergence_bps  # in bps of the oracle (100)
    oracle, mark = D(100), D(100) + limit / 100  # exactly at the limit: no trip
    calm = RiskInputs(markets=(MarketHealth(COIN, 1.0, oracle, mark),))
    assert monitor.check(T0, calm) == [] and monitor.check(T0 + 100, calm) == []
    # equal values in new objects: the same figure; a new mark past the limit: a trip
    again = RiskInputs(markets=(MarketHealth(COIN, 1.0, D(100), D(100) + limit / 100),))
    assert monitor.check(T0 + 200, again) == []
    wide = RiskInputs(markets=(MarketHealth(COIN, 1.0, oracle, mark + D("0.01")),))
    (tripped,) = only(monitor.check(T0 + 300, wide), LatchTripped)
    assert tripped.trigger is TripTrigger.ORACLE_MARK_DIVERGENCE
