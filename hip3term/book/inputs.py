"""What the market state reads: structural protocols of the venue's parsed messages.

The book layer does not import the venue package; the Hyperliquid messages of
`venue.hyperliquid.wire` (`L2Book`, `Bbo`, `Trades`, `AssetCtx` and their levels and
trades) satisfy these protocols as they are. Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol, cast

__all__ = ["AssetCtxFrame", "BboFrame", "BookFrame", "LevelLike", "TradeLike", "TradesFrame",
           "best_level"]


class LevelLike(Protocol):
    """A price level: price, size, number of orders."""

    @property
    def px(self) -> Decimal: ...
    @property
    def sz(self) -> Decimal: ...
    @property
    def n(self) -> int: ...


def best_level(side: Sequence[LevelLike]) -> LevelLike | None:
    """A book side's first level, None when it is empty: its `best` attribute when it
    has one (the parser's ladders, `wire.Ladder.best`, build it with the ladder: no
    index to resolve), else its first item."""
    best: object = getattr(side, "best", side)
    if best is not side:
        return cast("LevelLike | None", best)  # a ladder's Level or None
    return side[0] if side else None


class BookFrame(Protocol):
    """A full book snapshot (l2Book): sides best price first."""

    @property
    def coin(self) -> str: ...
    @property
    def time_ms(self) -> int: ...
    @property
    def bids(self) -> Sequence[LevelLike]: ...
    @property
    def asks(self) -> Sequence[LevelLike]: ...


class BboFrame(Protocol):
    """A best bid and offer; a side is None when it is empty."""

    @property
    def coin(self) -> str: ...
    @property
    def time_ms(self) -> int: ...
    @property
    def bid(self) -> LevelLike | None: ...
    @property
    def ask(self) -> LevelLike | None: ...


class TradeLike(Protocol):
    """One public trade; `side` "B" is a buy aggressor, "A" a sell."""

    @property
    def coin(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def px(self) -> Decimal: ...
    @property
    def sz(self) -> Decimal: ...
    @property
    def time_ms(self) -> int: ...
    @property
    def tid(self) -> int: ...


class TradesFrame(Protocol):
    """A push of trades."""

    @property
    def trades(self) -> Sequence[TradeLike]: ...


class AssetCtxFrame(Protocol):
    """A perp context: mark, oracle, mid, funding, open interest."""

    @property
    def coin(self) -> str: ...
    @property
    def mark_px(self) -> Decimal: ...
    @property
    def oracle_px(self) -> Decimal: ...
    @property
    def mid_px(self) -> Decimal | None: ...
    @property
    def funding(self) -> Decimal: ...
    @property
    def open_interest(self) -> Decimal: ...
    @property
    def premium(self) -> Decimal | None: ...
