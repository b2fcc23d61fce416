"""Posts of the executor: their table (PostRequestManager) and what their answers mean.

The executor registers a post *before* it is written (`sent = False`), marks it sent from
the feed client's `on_sent(post_id)` callback (right after the socket write), and
completes it exactly once: on its answer, on its timeout, when the connection drops, when
the write failed, or when the server refused it unprocessed. The feed client's post id
(not the nonce: a nonce says nothing about which answer belongs to which request) is the
correlation id shown to the operator; it is known only once the post is written, so the
manager keys its entries by its own registration number.

Invariant (DESIGN section 3): `sent - completed` (completions of *sent* posts) is the
number of posts in flight, which the executor keeps equal to the scheduler's
`InflightTracker.in_flight` by marking and completing both in the same synchronous step.
A post that was never written completes as well, but is counted apart
(`completed_unsent`): it never was in flight.

What goes into a post and what comes out of it: `build_action` turns a scheduler batch
into its action (`order` with cloids, `cancel` by oid or `cancelByCloid`);
`match_statuses` reads the per-item statuses of an action answer without trusting their
position blindly: the exchange pre-validates some payload errors and answers one error
for a whole batch (PROTOCOL.md 4.3, pitfall 14), and statuses that carry a cloid are
matched by it. `order_status_of` reads an `orderStatus` answer; `is_transient`,
`is_nonce_error` and `is_cancel_moot` classify the exchange's error texts. `AnswerReader`
applies an answer (or a refusal) to the tracker, the scheduler and the risk monitor and
returns the events it means.

Pure and synchronous (no asyncio); times come from an injected clock.
"""

from __future__ import annotations

import enum
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from hip3term.core.events import (
    ActionRejected,
    AlertRaised,
    CancelCompleted,
    CancelFailed,
    NonceRejected,
    OrderAcknowledged,
    OrderRejected,
    OrderState,
)
from hip3term.execution.orders import CancelRequest, OrderRequest
from hip3term.execution.scheduler import Batch, BatchKind, BatchScheduler, Released
from hip3term.positions.tracker import PositionTracker
from hip3term.venue.hyperliquid.actions import (
    LimitType,
    WireDict,
    cancel_action,
    cancel_by_cloid_action,
    order_action,
    order_wire,
)
from hip3term.venue.hyperliquid.wire import (
    Filled,
    OrderStatus,
    PostAction,
    PostError,
    Resting,
    StatusError,
    StatusWord,
)

if TYPE_CHECKING:  # types only: risk imports execution, not the other way round
    from hip3term.risk.gates import GateKeeper
    from hip3term.risk.latch import RiskMonitor

__all__ = [
    "CANCEL_MOOT",
    "AnswerReader",
    "PendingPost",
    "PostKind",
    "PostOutcome",
    "PostRequestManager",
    "PostView",
    "StatusMatch",
    "build_action",
    "is_cancel_moot",
    "is_nonce_error",
    "is_transient",
    "match_statuses",
    "order_status_of",
]

_NS_PER_MS = 1_000_000
ZERO: Final = Decimal(0)
MAX_TRANSIENT_RETRIES: Final = 3
"""Re-sends of an item after transient whole-request refusals before giving up."""

CANCEL_MOOT = "Order was never placed, already canceled, or filled."
"""The exchange's answer to a cancel of an order that is not open: the cancel is done."""

_LIMITS: Final = {tif: LimitType(tif) for tif in ("Alo", "Ioc", "Gtc")}

# Whole-request refusals after which nothing executed and a retry may succeed.
_TRANSIENT = ("invalid nonce", "too many", "rate limit", "try again", "timed out",
              "timeout", "overloaded", "busy")  # fmt: skip


class PostKind(enum.StrEnum):
    """What a post carries: an order action, a cancel action, or an info request."""

    ORDER = "order"
    CANCEL = "cancel"
    INFO = "info"


class PostOutcome(enum.StrEnum):
    """How a post ended.

    ANSWERED: an answer came (whatever it says). TIMEOUT: none in time. DISCONNECTED: the
    connection dropped while it was pending. SEND_FAILED: the write never happened (not
    connected, write error, or the write itself timed out). REFUSED: the server refused
    it without processing it ("too many pending post requests"). UNREADABLE: an answer
    came that could not be parsed.
    """

    ANSWERED = "answered"
    TIMEOUT = "timeout"
    DISCONNECTED = "disconnected"
    SEND_FAILED = "send_failed"
    REFUSED = "refused"
    UNREADABLE = "unreadable"


@dataclass(slots=True)
class PendingPost:
    """One registered post (mutable; owned by the manager).

    Attributes:
        key: the manager's registration number (unique, increasing).
        kind: order, cancel or info.
        batch_id: the scheduler batch it carries (None for info posts).
        nonce: the nonce its action was signed with (None for info posts).
        items: orders or cancels in it (0 for info posts).
        created_ns: monotonic time of registration.
        post_id: the feed client's post id, once written.
        sent_ns: monotonic time of the write.
        outcome: how it ended, once completed.
    """

    key: int
    kind: PostKind
    batch_id: int | None
    nonce: int | None
    items: int
    created_ns: int
    post_id: int | None = None
    sent_ns: int | None = None
    outcome: PostOutcome | None = None

    @property
    def sent(self) -> bool:
        """Whether the socket write succeeded."""
        return self.sent_ns is not None

    @property
    def done(self) -> bool:
        """Whether it completed."""
        return self.outcome is not None


@dataclass(frozen=True, slots=True)
class PostView:
    """An immutable picture of a pending post, for the status line and the TUI."""

    key: int
    post_id: int | None
    kind: PostKind
    batch_id: int | None
    nonce: int | None
    items: int
    sent: bool
    age_ms: float


class PostRequestManager:
    """The table of pending posts and the sent/completed counters (module docstring).

    Args:
        monotonic_ns: the clock of ages (the executor's `clock.monotonic_ns`).
    """

    def __init__(self, monotonic_ns: Callable[[], int]) -> None:
        self._now = monotonic_ns
        self._keys = itertools.count(1)
        self._pending: dict[int, PendingPost] = {}
        self._by_post_id: dict[int, PendingPost] = {}
        self.registered = 0
        self.sent = 0
        """Posts marked sent."""
        self.completed = 0
        """Sent posts completed (answered, timed out, cut, refused, unreadable)."""
        self.completed_unsent = 0
        """Posts completed without ever being written."""
        self.outcomes: Counter[PostOutcome] = Counter()

    @property
    def in_flight(self) -> int:
        """Posts marked sent minus posts completed."""
        return self.sent - self.completed

    def __len__(self) -> int:
        return len(self._pending)

    def register(self, kind: PostKind, *, batch_id: int | None = None,
                 nonce: int | None = None, items: int = 0) -> PendingPost:  # fmt: skip
        """Register a post about to be written (`sent = False`)."""
        post = PendingPost(next(self._keys), kind, batch_id, nonce, items, self._now())
        self._pending[post.key] = post
        self.registered += 1
        return post

    def mark_sent(self, post: PendingPost, post_id: int) -> bool:
        """The post was written with the feed's id `post_id`.

        Returns False (and changes nothing) when the post already completed or was
        already marked sent.
        """
        if post.done or post.sent or self._pending.get(post.key) is not post:
            return False
        post.post_id, post.sent_ns = post_id, self._now()
        self._by_post_id[post_id] = post
        self.sent += 1
        return True

    def complete(self, post: PendingPost, outcome: PostOutcome) -> bool:
        """Complete the post; False when it had already completed (nothing counted)."""
        if post.done or self._pending.pop(post.key, None) is None:
            return False
        post.outcome = outcome
        self.outcomes[outcome] += 1
        if post.post_id is not None:
            self._by_post_id.pop(post.post_id, None)
        if post.sent:
            self.completed += 1
        else:
            self.completed_unsent += 1
        return True

    def complete_all(self, outcome: PostOutcome) -> list[PendingPost]:
        """Complete every pending post (the connection dropped), oldest first."""
        posts = list(self._pending.values())
        for post in posts:
            self.complete(post, outcome)
        return posts

    def by_post_id(self, post_id: int) -> PendingPost | None:
        """The pending post written with the feed's id `post_id`."""
        return self._by_post_id.get(post_id)

    def pending(self) -> tuple[PendingPost, ...]:
        """The pending posts, oldest first (the objects themselves)."""
        return tuple(self._pending.values())

    def views(self) -> tuple[PostView, ...]:
        """Immutable pictures of the pending posts, oldest first, with their ages."""
        now = self._now()
        return tuple(
            PostView(p.key, p.post_id, p.kind, p.batch_id, p.nonce, p.items, p.sent,
                     (now - p.created_ns) / _NS_PER_MS)
            for p in self._pending.values()
        )  # fmt: skip


# ---------------------------------------------------------------- reading statuses


@dataclass(frozen=True, slots=True)
class StatusMatch:
    """The statuses of an action answer matched to the items of its batch.

    Attributes:
        matched: (item index, its status), in item order.
        whole_error: the text of a single error refusing the whole batch (pre-validation),
            or None; then nothing is matched.
        unmatched: indices of items no status can be trusted for: their fate must be
            read from the exchange (by cloid) or, for cancels, the cancel sent again.
    """

    matched: tuple[tuple[int, OrderStatus], ...] = ()
    whole_error: str | None = None
    unmatched: tuple[int, ...] = ()


def _status_cloid(status: OrderStatus) -> str | None:
    if isinstance(status, Resting | Filled) and status.cloid is not None:
        return status.cloid.lower()
    return None


def match_statuses(cloids: Sequence[str | None], statuses: Sequence[OrderStatus]) -> StatusMatch:
    """Match the statuses of an answer to the batch's items (one cloid, or None, each).

    - One status per item, and every status that carries a cloid carries the item's:
      matched by position.
    - A single error for a batch of several items: the whole batch was refused
      (`whole_error`); the error is not given to the first item only.
    - Anything else (another count, or cloids out of place): statuses carrying a cloid
      of the batch are matched by it; every other item is `unmatched`.
    """
    n = len(cloids)
    if len(statuses) == n and all(
        (found := _status_cloid(status)) is None or found == cloids[i]
        for i, status in enumerate(statuses)
    ):
        return StatusMatch(matched=tuple(enumerate(statuses)))
    if n > 1 and len(statuses) == 1 and isinstance(statuses[0], StatusError):
        return StatusMatch(whole_error=statuses[0].text)
    index = {cloid: i for i, cloid in enumerate(cloids) if cloid is not None}
    matched: dict[int, OrderStatus] = {}
    for status in statuses:
        found = _status_cloid(status)
        if found is not None and found in index and index[found] not in matched:
            matched[index[found]] = status
    return StatusMatch(
        matched=tuple(sorted(matched.items(), key=lambda item: item[0])),
        unmatched=tuple(i for i in range(n) if i not in matched),
    )


# ---------------------------------------------------------------- building and reading


def build_action(batch: Batch) -> WireDict:
    """The action of a batch: `order` (limit orders with their cloids), `cancel` by oid,
    or `cancelByCloid` (the scheduler never mixes the two kinds of cancel).

    Raises:
        TypeError, ValueError: a value the action builders refuse.
    """
    if batch.kind is BatchKind.ORDER:
        return order_action([
            order_wire(o.asset, o.is_buy, o.px, o.sz, o.reduce_only, _LIMITS[o.tif], o.cloid)
            for o in batch.orders
        ])  # fmt: skip
    if batch.by_cloid:
        return cancel_by_cloid_action([(c.asset, c.cloid or "") for c in batch.cancels])
    return cancel_action([(c.asset, c.oid if c.oid is not None else -1) for c in batch.cancels])


def order_status_of(data: object) -> tuple[str | None, int | None]:
    """Read an `orderStatus` answer: (status word, oid), or (None, None) for `unknownOid`.

    Raises:
        ValueError: the answer has neither shape.
    """
    if isinstance(data, Mapping):
        if data.get("status") == "unknownOid":
            return None, None
        wrapper = data.get("order")
        if data.get("status") == "order" and isinstance(wrapper, Mapping):
            word, inner = wrapper.get("status"), wrapper.get("order")
            oid = inner.get("oid") if isinstance(inner, Mapping) else None
            if isinstance(word, str) and isinstance(oid, int) and not isinstance(oid, bool):
                return word, oid
    raise ValueError(f"not an orderStatus answer: {str(data)[:200]}")


def is_transient(text: str) -> bool:
    """Whether a whole-request refusal may pass on a retry (nonce, rate limit, load)."""
    lowered = text.lower()
    return any(marker in lowered for marker in _TRANSIENT)


def is_nonce_error(text: str) -> bool:
    """Whether the exchange refused the request's nonce."""
    return "nonce" in text.lower()


def is_cancel_moot(text: str) -> bool:
    """Whether a cancel's error only says the order is not open (the cancel is done)."""
    return text.startswith("Order was never placed") or text == CANCEL_MOOT


# ---------------------------------------------------------------- applying answers

Events = list[object]


class AnswerReader:
    """Applies action answers to the engine and says what they mean (as events).

    Orders: resting/filled/error go to the tracker's registry (`OrderAcknowledged`,
    `OrderRejected`; every reject is recorded in `monitor.rejects`). Cancels:
    `CancelCompleted` ("success", or the order was not open), `CancelFailed` otherwise.
    A whole-request refusal executed nothing: with a transient error cancels and
    reduce-only orders are re-queued at the front (at most `MAX_TRANSIENT_RETRIES` times
    each), everything else is rejected or failed. Orders without a trustworthy status
    become UNKNOWN (`needs_resolution` is set: resolve them by cloid); cancels without
    one are simply sent again.
    """

    def __init__(self, *, gatekeeper: GateKeeper, scheduler: BatchScheduler,
                 tracker: PositionTracker, monitor: RiskMonitor) -> None:  # fmt: skip
        """Work on these engine objects (the executor's)."""
        self._gates, self._scheduler = gatekeeper, scheduler
        self._tracker, self._monitor = tracker, monitor
        self.counts: Counter[str] = Counter()
        self.needs_resolution = False
        self._retries: Counter[object] = Counter()

    def answered(self, batch: Batch, post: PendingPost, answer: object, now: int) -> Events:
        """The events of `answer` to the post of `batch` (its in-flight slot is already
        released by the caller)."""
        if isinstance(answer, PostError):
            return self._refused(batch, post, answer.text, now)
        if not isinstance(answer, PostAction):
            return self._unmatched(batch, range(len(batch)), "an info answer to an action", now)
        if answer.status == "err":
            return self._refused(batch, post, answer.error or "", now)
        if batch.kind is BatchKind.ORDER:
            return self._order_answer(batch, answer.statuses, now)
        return self._cancel_answer(batch, answer.statuses, now)

    def unexecuted(self, batch: Batch, now: int) -> Events:
        """Nothing of the batch executed (refused unprocessed): resend its cancels and
        reduce-only orders, report its new orders failed."""
        again: list[OrderRequest | CancelRequest] = [
            *batch.cancels, *(o for o in batch.orders if o.reduce_only)]
        self._scheduler.requeue_front(again)
        failed = tuple(o for o in batch.orders if not o.reduce_only)
        return [*self._gates.on_released(Released(requeued=tuple(again), failed_unsent=failed),
                                         now)]  # fmt: skip

    def _order_answer(self, batch: Batch, statuses: tuple[OrderStatus, ...], now: int) -> Events:
        orders = batch.orders
        match = match_statuses([o.cloid for o in orders], statuses)
        if match.whole_error is not None:
            return [e for o in orders for e in self._reject(o, match.whole_error, now)]
        events: Events = []
        for index, status in match.matched:
            events += self._order_status(orders[index], status, now)
        if match.unmatched:
            events += self._unmatched(batch, match.unmatched, "no status for it", now)
        return events

    def _order_status(self, order: OrderRequest, status: OrderStatus, now: int) -> Events:
        registry = self._tracker.orders
        if isinstance(status, StatusError):
            return self._reject(order, status.text, now)
        if isinstance(status, Resting):
            events: Events = [*registry.on_resting(order.cloid, status.oid, now)]
            ack = OrderAcknowledged(now, order.cloid, status.oid, order.market, "resting",
                                    ZERO, None)  # fmt: skip
        elif isinstance(status, Filled):
            events = [*registry.on_filled(order.cloid, status.oid, status.total_sz, now)]
            ack = OrderAcknowledged(now, order.cloid, status.oid, order.market, "filled",
                                    status.total_sz, status.avg_px)  # fmt: skip
        else:  # "waitingForFill" / "waitingForTrigger": orderUpdates tell the rest
            events, ack = [], OrderAcknowledged(now, order.cloid, None, order.market,
                                                status.word, ZERO, None)  # fmt: skip
        return [*events, ack]

    def _reject(self, order: OrderRequest, text: str, now: int) -> Events:
        self.counts["rejects"] += 1
        self._monitor.rejects.record(now, order.cloid)
        return [*self._tracker.orders.on_error(order.cloid, text, now),
                OrderRejected(now, order.cloid, order.market, text, order.reduce_only)]

    def _unmatched(self, batch: Batch, indices: Iterable[int], why: str, now: int) -> Events:
        indices = list(indices)
        events: Events = [AlertRaised(now, "unmatched_status",
                                      f"{batch.kind} batch {batch.batch_id}: {why}")]
        if batch.kind is BatchKind.CANCEL:
            self._scheduler.requeue_front(batch.cancels[i] for i in indices)
            return events
        for i in indices:
            events += self._tracker.orders.set_state(batch.orders[i].cloid, OrderState.UNKNOWN,
                                                     now, why)  # fmt: skip
        self.needs_resolution = True
        return events

    def _cancel_answer(self, batch: Batch, statuses: tuple[OrderStatus, ...],
                       now: int) -> Events:  # fmt: skip
        cancels = batch.cancels
        match = match_statuses([None] * len(cancels), statuses)
        if match.whole_error is not None:
            return [self._cancel_result(c, StatusError(match.whole_error), now) for c in cancels]
        events: Events = [self._cancel_result(cancels[i], s, now) for i, s in match.matched]
        if match.unmatched:
            events += self._unmatched(batch, match.unmatched, "no status for it", now)
        return events

    @staticmethod
    def _cancel_result(cancel: CancelRequest, status: OrderStatus, now: int) -> object:
        if isinstance(status, StatusError) and not is_cancel_moot(status.text):
            return CancelFailed(now, cancel.market, cancel.oid, cancel.cloid, status.text)
        word = (status.text if isinstance(status, StatusError)
                else status.word if isinstance(status, StatusWord) else "success")  # fmt: skip
        return CancelCompleted(now, cancel.market, cancel.oid, cancel.cloid, word)

    def _refused(self, batch: Batch, post: PendingPost, text: str, now: int) -> Events:
        transient, nonce = is_transient(text), post.nonce or 0
        events: Events = [ActionRejected(now, post.post_id, post.kind, batch.batch_id, nonce,
                                         text, transient)]  # fmt: skip
        if is_nonce_error(text):
            self.counts["nonce_errors"] += 1
            events += [NonceRejected(now, nonce, text),
                       AlertRaised(now, "nonce_rejected", f"nonce {nonce} refused: {text}")]
        again: list[OrderRequest | CancelRequest] = []
        for cancel in batch.cancels:
            if transient and self._may_retry(cancel.key):
                again.append(cancel)
            else:
                events.append(CancelFailed(now, cancel.market, cancel.oid, cancel.cloid, text))
        for order in batch.orders:
            if transient and order.reduce_only and self._may_retry(order.cloid):
                again.append(order)
            else:
                events += self._reject(order, text, now)
        if again:
            self._scheduler.requeue_front(again)
            events += self._gates.on_released(Released(requeued=tuple(again)), now)
        return events

    def _may_retry(self, key: object) -> bool:
        if len(self._retries) > 4096:  # only transient refusals count: rarely reached
            self._retries.clear()
        self._retries[key] += 1
        return self._retries[key] <= MAX_TRANSIENT_RETRIES
