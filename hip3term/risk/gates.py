"""The risk gates, the action budget, and the GateKeeper that feeds the scheduler.

Every order goes through `GateKeeper.submit(order, now_ms)`. The gates run in this exact
order and the first failure decides (DESIGN section 3); a denial is an `OrderDenied`
event, never an exception:

    0. the cloid is already in use            -> rejected (DUPLICATE, a precondition)
    1. latch not ACTIVE (tripped, halted, paused) -> rejected (HARD_STOP)
    2. not READY-TRADING                       -> rejected (NOT_READY)
    3. max notional per market                 -> rejected (MAX_NOTIONAL_MARKET)
    4. max notional total                      -> rejected (MAX_NOTIONAL_TOTAL)
    5. already has a position in this market   -> skipped  (HAS_POSITION)
    6. a pending order in this market          -> skipped  (PENDING_ORDER)
    7. action budget exhausted                 -> skipped  (ACTION_BUDGET)
    8. mark the market pending and enqueue (one step: a refused enqueue undoes the mark
       and is denied as QUEUE: rejected when the queue is full, skipped at the in-flight
       limit).

Notional (gates 3, 4) = |position| x mark (entry price when no mark) + the unfilled
notional of the live non-reduce-only orders + this order's price x size; the limits are
inclusive ($50 is allowed, $50.01 is not).

Reduce-only orders (flattens) must get through a tripped latch, so they pass only gates
0, 2, 6 and 7: the latch (1) must not block the flatten it ordered, the notional gates
(3, 4) cannot be broken by reducing, and the position gate (5) is their reason to exist.
Gate 2 holds them back while the positions are not synced (the flattener retries), gate
6 counts only pending reduce-only orders in the market (a resting quote must not block a
flatten; two flattens at once would only be refused), and gate 7 lets them use the
reserve that new orders leave. Cancels pass no gate at all: only the scheduler's capacity.

The action budget (PROTOCOL.md section 7): the exchange allows an address 1 request per
USDC traded plus 10,000 (`userRateLimit`: `{cumVlm, nRequestsUsed, nRequestsCap,
nRequestsSurplus}`; remaining = cap + surplus - used), where a batch of n orders or
cancels costs n; and an IP 1200 weight per minute, where an exchange request weighs
`1 + floor(batch_len / 40)` (info posts weigh 2 or 20). Until `userRateLimit` has been
read the address budget is unknown and not enforced (the exchange still is); load it
during every resync.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

from hip3term.config import RiskSettings
from hip3term.core.events import (
    AlertRaised,
    CancelDenied,
    CancelQueued,
    Denial,
    EngineEvent,
    FillApplied,
    Gate,
    LatchState,
    OrderDenied,
    OrderFailed,
    OrderQueued,
    OrderState,
)
from hip3term.core.numeric import parse_decimal
from hip3term.execution.flatten import Flattener, FlattenStep
from hip3term.execution.orders import CancelRequest, OrderRequest
from hip3term.execution.scheduler import Batch, BatchScheduler, EnqueueOutcome, Released
from hip3term.positions.tracker import PositionTracker
from hip3term.risk.ready import TradingReadyChecker

__all__ = ["ActionBudget", "GateKeeper", "LatchView"]

ADDRESS_INITIAL_BUFFER = 10_000
IP_WEIGHT_PER_MINUTE = 1_200
_MINUTE_MS = 60_000
ZERO = Decimal(0)


class LatchView(Protocol):
    """What the gates read of the latch (`risk.latch.HardStopLatch`)."""

    @property
    def state(self) -> LatchState: ...


class ActionBudget:
    """The exchange's address budget and our IP weight in the last minute.

    Args:
        ip_limit: IP weight per minute (1200).
        new_order_reserve: address requests new orders must leave for reduce-only orders
            and cancels.
        ip_reserve: IP weight new orders must leave likewise.
    """

    def __init__(self, *, ip_limit: int = IP_WEIGHT_PER_MINUTE, new_order_reserve: int = 100,
                 ip_reserve: int = 60) -> None:  # fmt: skip
        self.ip_limit, self.new_order_reserve, self.ip_reserve = (
            ip_limit, new_order_reserve, ip_reserve,
        )  # fmt: skip
        self._known = False
        self._cum_vlm = ZERO
        self._cap_base = ADDRESS_INITIAL_BUFFER
        self._used = 0
        self._surplus = 0
        self._weights: deque[tuple[int, int]] = deque()
        self._weight_sum = 0

    def on_user_rate_limit(self, data: object) -> None:
        """Adopt the exchange's `userRateLimit` answer.

        Raises:
            ValueError: the JSON lacks `cumVlm`, `nRequestsUsed` or `nRequestsCap`.
        """
        fields = ("cumVlm", "nRequestsUsed", "nRequestsCap")
        if not isinstance(data, Mapping) or any(name not in data for name in fields):
            raise ValueError(f"userRateLimit: expected {', '.join(fields)}, got {data!r}")
        used, cap = data["nRequestsUsed"], data["nRequestsCap"]
        surplus = data.get("nRequestsSurplus", 0)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (used, cap, surplus)):
            raise ValueError(f"userRateLimit: request counts must be integers, got {data!r}")
        try:
            cum_vlm = parse_decimal(data["cumVlm"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"userRateLimit: cumVlm {data['cumVlm']!r}: {exc}") from None
        self._known = True
        self._cum_vlm, self._used, self._surplus = cum_vlm, used, surplus
        self._cap_base = cap - int(cum_vlm.to_integral_value(ROUND_FLOOR))

    def on_batch_sent(self, batch: Batch, now_ms: int) -> None:
        """A batch went out: n address requests, one exchange request of IP weight."""
        self._used += len(batch)
        self.on_ip_weight(batch.ip_weight, now_ms)

    def on_ip_weight(self, weight: int, now_ms: int) -> None:
        """Count IP weight spent now (info posts: 2 or 20)."""
        self._weights.append((now_ms, weight))
        self._weight_sum += weight

    def on_fill_volume(self, notional: Decimal) -> None:
        """Traded volume raises the address cap by 1 per USDC."""
        self._cum_vlm += abs(notional)

    def observe(self, events: Iterable[EngineEvent]) -> None:
        """Feed the volume of newly applied fills (not `reflected` ones) from `events`."""
        for event in events:
            if isinstance(event, FillApplied) and not event.reflected:
                self.on_fill_volume(event.px * event.sz)

    @property
    def address_remaining(self) -> int | None:
        """Address requests left before throttling; None until `userRateLimit` was read."""
        if not self._known:
            return None
        cap = self._cap_base + int(self._cum_vlm.to_integral_value(ROUND_FLOOR))
        return cap + self._surplus - self._used

    def ip_weight_used(self, now_ms: int) -> int:
        """IP weight spent in the minute up to `now_ms`."""
        while self._weights and self._weights[0][0] <= now_ms - _MINUTE_MS:
            self._weight_sum -= self._weights.popleft()[1]
        return self._weight_sum

    def refusal(self, now_ms: int, *, reduce_only: bool) -> str | None:
        """Why an order cannot go now, or None."""
        address_floor = 1 if reduce_only else self.new_order_reserve + 1
        ip_room = self.ip_limit - (0 if reduce_only else self.ip_reserve)
        left = self.address_remaining
        if left is not None and left < address_floor:
            return f"address budget: {left} requests left (need {address_floor})"
        used = self.ip_weight_used(now_ms)
        if used + 1 > ip_room:
            return f"IP weight: {used} of {ip_room} used in the last minute"
        return None


_Check = Callable[["GateKeeper", OrderRequest, int], "str | None"]


class GateKeeper:
    """Runs the gates, then hands accepted orders to the scheduler (module docstring).

    Also the pure bridge between scheduler results and the tracker for the executor loop:
    `on_batch_sent`, `on_send_failed`, `on_timeout`, `on_disconnect`, `resolve`; and the
    latch's `HaltHandler` (`cancel_all`, `flatten_all`).
    """

    def __init__(
        self,
        settings: RiskSettings,
        *,
        latch: LatchView,
        ready: TradingReadyChecker,
        tracker: PositionTracker,
        budget: ActionBudget,
        scheduler: BatchScheduler,
        marks: Callable[[str], Decimal | None],
        assets: Callable[[str], int | None],
        flattener: Flattener | None = None,
    ) -> None:
        """Wire the gates to the state they read and the scheduler they feed.

        `marks` gives a market's mark price (None if unknown), `assets` its asset id (for
        cancels of orders the exchange listed; None if unknown).
        """
        self.settings, self.latch, self.ready, self.tracker = settings, latch, ready, tracker
        self.budget, self.scheduler, self.flattener = budget, scheduler, flattener
        self._marks, self._assets = marks, assets

    # ------------------------------------------------------------ the gates

    def _hard_stop(self, order: OrderRequest, now_ms: int) -> str | None:
        state = self.latch.state
        return None if state is LatchState.ACTIVE else f"latch {state}: no new orders"

    def _not_ready(self, order: OrderRequest, now_ms: int) -> str | None:
        missing = self.ready.flags.missing
        return f"not READY-TRADING (missing: {', '.join(missing)})" if missing else None

    def _exposure(self, market: str | None) -> Decimal:
        total = ZERO
        for position in self.tracker.positions():
            if market is None or position.market == market:
                mark = self._marks(position.market)
                total += position.notional(position.entry_px if mark is None else mark)
        for live in self.tracker.orders.live():
            if not live.reduce_only and (market is None or live.market == market):
                total += live.notional
        return total

    def _market_notional(self, order: OrderRequest, now_ms: int) -> str | None:
        after = self._exposure(order.market) + order.notional
        limit = self.settings.max_notional_per_market
        return f"{order.market} notional {after:.2f} > {limit}" if after > limit else None

    def _total_notional(self, order: OrderRequest, now_ms: int) -> str | None:
        after = self._exposure(None) + order.notional
        limit = self.settings.max_notional_total
        return f"total notional {after:.2f} > {limit}" if after > limit else None

    def _position(self, order: OrderRequest, now_ms: int) -> str | None:
        return f"already a position in {order.market}" if self.tracker.has_position(
            order.market) else None  # fmt: skip

    def _pending(self, order: OrderRequest, now_ms: int) -> str | None:
        only = True if order.reduce_only else None
        busy = self.tracker.orders.has_pending(order.market, reduce_only=only)
        kind = "reduce-only order" if order.reduce_only else "order"
        return f"a pending {kind} in {order.market}" if busy else None

    def _budget(self, order: OrderRequest, now_ms: int) -> str | None:
        return self.budget.refusal(now_ms, reduce_only=order.reduce_only)

    # (gate, denial, applies to reduce-only orders, check), in the design's order
    _GATES: tuple[tuple[Gate, Denial, bool, _Check], ...] = (
        (Gate.HARD_STOP, Denial.REJECTED, False, _hard_stop),
        (Gate.NOT_READY, Denial.REJECTED, True, _not_ready),
        (Gate.MAX_NOTIONAL_MARKET, Denial.REJECTED, False, _market_notional),
        (Gate.MAX_NOTIONAL_TOTAL, Denial.REJECTED, False, _total_notional),
        (Gate.HAS_POSITION, Denial.SKIPPED, False, _position),
        (Gate.PENDING_ORDER, Denial.SKIPPED, True, _pending),
        (Gate.ACTION_BUDGET, Denial.SKIPPED, True, _budget),
    )

    def check(self, order: OrderRequest, now_ms: int) -> tuple[Gate, Denial, str] | None:
        """The first gate `order` fails (gate, denial, detail), or None if all pass."""
        if self.tracker.order(cloid=order.cloid) is not None:
            return Gate.DUPLICATE, Denial.REJECTED, f"cloid {order.cloid} already used"
        for gate, denial, for_reduce_only, check in self._GATES:
            if order.reduce_only and not for_reduce_only:
                continue
            detail = check(self, order, now_ms)
            if detail is not None:
                return gate, denial, detail
        return None

    def submit(self, order: OrderRequest, now_ms: int) -> list[EngineEvent]:
        """Gate `order`; if it passes, mark its market pending and enqueue it."""
        failed = self.check(order, now_ms)
        if failed is not None:
            gate, denial, detail = failed
            return [OrderDenied(now_ms, order.cloid, order.market, gate, denial, detail,
                                order.reduce_only)]  # fmt: skip
        self.tracker.mark_pending(order, now_ms)
        outcome = self.scheduler.enqueue_order(order)
        if not outcome.accepted:
            tracked = self.tracker.order(cloid=order.cloid)
            if tracked is not None:
                self.tracker.orders.forget(tracked)
            denial = Denial.REJECTED if outcome is EnqueueOutcome.QUEUE_FULL else Denial.SKIPPED
            return [OrderDenied(now_ms, order.cloid, order.market, Gate.QUEUE, denial,
                                str(outcome), order.reduce_only)]  # fmt: skip
        degraded = outcome is EnqueueOutcome.QUEUED_DEGRADED
        return [OrderQueued(now_ms, order.cloid, order.market, order.reduce_only, degraded)]

    def submit_all(self, orders: Iterable[OrderRequest], now_ms: int) -> list[EngineEvent]:
        """`submit` each order in turn."""
        return [event for order in orders for event in self.submit(order, now_ms)]

    def submit_cancel(self, cancel: CancelRequest, now_ms: int) -> list[EngineEvent]:
        """Queue a cancel (no gate; only the queue's capacity can refuse it)."""
        outcome = self.scheduler.enqueue_cancel(cancel)
        if outcome.accepted:
            return [CancelQueued(now_ms, cancel.market, cancel.oid, cancel.cloid)]
        return [CancelDenied(now_ms, cancel.market, cancel.oid, cancel.cloid, str(outcome))]

    # ------------------------------------------------------------ halt handler

    def cancel_all(self, now_ms: int, reason: str) -> list[EngineEvent]:
        """Withdraw queued new orders and cancel every open order (IOCs end on their own)."""
        events: list[EngineEvent] = []
        for order in self.scheduler.withdraw_new_orders():
            events += self._failed(order, now_ms, f"withdrawn: {reason}", unsent=True)
        for live in self.tracker.exchange_orders():
            if live.tif == "Ioc":
                continue
            asset = self._assets(live.market)
            if asset is None:
                events.append(AlertRaised(now_ms, "cancel_impossible",
                                          f"no asset id for {live.market}", live.market))
                continue
            cancel = CancelRequest(live.market, asset, live.oid, live.cloid, now_ms, reason)
            events += self.submit_cancel(cancel, now_ms)
        return events

    def flatten_all(self, now_ms: int, reason: str) -> list[EngineEvent]:
        """Flatten every position through the flattener (reduce-only, gated)."""
        if self.flattener is None:
            return [AlertRaised(now_ms, "flatten_impossible", "no flattener configured")]
        return self._run(self.flattener.flatten_all(now_ms, reason), now_ms)

    def flatten(self, market: str, now_ms: int, reason: str) -> list[EngineEvent]:
        """Flatten one market."""
        if self.flattener is None:
            return [AlertRaised(now_ms, "flatten_impossible", "no flattener configured", market)]
        return self._run(self.flattener.flatten(market, now_ms, reason), now_ms)

    def on_tick(self, now_ms: int) -> list[EngineEvent]:
        """The flattener's tick (time stops, retries), its orders submitted."""
        if self.flattener is None:
            return []
        return self._run(self.flattener.on_tick(now_ms), now_ms)

    def _run(self, step: FlattenStep, now_ms: int) -> list[EngineEvent]:
        if not step.requests:
            return list(step.events)
        return [*step.events, *self.submit_all(step.requests, now_ms)]

    # ------------------------------------------------------------ scheduler results

    def on_batch_sent(self, batch: Batch, now_ms: int) -> list[EngineEvent]:
        """The batch was written: in flight, budget spent, its orders SENT."""
        self.scheduler.on_batch_sent(batch.batch_id)
        self.budget.on_batch_sent(batch, now_ms)
        events: list[EngineEvent] = []
        for order in batch.orders:
            events += self.tracker.orders.set_state(order.cloid, OrderState.SENT, now_ms, "sent")
        return events

    def on_send_failed(self, batch_id: int, now_ms: int) -> list[EngineEvent]:
        """The write failed."""
        return self.on_released(self.scheduler.on_send_failed(batch_id), now_ms)

    def on_timeout(self, batch_id: int, now_ms: int) -> list[EngineEvent]:
        """The post timed out."""
        return self.on_released(self.scheduler.on_timeout(batch_id), now_ms)

    def on_disconnect(self, now_ms: int) -> list[EngineEvent]:
        """The connection dropped: posts complete, READY-TRADING is lost, fills buffer."""
        self.tracker.on_disconnect()
        events: list[EngineEvent] = [*self.ready.on_disconnect(now_ms)]
        return events + self.on_released(self.scheduler.on_disconnect(), now_ms)

    def on_released(self, released: Released, now_ms: int) -> list[EngineEvent]:
        """Mirror a `Released` in the tracker and report failed new orders."""
        events: list[EngineEvent] = []
        set_state = self.tracker.orders.set_state
        for item in released.requeued:
            if isinstance(item, OrderRequest):
                events += set_state(item.cloid, OrderState.QUEUED, now_ms, "requeued")
        for order in released.held:
            events += set_state(order.cloid, OrderState.UNKNOWN, now_ms, "resolve by cloid")
        for order in released.failed_unsent:
            events += self._failed(order, now_ms, "not sent", unsent=True)
        for order in released.failed_unknown:
            events += self._failed(order, now_ms, "no answer: resolve by cloid", unsent=False)
        return events

    def _failed(self, order: OrderRequest, now_ms: int, reason: str, *,
                unsent: bool) -> list[EngineEvent]:  # fmt: skip
        state = OrderState.FAILED if unsent else OrderState.UNKNOWN
        events = self.tracker.orders.set_state(order.cloid, state, now_ms, reason)
        return [*events, OrderFailed(now_ms, order.cloid, order.market, reason)]

    def resolve(self, cloid: str, status: str | None, now_ms: int) -> list[EngineEvent]:
        """The `orderStatus` answer for an UNKNOWN order (None = `unknownOid`, never placed).

        A held reduce-only order that was never placed is released to be sent; one that
        was placed leaves the queue. Other orders just take their resolved state.
        """
        was_held = cloid in self.scheduler.held
        self.scheduler.resolve(cloid, placed=status is not None)
        if was_held and status is None:
            return self.tracker.orders.set_state(cloid, OrderState.QUEUED, now_ms, "unknownOid")
        return self.tracker.orders.resolve(cloid, status, now_ms)
