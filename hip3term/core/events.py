"""Engine events: frozen dataclasses, named in the past tense.

The pure engine (gates, scheduler, position tracker, flattener, latch, readiness) never
raises to refuse something and never performs I/O: it returns these events, and the async
shell shows them in the TUI, logs them and hands them to the journal. Every event carries
`ts_ms`, the injected clock's wall time (unix milliseconds) at which it happened.

The enums the events carry live here too, so that `core` stays the bottom layer: `Gate`
names the risk gate that refused an order, `Denial` whether it was rejected or skipped,
`OrderState` the lifecycle state of an order, `LatchState` and `TripTrigger` the risk
latch. Standard library only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

__all__ = [
    "AlertRaised",
    "CancelDenied",
    "CancelQueued",
    "Denial",
    "EngineEvent",
    "FillApplied",
    "FlattenCompleted",
    "FlattenFailed",
    "FlattenStarted",
    "Gate",
    "LatchEngaged",
    "LatchResumed",
    "LatchState",
    "LatchTripped",
    "OpenOrderDiscovered",
    "OpenOrderVanished",
    "OrderDenied",
    "OrderFailed",
    "OrderQueued",
    "OrderState",
    "OrderStateChanged",
    "PositionClosed",
    "PositionCorrected",
    "PositionOpened",
    "PositionsSynced",
    "TradingReadyChanged",
    "TripTrigger",
]


class Gate(enum.StrEnum):
    """The check that refused an order, in the order the gates run (DESIGN section 3).

    DUPLICATE is a precondition (the client order id is already in use), not one of the
    design's gates; QUEUE is the scheduler refusing the order after every gate passed.
    """

    DUPLICATE = "duplicate"
    HARD_STOP = "hard_stop"
    NOT_READY = "not_ready"
    MAX_NOTIONAL_MARKET = "max_notional_market"
    MAX_NOTIONAL_TOTAL = "max_notional_total"
    HAS_POSITION = "has_position"
    PENDING_ORDER = "pending_order"
    ACTION_BUDGET = "action_budget"
    QUEUE = "queue"


class Denial(enum.StrEnum):
    """REJECTED: the order is refused on principle; SKIPPED: not now (try again later)."""

    REJECTED = "rejected"
    SKIPPED = "skipped"


class OrderState(enum.StrEnum):
    """Where an order is in its life; see `execution.orders` for the transitions.

    QUEUED: accepted by the gates, waiting in the scheduler. SENT: in a post in flight.
    UNKNOWN: its post timed out or the connection dropped: its fate must be resolved (by
    cloid) before anything is resent. RESTING: on the book. The terminal states: FILLED
    (completely, or an IOC that filled part and lost the rest), CANCELED, REJECTED (refused
    by the exchange), FAILED (never reached the exchange, or resolved as never placed).
    """

    QUEUED = "queued"
    SENT = "sent"
    UNKNOWN = "unknown"
    RESTING = "resting"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        """True for FILLED, CANCELED, REJECTED and FAILED."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED, OrderState.FAILED}
)


class LatchState(enum.StrEnum):
    """The risk latch, by increasing severity; only an explicit resume lowers it.

    ACTIVE: trading. PAUSED (soft halt): no new orders; resting orders stay. HALTED (hard
    halt): no new orders, every open order canceled. TRIPPED (hard stop): no new orders,
    cancel all and flatten all (per config), alert, hold until resumed.
    """

    ACTIVE = "active"
    PAUSED = "paused"
    HALTED = "halted"
    TRIPPED = "tripped"

    @property
    def severity(self) -> int:
        """0 for ACTIVE up to 3 for TRIPPED."""
        return _SEVERITY[self]


_SEVERITY = {
    LatchState.ACTIVE: 0,
    LatchState.PAUSED: 1,
    LatchState.HALTED: 2,
    LatchState.TRIPPED: 3,
}


class TripTrigger(enum.StrEnum):
    """Why the hard-stop latch tripped."""

    CUMULATIVE_LOSS = "cumulative_loss"
    CONSECUTIVE_LOSSES = "consecutive_losses"
    FLATTEN_FAILURES = "flatten_failures"
    MARKET_DATA_STALE = "market_data_stale"
    ORACLE_MARK_DIVERGENCE = "oracle_mark_divergence"
    WS_DOWN = "ws_down"
    REJECT_STORM = "reject_storm"
    OPERATOR = "operator"


# ---------------------------------------------------------------- orders and cancels


@dataclass(frozen=True, slots=True)
class OrderQueued:
    """An order passed every gate and waits in the scheduler (degraded: in-flight >= HWM)."""

    ts_ms: int
    cloid: str
    market: str
    reduce_only: bool
    degraded: bool


@dataclass(frozen=True, slots=True)
class OrderDenied:
    """An order refused by a gate (or by a full scheduler): shown and journaled."""

    ts_ms: int
    cloid: str
    market: str
    gate: Gate
    denial: Denial
    detail: str
    reduce_only: bool


@dataclass(frozen=True, slots=True)
class OrderFailed:
    """An order that will not be (re)sent: report it to its strategy as failed.

    Raised for new orders whose send failed, whose post timed out or was cut by a
    disconnect (their fate is resolved separately, by cloid), or that were withdrawn from
    the queue (cancel-all, disconnect).
    """

    ts_ms: int
    cloid: str
    market: str
    reason: str


@dataclass(frozen=True, slots=True)
class OrderStateChanged:
    """An order moved to `state`; `status` is the exchange's word or our reason."""

    ts_ms: int
    cloid: str | None
    oid: int | None
    market: str
    state: OrderState
    status: str
    filled_sz: Decimal


@dataclass(frozen=True, slots=True)
class CancelQueued:
    """A cancel waits in the scheduler."""

    ts_ms: int
    market: str
    oid: int | None
    cloid: str | None


@dataclass(frozen=True, slots=True)
class CancelDenied:
    """A cancel the scheduler could not take (its queue is full): alert-worthy."""

    ts_ms: int
    market: str
    oid: int | None
    cloid: str | None
    detail: str


# ---------------------------------------------------------------- fills and positions


@dataclass(frozen=True, slots=True)
class FillApplied:
    """One of our fills, seen once (deduplicated by `tid`).

    `reflected` is True for a fill already contained in the exchange state the positions
    were loaded from (it did not move the position again). `position_after` is the
    signed position after it.
    """

    ts_ms: int
    market: str
    tid: int
    oid: int
    cloid: str | None
    is_buy: bool
    px: Decimal
    sz: Decimal
    fee: Decimal
    time_ms: int
    position_after: Decimal
    reflected: bool


@dataclass(frozen=True, slots=True)
class PositionOpened:
    """A position opened from flat (or the new side of a flip)."""

    ts_ms: int
    market: str
    size: Decimal
    entry_px: Decimal
    entry_ms: int


@dataclass(frozen=True, slots=True)
class PositionClosed:
    """A round trip ended (flat, or flipped): `pnl` is its realized PnL net of fees."""

    ts_ms: int
    market: str
    pnl: Decimal
    entry_ms: int
    closed_ms: int


@dataclass(frozen=True, slots=True)
class PositionCorrected:
    """The exchange disagreed with our belief and its truth was adopted.

    `believed_size` is None when there was no belief (the first load at start).
    """

    ts_ms: int
    market: str
    believed_size: Decimal | None
    believed_entry: Decimal | None
    exchange_size: Decimal
    exchange_entry: Decimal | None
    source: str


@dataclass(frozen=True, slots=True)
class OpenOrderDiscovered:
    """The exchange has an open order we did not know of (adopted)."""

    ts_ms: int
    market: str
    oid: int
    cloid: str | None


@dataclass(frozen=True, slots=True)
class OpenOrderVanished:
    """An order we believed live is not open on the exchange (done while we were away)."""

    ts_ms: int
    market: str
    oid: int | None
    cloid: str | None
    previous: OrderState


@dataclass(frozen=True, slots=True)
class PositionsSynced:
    """Positions now match the exchange state taken at `as_of_ms`."""

    ts_ms: int
    as_of_ms: int
    corrections: int


# ---------------------------------------------------------------- readiness and risk


@dataclass(frozen=True, slots=True)
class TradingReadyChanged:
    """READY-TRADING was gained or lost; the four flags as they now stand."""

    ts_ms: int
    ready: bool
    market_data: bool
    order_updates: bool
    fills_snapshot: bool
    positions_synced: bool
    reason: str


@dataclass(frozen=True, slots=True)
class LatchTripped:
    """The hard-stop latch tripped; it holds until an explicit resume."""

    ts_ms: int
    trigger: TripTrigger
    detail: str
    cancels_all: bool
    flattens: bool


@dataclass(frozen=True, slots=True)
class LatchEngaged:
    """An operator's softer level: PAUSED (no new orders) or HALTED (and cancel all)."""

    ts_ms: int
    state: LatchState
    operator: str
    reason: str


@dataclass(frozen=True, slots=True)
class LatchResumed:
    """The operator resumed trading from `previous` (with the trip shown, if any)."""

    ts_ms: int
    operator: str
    reason: str
    previous: LatchState
    trip_trigger: TripTrigger | None
    trip_detail: str


@dataclass(frozen=True, slots=True)
class FlattenStarted:
    """A position is being flattened (time stop, operator or latch)."""

    ts_ms: int
    market: str
    size: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class FlattenFailed:
    """A flatten order ended without any fill; `failures` is the running count."""

    ts_ms: int
    market: str
    cloid: str
    detail: str
    failures: int


@dataclass(frozen=True, slots=True)
class FlattenCompleted:
    """A flattened position is flat."""

    ts_ms: int
    market: str
    started_ms: int


@dataclass(frozen=True, slots=True)
class AlertRaised:
    """Something the operator must see now (`code` is stable, `message` is prose)."""

    ts_ms: int
    code: str
    message: str
    market: str | None = None


EngineEvent: TypeAlias = (
    OrderQueued | OrderDenied | OrderFailed | OrderStateChanged | CancelQueued
    | CancelDenied | FillApplied | PositionOpened | PositionClosed | PositionCorrected
    | OpenOrderDiscovered | OpenOrderVanished | PositionsSynced | TradingReadyChanged
    | LatchTripped | LatchEngaged | LatchResumed | FlattenStarted | FlattenFailed
    | FlattenCompleted | AlertRaised
)
"""Every event the pure engine returns."""


# ---------------------------------------------------------------- the executor loop
# Events of the async executor (`execution.executor`): posts, answers and resolutions.
# Journaled and shown like the engine's; `ActionPosted` is the journal's record of every
# nonce used.


@dataclass(frozen=True, slots=True)
class ActionPosted:
    """A signed action was written to the socket (`kind` "order" or "cancel")."""

    ts_ms: int
    post_id: int
    kind: str
    batch_id: int
    nonce: int
    items: int


@dataclass(frozen=True, slots=True)
class ActionPostFailed:
    """An action post ended without a usable answer.

    `outcome` is "send_failed" (never written), "timeout", "disconnected", "refused" (by
    the server, unprocessed) or "unreadable". When `sent` and the outcome is "timeout",
    "disconnected" or "unreadable", the action may have executed: its orders are resolved
    by cloid before anything of it is sent again.
    """

    ts_ms: int
    post_id: int | None
    kind: str
    batch_id: int
    nonce: int
    outcome: str
    sent: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ActionRejected:
    """The exchange refused a whole action (`status: err` or an error answer): nothing of
    it executed. `transient` errors (nonce, rate limit) send cancels and reduce-only
    orders again."""

    ts_ms: int
    post_id: int | None
    kind: str
    batch_id: int
    nonce: int
    text: str
    transient: bool


@dataclass(frozen=True, slots=True)
class NonceRejected:
    """The exchange refused a nonce (duplicate, too low, out of window): never expected
    with one NonceManager per signer, so a second signer or a clock problem: alert."""

    ts_ms: int
    nonce: int
    text: str


@dataclass(frozen=True, slots=True)
class OrderAcknowledged:
    """The exchange took an order: `status` "resting" or "filled" (`filled_sz` at
    `avg_px`; an IOC's unfilled rest is canceled), or its bare status word."""

    ts_ms: int
    cloid: str
    oid: int | None
    market: str
    status: str
    filled_sz: Decimal
    avg_px: Decimal | None


@dataclass(frozen=True, slots=True)
class OrderRejected:
    """The exchange refused an order (its error status, or the whole batch's error)."""

    ts_ms: int
    cloid: str
    market: str
    reason: str
    reduce_only: bool


@dataclass(frozen=True, slots=True)
class OrderResolved:
    """The fate of an order whose post got no answer, read by cloid (`orderStatus`).

    `status` is the exchange's status word ("open", "filled", "canceled", ...), or None
    when the exchange never had the order (`unknownOid`): then it was never placed.
    """

    ts_ms: int
    cloid: str
    market: str
    status: str | None
    oid: int | None


@dataclass(frozen=True, slots=True)
class CancelCompleted:
    """A cancel is done: "success", or the exchange's text saying the order was not
    open any more ("Order was never placed, already canceled, or filled.")."""

    ts_ms: int
    market: str
    oid: int | None
    cloid: str | None
    status: str


@dataclass(frozen=True, slots=True)
class CancelFailed:
    """A cancel refused for another reason, or given up after repeated transient
    refusals: the order may still be open (alert-worthy)."""

    ts_ms: int
    market: str
    oid: int | None
    cloid: str | None
    reason: str


ExecutorEvent: TypeAlias = (
    ActionPosted | ActionPostFailed | ActionRejected | NonceRejected | OrderAcknowledged
    | OrderRejected | OrderResolved | CancelCompleted | CancelFailed
)
"""Every event the executor loop adds to the engine's (it forwards those too)."""

__all__ += [
    "ActionPostFailed",
    "ActionPosted",
    "ActionRejected",
    "CancelCompleted",
    "CancelFailed",
    "ExecutorEvent",
    "NonceRejected",
    "OrderAcknowledged",
    "OrderRejected",
    "OrderResolved",
]
