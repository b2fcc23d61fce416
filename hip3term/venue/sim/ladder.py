"""The synthetic market's house maker: a ladder of real resting orders (pure).

`HouseLadder` keeps `levels` post-only orders a side for one house account around a
centre price it is given: best bid = the centre rounded down to a tick, best ask one tick
above (a one-tick spread), then levels `gaps` ticks apart, sizes log-normal around
`top_size` units at the touch and `size_growth` larger at each level further out.
Re-centring keeps the orders that still fit (and their queue place), cancels the stale
or crossing ones first and then places the missing levels, so moving by one tick costs a
few engine calls. Post-only orders never trade: a level that would cross a user's order
is simply left out until the next re-centring.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from hip3term.core.numeric import from_ticks, is_valid_price, price_tick, size_step
from hip3term.venue.sim.ledger import MarketSpec
from hip3term.venue.sim.matching import MatchingEngine
from hip3term.venue.sim.records import Resting

__all__ = ["HouseLadder", "LadderShape", "lot_size", "tick_decimals"]


@dataclass(frozen=True, slots=True)
class LadderShape:
    """How the house book looks (defaults: a quiet `xyz:COIN`-like book near $190).

    Attributes:
        levels: Orders a side.
        gaps: Gaps in ticks between neighbouring levels, drawn uniformly from this tuple.
        top_size: Median size (coin units) at the touch.
        size_growth: Relative growth of the median size per level away from the touch.
        size_sigma: Log-normal spread of the sizes.
    """

    levels: int = 20
    gaps: tuple[int, ...] = (1, 1, 1, 2, 2, 3)
    top_size: float = 2.5
    size_growth: float = 0.1
    size_sigma: float = 0.6


class HouseLadder:
    """The resting orders of one house maker on one market.

    Args:
        engine: The matching engine.
        spec: The market.
        maker: The house account (it must be a house account of the engine's ledger).
        shape: Levels, gaps and sizes.
        rng: The random source of gaps and sizes.
    """

    def __init__(
        self, engine: MatchingEngine, spec: MarketSpec, maker: str, shape: LadderShape,
        rng: random.Random,
    ) -> None:  # fmt: skip
        self._engine, self._spec, self._maker = engine, spec, maker
        self._shape, self._rng = shape, rng
        self._orders: dict[int, tuple[bool, int]] = {}  # oid -> (is_buy, price in ticks)
        self._key: tuple[int, int] | None = None  # (tick decimals, best bid in ticks)

    def requote(self, center: float, *, force: bool) -> None:
        """Re-centre on `center` (`force`), or else only refill levels that were taken."""
        count = self._engine.open_order_count(self._maker, self._spec.asset)
        if not force and count == len(self._orders):
            return  # nothing was taken
        if not force and self._key is not None:
            decimals, bid0 = self._key  # refill around the last centre
        else:
            decimals = tick_decimals(Decimal(f"{center:.8f}"), self._spec.sz_decimals)
            bid0 = math.floor(center * 10**decimals)
        if self._key is not None and decimals != self._key[0]:
            self._engine.cancel_all(self._maker, self._spec.asset)  # the tick size changed
        self._key = (decimals, bid0)
        self._orders = {oid: v for oid, v in self._orders.items() if self._engine.is_open(oid)}
        plans = {True: self._plan(True, bid0), False: self._plan(False, bid0 + 1)}
        for oid, (is_buy, ticks) in list(self._orders.items()):
            if ticks not in plans[is_buy]:
                self._engine.cancel(self._maker, self._spec.asset, oid)
                del self._orders[oid]
        have = set(self._orders.values())
        for is_buy, plan in plans.items():
            for index, ticks in enumerate(plan):
                if (is_buy, ticks) not in have:
                    self._place(is_buy, ticks, decimals, index)

    def _plan(self, is_buy: bool, touch: int) -> list[int]:
        # From the touch outwards: reuse a resting level within the widest gap, or step
        # a random gap away.
        step = -1 if is_buy else 1
        resting = {ticks for side, ticks in self._orders.values() if side == is_buy}
        widest = max(self._shape.gaps)
        plan: list[int] = []
        price = touch
        while len(plan) < self._shape.levels and price > 0:
            plan.append(price)
            for gap in range(1, widest + 1):
                if price + step * gap in resting:
                    price += step * gap
                    break
            else:
                price += step * self._rng.choice(self._shape.gaps)
        return plan

    def _place(self, is_buy: bool, ticks: int, decimals: int, index: int) -> None:
        px = from_ticks(ticks, decimals)
        if not is_valid_price(px, self._spec.sz_decimals):
            return  # next to a power of ten the tick changes; leave the level out
        shape = self._shape
        size = shape.top_size * (1 + shape.size_growth * index)
        size *= math.exp(shape.size_sigma * self._rng.gauss(0.0, 1.0))
        sz = lot_size(size, px, self._spec)
        result = self._engine.place(self._maker, self._spec.asset, is_buy, px, sz, "Alo")
        if isinstance(result.status, Resting):
            self._orders[result.status.oid] = (is_buy, ticks)


def lot_size(size: float, px: Decimal, spec: MarketSpec) -> Decimal:
    """`size` coin units rounded to the lot, and worth at least 5 % over the minimum value."""
    lot = size_step(spec.sz_decimals)
    wanted = Decimal(f"{size:.8f}").quantize(lot, ROUND_HALF_EVEN)
    floor = (spec.min_notional * Decimal("1.05") / px).quantize(lot, ROUND_UP)
    return max(wanted, floor)


def tick_decimals(px: Decimal, sz_decimals: int) -> int:
    """Decimals of the price tick at `px` (2 for a tick of 0.01)."""
    exponent = price_tick(px, sz_decimals).as_tuple().exponent
    assert isinstance(exponent, int)  # a tick is a finite power of ten
    return -exponent
