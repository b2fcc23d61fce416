"""Duplicate suppression and exchange-time checks on parsed frames (pure, synchronous).

`FrameFilter.check(event, raw)` says whether a data message is new, how many duplicate
items it held, and whether its exchange time went backwards. What counts as a duplicate
is listed in `feeds.health`: byte-identical consecutive l2Book / bbo / orderUpdates
frames (per channel and coin), trades already seen by (coin, tid), fills already seen by
(oid, tid) per channel. Memory is bounded: the most recent `memory` keys per channel.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Final, Generic, TypeVar

from hip3term.venue.hyperliquid.wire import (
    AllMids,
    AssetCtx,
    Bbo,
    Event,
    Fill,
    L2Book,
    OrderUpdates,
    Trades,
    UserEvent,
    UserFills,
)

__all__ = ["FrameFilter", "Verdict"]

_K = TypeVar("_K", bound=Hashable)
_T = TypeVar("_T")


class _RecentKeys(Generic[_K]):
    # A set that forgets its oldest keys beyond `capacity`.
    __slots__ = ("_order", "_seen")

    def __init__(self, capacity: int) -> None:
        self._order: deque[_K] = deque(maxlen=capacity)
        self._seen: set[_K] = set()

    def add(self, key: _K) -> bool:
        """Add a key; False when it was already there."""
        if key in self._seen:
            return False
        if len(self._order) == self._order.maxlen:
            self._seen.discard(self._order[0])
        self._order.append(key)
        self._seen.add(key)
        return True


@dataclass(frozen=True, slots=True, init=False)  # a hot record: see _native
class Verdict:
    """What `FrameFilter.check` found.

    Attributes:
        event: the message to deliver (with duplicate items removed), None when nothing
            new remains.
        duplicates: how many duplicate frames or items were removed.
        backwards: the exchange time went backwards against the newest seen.
    """

    event: Event | None
    duplicates: int = 0
    backwards: bool = False

    def __init__(self, event: Event | None, duplicates: int = 0,
                 backwards: bool = False) -> None:  # fmt: skip
        object.__setattr__(self, "event", event)
        object.__setattr__(self, "duplicates", duplicates)
        object.__setattr__(self, "backwards", backwards)


class _Last:
    # The last frame of one market's book or bbo stream: its bytes (None after a new
    # connection: the resubscribe snapshot is delivered) and the newest exchange time.
    __slots__ = ("raw", "time_ms")

    def __init__(self, raw: bytes | None, time_ms: int) -> None:
        self.raw = raw
        self.time_ms = time_ms


class FrameFilter:
    """Remembers recent frames and keys to drop copies. One per client, kept across
    reconnects (a resubscribe snapshot repeats what was already delivered).

    Args:
        memory: how many recent trade / fill keys to remember per channel.
    """

    def __init__(self, memory: int = 10_000) -> None:
        self._memory = memory
        # books and bbos (most frames): one record per coin, found by the coin alone
        self._books: dict[str, _Last] = {}
        self._bbos: dict[str, _Last] = {}
        self._last_raw: dict[tuple[str, str], bytes] = {}  # orderUpdates
        self._last_ms: dict[tuple[str, str], int] = {}  # trades
        self._keys: dict[str, _RecentKeys[tuple[object, ...]]] = {}

    def new_connection(self) -> None:
        """Forget the last frames (not the trade and fill keys): the snapshots sent on
        resubscribe are delivered even when identical to the last ones."""
        self._last_raw.clear()
        for last in (*self._books.values(), *self._bbos.values()):
            last.raw = None

    def check(self, event: Event, raw: bytes) -> Verdict:
        """Classify a parsed data message received as `raw`."""
        if isinstance(event, _SNAPSHOTS):  # most frames: in line
            lasts = self._books if isinstance(event, _L2BOOK) else self._bbos
            last, time_ms = lasts.get(event.coin), event.time_ms
            if last is None:
                lasts[event.coin] = _Last(raw, time_ms)
                return Verdict(event)
            if last.raw == raw:
                return Verdict(None, 1)
            last.raw = raw
            if time_ms >= last.time_ms:
                last.time_ms = time_ms
                return Verdict(event)
            return Verdict(event, 0, True)
        if isinstance(event, _PASSED):
            return Verdict(event)
        if isinstance(event, OrderUpdates):
            if self._same_as_last(("orderUpdates", ""), raw):
                return Verdict(None, 1)
            return Verdict(event)
        if isinstance(event, Trades):
            return self._trades(event)
        if isinstance(event, UserFills):
            fills, dups = self._new_items(event.channel, event.fills, _fill_key)
            if dups == 0:
                return Verdict(event)
            keep = event.is_snapshot or bool(fills)  # the snapshot itself always counts
            return Verdict(replace(event, fills=fills) if keep else None, dups)
        if isinstance(event, UserEvent) and event.fills:
            fills, dups = self._new_items(event.channel, event.fills, _fill_key)
            if dups == 0:
                return Verdict(event)
            return Verdict(replace(event, fills=fills) if fills else None, dups)
        return Verdict(event)

    def _same_as_last(self, key: tuple[str, str], raw: bytes) -> bool:
        if self._last_raw.get(key) == raw:
            return True
        self._last_raw[key] = raw
        return False

    def _trades(self, event: Trades) -> Verdict:
        trades, dups = self._new_items(event.channel, event.trades,
                                       lambda t: (t.coin, t.tid))
        backwards = False
        for trade in trades:
            key = ("trades", trade.coin)
            last = self._last_ms.get(key)
            if last is not None and trade.time_ms < last:
                backwards = True
            else:
                self._last_ms[key] = trade.time_ms
        if dups == 0:
            return Verdict(event, 0, backwards)
        return Verdict(Trades(trades) if trades else None, dups, backwards)

    def _new_items(self, channel: str, items: tuple[_T, ...],
                   key: Callable[[_T], tuple[object, ...]]) -> tuple[tuple[_T, ...], int]:
        seen = self._keys.get(channel)
        if seen is None:
            seen = self._keys[channel] = _RecentKeys(self._memory)
        fresh = tuple(item for item in items if seen.add(key(item)))
        return fresh, len(items) - len(fresh)


# Final: compiled, C statics instead of lookups in the module's dict on every frame
_SNAPSHOTS: Final = (L2Book, Bbo)
_PASSED: Final = (AssetCtx, AllMids)  # never filtered: no need to try the other kinds first
_L2BOOK: Final = L2Book


def _fill_key(fill: Fill) -> tuple[object, ...]:
    # our own two sides of one trade would share the tid; the oid tells them apart
    return (fill.oid, fill.tid)
