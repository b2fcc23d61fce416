"""The post-only maker's parameters (`strategy.py` says how each one is used).

Apart from the strategy because `strategy.py` is compiled with mypyc (`hip3term._native`),
which cannot compile a pydantic model (a class with a metaclass is never a native class,
and the C mypyc writes for one deriving `BaseModel` does not even build); read once, when
the strategy is made, it has no reason to be compiled.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from hip3term.strategy import StrategyParams

__all__ = ["MakerParams"]


class MakerParams(StrategyParams):
    """Parameters of the post-only maker."""

    fair: Literal["microprice", "mid"] = Field(
        "microprice", description="Fair price the quotes centre on.")
    half_spread_bps: float = Field(
        4.0, gt=0, le=1000, description="Distance of each quote from the (skewed) fair price.")
    quote_notional: Decimal = Field(
        Decimal(24), gt=0, description="USD per quote in NORMAL (at least $10 is sent).")
    max_inventory_notional: Decimal = Field(
        Decimal(40), gt=0,
        description="Position limit in USD (also capped by risk.max_notional_per_market); "
                    "over it: PAUSE.")
    inventory_skew_bps: float = Field(
        3.0, ge=0, le=1000, description="Shift of both quotes against a full-limit position.")
    maker_fee_bps: float = Field(
        3.0, ge=-100, le=100,
        description="Maker fee per fill (tier-0 1.5 bps x 2 at HIP-3 scale 1; negative = "
                    "rebate), subtracted from each quote's expected edge.")
    requote_bps: float = Field(
        2.0, ge=0, description="Replace a quote when its wanted price moved more than this.")
    refresh_s: float = Field(20.0, gt=0, description="Replace a quote older than this.")
    reject_retry_s: float = Field(
        1.0, ge=0, description="Wait after a rejected quote before quoting that side again.")
    defensive_spread_mult: float = Field(
        2.0, ge=1, le=100, description="Half-spread multiplier in DEFENSIVE.")
    defensive_size_mult: Decimal = Field(
        Decimal("0.5"), gt=0, le=1, description="Quote size multiplier in DEFENSIVE.")
    defensive_inventory_frac: float = Field(
        0.5, gt=0, le=1, description="DEFENSIVE from this fraction of the position limit.")
    defensive_mark_oracle_bps: float = Field(
        20.0, gt=0, description="DEFENSIVE when |mark - oracle| exceeds this.")
    defensive_rv_10s_bps: float = Field(
        15.0, gt=0, description="DEFENSIVE when the 10 s realized volatility exceeds this.")
    defensive_hold_s: float = Field(
        10.0, ge=0, description="Least time in DEFENSIVE (e.g. after a PAUSE).")
    pause_hold_s: float = Field(3.0, ge=0, description="Least time in PAUSE.")
    max_book_age_s: float = Field(
        5.0, gt=0, description="PAUSE when the book has not updated for this long.")
    max_oracle_age_s: float = Field(
        60.0, gt=0, description="PAUSE when the oracle price has not changed for this long.")
    max_mark_oracle_bps: float = Field(
        50.0, gt=0, description="PAUSE when |mark - oracle| exceeds this.")
    max_rv_1s_bps: float = Field(
        20.0, gt=0, description="PAUSE when the 1 s realized volatility exceeds this.")
    max_rv_10s_bps: float = Field(
        40.0, gt=0, description="PAUSE when the 10 s realized volatility exceeds this.")

    @model_validator(mode="after")
    def _defensive_below_pause(self) -> MakerParams:
        if self.defensive_mark_oracle_bps > self.max_mark_oracle_bps:
            raise ValueError("defensive_mark_oracle_bps must not exceed max_mark_oracle_bps")
        if self.defensive_rv_10s_bps > self.max_rv_10s_bps:
            raise ValueError("defensive_rv_10s_bps must not exceed max_rv_10s_bps")
        return self
