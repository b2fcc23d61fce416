"""The strategy layer: imports core, book, config, errors and pydantic only (never
execution, risk, positions, feeds, venue, runtime, persistence, recording or tui); plugins
see only this surface (checked by tests/unit/test_plugin_imports.py)."""

from hip3term.strategy.base import Strategy, StrategyParams
from hip3term.strategy.context import (
    MIN_ORDER_NOTIONAL,
    FillLike,
    MarketRules,
    MarketView,
    NotionalLimits,
    OpenOrderLike,
    OrdersView,
    OrderUpdateLike,
    PositionLike,
    PositionsView,
    StrategyContext,
    order_done,
)
from hip3term.strategy.intents import (
    CancelAll,
    CancelOrder,
    Flatten,
    Intent,
    IntentError,
    PlaceOrder,
    Side,
    Signal,
    Tif,
)

__all__ = [
    "MIN_ORDER_NOTIONAL",
    "CancelAll",
    "CancelOrder",
    "FillLike",
    "Flatten",
    "Intent",
    "IntentError",
    "MarketRules",
    "MarketView",
    "NotionalLimits",
    "OpenOrderLike",
    "OrderUpdateLike",
    "OrdersView",
    "PlaceOrder",
    "PositionLike",
    "PositionsView",
    "Side",
    "Signal",
    "Strategy",
    "StrategyContext",
    "StrategyParams",
    "Tif",
    "order_done",
]
