"""The strategy plugin contract: `Strategy` and its `StrategyParams`.

A strategy is a class with a `name`, a one-line `description`, a pydantic `Params` model
(a `StrategyParams`: frozen, unknown keys refused) validated from
`Settings.strategy.params`, and synchronous callbacks. Each callback receives the
`StrategyContext`, reads the market, positions and orders through it and asks for orders
with its intent methods. Callbacks never perform I/O, never await and never reach the
executor or the venue: the same object runs live, in replay and in tests.

    class MyParams(StrategyParams):
        threshold_bps: float = Field(15.0, ge=0, description="...")

    class MyStrategy(Strategy[MyParams]):
        name = "my_strategy"
        description = "One line saying what it does."
        Params = MyParams

        def on_bbo(self, ctx: StrategyContext[MyParams]) -> None:
            if ctx.features().spread_bps.valid: ...

A plugin is a package `plugins/<name>/` whose `__init__.py` exports the class as
`STRATEGY` (or an entry point of the group `hip3term.strategies`); see `loader`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from hip3term.book.market_state import TradeLike
    from hip3term.strategy.context import FillLike, OrderUpdateLike, StrategyContext

__all__ = ["Strategy", "StrategyParams"]


class StrategyParams(BaseModel):
    """Base of every strategy's parameters: frozen, unknown keys refused, no NaN/inf.

    Give every field a default and a `description` (shown by `hip3term plugins`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


P = TypeVar("P", bound=StrategyParams)


class Strategy(Generic[P]):
    """Base class of strategies; every callback does nothing unless overridden.

    Class attributes:
        name: the plugin name (`[a-z][a-z0-9_]*`), as `strategy.name` selects it.
        description: one line for `hip3term plugins`.
        Params: the parameter model.
        timer_interval_s: how often the runtime calls `on_timer`.

    Args:
        params: the validated parameters (the same object as `ctx.params`).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    timer_interval_s: ClassVar[float] = 1.0

    def __init__(self, params: P) -> None:
        self.params = params

    def on_start(self, ctx: StrategyContext[P]) -> None:
        """Called once before any market data."""

    def on_book(self, ctx: StrategyContext[P]) -> None:
        """A new l2Book snapshot was applied to the market state."""

    def on_bbo(self, ctx: StrategyContext[P]) -> None:
        """A new best bid/offer was applied to the market state."""

    def on_trades(self, ctx: StrategyContext[P], trades: Sequence[TradeLike]) -> None:
        """New public trades (duplicates already removed), oldest first."""

    def on_asset_ctx(self, ctx: StrategyContext[P]) -> None:
        """A new oracle/mark context was applied to the market state."""

    def on_order_update(self, ctx: StrategyContext[P], update: OrderUpdateLike) -> None:
        """One of the strategy's orders changed status (see `context.order_done`)."""

    def on_fill(self, ctx: StrategyContext[P], fill: FillLike) -> None:
        """One of the strategy's orders traded (positions already include it)."""

    def on_timer(self, ctx: StrategyContext[P]) -> None:
        """Called every `timer_interval_s` seconds."""

    def on_stop(self, ctx: StrategyContext[P]) -> None:
        """Called once at shutdown; intents asked for here are still sent."""

    def status(self) -> Mapping[str, str | float | int | None]:
        """A small summary of the strategy's state for the TUI and the journal."""
        return {}
