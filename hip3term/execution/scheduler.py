"""BatchScheduler and InflightTracker: what may be posted, when, and how much is in flight.

Three FIFO queues, priority cancel > reduce-only > new order, capacities, in-flight limit
(the exchange's 100) and high-water mark (80) from `ExecutorSettings`.

Levels, measured on the load = posts in flight + batches handed out by `tick()` and not
yet reported sent or failed:

- NORMAL (load < HWM): everything is collected.
- DEGRADED (HWM <= load < limit): only cancels and reduce-only orders are collected; a
  new order is still accepted but waits (`QueuedDegraded`) until the load falls below HWM.
- FULL (load = limit): nothing is collected, not even cancels.

Enqueue outcomes, exactly:

- `QueueFull`: the item's queue is at capacity; nothing was queued.
- `InflightFull`: a NEW order while the level is FULL; nothing was queued (it would only
  go stale: it must wait for the load to fall below HWM anyway). Only new orders get it.
- `QueuedDegraded`: a NEW order queued while the level is DEGRADED.
- `Queued`: queued. Cancels and reduce-only orders are always `Queued` when their queue
  has room, at any level: at FULL they wait in their queue, so a tripped latch never
  loses a cancel or a flatten. A cancel whose target is already queued or in flight is
  absorbed (`Queued`, nothing added). Queue-full is checked before in-flight-full.

The executor's contract (the async loop above this module):

1. Every 100 ms call `tick()`. It returns at most one cancel batch (<= 50 cancels, all by
   oid or all by cloid: different actions on the exchange) and one order batch (<= 50
   orders: reduce-only first, then new orders if the load was below HWM when the tick
   began). It reserves one in-flight slot per batch but counts nothing in flight, and
   never hands out more batches than the limit leaves room for.
2. After the socket write of a batch succeeded: `on_batch_sent(batch)` (the `Batch` or
   its id); it is now in flight. If the write failed: `on_send_failed(batch)`.
3. When its post completes: `on_response(batch)`; on the 5 s timeout:
   `on_timeout(batch)`; when the connection drops: `on_disconnect()`.

Failures return a `Released` saying what happened to each item. Cancels and reduce-only
orders are put back at the FRONT of their queues (never lost). After a timeout or a
disconnect a reduce-only order may have executed, so it is re-queued HELD: `tick()` skips
it until the executor resolved its fate by cloid (`orderStatus`) and called
`resolve(cloid, placed)`. New orders are never re-queued: they come back in `Released`
to be reported to their strategy as failed (`failed_unsent`: surely not placed;
`failed_unknown`: the exchange may have them, resolve by cloid). A disconnect also
withdraws every queued new order (stale by the time the connection is back). An answer
that refuses the whole request (`status: err`: nothing executed) is still `on_response`;
re-queue its cancels with `requeue_front` if the error is transient.

Invariant: in flight = sent - completed, always; the load never exceeds the limit.
"""

from __future__ import annotations

import enum
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

from hip3term.config import ExecutorSettings
from hip3term.execution.orders import CancelRequest, OrderRequest

__all__ = [
    "Batch",
    "BatchKind",
    "BatchScheduler",
    "EnqueueOutcome",
    "InflightLevel",
    "InflightTracker",
    "Released",
    "SchedulerStatus",
    "exchange_weight",
]

EXCHANGE_WEIGHT_BATCH = 40
"""An exchange request weighs `1 + floor(batch_length / 40)` (PROTOCOL.md section 7)."""


def exchange_weight(batch_length: int) -> int:
    """The IP weight of one exchange request carrying `batch_length` orders or cancels."""
    return 1 + batch_length // EXCHANGE_WEIGHT_BATCH


class EnqueueOutcome(enum.StrEnum):
    """The answer to an enqueue (see the module docstring for exactly when)."""

    QUEUED = "queued"
    QUEUED_DEGRADED = "queued_degraded"
    QUEUE_FULL = "queue_full"
    INFLIGHT_FULL = "inflight_full"

    @property
    def accepted(self) -> bool:
        """True when the item is now queued (or already was)."""
        return self in (EnqueueOutcome.QUEUED, EnqueueOutcome.QUEUED_DEGRADED)


class InflightLevel(enum.StrEnum):
    """NORMAL below the high-water mark, DEGRADED from it, FULL at the limit."""

    NORMAL = "normal"
    DEGRADED = "degraded"
    FULL = "full"


class BatchKind(enum.StrEnum):
    """A batch is one action: cancels (`cancel`/`cancelByCloid`) or orders (`order`)."""

    CANCEL = "cancel"
    ORDER = "order"


@dataclass(frozen=True, slots=True)
class Batch:
    """One action's worth of cancels or orders, handed out by `tick()`."""

    batch_id: int
    kind: BatchKind
    orders: tuple[OrderRequest, ...] = ()
    cancels: tuple[CancelRequest, ...] = ()

    def __len__(self) -> int:
        return len(self.orders) + len(self.cancels)

    @property
    def by_cloid(self) -> bool:
        """For a cancel batch: True when it is a `cancelByCloid` action."""
        return bool(self.cancels) and self.cancels[0].by_cloid

    @property
    def ip_weight(self) -> int:
        """The IP weight of the exchange request carrying this batch."""
        return exchange_weight(len(self))


@dataclass(frozen=True, slots=True)
class Released:
    """What became of the items of batches that did not complete normally.

    Attributes:
        requeued: cancels and reduce-only orders put back at the front (will be sent).
        held: reduce-only orders put back at the front but held until `resolve()`.
        failed_unsent: new orders that surely never reached the exchange.
        failed_unknown: new orders the exchange may have: report them failed, resolve
            their fate by cloid, never resend them.
    """

    requeued: tuple[OrderRequest | CancelRequest, ...] = ()
    held: tuple[OrderRequest, ...] = ()
    failed_unsent: tuple[OrderRequest, ...] = ()
    failed_unknown: tuple[OrderRequest, ...] = ()

    def __add__(self, other: Released) -> Released:
        return Released(
            self.requeued + other.requeued,
            self.held + other.held,
            self.failed_unsent + other.failed_unsent,
            self.failed_unknown + other.failed_unknown,
        )


@dataclass(frozen=True, slots=True)
class SchedulerStatus:
    """Queue lengths and in-flight figures, for the status line and the TUI."""

    cancels: int
    reduce_only: int
    new: int
    held: int
    in_flight: int
    reserved: int
    level: InflightLevel


def _batch_id(batch: Batch | int) -> int:
    return batch.batch_id if isinstance(batch, Batch) else batch


class InflightTracker:
    """Counts posts in flight: `in_flight = sent - completed`, never above the limit.

    A slot is reserved when a batch is handed out (`reserve`), turned into an in-flight
    post by `mark_sent`, and freed by `complete` (response, timeout, disconnect) or
    `release_reservation` (the send failed). Info posts use `acquire` (reserve and mark
    sent in one step) so that they count against the same limit. The scheduler keys its
    batches `("batch", batch_id)`: give info posts other keys, e.g. `("info", post_id)`.
    """

    def __init__(self, limit: int, high_water: int) -> None:
        """Track posts against `limit`, with `high_water` < `limit`."""
        if not 0 < high_water < limit:
            raise ValueError(f"need 0 < high_water ({high_water}) < limit ({limit})")
        self.limit, self.high_water = limit, high_water
        self.sent = 0
        self.completed = 0
        self.reserved = 0
        self._open: set[Hashable] = set()

    @property
    def in_flight(self) -> int:
        """Posts marked sent minus posts completed."""
        return self.sent - self.completed

    @property
    def load(self) -> int:
        """In flight plus reserved slots."""
        return self.in_flight + self.reserved

    @property
    def level(self) -> InflightLevel:
        """The level of the current load."""
        if self.load >= self.limit:
            return InflightLevel.FULL
        return InflightLevel.DEGRADED if self.load >= self.high_water else InflightLevel.NORMAL

    def reserve(self) -> bool:
        """Reserve a slot for a post about to be written; False at the limit."""
        if self.load >= self.limit:
            return False
        self.reserved += 1
        return True

    def release_reservation(self) -> None:
        """Give back a reserved slot whose post was never written."""
        if self.reserved <= 0:
            raise ValueError("no reserved slot to release")
        self.reserved -= 1

    def mark_sent(self, key: Hashable) -> None:
        """Turn a reserved slot into the in-flight post `key`.

        Raises:
            ValueError: nothing is reserved, or `key` is already in flight.
        """
        if self.reserved <= 0:
            raise ValueError("mark_sent without a reserved slot (use acquire for info posts)")
        if key in self._open:
            raise ValueError(f"post {key!r} is already in flight")
        self.reserved -= 1
        self._open.add(key)
        self.sent += 1

    def acquire(self, key: Hashable) -> bool:
        """Reserve and mark sent in one step (info posts); False at the limit."""
        if key in self._open or not self.reserve():
            return False
        self.mark_sent(key)
        return True

    def complete(self, key: Hashable) -> bool:
        """The post `key` completed; False (and nothing counted) if it was not in flight."""
        if key not in self._open:
            return False
        self._open.remove(key)
        self.completed += 1
        return True

    def complete_all(self) -> list[Hashable]:
        """Complete every post in flight (the connection dropped); returns their keys."""
        keys = list(self._open)
        for key in keys:
            self.complete(key)
        return keys

    def is_in_flight(self, key: Hashable) -> bool:
        """Whether `key` is in flight."""
        return key in self._open


class BatchScheduler:
    """Three queues, one in-flight tracker, batches of at most 50 (see module docstring)."""

    def __init__(self, settings: ExecutorSettings | None = None) -> None:
        """Build from `ExecutorSettings` (defaults: 200/500/1000, limit 100, HWM 80)."""
        s = settings if settings is not None else ExecutorSettings()
        self.settings = s
        self.inflight = InflightTracker(s.inflight_limit, s.inflight_high_water)
        self._cancels: deque[CancelRequest] = deque()
        self._reduce: deque[OrderRequest] = deque()
        self._new: deque[OrderRequest] = deque()
        self._held: set[str] = set()
        self._cancel_keys: Counter[tuple[str, int | str]] = Counter()  # queued or in flight
        self._order_cloids: set[str] = set()  # queued, handed out or in flight
        self._handed: dict[int, Batch] = {}
        self._flying: dict[int, Batch] = {}
        self._next_id = 0
        self.on_work: Callable[[], None] | None = None
        """Called after a cancel or an order was queued (the executor's prompt dispatch)."""

    # ------------------------------------------------------------ enqueue

    def enqueue_cancel(self, cancel: CancelRequest) -> EnqueueOutcome:
        """Queue a cancel (absorbed if the same target is already queued or in flight)."""
        if self._cancel_keys[cancel.key] > 0:
            return EnqueueOutcome.QUEUED
        if len(self._cancels) >= self.settings.queue_capacity_cancel:
            return EnqueueOutcome.QUEUE_FULL
        self._cancels.append(cancel)
        self._cancel_keys[cancel.key] += 1
        self._work()
        return EnqueueOutcome.QUEUED

    def enqueue_order(self, order: OrderRequest) -> EnqueueOutcome:
        """Queue an order in the reduce-only or the new-order queue.

        Raises:
            ValueError: an order with this cloid is already queued or in flight.
        """
        if order.cloid in self._order_cloids:
            raise ValueError(f"order {order.cloid} is already queued or in flight")
        if order.reduce_only:
            if len(self._reduce) >= self.settings.queue_capacity_reduce_only:
                return EnqueueOutcome.QUEUE_FULL
            self._reduce.append(order)
            self._order_cloids.add(order.cloid)
            self._work()
            return EnqueueOutcome.QUEUED
        if len(self._new) >= self.settings.queue_capacity_new:
            return EnqueueOutcome.QUEUE_FULL
        level = self.inflight.level
        if level is InflightLevel.FULL:
            return EnqueueOutcome.INFLIGHT_FULL
        self._new.append(order)
        self._order_cloids.add(order.cloid)
        self._work()
        if level is InflightLevel.DEGRADED:
            return EnqueueOutcome.QUEUED_DEGRADED
        return EnqueueOutcome.QUEUED

    def _work(self) -> None:
        if self.on_work is not None:
            self.on_work()

    # ------------------------------------------------------------ tick

    def tick(self) -> tuple[Batch, ...]:
        """Collect at most one cancel batch and one order batch (cancel batch first)."""
        if not (self._cancels or self._reduce or self._new):
            return ()  # nothing queued: the common tick
        below_hwm = self.inflight.load < self.inflight.high_water
        batches: list[Batch] = []
        if self._cancels and self.inflight.reserve():
            batches.append(self._hand_out(BatchKind.CANCEL, cancels=self._take_cancels()))
        has_orders = self._sendable_reduce() or (below_hwm and bool(self._new))
        if has_orders and self.inflight.reserve():
            orders = self._take_reduce(self.settings.max_orders_per_action)
            room = self.settings.max_orders_per_action - len(orders)
            while below_hwm and room > 0 and self._new:
                orders.append(self._new.popleft())
                room -= 1
            batches.append(self._hand_out(BatchKind.ORDER, orders=orders))
        return tuple(batches)

    def _hand_out(
        self,
        kind: BatchKind,
        orders: Sequence[OrderRequest] = (),
        cancels: Sequence[CancelRequest] = (),
    ) -> Batch:
        self._next_id += 1
        batch = Batch(self._next_id, kind, tuple(orders), tuple(cancels))
        self._handed[batch.batch_id] = batch
        return batch

    def _take_cancels(self) -> list[CancelRequest]:
        # The head decides the action type; same-type cancels behind it join, in order.
        by_cloid = self._cancels[0].by_cloid
        taken: list[CancelRequest] = []
        kept: deque[CancelRequest] = deque()
        for cancel in self._cancels:
            if cancel.by_cloid == by_cloid and len(taken) < self.settings.max_cancels_per_action:
                taken.append(cancel)
            else:
                kept.append(cancel)
        self._cancels = kept
        return taken

    def _sendable_reduce(self) -> bool:
        return len(self._reduce) > len(self._held)

    def _take_reduce(self, limit: int) -> list[OrderRequest]:
        if not self._held:  # fast path: plain FIFO
            return [self._reduce.popleft() for _ in range(min(limit, len(self._reduce)))]
        taken: list[OrderRequest] = []
        kept: deque[OrderRequest] = deque()
        for order in self._reduce:
            if order.cloid not in self._held and len(taken) < limit:
                taken.append(order)
            else:
                kept.append(order)
        self._reduce = kept
        return taken

    # ------------------------------------------------------------ results

    def on_batch_sent(self, batch: Batch | int) -> None:
        """The batch was written to the socket: it is now in flight.

        Raises:
            ValueError: the batch was not handed out (or was already reported).
        """
        batch_id = _batch_id(batch)
        handed = self._pop_handed(batch_id)
        self.inflight.mark_sent(("batch", batch_id))
        self._flying[batch_id] = handed

    def on_send_failed(self, batch: Batch | int) -> Released:
        """The write failed: nothing reached the exchange. Re-queue or fail its items.

        Raises:
            ValueError: the batch was not handed out (or was already reported).
        """
        batch_id = _batch_id(batch)
        handed = self._pop_handed(batch_id)
        self.inflight.release_reservation()
        return self._release(handed, ambiguous=False)

    def on_response(self, batch: Batch | int) -> bool:
        """The post was answered; False if it was not in flight (late or duplicate)."""
        batch_id = _batch_id(batch)
        flying = self._flying.pop(batch_id, None)
        if flying is None:
            return False
        self.inflight.complete(("batch", batch_id))
        self._forget(flying)
        return True

    def on_timeout(self, batch: Batch | int) -> Released:
        """No answer in time: the post completes, its outcome is unknown."""
        batch_id = _batch_id(batch)
        flying = self._flying.pop(batch_id, None)
        if flying is None:
            return Released()
        self.inflight.complete(("batch", batch_id))
        return self._release(flying, ambiguous=True)

    def on_disconnect(self) -> Released:
        """The connection dropped: every post completes; queued new orders are withdrawn."""
        released = Released()
        # Newest first: each re-queue goes to the front, so the oldest ends up in front.
        for batch_id in sorted([*self._flying, *self._handed], reverse=True):
            if batch_id in self._flying:
                released += self.on_timeout(batch_id)
            else:
                released += self.on_send_failed(batch_id)
        return released + Released(failed_unsent=self.withdraw_new_orders())

    def _pop_handed(self, batch_id: int) -> Batch:
        try:
            return self._handed.pop(batch_id)
        except KeyError:
            raise ValueError(f"batch {batch_id} was not handed out or was reported") from None

    def _forget(self, batch: Batch) -> None:
        for cancel in batch.cancels:
            self._cancel_keys[cancel.key] -= 1
            if self._cancel_keys[cancel.key] <= 0:
                del self._cancel_keys[cancel.key]
        for order in batch.orders:
            self._order_cloids.discard(order.cloid)

    def _release(self, batch: Batch, *, ambiguous: bool) -> Released:
        self._forget(batch)
        reduce = [order for order in batch.orders if order.reduce_only]
        new = tuple(order for order in batch.orders if not order.reduce_only)
        self.requeue_front([*batch.cancels, *reduce])
        if ambiguous:
            self._held.update(order.cloid for order in reduce)
            return Released(requeued=batch.cancels, held=tuple(reduce), failed_unknown=new)
        return Released(requeued=(*batch.cancels, *reduce), failed_unsent=new)

    # ------------------------------------------------------------ queue surgery

    def requeue_front(self, items: Iterable[OrderRequest | CancelRequest]) -> None:
        """Put cancels and reduce-only orders back at the front, in the given order.

        Capacity is not checked: a re-queued item is never lost. A cancel whose target is
        already queued or in flight is dropped as a duplicate.

        Raises:
            ValueError: a new (not reduce-only) order: those are never resent blindly.
        """
        items = list(items)
        for item in items:
            if isinstance(item, OrderRequest) and not item.reduce_only:
                raise ValueError(f"new order {item.cloid} cannot be re-queued; report it failed")
        for item in reversed(items):
            if isinstance(item, CancelRequest):
                if self._cancel_keys[item.key] == 0:
                    self._cancels.appendleft(item)
                    self._cancel_keys[item.key] += 1
            elif item.cloid not in self._order_cloids:
                self._reduce.appendleft(item)
                self._order_cloids.add(item.cloid)

    def resolve(self, cloid: str, *, placed: bool) -> OrderRequest | None:
        """Settle a held reduce-only order once its fate is known by cloid.

        `placed=False` (the exchange never had it): it is released and will be sent.
        `placed=True`: it is removed from the queue and returned. None if `cloid` was not
        held.
        """
        if cloid not in self._held:
            return None
        self._held.discard(cloid)
        if not placed:
            return None
        for order in self._reduce:
            if order.cloid == cloid:
                self._reduce.remove(order)
                self._order_cloids.discard(cloid)
                return order
        return None

    def withdraw_new_orders(self) -> tuple[OrderRequest, ...]:
        """Empty the new-order queue (cancel-all, halt, disconnect); returns what it held."""
        withdrawn = tuple(self._new)
        self._new.clear()
        for order in withdrawn:
            self._order_cloids.discard(order.cloid)
        return withdrawn

    # ------------------------------------------------------------ inspection

    @property
    def idle(self) -> bool:
        """True when nothing is queued: `tick()` hands out nothing until something is."""
        return not (self._cancels or self._reduce or self._new)

    @property
    def held(self) -> frozenset[str]:
        """Cloids of reduce-only orders waiting for `resolve()`."""
        return frozenset(self._held)

    def queued(self) -> tuple[tuple[CancelRequest, ...], tuple[OrderRequest, ...],
                              tuple[OrderRequest, ...]]:  # fmt: skip
        """Copies of the three queues, front first: cancels, reduce-only, new."""
        return tuple(self._cancels), tuple(self._reduce), tuple(self._new)

    def in_flight_batches(self) -> tuple[Batch, ...]:
        """Batches in flight, oldest first."""
        return tuple(self._flying[key] for key in sorted(self._flying))

    def status(self) -> SchedulerStatus:
        """Lengths and levels now."""
        return SchedulerStatus(
            cancels=len(self._cancels),
            reduce_only=len(self._reduce),
            new=len(self._new),
            held=len(self._held),
            in_flight=self.inflight.in_flight,
            reserved=self.inflight.reserved,
            level=self.inflight.level,
        )
