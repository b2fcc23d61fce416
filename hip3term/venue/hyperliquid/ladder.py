"""Book sides: `Level` and `Ladder`, the lazy sequence of levels the parser builds.

A ladder's numbers are validated when its frame is parsed but become `Decimal`s only when
read: 40 `Level`s of Decimals cost several times the JSON decoding of the frame, and most
readers want the top of the book only. That one is made with the ladder (`best`), for
every reader of every book reads it. `wire` re-exports both (`wire.Level`,
`wire.Ladder`), as the messages that hold them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, overload

import orjson

__all__ = ["Ladder", "Level"]


@dataclass(frozen=True, slots=True)
class Level:
    """One price level of a book: price, total size, number of orders."""

    px: Decimal
    sz: Decimal
    n: int


# The first level of a validated compact side (see `Ladder.from_json`).
_TOP_ROW = re.compile(rb'\[\{"px":"([^"]*+)","sz":"([^"]*+)","n":([0-9]++)\}')


class Ladder(Sequence[Level]):
    """One side of a book, best price first: an immutable sequence of `Level`.

    `Ladder(levels)` holds ready `Level`s. The parser's ladders hold the validated wire
    form of their side (its JSON text, its decoded objects or its number strings) and
    build a level's Decimals when it is first read (all levels in one pass when the
    ladder is iterated); `prices()` and `sizes()` skip the `Level` objects. The best level
    is built at once: `best` (an attribute, the cheapest read; None for an empty side).
    Ladders are equal when their levels are.
    """

    __slots__ = ("_cache", "_complete", "_json", "_len", "_n", "_pxs", "_rows", "_szs",
                 "best")
    best: Level | None
    _pxs: tuple[str, ...]
    _szs: tuple[str, ...]
    _n: tuple[int, ...]
    _rows: Sequence[dict[str, Any]] | None
    _json: bytes | None
    _cache: list[Level | None] | None

    def __init__(self, levels: Iterable[Level] = ()) -> None:
        built = list(levels)
        self._pxs = tuple(str(level.px) for level in built)
        self._szs = tuple(str(level.sz) for level in built)
        self._n = tuple(level.n for level in built)
        self._len, self._rows, self._json = len(built), None, None
        self._cache: list[Level | None] | None = list(built)
        self._complete = True
        self.best = built[0] if built else None

    @classmethod
    def from_wire(cls, pxs: tuple[str, ...], szs: tuple[str, ...], ns: tuple[int, ...]
                  ) -> Ladder:
        """A lazy ladder over validated decimal strings (the parser's constructor)."""
        ladder = cls.__new__(cls)
        ladder._pxs, ladder._szs, ladder._n = pxs, szs, ns
        ladder._len, ladder._rows, ladder._json = len(ns), None, None
        ladder._cache, ladder._complete = None, False
        ladder.best = Level(Decimal(pxs[0]), Decimal(szs[0]), ns[0]) if ns else None
        return ladder

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, Any]]) -> Ladder:
        """A lazier ladder over the decoded level objects themselves (the parser's).

        Each row must be a validated level with exactly the keys `px`, `sz`, `n`, in
        this order: the columns are read from the rows' values, when first needed.
        """
        ladder = cls.__new__(cls)
        ladder._len, ladder._rows, ladder._json = len(rows), rows, None
        ladder._cache, ladder._complete = None, False
        if rows:
            px, sz, n = rows[0].values()
            ladder.best = Level(Decimal(px), Decimal(sz), n)
        else:
            ladder.best = None
        return ladder

    @classmethod
    def from_json(cls, text: bytes, count: int, best: Level | None = None) -> Ladder:
        """The laziest: a ladder over the JSON text of its side (the parser's).

        `text` must be a validated side in the exchange's compact form, a list of `count`
        objects `{"px":"<decimal>","sz":"<decimal>","n":<integer>}`, and `best` its first
        level when the caller has read it already (else it is read from the text alone);
        anything more decodes the text (then as `from_rows`).
        """
        ladder = cls.__new__(cls)
        ladder._len, ladder._rows, ladder._json = count, None, text
        ladder._cache, ladder._complete = None, False
        if best is None and count and (top := _TOP_ROW.match(text)):
            px, sz, n = top.groups()
            best = Level(Decimal(px.decode()), Decimal(sz.decode()), int(n))
        ladder.best = best
        return ladder

    def _decoded(self) -> Sequence[dict[str, Any]] | None:
        # The rows, decoding the text first if that is what the ladder holds; None once
        # the columns are built.
        text = self._json
        if text is not None:
            self._rows = orjson.loads(text)
            self._json = None
        return self._rows

    def _columns(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
        rows = self._decoded()
        if rows is not None:  # first column read of a ladder made from rows
            columns = tuple(zip(*map(dict.values, rows), strict=True))
            self._pxs, self._szs, self._n = columns if columns else ((), (), ())
            self._rows = None
        return self._pxs, self._szs, self._n

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> Level: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Level, ...]: ...

    def __getitem__(self, index: int | slice) -> Level | tuple[Level, ...]:
        if isinstance(index, slice):
            return tuple(self._level(i) for i in range(self._len)[index])
        return self._level(range(self._len)[index])

    def __iter__(self) -> Iterator[Level]:
        if not self._complete:  # one bulk pass is cheaper than a call per level
            self._cache = list(map(Level, self.prices(), self.sizes(), self._columns()[2]))
            self._complete = True
        return (level for level in self._cache or () if level is not None)

    def _level(self, i: int) -> Level:
        cache = self._cache
        if cache is None:
            cache = self._cache = [None] * self._len
        level = cache[i]
        if level is None:
            # The top of a book is often all that is read: leave the rest as it is.
            if i == 0 and self.best is not None:
                level = self.best
            elif (rows := self._decoded()) is not None:
                px, sz, n = rows[i].values()
                level = Level(Decimal(px), Decimal(sz), n)
            else:
                level = Level(Decimal(self._pxs[i]), Decimal(self._szs[i]), self._n[i])
            cache[i] = level
        return level

    def prices(self) -> tuple[Decimal, ...]:
        """All prices, best first, without building `Level` objects."""
        return tuple(map(Decimal, self._columns()[0]))

    def sizes(self) -> tuple[Decimal, ...]:
        """All sizes, in price order, without building `Level` objects."""
        return tuple(map(Decimal, self._columns()[1]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ladder):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Ladder({list(self)!r})"
