"""What a strategy asks for: intents and signal records (pure frozen dataclasses).

A strategy never talks to the executor or the venue. Its `StrategyContext` turns the
calls `place`, `cancel`, `cancel_all` and `flatten` into the intents below and keeps them
until the runtime drains them (`ctx.drain_intents()`); the runtime turns each into a gated
executor request, or, in observe mode, into a would-be order in the journal. A `Signal`
records one decision of the strategy (traded or not, with its expected edge and the
reason when not traded); the runtime drains them with `ctx.drain_signals()`.

Standard library only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Literal, TypeAlias

__all__ = [
    "CLOID_PATTERN",
    "CancelAll",
    "CancelOrder",
    "Flatten",
    "Intent",
    "IntentError",
    "PlaceOrder",
    "Side",
    "Signal",
    "Tif",
]

Tif: TypeAlias = Literal["Alo", "Ioc", "Gtc"]
"""Time in force: Alo = post-only (refused if it would cross), Ioc = the unfilled part is
canceled at once, Gtc = rests until canceled."""

Side: TypeAlias = Literal["buy", "sell"]
"""The side of a signal."""

CLOID_PATTERN = re.compile(r"0x[0-9a-f]{32}")
"""A client order id: `0x` followed by 32 lower-case hexadecimal digits."""

_TIFS: tuple[Tif, ...] = ("Alo", "Ioc", "Gtc")


class IntentError(ValueError):
    """A strategy asked for something malformed (a bug in the strategy, not a refusal)."""


def _check_cloid(cloid: object) -> None:
    if not isinstance(cloid, str) or CLOID_PATTERN.fullmatch(cloid) is None:
        raise IntentError(f"cloid must be 0x + 32 lower-case hex digits, got {cloid!r}")


def _check_positive(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise IntentError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite() or value <= 0:
        raise IntentError(f"{name} must be positive and finite, got {value}")


def _check_edge(value: float | None) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        raise IntentError(f"expected_edge_bps must be a finite number or None, got {value!r}")


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Place one limit order.

    Attributes:
        cloid: the client order id the context assigned (`place` returns it).
        market: the exchange's market name, e.g. `"xyz:COIN"`.
        is_buy: side.
        px: limit price, valid for the market's tick rules.
        sz: size, a whole number of lots.
        tif: `"Ioc"`, `"Alo"` or `"Gtc"`.
        reduce_only: the order may only reduce a position.
        expected_edge_bps: the edge the strategy expects, in bps after fees (None when it
            has no estimate); observe mode journals it with the would-be order.
        tag: the strategy's label for the order ("entry", "exit", "bid", ...).
        ref_px: the price the strategy decided on (e.g. the touch before the buffer);
            slippage is measured against it. None when it has none.
        created_ns: the context's wall clock when the intent was made.

    Raises:
        IntentError: a malformed cloid, price, size, time in force or edge.
    """

    cloid: str
    market: str
    is_buy: bool
    px: Decimal
    sz: Decimal
    tif: Tif
    reduce_only: bool = False
    expected_edge_bps: float | None = None
    tag: str = ""
    ref_px: Decimal | None = None
    created_ns: int = 0

    def __post_init__(self) -> None:
        _check_cloid(self.cloid)
        _check_positive(self.px, "px")
        _check_positive(self.sz, "sz")
        if self.ref_px is not None:
            _check_positive(self.ref_px, "ref_px")
        if self.tif not in _TIFS:
            raise IntentError(f"tif must be one of {_TIFS}, got {self.tif!r}")
        _check_edge(self.expected_edge_bps)

    @property
    def notional(self) -> Decimal:
        """Price times size, in USD."""
        return self.px * self.sz


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel one of the strategy's orders by its client order id.

    Raises:
        IntentError: a malformed cloid.
    """

    cloid: str
    market: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        _check_cloid(self.cloid)


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Cancel every open order of the strategy in `market` (every market when None)."""

    market: str | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Flatten:
    """Close the position in `market` (every position when None) with the engine's
    flattener (reduce-only IOC orders at an aggressive valid price, retried)."""

    market: str | None
    reason: str = ""


Intent: TypeAlias = PlaceOrder | CancelOrder | CancelAll | Flatten
"""Anything a strategy can ask the runtime to do."""


@dataclass(frozen=True, slots=True)
class Signal:
    """One decision of a strategy, journaled whether it was traded or not.

    Attributes:
        strategy: the strategy's name.
        market: the market it concerns.
        kind: what was decided: "entry", "exit", "state" (a state change), ...
        side: "buy", "sell", or None when the decision has no side.
        expected_edge_bps: the expected edge after fees, in bps (None when not defined).
        traded: True when an order was placed for it.
        reason: why it was not traded (or what a state change was about); "" otherwise.
        cloid: the order placed for it, if any.
        at_ns: the context's wall clock when it was logged.
        values: the numbers the decision used (dislocation, oracle age, ...).
    """

    strategy: str
    market: str
    kind: str
    side: Side | None
    expected_edge_bps: float | None
    traded: bool
    reason: str = ""
    cloid: str | None = None
    at_ns: int = 0
    values: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        _check_edge(self.expected_edge_bps)
        if self.cloid is not None:
            _check_cloid(self.cloid)
        if self.side not in ("buy", "sell", None):
            raise IntentError(f"side must be 'buy', 'sell' or None, got {self.side!r}")
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
