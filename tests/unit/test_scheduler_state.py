"""Hypothesis state machine over BatchScheduler: random enqueues, ticks, send results,
responses, timeouts, disconnects, resolutions and info posts.

Checked after every step: in-flight = posts marked sent - posts completed and never above
the limit (nor the load); batches hold at most the per-action maximum; no reduce-only
order or cancel is ever lost (each is answered, resolved as placed, or still queued /
handed out / in flight); no new order is ever dropped silently (each is still somewhere,
answered, or reported failed) or sent twice; a held order is never handed out.

Small limits (in-flight 6, HWM 4, 3 per action, small queues) let the machine reach every
level in a few steps; the rules are the same as with the defaults.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hip3term.config import ExecutorSettings
from hip3term.execution.orders import CancelRequest, OrderRequest
from hip3term.execution.scheduler import Batch, BatchScheduler, EnqueueOutcome, Released

SMALL = ExecutorSettings(
    queue_capacity_cancel=5, queue_capacity_reduce_only=6, queue_capacity_new=7,
    inflight_limit=6, inflight_high_water=4, max_orders_per_action=3,
    max_cancels_per_action=3,
)  # fmt: skip


class SchedulerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.s = BatchScheduler(SMALL)
        self.n = 0
        self.handed: list[Batch] = []
        self.flying: list[Batch] = []
        self.infos: list[int] = []
        self.critical: set[str] = set()  # accepted reduce-only cloids and cancel ids
        self.new: set[str] = set()  # accepted new-order cloids
        self.done: set[str] = set()  # answered, or resolved as placed
        self.failed: set[str] = set()
        self.sent_count: dict[str, int] = {}

    def _next(self) -> int:
        self.n += 1
        return self.n

    # ------------------------------------------------------------ enqueues

    @rule(ro=st.booleans())
    def enqueue_order(self, ro: bool) -> None:
        n = self._next()
        order = OrderRequest(f"0x{n:032x}", "xyz:COIN", 110007, ro, Decimal(190),
                             Decimal(1), "Ioc", ro, 0)  # fmt: skip
        level_before = self.s.inflight.level
        outcome = self.s.enqueue_order(order)
        if outcome.accepted:
            (self.critical if ro else self.new).add(order.cloid)
        if ro:
            assert outcome in (EnqueueOutcome.QUEUED, EnqueueOutcome.QUEUE_FULL)
        elif outcome is EnqueueOutcome.INFLIGHT_FULL:
            assert level_before == "full"

    @rule(by_cloid=st.booleans())
    def enqueue_cancel(self, by_cloid: bool) -> None:
        n = self._next()
        cancel = (CancelRequest("xyz:COIN", 1, cloid=f"0x{n:032x}") if by_cloid
                  else CancelRequest("xyz:COIN", 1, oid=n))  # fmt: skip
        outcome = self.s.enqueue_cancel(cancel)
        assert outcome in (EnqueueOutcome.QUEUED, EnqueueOutcome.QUEUE_FULL)
        if outcome.accepted:
            self.critical.add(_cid(cancel))

    # ------------------------------------------------------------ the executor

    @rule()
    def tick(self) -> None:
        held = self.s.held
        batches = self.s.tick()
        assert len(batches) <= 2
        assert len({b.kind for b in batches}) == len(batches)
        for batch in batches:
            assert 0 < len(batch) <= SMALL.max_orders_per_action
            assert len({c.by_cloid for c in batch.cancels}) <= 1
            for order in batch.orders:
                assert order.cloid not in held
                self.sent_count[order.cloid] = self.sent_count.get(order.cloid, 0) + 1
        self.handed += batches

    @precondition(lambda self: self.handed)
    @rule(data=st.data(), ok=st.booleans())
    def write(self, data: st.DataObject, ok: bool) -> None:
        batch = self.handed.pop(data.draw(st.integers(0, len(self.handed) - 1)))
        if ok:
            self.s.on_batch_sent(batch.batch_id)
            self.flying.append(batch)
        else:
            self._released(self.s.on_send_failed(batch.batch_id))

    @precondition(lambda self: self.flying)
    @rule(data=st.data(), answered=st.booleans())
    def complete(self, data: st.DataObject, answered: bool) -> None:
        batch = self.flying.pop(data.draw(st.integers(0, len(self.flying) - 1)))
        if answered:
            assert self.s.on_response(batch.batch_id)
            self.done |= {_cid(c) for c in batch.cancels} | {o.cloid for o in batch.orders}
        else:
            self._released(self.s.on_timeout(batch.batch_id))

    @rule()
    def disconnect(self) -> None:
        self._released(self.s.on_disconnect())
        self.handed.clear()
        self.flying.clear()

    @precondition(lambda self: self.s.held)
    @rule(data=st.data(), placed=st.booleans())
    def resolve(self, data: st.DataObject, placed: bool) -> None:
        cloid = data.draw(st.sampled_from(sorted(self.s.held)))
        taken = self.s.resolve(cloid, placed=placed)
        assert (taken is not None) == placed
        if placed:
            self.done.add(cloid)

    @rule(count=st.integers(1, 4))
    def info_posts(self, count: int) -> None:
        for _ in range(count):
            key = self._next()
            if self.s.inflight.acquire(key):
                self.infos.append(key)

    @precondition(lambda self: self.infos)
    @rule(data=st.data())
    def info_answered(self, data: st.DataObject) -> None:
        key = self.infos.pop(data.draw(st.integers(0, len(self.infos) - 1)))
        assert self.s.inflight.complete(key)

    def _released(self, released: Released) -> None:
        for order in (*released.failed_unsent, *released.failed_unknown):
            assert not order.reduce_only
            self.failed.add(order.cloid)

    # ------------------------------------------------------------ invariants

    @invariant()
    def inflight_is_sent_minus_completed(self) -> None:
        t = self.s.inflight
        assert t.in_flight == t.sent - t.completed
        assert t.in_flight == len(self.flying) + len(self.infos)
        assert t.reserved == len(self.handed)
        assert 0 <= t.in_flight <= t.limit and t.load <= t.limit

    @invariant()
    def nothing_critical_is_lost(self) -> None:
        cancels, ro, new = self.s.queued()
        where = {_cid(c) for c in cancels} | {o.cloid for o in (*ro, *new)}
        for batch in (*self.handed, *self.flying):
            where |= {_cid(c) for c in batch.cancels} | {o.cloid for o in batch.orders}
        assert self.critical <= where | self.done
        assert self.new <= where | self.done | self.failed
        assert self.s.held <= {o.cloid for o in ro}

    @invariant()
    def no_new_order_is_sent_twice(self) -> None:
        assert all(self.sent_count.get(cloid, 0) <= 1 for cloid in self.new)


def _cid(cancel: CancelRequest) -> str:
    return f"oid:{cancel.oid}" if cancel.oid is not None else f"cloid:{cancel.cloid}"


SchedulerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60,
                                              deadline=None)  # fmt: skip
TestSchedulerMachine = SchedulerMachine.TestCase
