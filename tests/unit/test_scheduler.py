"""BatchScheduler and InflightTracker: outcomes at every level, batch sizes, priority,
re-queues at the front, held reduce-only orders, disconnects (config default numbers)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hip3term.config import ExecutorSettings
from hip3term.execution.orders import CancelRequest, OrderRequest
from hip3term.execution.scheduler import (
    Batch,
    BatchKind,
    BatchScheduler,
    EnqueueOutcome,
    InflightLevel,
    InflightTracker,
    exchange_weight,
)

CFG = ExecutorSettings()
LIMIT, HWM = CFG.inflight_limit, CFG.inflight_high_water
PER_ACTION = CFG.max_orders_per_action


def cloid(n: int) -> str:
    return f"0x{n:032x}"


def order(n: int, *, ro: bool = False, market: str = "xyz:COIN") -> OrderRequest:
    return OrderRequest(cloid(n), market, 110007, True, Decimal("190.5"), Decimal("0.1"),
                        "Ioc", ro, 0)


def cancel(n: int, *, by_cloid: bool = False) -> CancelRequest:
    if by_cloid:
        return CancelRequest("xyz:COIN", 110007, cloid=cloid(n))
    return CancelRequest("xyz:COIN", 110007, oid=n)


def fill_inflight(s: BatchScheduler, count: int) -> None:
    # Info posts count against the same limit: the quickest way to a level.
    for i in range(count):
        assert s.inflight.acquire(("info", i))


def test_scheduler_below_hwm_queues_new_order_and_sends_it() -> None:
    s = BatchScheduler()
    fill_inflight(s, HWM - 1)
    assert s.enqueue_order(order(1)) is EnqueueOutcome.QUEUED
    (batch,) = s.tick()
    assert batch.kind is BatchKind.ORDER and [o.cloid for o in batch.orders] == [cloid(1)]
    assert s.inflight.in_flight == HWM - 1  # tick does not count it in flight
    s.on_batch_sent(batch)  # the batch itself or its id
    assert s.inflight.in_flight == HWM
    assert s.on_response(batch) and s.inflight.in_flight == HWM - 1


def test_scheduler_at_hwm_new_order_degraded_and_waits() -> None:
    s = BatchScheduler()
    fill_inflight(s, HWM)
    assert s.inflight.level is InflightLevel.DEGRADED
    assert s.enqueue_order(order(1)) is EnqueueOutcome.QUEUED_DEGRADED
    assert s.enqueue_order(order(2, ro=True)) is EnqueueOutcome.QUEUED
    assert s.enqueue_cancel(cancel(3)) is EnqueueOutcome.QUEUED
    cancels, orders = s.tick()
    assert cancels.kind is BatchKind.CANCEL and cancels.cancels == (cancel(3),)
    assert [o.cloid for o in orders.orders] == [cloid(2)]  # only the reduce-only order
    assert s.status().new == 1
    for batch in (cancels, orders):
        s.on_batch_sent(batch.batch_id)
    # Back below the high-water mark: the degraded order goes.
    for key in [("info", i) for i in range(3)]:
        assert s.inflight.complete(key)
    (batch,) = s.tick()
    assert [o.cloid for o in batch.orders] == [cloid(1)]


def test_scheduler_at_limit_sends_nothing_and_cancels_wait_queued() -> None:
    s = BatchScheduler()
    fill_inflight(s, LIMIT)
    assert s.inflight.level is InflightLevel.FULL
    assert s.enqueue_order(order(1)) is EnqueueOutcome.INFLIGHT_FULL
    assert s.status().new == 0  # refused, not queued
    assert s.enqueue_cancel(cancel(2)) is EnqueueOutcome.QUEUED
    assert s.enqueue_order(order(3, ro=True)) is EnqueueOutcome.QUEUED
    assert s.tick() == ()
    assert s.status().cancels == 1 and s.status().reduce_only == 1
    # One slot frees: the cancel batch takes it, the order batch must wait.
    assert s.inflight.complete(("info", 0))
    (batch,) = s.tick()
    assert batch.kind is BatchKind.CANCEL
    assert s.tick() == ()
    assert s.inflight.load == LIMIT


def test_scheduler_full_queues_reject() -> None:
    s = BatchScheduler()
    for i in range(CFG.queue_capacity_cancel):
        assert s.enqueue_cancel(cancel(i)) is EnqueueOutcome.QUEUED
    assert s.enqueue_cancel(cancel(10_000)) is EnqueueOutcome.QUEUE_FULL
    for i in range(CFG.queue_capacity_reduce_only):
        assert s.enqueue_order(order(i, ro=True)) is EnqueueOutcome.QUEUED
    assert s.enqueue_order(order(10_000, ro=True)) is EnqueueOutcome.QUEUE_FULL
    for i in range(CFG.queue_capacity_new):
        assert s.enqueue_order(order(20_000 + i)) is EnqueueOutcome.QUEUED
    assert s.enqueue_order(order(30_000)) is EnqueueOutcome.QUEUE_FULL
    fill_inflight(s, LIMIT)
    # Queue-full is checked before in-flight-full.
    assert s.enqueue_order(order(30_001)) is EnqueueOutcome.QUEUE_FULL


def test_scheduler_batches_hold_at_most_50_and_keep_priority() -> None:
    s = BatchScheduler()
    for i in range(2 * PER_ACTION + 20):
        s.enqueue_order(order(1000 + i))
    for i in range(PER_ACTION + 5):
        s.enqueue_order(order(i, ro=True))
    for i in range(CFG.max_cancels_per_action + 7):
        s.enqueue_cancel(cancel(i))
    cancels, orders = s.tick()
    assert len(cancels) == CFG.max_cancels_per_action
    assert len(orders) == PER_ACTION and all(o.reduce_only for o in orders.orders)
    cancels, orders = s.tick()
    assert len(cancels) == 7
    assert [o.reduce_only for o in orders.orders] == [True] * 5 + [False] * (PER_ACTION - 5)
    sent_new = [o.cloid for o in orders.orders if not o.reduce_only]
    assert sent_new == [cloid(1000 + i) for i in range(PER_ACTION - 5)]  # FIFO
    (orders,) = s.tick()
    assert len(orders) == PER_ACTION


def test_scheduler_never_mixes_cancel_by_oid_and_by_cloid() -> None:
    s = BatchScheduler()
    s.enqueue_cancel(cancel(1))
    s.enqueue_cancel(cancel(2, by_cloid=True))
    s.enqueue_cancel(cancel(3))
    (first,) = s.tick()
    assert [c.oid for c in first.cancels] == [1, 3] and not first.by_cloid
    (second,) = s.tick()
    assert second.by_cloid and second.cancels[0].cloid == cloid(2)


def test_scheduler_absorbs_duplicate_cancels_queued_or_in_flight() -> None:
    s = BatchScheduler()
    assert s.enqueue_cancel(cancel(1)) is EnqueueOutcome.QUEUED
    assert s.enqueue_cancel(cancel(1)) is EnqueueOutcome.QUEUED
    assert s.status().cancels == 1
    (batch,) = s.tick()
    s.on_batch_sent(batch.batch_id)
    assert s.enqueue_cancel(cancel(1)) is EnqueueOutcome.QUEUED
    assert s.status().cancels == 0
    assert s.on_response(batch.batch_id)
    assert s.enqueue_cancel(cancel(1)) is EnqueueOutcome.QUEUED
    assert s.status().cancels == 1


def test_scheduler_send_failure_requeues_at_front_and_fails_new_orders() -> None:
    s = BatchScheduler()
    s.enqueue_order(order(1, ro=True))
    s.enqueue_order(order(2))
    s.enqueue_cancel(cancel(3))
    cancels, orders = s.tick()
    s.enqueue_order(order(4, ro=True))
    s.enqueue_cancel(cancel(5))
    released = s.on_send_failed(orders.batch_id) + s.on_send_failed(cancels.batch_id)
    assert [o.cloid for o in released.failed_unsent] == [cloid(2)]
    assert released.failed_unknown == () and released.held == ()
    queued_cancels, queued_ro, queued_new = s.queued()
    assert [c.oid for c in queued_cancels] == [3, 5]
    assert [o.cloid for o in queued_ro] == [cloid(1), cloid(4)]
    assert queued_new == ()
    assert s.inflight.load == 0
    with pytest.raises(ValueError, match="report it failed"):
        s.requeue_front([order(2)])


def test_scheduler_timeout_holds_reduce_only_until_resolved() -> None:
    s = BatchScheduler()
    s.enqueue_order(order(1, ro=True))
    s.enqueue_order(order(2))
    (batch,) = s.tick()
    s.on_batch_sent(batch.batch_id)
    released = s.on_timeout(batch.batch_id)
    assert s.inflight.in_flight == 0 and s.inflight.completed == 1
    assert [o.cloid for o in released.held] == [cloid(1)]
    assert [o.cloid for o in released.failed_unknown] == [cloid(2)]
    assert s.held == {cloid(1)}
    assert s.tick() == ()  # held: not resent before its fate is known
    assert s.on_response(batch.batch_id) is False  # a late answer changes nothing
    assert s.resolve(cloid(1), placed=False) is None
    (resent,) = s.tick()
    assert [o.cloid for o in resent.orders] == [cloid(1)]


def test_scheduler_resolved_as_placed_leaves_the_queue() -> None:
    s = BatchScheduler()
    s.enqueue_order(order(1, ro=True))
    (batch,) = s.tick()
    s.on_batch_sent(batch.batch_id)
    s.on_timeout(batch.batch_id)
    assert s.resolve(cloid(1), placed=True) == order(1, ro=True)
    assert s.status().reduce_only == 0 and s.tick() == ()
    assert s.resolve(cloid(1), placed=True) is None


def test_scheduler_disconnect_releases_everything_in_order() -> None:
    s = BatchScheduler()
    for i in range(3):
        s.enqueue_order(order(i, ro=True))
        (batch,) = s.tick()
        s.on_batch_sent(batch.batch_id)
    s.enqueue_order(order(10, ro=True))
    (handed,) = s.tick()  # handed out, not yet written
    s.enqueue_order(order(20))
    s.enqueue_order(order(21))
    fill_inflight(s, 5)
    released = s.on_disconnect()
    assert s.inflight.in_flight == 5  # info posts are the executor's to complete
    assert s.inflight.reserved == 0
    assert {o.cloid for o in released.held} == {cloid(0), cloid(1), cloid(2)}
    assert [o.cloid for o in released.failed_unsent] == [cloid(20), cloid(21)]
    _, ro, new = s.queued()
    assert [o.cloid for o in ro] == [cloid(i) for i in (0, 1, 2, 10)]
    assert new == ()
    (resent,) = s.tick()
    assert [o.cloid for o in resent.orders] == [cloid(10)]  # the unsent one; others held
    assert handed.batch_id != resent.batch_id


def test_scheduler_tick_never_exceeds_the_limit() -> None:
    s = BatchScheduler()
    fill_inflight(s, LIMIT - 1)
    s.enqueue_cancel(cancel(1))
    s.enqueue_order(order(2, ro=True))
    assert len(s.tick()) == 1
    assert s.inflight.load == LIMIT
    assert s.tick() == ()


def test_scheduler_refuses_duplicate_cloid_and_unknown_batches() -> None:
    s = BatchScheduler()
    s.enqueue_order(order(1))
    with pytest.raises(ValueError, match="already queued"):
        s.enqueue_order(order(1))
    with pytest.raises(ValueError, match="not handed out"):
        s.on_batch_sent(99)
    with pytest.raises(ValueError, match="not handed out"):
        s.on_send_failed(99)
    assert s.on_timeout(99).requeued == ()


def test_inflight_tracker_counts_sent_minus_completed() -> None:
    t = InflightTracker(LIMIT, HWM)
    with pytest.raises(ValueError, match="without a reserved slot"):
        t.mark_sent("a")
    assert t.reserve()
    t.mark_sent("a")
    assert t.acquire("b") and not t.acquire("b")
    assert (t.sent, t.completed, t.in_flight) == (2, 0, 2)
    assert t.complete("a") and not t.complete("a")
    assert (t.sent, t.completed, t.in_flight) == (2, 1, 1)
    assert sorted(t.complete_all(), key=str) == ["b"]
    assert t.in_flight == 0
    with pytest.raises(ValueError, match="high_water"):
        InflightTracker(10, 10)


def test_exchange_weight_follows_the_protocol_rule() -> None:
    # PROTOCOL.md section 7: 1 + floor(batch_length / 40).
    assert [exchange_weight(n) for n in (1, 39, 40, 50, 80)] == [1, 1, 2, 2, 3]
    batch = Batch(1, BatchKind.ORDER, tuple(order(i) for i in range(PER_ACTION)))
    assert batch.ip_weight == 1 + PER_ACTION // 40
