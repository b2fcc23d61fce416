"""The oracle-dislocation taker's parameters (`strategy.py` says what each one does).

Apart from the strategy because `strategy.py` is compiled with mypyc (`hip3term._native`),
which cannot compile a pydantic model (a class with a metaclass is never a native class,
and the C mypyc writes for one deriving `BaseModel` does not even build); read once, when
the strategy is made, it has no reason to be compiled.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, model_validator

from hip3term.strategy import StrategyParams

__all__ = ["OracleDislocationParams"]


class OracleDislocationParams(StrategyParams):
    """Parameters of the oracle-dislocation taker."""

    threshold_bps: float = Field(
        15.0, ge=0, le=1000,
        description="Expected edge after round-trip fees a dislocation needs to be traded.")
    taker_fee_bps: float | None = Field(
        None, ge=0, le=100,
        description="Taker fee per side, paid on entry and exit. Default: the market's own "
                    "tier-0 taker fee from its meta (4.5 bps, times the HIP-3 deployer scale, "
                    "a tenth in growth mode: 0.9 bps on xyz:COIN). Required with gate_model.")
    size_alpha: Decimal = Field(
        Decimal("0.05"), gt=0, le=1,
        description="Fraction of the size at the touch to take.")
    max_oracle_age_s: float = Field(
        10.0, gt=0,
        description="No entry when the oracle price has not changed for this long.")
    buffer_ticks: int = Field(
        2, ge=0, le=100,
        description="Ticks beyond the touch for the IOC limit price (entry and exit).")
    exit_on_close_bps: float = Field(
        2.0, ge=-100, le=100,
        description="Exit early once the exit side is within this many bps of the oracle.")
    cooldown_s: float = Field(
        5.0, ge=0,
        description="Least time between two entries.")
    gate_model: str | None = Field(
        None,
        description="A gate bundle from `hip3term train` (its directory or gate.json); "
                    "None trades every signal the rules allow.")
    gate_threshold: float = Field(
        0.5, ge=0, le=1,
        description="With a gate, trade a signal only when its probability of a positive "
                    "after-fee markout is at least this (0 passes all).")

    @model_validator(mode="after")
    def _gate_needs_fees(self) -> OracleDislocationParams:
        if self.gate_model is not None and self.taker_fee_bps is None:
            raise ValueError("gate_model needs an explicit taker_fee_bps: the bundle was "
                             "trained for given fees, and they must match")
        return self
