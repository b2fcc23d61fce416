"""Order requests, cancel requests and the lifecycle of an order.

This module is the shared vocabulary of the engine: it imports only `core`, and the
position tracker, the gates and the scheduler all import it (nothing here imports them).

- `OrderRequest` is what a strategy, the operator or the flattener asks for (the
  "intent"): one order with its client order id (cloid), exact Decimal price and size,
  time in force and reduce-only flag. It is immutable; the executor turns it into the
  wire form with `venue.hyperliquid.actions.order_wire` at send time.
- `CancelRequest` cancels one order by oid (preferred when known) or by cloid. The two
  are different actions on the exchange (`cancel` and `cancelByCloid`), so the
  scheduler never mixes them in one batch.
- `TrackedOrder` is our belief about one order, `OrderRegistry` holds them all, indexed
  by cloid and by oid, and answers "which markets have a pending order".

Transitions (anything else is ignored and counted, never raised: exchange messages race
each other, e.g. an `orderUpdates` "filled" can arrive before the post response
"resting", and the late message must not resurrect the order):

    QUEUED  -> SENT | FAILED | (any exchange state, if the send was not reported)
    SENT    -> RESTING | FILLED | CANCELED | REJECTED | UNKNOWN | FAILED | QUEUED
    UNKNOWN -> RESTING | FILLED | CANCELED | REJECTED | FAILED | QUEUED
    RESTING -> RESTING | FILLED | CANCELED
    terminal (FILLED, CANCELED, REJECTED, FAILED) -> nothing

SENT/UNKNOWN -> QUEUED is the re-queue of a reduce-only order after a failure.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, Protocol

from hip3term.core.events import (
    EngineEvent,
    OpenOrderDiscovered,
    OpenOrderVanished,
    OrderState,
    OrderStateChanged,
)

__all__ = [
    "CancelRequest",
    "CloidSequence",
    "OpenOrder",
    "OrderRegistry",
    "OrderRequest",
    "OrderState",
    "OrderUpdateLike",
    "Tif",
    "TrackedOrder",
    "classify_status",
    "in_dex",
]

ZERO = Decimal(0)

Tif = Literal["Alo", "Ioc", "Gtc"]
"""Time in force: Alo = post-only, Ioc = the unfilled part is canceled, Gtc = rests."""

_TIFS = ("Alo", "Ioc", "Gtc")
_CLOID = re.compile(r"0x[0-9a-f]{32}")
_CANCEL_WORDS = frozenset({"canceled", "scheduledCancel", "internalCancel"})


def _positive_decimal(value: object, name: str) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{name} must be positive and finite, got {value}")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order someone wants placed.

    Attributes:
        cloid: client order id, `0x` + 32 lower-case hex digits, unique per order.
        market: the exchange's market name (`"xyz:COIN"`).
        asset: the asset id used on the wire (110007 for `xyz:COIN`).
        is_buy: side.
        px: limit price, already valid for the market's tick rules.
        sz: size, a whole number of lots.
        tif: `"Ioc"`, `"Alo"` or `"Gtc"`.
        reduce_only: the order may only reduce a position (flatten orders are).
        created_ms: when it was asked for (injected clock).
        origin: who asked: a strategy name, `"flatten"`, `"operator"`.

    Raises:
        TypeError: a price or size is not a Decimal.
        ValueError: a malformed cloid, a non-positive price or size, an unknown tif.
    """

    cloid: str
    market: str
    asset: int
    is_buy: bool
    px: Decimal
    sz: Decimal
    tif: Tif
    reduce_only: bool
    created_ms: int
    origin: str = "strategy"

    def __post_init__(self) -> None:
        if not isinstance(self.cloid, str) or _CLOID.fullmatch(self.cloid) is None:
            raise ValueError(f"cloid must be 0x + 32 lower-case hex digits, got {self.cloid!r}")
        _positive_decimal(self.px, "px")
        _positive_decimal(self.sz, "sz")
        if self.tif not in _TIFS:
            raise ValueError(f"tif must be one of {_TIFS}, got {self.tif!r}")

    @property
    def notional(self) -> Decimal:
        """Price times size (USD)."""
        return self.px * self.sz

    @property
    def signed_sz(self) -> Decimal:
        """The size with the position's sign convention: positive buys, negative sells."""
        return self.sz if self.is_buy else -self.sz


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Cancel one order, by `oid` when known, else by `cloid`.

    Raises:
        ValueError: neither `oid` nor `cloid` is given, or the cloid is malformed.
    """

    market: str
    asset: int
    oid: int | None = None
    cloid: str | None = None
    created_ms: int = 0
    reason: str = ""

    def __post_init__(self) -> None:
        if self.oid is None and self.cloid is None:
            raise ValueError("a cancel needs an oid or a cloid")
        if self.cloid is not None and _CLOID.fullmatch(self.cloid) is None:
            raise ValueError(f"cloid must be 0x + 32 lower-case hex digits, got {self.cloid!r}")

    @property
    def by_cloid(self) -> bool:
        """True when sent as `cancelByCloid` (no oid known)."""
        return self.oid is None

    @property
    def key(self) -> tuple[str, int | str]:
        """What the cancel targets, for de-duplication: `("oid", n)` or `("cloid", s)`."""
        if self.oid is not None:
            return ("oid", self.oid)
        assert self.cloid is not None  # checked in __post_init__
        return ("cloid", self.cloid)


class CloidSequence:
    """Deterministic, unique client order ids: `0x` + 16 hex of `seed` + 16 hex counter.

    Seed it with the process start time in ms (`clock.now_ms()`): ids never repeat across
    restarts, and a replay with the same clock produces the same ids.
    """

    def __init__(self, seed: int) -> None:
        """Start a sequence; `seed` must fit in 64 bits."""
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 64:
            raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
        self._prefix = f"0x{seed:016x}"
        self._counter = 0

    def __call__(self) -> str:
        """The next cloid."""
        self._counter += 1
        return f"{self._prefix}{self._counter:016x}"


def classify_status(word: str) -> OrderState | None:
    """Map an exchange order status (orderUpdates, orderStatus) to an `OrderState`.

    `open` and `triggered` rest, `filled` is filled, `rejected` and every `...Rejected`
    is rejected, `canceled`, every `...Canceled`, `scheduledCancel` and `internalCancel`
    are canceled. None for a word this table does not know (leave the order as it is).
    """
    if word in ("open", "triggered"):
        return OrderState.RESTING
    if word == "filled":
        return OrderState.FILLED
    if word == "rejected" or word.endswith("Rejected"):
        return OrderState.REJECTED
    if word in _CANCEL_WORDS or word.endswith("Canceled"):
        return OrderState.CANCELED
    return None


_S = OrderState
_EXCHANGE_STATES = frozenset({_S.RESTING, _S.FILLED, _S.CANCELED, _S.REJECTED})
_ALLOWED: dict[OrderState, frozenset[OrderState]] = {
    _S.QUEUED: frozenset({_S.SENT, _S.FAILED, _S.UNKNOWN}) | _EXCHANGE_STATES,
    _S.SENT: frozenset({_S.UNKNOWN, _S.FAILED, _S.QUEUED}) | _EXCHANGE_STATES,
    _S.UNKNOWN: frozenset({_S.FAILED, _S.QUEUED}) | _EXCHANGE_STATES,
    _S.RESTING: frozenset({_S.RESTING, _S.FILLED, _S.CANCELED}),
}


@dataclass(slots=True)
class TrackedOrder:
    """Our belief about one order (mutable; owned by an `OrderRegistry`).

    `filled_sz` is the filled size the exchange reported (post status or orderUpdates);
    `applied_sz` is the size of the fills applied to positions for this order. While an
    order is terminal with `filled_sz > applied_sz`, fills are still on their way.
    """

    market: str
    is_buy: bool
    px: Decimal
    sz: Decimal
    reduce_only: bool
    state: OrderState
    created_ms: int
    updated_ms: int
    cloid: str | None = None
    oid: int | None = None
    tif: str = "Gtc"
    origin: str = "strategy"
    status: str = ""
    sent_ms: int | None = None
    filled_sz: Decimal = Decimal(0)
    applied_sz: Decimal = Decimal(0)
    ignored_transitions: int = field(default=0)

    @classmethod
    def from_request(cls, request: OrderRequest, now_ms: int) -> TrackedOrder:
        """A QUEUED order for `request`."""
        return cls(
            market=request.market, is_buy=request.is_buy, px=request.px, sz=request.sz,
            reduce_only=request.reduce_only, state=OrderState.QUEUED,
            created_ms=now_ms, updated_ms=now_ms, cloid=request.cloid, tif=request.tif,
            origin=request.origin, status="queued",
        )  # fmt: skip

    @property
    def notional(self) -> Decimal:
        """Limit price times the unfilled size."""
        return self.px * max(self.sz - self.filled_sz, Decimal(0))

    def can_move_to(self, state: OrderState) -> bool:
        """Whether the lifecycle allows `state` next."""
        return state in _ALLOWED.get(self.state, frozenset())


class OrderUpdateLike(Protocol):
    """One order's new status (`venue.hyperliquid.wire.OrderUpdate` satisfies it)."""

    @property
    def coin(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def limit_px(self) -> Decimal: ...
    @property
    def sz(self) -> Decimal: ...
    @property
    def orig_sz(self) -> Decimal: ...
    @property
    def oid(self) -> int: ...
    @property
    def cloid(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def reduce_only(self) -> bool | None: ...


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An order the exchange lists as open (info `openOrders` / `frontendOpenOrders`)."""

    market: str
    oid: int
    cloid: str | None
    is_buy: bool
    px: Decimal
    sz: Decimal
    orig_sz: Decimal
    reduce_only: bool

    @classmethod
    def from_update(cls, update: OrderUpdateLike) -> OpenOrder:
        """The open order an orderUpdates item describes."""
        return cls(update.coin, update.oid, update.cloid, update.side == "B", update.limit_px,
                   update.sz, update.orig_sz, bool(update.reduce_only))  # fmt: skip


def in_dex(market: str, dex: str | None) -> bool:
    """Whether `market` belongs to `dex` ("" = validator perps, None = any dex)."""
    if dex is None:
        return True
    return market.startswith(f"{dex}:") if dex else ":" not in market


Events = list[EngineEvent]


class OrderRegistry:
    """Every order we know, by cloid and by oid, and what the exchange says of them.

    Each handler returns `OrderStateChanged` events (only for real changes). Finished
    orders are kept (the newest `keep_finished`) so that late messages and the flattener
    can still look them up.
    """

    def __init__(self, keep_finished: int = 2000) -> None:
        """Create an empty registry."""
        self._live: dict[int, TrackedOrder] = {}  # id(order) -> order, oldest first
        self._finished: OrderedDict[int, TrackedOrder] = OrderedDict()
        self._by_cloid: dict[str, TrackedOrder] = {}
        self._by_oid: dict[int, TrackedOrder] = {}
        self._keep = keep_finished

    # ------------------------------------------------------------ bookkeeping

    def add(self, order: TrackedOrder) -> None:
        """Start tracking `order`.

        Raises:
            ValueError: its cloid or oid is already tracked.
        """
        if order.cloid is not None and order.cloid in self._by_cloid:
            raise ValueError(f"cloid {order.cloid} is already tracked")
        if order.oid is not None and order.oid in self._by_oid:
            raise ValueError(f"oid {order.oid} is already tracked")
        if order.cloid is not None:
            self._by_cloid[order.cloid] = order
        if order.oid is not None:
            self._by_oid[order.oid] = order
        self._live[id(order)] = order
        if order.state.terminal:
            self._retire(order)

    def forget(self, order: TrackedOrder) -> None:
        """Stop tracking `order` entirely."""
        self._live.pop(id(order), None)
        self._finished.pop(id(order), None)
        if order.cloid is not None and self._by_cloid.get(order.cloid) is order:
            del self._by_cloid[order.cloid]
        if order.oid is not None and self._by_oid.get(order.oid) is order:
            del self._by_oid[order.oid]

    def get(self, *, cloid: str | None = None, oid: int | None = None) -> TrackedOrder | None:
        """The order with this cloid (tried first) or oid, live or recently finished."""
        if cloid is not None and (found := self._by_cloid.get(cloid)) is not None:
            return found
        return self._by_oid.get(oid) if oid is not None else None

    def set_oid(self, order: TrackedOrder, oid: int) -> None:
        """Record the exchange's oid of `order` (the first one wins)."""
        if order.oid is None and oid not in self._by_oid:
            order.oid = oid
            self._by_oid[oid] = order

    def move(self, order: TrackedOrder, state: OrderState, now_ms: int, status: str) -> Events:
        """Move `order` to `state` if the lifecycle allows it (else ignored and counted)."""
        if order.state is state and state is not OrderState.RESTING:
            return []
        before = (order.state, order.filled_sz, order.status)
        if not order.can_move_to(state):
            order.ignored_transitions += 1
            return []
        order.state, order.updated_ms, order.status = state, now_ms, status
        if state.terminal:
            self._retire(order)
        if before == (order.state, order.filled_sz, order.status):
            return []
        return [OrderStateChanged(now_ms, order.cloid, order.oid, order.market, state, status,
                                  order.filled_sz)]  # fmt: skip

    def _retire(self, order: TrackedOrder) -> None:
        self._live.pop(id(order), None)
        self._finished[id(order)] = order
        while len(self._finished) > self._keep:
            self.forget(next(iter(self._finished.values())))

    # ------------------------------------------------------------ what happened to orders

    def set_state(self, cloid: str, state: OrderState, now_ms: int, reason: str) -> Events:
        """Our side of the lifecycle: SENT (written; stamps `sent_ms`), UNKNOWN (timed out
        or cut), QUEUED (re-queued), FAILED (never placed). Unknown cloids are ignored."""
        order = self.get(cloid=cloid)
        if order is None:
            return []
        if state is OrderState.SENT:
            order.sent_ms = now_ms
        return self.move(order, state, now_ms, reason)

    def on_resting(self, cloid: str | None, oid: int, now_ms: int) -> Events:
        """The post response said `resting`."""
        order = self.get(cloid=cloid, oid=oid)
        if order is None:
            return []
        self.set_oid(order, oid)
        return self.move(order, OrderState.RESTING, now_ms, "resting")

    def on_filled(self, cloid: str | None, oid: int, total_sz: Decimal, now_ms: int) -> Events:
        """The post response said `filled` for `total_sz` (an IOC's rest is canceled)."""
        order = self.get(cloid=cloid, oid=oid)
        if order is None:
            return []
        self.set_oid(order, oid)
        order.filled_sz = max(order.filled_sz, total_sz)
        done = order.tif == "Ioc" or order.filled_sz >= order.sz
        state = OrderState.FILLED if done else OrderState.RESTING
        return self.move(order, state, now_ms, "filled")

    def on_error(self, cloid: str, text: str, now_ms: int) -> Events:
        """The post response refused the order with the exchange's `text`."""
        order = self.get(cloid=cloid)
        return [] if order is None else self.move(order, OrderState.REJECTED, now_ms, text)

    def resolve(self, cloid: str, status: str | None, now_ms: int) -> Events:
        """The `orderStatus` answer by cloid; None (`unknownOid`) means never placed."""
        order = self.get(cloid=cloid)
        state = OrderState.FAILED if status is None else classify_status(status)
        if order is None or state is None:
            return []
        return self.move(order, state, now_ms, status or "unknownOid")

    def on_updates(self, updates: Sequence[OrderUpdateLike], now_ms: int) -> Events:
        """An orderUpdates push. A resting order we did not know is adopted (origin
        "exchange"); terminal news of unknown orders is ignored."""
        events: Events = []
        for update in updates:
            state = classify_status(update.status)
            order = self.get(cloid=update.cloid, oid=update.oid)
            if order is None:
                if state is OrderState.RESTING:
                    self.adopt(OpenOrder.from_update(update), now_ms)
                continue
            self.set_oid(order, update.oid)
            # A "filled" update may keep sz at the original size; it means all of it.
            full = state is OrderState.FILLED and update.sz == update.orig_sz
            order.filled_sz = max(order.filled_sz, update.orig_sz - (ZERO if full else update.sz))
            if state is not None:
                events += self.move(order, state, now_ms, update.status)
        return events

    def adopt(self, found: OpenOrder, now_ms: int) -> TrackedOrder:
        """Track an open order the exchange has and we did not (or thought finished)."""
        old = self.get(cloid=found.cloid, oid=found.oid)
        if old is not None:
            self.forget(old)
        order = TrackedOrder(
            market=found.market, is_buy=found.is_buy, px=found.px, sz=found.orig_sz,
            reduce_only=found.reduce_only, state=OrderState.RESTING, created_ms=now_ms,
            updated_ms=now_ms, cloid=found.cloid, oid=found.oid, origin="exchange",
            status="open", filled_sz=found.orig_sz - found.sz,
        )  # fmt: skip
        self.add(order)
        return order

    def reconcile(self, listed: Sequence[OpenOrder], now_ms: int, *, dex: str | None,
                  asked_ms: int) -> list[EngineEvent]:  # fmt: skip
        """Adopt the exchange's list of open orders (of `dex`) as the truth.

        Listed orders we did not know (or thought finished) are adopted
        (`OpenOrderDiscovered`). Our resting or unknown orders it does not list, and sent
        ones posted before the list was asked for (`asked_ms`), are finished as CANCELED
        with status "vanished" (`OpenOrderVanished`): done while we were away. QUEUED
        orders never reached the exchange and are left alone.
        """
        events: list[EngineEvent] = []
        confirmed: set[int] = set()
        for found in (o for o in listed if in_dex(o.market, dex)):
            order = self.get(cloid=found.cloid, oid=found.oid)
            if order is None or order.state.terminal:
                order = self.adopt(found, now_ms)
                events.append(OpenOrderDiscovered(now_ms, found.market, found.oid, found.cloid))
            self.set_oid(order, found.oid)
            order.filled_sz = max(order.filled_sz, found.orig_sz - found.sz)
            events += self.move(order, OrderState.RESTING, now_ms, "open")
            confirmed.add(id(order))
        for order in self.live():
            if id(order) in confirmed or not in_dex(order.market, dex):
                continue
            sent_before = order.state is OrderState.SENT and (order.sent_ms or 0) < asked_ms
            if order.state in (OrderState.RESTING, OrderState.UNKNOWN) or sent_before:
                previous = order.state
                events += self.move(order, OrderState.CANCELED, now_ms, "vanished")
                events.append(OpenOrderVanished(now_ms, order.market, order.oid, order.cloid,
                                                previous))  # fmt: skip
        return events

    # ------------------------------------------------------------ queries

    def live(self) -> Iterator[TrackedOrder]:
        """Orders not yet terminal, oldest first (a copy: safe to move them meanwhile)."""
        return iter(list(self._live.values()))

    def pending_markets(self) -> frozenset[str]:
        """Markets with at least one live order (queued, sent, unknown or resting)."""
        return frozenset(order.market for order in self._live.values())

    def has_pending(self, market: str, *, reduce_only: bool | None = None) -> bool:
        """Whether `market` has a live order (restricted to reduce-only or to others)."""
        return any(
            order.market == market and (reduce_only is None or order.reduce_only == reduce_only)
            for order in self._live.values()
        )

    def __len__(self) -> int:
        return len(self._live)
