"""The gate policy per strategy: the design's gates, relaxed for two-sided strategies.

DESIGN section 3's gates 5 ("already has a position in this market") and 6 ("a pending
order in this market") are written for the taker: one position and one entry at a time.
A two-sided market maker (issue 6: one level of post-only quotes on *both* sides, holding
inventory within its limit) can never quote under them: its second quote always finds the
first one pending, and any fill leaves a position that blocks every later quote. For such
a strategy `TwoSidedGateKeeper` keeps every gate and its order but changes those two:

- gate 5 does not apply to its new orders: its inventory is bounded by the notional gates
  3 and 4 (position at mark plus the unfilled notional of every live order) and by the
  strategy's own inventory limit (the maker pauses over it);
- gate 6 refuses a new order while a new order *on the same side* is pending in the
  market (one bid and one ask at most), instead of any order.

Reduce-only orders are gated as before. A strategy is two-sided when its class sets
`two_sided = True` or its name is in `TWO_SIDED_STRATEGIES` (the shipped `maker`).
"""

from __future__ import annotations

from typing import Any

from hip3term.core.events import Gate
from hip3term.execution.orders import OrderRequest
from hip3term.risk.gates import GateKeeper
from hip3term.strategy.base import Strategy

__all__ = ["TWO_SIDED_STRATEGIES", "TwoSidedGateKeeper", "is_two_sided"]

TWO_SIDED_STRATEGIES = frozenset({"maker"})
"""Shipped strategies that quote both sides (see the module docstring)."""


def is_two_sided(strategy: Strategy[Any]) -> bool:
    """Whether `strategy` quotes both sides (gets `TwoSidedGateKeeper`, no time stop)."""
    return strategy.name in TWO_SIDED_STRATEGIES or getattr(type(strategy), "two_sided",
                                                            False) is True  # fmt: skip


def _no_position_gate(gates: GateKeeper, order: OrderRequest, now_ms: int) -> str | None:
    return None


def _pending_same_side(gates: GateKeeper, order: OrderRequest, now_ms: int) -> str | None:
    if order.reduce_only:
        busy = gates.tracker.orders.has_pending(order.market, reduce_only=True)
        return f"a pending reduce-only order in {order.market}" if busy else None
    for live in gates.tracker.orders.live():
        if live.market == order.market and not live.reduce_only and live.is_buy == order.is_buy:
            side = "buy" if order.is_buy else "sell"
            return f"a pending {side} order in {order.market}"
    return None


class TwoSidedGateKeeper(GateKeeper):
    """`GateKeeper` with gates 5 and 6 relaxed for a two-sided strategy (module docstring)."""

    _GATES = tuple(
        (gate, denial, for_reduce_only,
         _no_position_gate if gate is Gate.HAS_POSITION
         else _pending_same_side if gate is Gate.PENDING_ORDER else check)
        for gate, denial, for_reduce_only, check in GateKeeper._GATES
    )  # fmt: skip

