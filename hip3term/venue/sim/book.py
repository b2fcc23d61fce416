"""The simulator's order book and order index (pure, internal).

`OrderBook` holds price levels with FIFO queues; `OrderIndex` finds open orders by oid,
owner and cloid and remembers finished ones. Used by `hip3term.venue.sim.matching` only;
callers see `Level`, `OrderView` and `OrderEvent` snapshots.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from decimal import Decimal

from hip3term.venue.sim.records import Level, OrderEvent, Tif

__all__ = ["BookOrder", "OrderBook", "OrderIndex"]

_ZERO = Decimal(0)


class BookOrder:
    """A live order: `sz` is what remains; the engine mutates it as the order fills."""

    __slots__ = (
        "asset", "cloid", "hash", "is_buy", "oid", "orig_sz", "owner", "px",
        "reduce_only", "sz", "tif", "timestamp",
    )  # fmt: skip

    def __init__(
        self, oid: int, owner: str, asset: int, is_buy: bool, px: Decimal, sz: Decimal,
        tif: Tif, reduce_only: bool, cloid: str | None, timestamp: int,
    ) -> None:  # fmt: skip
        """Take the order's fields; `orig_sz` starts equal to `sz`, `hash` empty."""
        self.oid, self.owner, self.asset, self.is_buy = oid, owner, asset, is_buy
        self.px, self.sz, self.orig_sz, self.tif = px, sz, sz, tif
        self.reduce_only, self.cloid, self.timestamp = reduce_only, cloid, timestamp
        self.hash = ""


class OrderBook:
    """Bids and asks of one market; each price holds its orders oldest first."""

    def __init__(self) -> None:
        """Start empty."""
        self.bids: dict[Decimal, deque[BookOrder]] = {}
        self.asks: dict[Decimal, deque[BookOrder]] = {}
        self._bid_prices: list[Decimal] = []  # ascending: the best bid is last
        self._ask_prices: list[Decimal] = []  # ascending: the best ask is first

    def best_bid(self) -> Decimal | None:
        """The highest bid price, or None."""
        return self._bid_prices[-1] if self._bid_prices else None

    def best_ask(self) -> Decimal | None:
        """The lowest ask price, or None."""
        return self._ask_prices[0] if self._ask_prices else None

    def crosses(self, order: BookOrder) -> bool:
        """Whether `order` would trade against the opposite side at its limit price."""
        if order.is_buy:
            ask = self.best_ask()
            return ask is not None and order.px >= ask
        bid = self.best_bid()
        return bid is not None and order.px <= bid

    def front(self, is_buy_side: bool) -> BookOrder:
        """The oldest order at the best price of one side (which must not be empty)."""
        if is_buy_side:
            return self.bids[self._bid_prices[-1]][0]
        return self.asks[self._ask_prices[0]][0]

    def add(self, order: BookOrder) -> None:
        """Queue `order` last at its price."""
        levels, prices = self._side(order.is_buy)
        queue = levels.get(order.px)
        if queue is None:
            queue = levels[order.px] = deque()
            insort(prices, order.px)
        queue.append(order)

    def remove(self, order: BookOrder) -> None:
        """Take `order` off the book (it must be on it)."""
        levels, prices = self._side(order.is_buy)
        queue = levels[order.px]
        queue.remove(order)
        if not queue:
            del levels[order.px]
            prices.remove(order.px)

    def levels(self, bids: bool, depth: int) -> list[Level]:
        """One side aggregated by price, best first, at most `depth` levels."""
        if depth <= 0:
            return []
        if bids:
            prices, book = list(reversed(self._bid_prices[-depth:])), self.bids
        else:
            prices, book = self._ask_prices[:depth], self.asks
        return [Level(px, sum((o.sz for o in book[px]), _ZERO), len(book[px])) for px in prices]

    def _side(self, is_buy: bool) -> tuple[dict[Decimal, deque[BookOrder]], list[Decimal]]:
        if is_buy:
            return self.bids, self._bid_prices
        return self.asks, self._ask_prices


class OrderIndex:
    """Every open order by oid, owner and cloid, and the last event of finished ones.

    Finished orders are kept (for `orderStatus`) in the order they finished, at most
    `max_finished` of them: beyond that the oldest is forgotten, with its cloid.
    """

    def __init__(self, max_finished: int) -> None:
        """Start empty."""
        self._max_finished = max_finished
        self._open: dict[int, BookOrder] = {}
        self._by_owner: dict[str, dict[int, BookOrder]] = {}
        self._cloid_open: dict[tuple[str, str], int] = {}
        self._cloid_latest: dict[tuple[str, str], int] = {}
        self._finished: dict[int, OrderEvent] = {}

    def get(self, oid: int) -> BookOrder | None:
        """The open order `oid`, or None."""
        return self._open.get(oid)

    def of_owner(self, owner: str) -> list[BookOrder]:
        """The open orders of `owner` (lower case), oldest first."""
        return list(self._by_owner.get(owner, {}).values())

    def count(self, owner: str) -> int:
        """How many open orders `owner` has."""
        return len(self._by_owner.get(owner, {}))

    def open_oid(self, owner: str, cloid: str) -> int | None:
        """The oid of the open order of `owner` with `cloid`, or None."""
        return self._cloid_open.get((owner, cloid))

    def latest_oid(self, owner: str, cloid: str) -> int | None:
        """The oid of the open, else most recently finished, order with `cloid`."""
        oid = self._cloid_open.get((owner, cloid))
        return oid if oid is not None else self._cloid_latest.get((owner, cloid))

    def finished(self, oid: int) -> OrderEvent | None:
        """The final event of a finished order still remembered, or None."""
        return self._finished.get(oid)

    def add(self, order: BookOrder) -> None:
        """Register a resting order."""
        self._open[order.oid] = order
        self._by_owner.setdefault(order.owner, {})[order.oid] = order
        if order.cloid is not None:
            self._cloid_open[(order.owner, order.cloid)] = order.oid

    def remove(self, order: BookOrder) -> None:
        """Forget `order` as an open order (nothing happens if it was not open)."""
        if self._open.pop(order.oid, None) is not None:
            self._by_owner[order.owner].pop(order.oid, None)
            if order.cloid is not None:
                self._cloid_open.pop((order.owner, order.cloid), None)

    def remember(self, event: OrderEvent) -> None:
        """Keep the final event of a finished order."""
        order = event.order
        self._finished[order.oid] = event
        if order.cloid is not None:
            self._cloid_latest[(order.owner, order.cloid)] = order.oid
        if len(self._finished) > self._max_finished:
            oid = next(iter(self._finished))
            old = self._finished.pop(oid).order
            key = (old.owner, old.cloid) if old.cloid is not None else None
            if key is not None and self._cloid_latest.get(key) == oid:
                del self._cloid_latest[key]
