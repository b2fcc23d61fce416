"""`FeatureSettings`: the feature windows and staleness limits of `MarketState`.

Its own module, outside the compiled hot path (`hip3term._native`): the checks below read
the values as given (a compiled class would have made `True` the int 1 before them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["FeatureSettings"]


@dataclass(frozen=True, slots=True)
class FeatureSettings:
    """Freshness thresholds and windows of the features.

    Attributes:
        book_stale_after_s: book features are invalid this long (local time) after the
            last l2Book or bbo update.
        ctx_stale_after_s: oracle and mark features are invalid this long after the last
            activeAssetCtx.
        oracle_frozen_after_s: dislocations are invalid while the oracle price has not
            changed for this long.
        flow_window_s: window of `trade_flow`, in exchange time.
        max_trades: how many recent trades `MarketState.recent_trades` keeps.
    """

    book_stale_after_s: float = 20.0
    ctx_stale_after_s: float = 10.0
    oracle_frozen_after_s: float = 30.0
    flow_window_s: float = 10.0
    max_trades: int = 1000

    def __post_init__(self) -> None:
        for name in ("book_stale_after_s", "ctx_stale_after_s", "oracle_frozen_after_s",
                     "flow_window_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if isinstance(self.max_trades, bool) or not isinstance(self.max_trades, int) or (
            self.max_trades < 1
        ):
            raise ValueError(f"max_trades must be a positive int, got {self.max_trades!r}")
