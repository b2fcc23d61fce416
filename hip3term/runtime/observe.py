"""Observe mode's would-be orders: what the strategy asked for, withheld, with its edge.

In observe mode nothing is sent. A `PlaceOrder` becomes a `WouldBeOrder`: an IOC is done
at once (the strategy is told status "observed", a final word, so it does not wait for an
order that will never come); a post-only or GTC order stands "live" until the strategy
cancels it, and meanwhile the strategy sees it among its open orders, so a maker keeps
its quotes instead of re-placing them on every tick. Nothing here fills.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from decimal import Decimal

from hip3term.runtime.snapshot import WouldBeOrder
from hip3term.strategy.intents import PlaceOrder

__all__ = ["OBSERVED", "LiveWouldBe", "WouldBeBook"]

OBSERVED = "observed"
"""The status word a strategy gets for an IOC withheld in observe mode (final)."""

_KEEP = 200


@dataclass(frozen=True, slots=True)
class LiveWouldBe:
    """A would-be resting order, as the strategy's open orders show it."""

    market: str
    is_buy: bool
    px: Decimal
    sz: Decimal
    reduce_only: bool
    cloid: str
    created_ms: int


class WouldBeBook:
    """The would-be orders of one session: the live ones and the latest `keep` of all."""

    def __init__(self, keep: int = _KEEP) -> None:
        """Keep the newest `keep` would-be orders for the status view."""
        self._live: OrderedDict[str, LiveWouldBe] = OrderedDict()
        self._recent: deque[WouldBeOrder] = deque(maxlen=keep)
        self.placed = 0

    def place(self, intent: PlaceOrder, now_ms: int) -> WouldBeOrder:
        """Record a withheld order; returns its row (state "done" for an IOC, else "live")."""
        resting = intent.tif != "Ioc"
        row = WouldBeOrder(
            time_ms=now_ms, cloid=intent.cloid, market=intent.market,
            side="B" if intent.is_buy else "A", px=intent.px, sz=intent.sz, tif=intent.tif,
            reduce_only=intent.reduce_only, expected_edge_bps=intent.expected_edge_bps,
            tag=intent.tag, state="live" if resting else "done",
        )  # fmt: skip
        self.placed += 1
        self._recent.append(row)
        if resting:
            self._live[intent.cloid] = LiveWouldBe(intent.market, intent.is_buy, intent.px,
                                                   intent.sz, intent.reduce_only, intent.cloid,
                                                   now_ms)  # fmt: skip
        return row

    def cancel(self, cloid: str) -> bool:
        """Withdraw a live would-be order; False when it is not live."""
        if self._live.pop(cloid, None) is None:
            return False
        for index, row in enumerate(self._recent):
            if row.cloid == cloid:
                self._recent[index] = replace(row, state="canceled")
        return True

    def cancel_market(self, market: str | None) -> list[str]:
        """Withdraw every live would-be order of `market` (all when None); their cloids."""
        cloids = [c for c, o in self._live.items() if market is None or o.market == market]
        for cloid in cloids:
            self.cancel(cloid)
        return cloids

    def open_orders(self) -> tuple[LiveWouldBe, ...]:
        """The live would-be orders, oldest first."""
        return tuple(self._live.values())

    def rows(self) -> tuple[WouldBeOrder, ...]:
        """The newest would-be orders, oldest first."""
        return tuple(self._recent)
