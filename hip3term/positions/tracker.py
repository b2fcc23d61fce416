"""PositionTracker: positions and orders from orderUpdates, userFills and reconciles.

Pure and synchronous; every call takes `now_ms` from the injected clock. Wire messages are
read through the structural protocols `FillLike` and `OrderUpdateLike` (the parsed
`venue.hyperliquid.wire.Fill` / `OrderUpdate` satisfy them), so this layer does not
depend on the venue.

**Accounting (average cost, fees realized when paid).** A fill that opens or adds moves
the entry price to the size-weighted average; one that reduces realizes
`closed * (px - entry) * sign`. Fees (negative = rebate) are attributed: an opening fee
belongs to the open part (`open_fees`); when part of a position closes, the same fraction
of `open_fees` moves to realized together with the closing fee. So `realized_pnl` is net
of every fee of the closed part, `unrealized_pnl(mark) = (mark - entry) * size -
open_fees` is net of the fees already paid on the open part, and their sum is the PnL net
of all fees. A flip closes the round trip and opens a new one at the fill price (its fee
split by size). Each closed round trip's PnL (net) is a trade outcome; a loss is < 0, and
anything else ends a losing streak (`consecutive_losses`).

**Fills, snapshot and sync (the rule that prevents double counting).** Fills are
de-duplicated by `tid`. Until both the userFills snapshot (`isSnapshot: true`) has
arrived and `reconcile()` has given the exchange state (clearinghouseState, whose
`time` is `as_of`), fills are only buffered. Then, in order:

1. buffered unseen fills with `time <= as_of` are already contained in the exchange
   state. At the first sync (start) they are only marked seen (journaled as `reflected`)
   because there is no earlier belief to replay them onto. At a re-sync (after a
   reconnect) they are the fills we missed while away: they are replayed onto the old
   belief, so realized PnL and round trips stay right;
2. the belief is compared with the exchange state; any difference is reported
   (`PositionCorrected`) and the exchange's size (and then its entry price) is adopted;
3. buffered fills with `time > as_of` are applied; from now on fills apply live.

A live fill whose `startPosition` differs from the believed size reveals a missed fill:
the exchange's `startPosition` is adopted first (reported as a correction). Fills with
`time <= as_of` that arrive after the sync are reflected, never applied. A reconcile while
synced adopts the exchange state corrected by the fills already applied after `as_of`.

The tracker also owns the `OrderRegistry` (open orders by oid and cloid, the markets with
pending orders). It satisfies the strategy layer's read-only `PositionsView` and
`OrdersView` (structurally; this module does not import the strategy layer). Realized
PnL counts from the tracker's start; restore earlier sessions' figures from the journal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from hip3term.core.events import (
    AlertRaised,
    EngineEvent,
    FillApplied,
    OrderState,
    PositionClosed,
    PositionCorrected,
    PositionOpened,
    PositionsSynced,
)
from hip3term.core.numeric import parse_decimal
from hip3term.execution.orders import (
    OpenOrder,
    OrderRegistry,
    OrderRequest,
    TrackedOrder,
    in_dex,
)

__all__ = [
    "ExchangeState",
    "FillLike",
    "Position",
    "PositionTracker",
    "parse_clearinghouse",
    "parse_open_orders",
]

ZERO = Decimal(0)
ENTRY_TOLERANCE = Decimal("0.0001")
"""Relative entry-price difference (1 bp) under which our more precise average is kept."""
_RECENT_MS = 300_000
MAX_SEEN_TIDS = 100_000
"""Above this many remembered tids, those older than the last sync's as_of are dropped."""


class FillLike(Protocol):
    """One of our fills (`wire.Fill`): side "B" buys, a negative fee is a rebate."""

    @property
    def coin(self) -> str: ...
    @property
    def px(self) -> Decimal: ...
    @property
    def sz(self) -> Decimal: ...
    @property
    def side(self) -> str: ...
    @property
    def time_ms(self) -> int: ...
    @property
    def tid(self) -> int: ...
    @property
    def oid(self) -> int: ...
    @property
    def cloid(self) -> str | None: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def start_position(self) -> Decimal: ...


@dataclass(frozen=True, slots=True, init=False)  # a hot record: see _native
class Position:
    """A non-flat position: signed size, entry, and PnL net of fees (see module doc)."""

    market: str
    size: Decimal
    entry_px: Decimal
    entry_ms: int
    realized_pnl: Decimal
    open_fees: Decimal

    def __init__(self, market: str, size: Decimal, entry_px: Decimal, entry_ms: int,
                 realized_pnl: Decimal, open_fees: Decimal) -> None:  # fmt: skip
        object.__setattr__(self, "market", market)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "entry_px", entry_px)
        object.__setattr__(self, "entry_ms", entry_ms)
        object.__setattr__(self, "realized_pnl", realized_pnl)
        object.__setattr__(self, "open_fees", open_fees)

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """`(mark - entry) * size - open_fees`."""
        return (mark - self.entry_px) * self.size - self.open_fees

    def notional(self, mark: Decimal) -> Decimal:
        """`|size| * mark`."""
        return abs(self.size) * mark


@dataclass(slots=True)
class _Book:
    size: Decimal = ZERO
    entry_px: Decimal = ZERO
    entry_ms: int = 0
    realized: Decimal = ZERO
    open_fees: Decimal = ZERO
    trip_pnl: Decimal = ZERO  # realized within the open round trip


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def _fill_order_key(fill: FillLike) -> tuple[int, str, Decimal]:
    # Same-ms fills of one coin chain through startPosition: buys up, sells down.
    chain = fill.start_position if fill.side == "B" else -fill.start_position
    return (fill.time_ms, fill.coin, chain)


@dataclass(frozen=True, slots=True)
class ExchangeState:
    """Positions of info `clearinghouseState`: market -> (signed size, entry price)."""

    as_of_ms: int
    positions: Mapping[str, tuple[Decimal, Decimal | None]]


def parse_clearinghouse(data: object, now_ms: int) -> ExchangeState:
    """Read info `clearinghouseState`; `as_of_ms` is its `time`, else `now_ms`.

    Raises:
        ValueError: the JSON lacks what hip3term needs (the message says where).
    """
    if not isinstance(data, dict) or not isinstance(data.get("assetPositions"), list):
        raise ValueError("clearinghouseState: expected an object with assetPositions")
    as_of = data.get("time", now_ms)
    if isinstance(as_of, bool) or not isinstance(as_of, int):
        raise ValueError("clearinghouseState.time: expected an integer")
    positions: dict[str, tuple[Decimal, Decimal | None]] = {}
    for i, item in enumerate(data["assetPositions"]):
        try:
            pos = item["position"]
            size = parse_decimal(pos["szi"])
            entry = pos.get("entryPx")
            if size != 0:
                positions[str(pos["coin"])] = (size, None if entry is None
                                               else parse_decimal(entry))  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"clearinghouseState.assetPositions[{i}]: {exc!r}") from None
    return ExchangeState(as_of, positions)


def parse_open_orders(data: object) -> list[OpenOrder]:
    """Read the JSON list of info `openOrders` or `frontendOpenOrders`.

    Raises:
        ValueError: the JSON is not a list of orders with the fields hip3term needs.
    """
    if not isinstance(data, list):
        raise ValueError(f"open orders: expected a list, got {type(data).__name__}")
    found = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"open orders[{i}]: expected an object")
        try:
            side, oid, cloid = item["side"], item["oid"], item.get("cloid")
            if side not in ("B", "A") or isinstance(oid, bool) or not isinstance(oid, int):
                raise ValueError("bad side or oid")
            sz = parse_decimal(item["sz"])
            orig = parse_decimal(item["origSz"]) if "origSz" in item else sz
            found.append(OpenOrder(
                str(item["coin"]), oid, cloid.lower() if isinstance(cloid, str) else None,
                side == "B", parse_decimal(item["limitPx"]), sz, orig,
                item.get("reduceOnly") is True,
            ))  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"open orders[{i}]: {exc!r}") from None
    return found


class PositionTracker:
    """Positions, PnL, trade outcomes and orders; see the module docstring for the rules."""

    def __init__(self, *, keep_finished_orders: int = 2000) -> None:
        """Start with no belief: nothing applies until the first snapshot and reconcile."""
        self.orders = OrderRegistry(keep_finished_orders)
        self._books: dict[str, _Book] = {}
        self._seen: dict[int, int] = {}  # tid -> fill time
        self._buffer: list[FillLike] = []
        self._recent: deque[tuple[int, str, Decimal]] = deque()  # applied: time, market, delta
        self._snapshot = False
        self._synced = False
        self._ever_synced = False
        self._as_of_ms: int | None = None
        self._pending: tuple[ExchangeState, str | None] | None = None
        self._outcomes: list[Decimal] = []
        self._streak = 0
        self.revision = 0
        """Counts the calls that may change positions, PnL or outcomes (`on_user_fills`,
        `reconcile`, `on_disconnect`): figures derived from them stay valid while it does
        not move."""

    # ------------------------------------------------------------ fills

    def on_user_fills(
        self, fills: Sequence[FillLike], *, is_snapshot: bool, now_ms: int
    ) -> list[EngineEvent]:
        """A userFills push (or fills from the `user` channel, `is_snapshot=False`)."""
        self.revision += 1
        if is_snapshot:
            self._snapshot = True
        if not self._synced:
            self._buffer.extend(fills)
            return self._try_sync(now_ms)
        events: list[EngineEvent] = []
        for fill in sorted(fills, key=_fill_order_key):
            if fill.tid not in self._seen:
                events += self._take_live(fill, now_ms)
        return events

    def on_disconnect(self) -> None:
        """The connection dropped: buffer fills until the next snapshot and reconcile."""
        self.revision += 1
        self._snapshot = self._synced = False
        self._pending = None

    def _take_live(self, fill: FillLike, now_ms: int) -> list[EngineEvent]:
        if self._as_of_ms is not None and fill.time_ms <= self._as_of_ms:
            return [self._reflect(fill, now_ms)]
        events: list[EngineEvent] = []
        book = self._books.setdefault(fill.coin, _Book())
        if fill.start_position != book.size:
            # A fill we never saw happened before this one: adopt the exchange's position.
            events.append(self._correct(fill.coin, fill.start_position, None, now_ms, "fill"))
            new_side = _sign(fill.start_position) != _sign(book.size)
            self._adopt(book, fill.start_position, fill.px if new_side else None, fill.time_ms)
        return events + self._apply(fill, now_ms)

    def _reflect(self, fill: FillLike, now_ms: int) -> FillApplied:
        self._see(fill)
        delta = fill.sz if fill.side == "B" else -fill.sz
        return self._fill_event(fill, now_ms, fill.start_position + delta, reflected=True)

    def _see(self, fill: FillLike) -> None:
        self._seen[fill.tid] = fill.time_ms
        order = self.orders.get(cloid=fill.cloid, oid=fill.oid)
        if order is not None:
            order.applied_sz += fill.sz
            order.filled_sz = max(order.filled_sz, order.applied_sz)

    def _fill_event(self, fill: FillLike, now_ms: int, after: Decimal, *,
                    reflected: bool) -> FillApplied:  # fmt: skip
        return FillApplied(
            now_ms, fill.coin, fill.tid, fill.oid, fill.cloid, fill.side == "B", fill.px,
            fill.sz, fill.fee, fill.time_ms, after, reflected,
        )  # fmt: skip

    def _apply(self, fill: FillLike, now_ms: int) -> list[EngineEvent]:
        self._see(fill)
        book = self._books.setdefault(fill.coin, _Book())
        delta = fill.sz if fill.side == "B" else -fill.sz
        self._recent.append((fill.time_ms, fill.coin, delta))
        while self._recent and self._recent[0][0] < fill.time_ms - _RECENT_MS:
            self._recent.popleft()
        events: list[EngineEvent] = []
        if book.size == 0 or _sign(book.size) == _sign(delta):
            if book.size == 0:
                book.entry_ms, book.trip_pnl = fill.time_ms, ZERO
            held = abs(book.size)
            book.entry_px = (held * book.entry_px + fill.sz * fill.px) / (held + fill.sz)
            book.size += delta
            book.open_fees += fill.fee
            if held == 0:
                events.append(self._opened(fill.coin, book, now_ms))
        else:
            events += self._reduce(fill, book, delta, now_ms)
        events.insert(0, self._fill_event(fill, now_ms, book.size, reflected=False))
        return events

    def _reduce(self, fill: FillLike, book: _Book, delta: Decimal,
                now_ms: int) -> list[EngineEvent]:  # fmt: skip
        held = abs(book.size)
        closed = min(fill.sz, held)
        close_fee = fill.fee * closed / fill.sz
        moved = book.open_fees * closed / held
        realized = closed * (fill.px - book.entry_px) * _sign(book.size) - close_fee - moved
        book.open_fees -= moved
        book.realized += realized
        book.trip_pnl += realized
        book.size += delta
        if book.size != 0 and _sign(book.size) == _sign(book.size - delta):
            return []
        events: list[EngineEvent] = [self._closed(fill.coin, book, fill.time_ms, now_ms)]
        if book.size != 0:  # flipped: the rest opens a new round trip at the fill price
            book.entry_px, book.entry_ms = fill.px, fill.time_ms
            book.open_fees, book.trip_pnl = fill.fee - close_fee, ZERO
            events.append(self._opened(fill.coin, book, now_ms))
        return events

    def _opened(self, market: str, book: _Book, now_ms: int) -> PositionOpened:
        return PositionOpened(now_ms, market, book.size, book.entry_px, book.entry_ms)

    def _closed(self, market: str, book: _Book, closed_ms: int, now_ms: int) -> PositionClosed:
        pnl = book.trip_pnl
        self._outcomes.append(pnl)
        self._streak = self._streak + 1 if pnl < 0 else 0
        book.entry_px, book.open_fees, book.trip_pnl = ZERO, ZERO, ZERO
        return PositionClosed(now_ms, market, pnl, book.entry_ms, closed_ms)

    # ------------------------------------------------------------ reconcile

    def reconcile(
        self,
        clearinghouse_state: object,
        open_orders: object,
        now_ms: int,
        *,
        dex: str | None = None,
        requested_ms: int | None = None,
    ) -> list[EngineEvent]:
        """Compare with the exchange and adopt its truth (at start and after reconnects).

        Args:
            clearinghouse_state: the JSON of info `clearinghouseState` (for `dex`).
            open_orders: the JSON of info `openOrders` or `frontendOpenOrders`.
            now_ms: the injected clock's time.
            dex: compare only markets of this dex ("" = validator perps); None = all.
            requested_ms: when the info requests were posted; orders sent at or after it
                are not judged by this (older) answer. Defaults to `now_ms`.

        Returns:
            Order differences at once; position differences and `PositionsSynced` as soon
            as the userFills snapshot has also arrived (possibly from a later
            `on_user_fills`). Malformed JSON gives an `AlertRaised` and changes nothing.
        """
        self.revision += 1
        try:
            state = parse_clearinghouse(clearinghouse_state, now_ms)
            listed = parse_open_orders(open_orders)
        except ValueError as exc:
            return [AlertRaised(now_ms, "reconcile_malformed", f"reconcile refused: {exc}")]
        asked = now_ms if requested_ms is None else requested_ms
        events = self.orders.reconcile(listed, now_ms, dex=dex, asked_ms=asked)
        self._pending = (state, dex)
        return events + self._try_sync(now_ms)

    def _try_sync(self, now_ms: int) -> list[EngineEvent]:
        if self._pending is None or not (self._snapshot or self._synced):
            return []
        state, dex = self._pending
        self._pending = None
        fills = sorted({f.tid: f for f in self._buffer if f.tid not in self._seen}.values(),
                       key=_fill_order_key)  # fmt: skip
        self._buffer.clear()
        events: list[EngineEvent] = []
        for fill in (f for f in fills if f.time_ms <= state.as_of_ms):
            if self._ever_synced:
                events += self._take_live(fill, now_ms)
            else:
                events.append(self._reflect(fill, now_ms))
        hints = self._opening_times(fills, state.as_of_ms)
        corrections = self._adopt_state(state, dex, hints, now_ms)
        events += corrections
        self._as_of_ms, self._synced, self._ever_synced = state.as_of_ms, True, True
        if len(self._seen) > MAX_SEEN_TIDS:
            # Safe: a fill older than as_of can only be reflected, never applied again.
            self._seen = {tid: t for tid, t in self._seen.items() if t > state.as_of_ms}
        for fill in (f for f in fills if f.time_ms > state.as_of_ms):
            events += self._take_live(fill, now_ms)
        events.append(PositionsSynced(now_ms, state.as_of_ms, len(corrections)))
        return events

    @staticmethod
    def _opening_times(fills: Iterable[FillLike], as_of_ms: int) -> dict[str, int]:
        # The last fill (<= as_of) that opened from flat or flipped dates a loaded position.
        hints: dict[str, int] = {}
        for fill in fills:
            delta = fill.sz if fill.side == "B" else -fill.sz
            start, end = fill.start_position, fill.start_position + delta
            if fill.time_ms <= as_of_ms and end != 0 and _sign(start) != _sign(end):
                hints[fill.coin] = fill.time_ms
        return hints

    def _adopt_state(self, state: ExchangeState, dex: str | None, hints: Mapping[str, int],
                     now_ms: int) -> list[EngineEvent]:  # fmt: skip
        events: list[EngineEvent] = []
        believed = {m for m, b in self._books.items() if b.size != 0 and in_dex(m, dex)}
        for market in sorted(believed | {m for m in state.positions if in_dex(m, dex)}):
            size, entry = state.positions.get(market, (ZERO, None))
            size += sum((d for t, m, d in self._recent if m == market and t > state.as_of_ms),
                        ZERO)  # fmt: skip
            book = self._books.setdefault(market, _Book())
            same_entry = entry is None or (
                book.size == size and abs(book.entry_px - entry) <= ENTRY_TOLERANCE * entry
            )
            if book.size == size and (size == 0 or same_entry):
                continue
            events.append(self._correct(market, size, entry, now_ms, "reconcile"))
            opening = size != 0 and _sign(size) != _sign(book.size)
            self._adopt(book, size, entry, hints.get(market, now_ms))
            if opening:
                events.append(self._opened(market, book, now_ms))
        return events

    def _correct(self, market: str, size: Decimal, entry: Decimal | None, now_ms: int,
                 source: str) -> PositionCorrected:  # fmt: skip
        book = self._books.get(market, _Book())
        known = self._ever_synced
        return PositionCorrected(
            now_ms, market, book.size if known else None,
            (book.entry_px if book.size else None) if known else None, size, entry, source,
        )  # fmt: skip

    @staticmethod
    def _adopt(book: _Book, size: Decimal, entry: Decimal | None, entry_ms: int) -> None:
        # The exchange's truth. A new side starts a new round trip with no known fees or
        # PnL (what we missed is unknown: no trade outcome is recorded for it).
        if size == 0 or _sign(size) != _sign(book.size):
            book.entry_ms, book.open_fees, book.trip_pnl = entry_ms, ZERO, ZERO
        book.size = size
        book.entry_px = ZERO if size == 0 else (entry if entry is not None else book.entry_px)

    # ------------------------------------------------------------ orders

    def mark_pending(self, request: OrderRequest, now_ms: int) -> None:
        """Track a gated order as QUEUED: its market is pending from now on.

        Raises:
            ValueError: its cloid is already tracked.
        """
        self.orders.add(TrackedOrder.from_request(request, now_ms))

    # ------------------------------------------------------------ queries

    @property
    def snapshot_received(self) -> bool:
        """The userFills snapshot of the current connection has arrived."""
        return self._snapshot

    @property
    def synced(self) -> bool:
        """Positions match a reconcile made on the current connection."""
        return self._synced

    def position(self, market: str) -> Position | None:
        """The position in `market`, None when flat."""
        book = self._books.get(market)
        if book is None or book.size == 0:
            return None
        return Position(market, book.size, book.entry_px, book.entry_ms, book.realized,
                        book.open_fees)  # fmt: skip

    def positions(self) -> tuple[Position, ...]:
        """Every non-flat position, by market name."""
        if not self.has_open_positions():  # the common case, read ten times a second
            return ()
        return tuple(Position(market, book.size, book.entry_px, book.entry_ms, book.realized,
                              book.open_fees)
                     for market, book in sorted(self._books.items()) if book.size != 0)  # fmt: skip

    def has_position(self, market: str) -> bool:
        """Whether `market` has a non-flat position."""
        return self.position(market) is not None

    def has_open_positions(self) -> bool:
        """Whether any market has a non-flat position."""
        # a loop, not any(): no generator ten times a second
        for book in self._books.values():  # noqa: SIM110
            if book.size:  # a Decimal's truth is "not zero", without a comparison with an int
                return True
        return False

    @property
    def realized_pnl(self) -> Decimal:
        """Realized PnL over all markets, net of the fees of closed parts."""
        total = ZERO
        for book in self._books.values():
            total += book.realized
        return total

    def unrealized_pnl(self, mark_of: Callable[[str], Decimal | None]) -> Decimal:
        """Unrealized PnL net of open fees; a market without a mark counts at its entry."""
        total = ZERO
        for pos in self.positions():
            mark = mark_of(pos.market)
            total += pos.unrealized_pnl(pos.entry_px if mark is None else mark)
        return total

    @property
    def trade_outcomes(self) -> tuple[Decimal, ...]:
        """The net PnL of every closed round trip, oldest first."""
        return tuple(self._outcomes)

    @property
    def closed_trades(self) -> int:
        """How many round trips closed (`len(trade_outcomes)`, without the copy)."""
        return len(self._outcomes)

    @property
    def consecutive_losses(self) -> int:
        """Losing round trips in a row, up to the latest."""
        return self._streak

    def order(self, *, cloid: str | None = None, oid: int | None = None) -> TrackedOrder | None:
        """A tracked order (live or recently finished)."""
        return self.orders.get(cloid=cloid, oid=oid)

    def open_orders(self) -> tuple[TrackedOrder, ...]:
        """Every live order, queued ones included (`strategy.context.OrdersView`)."""
        return tuple(self.orders.live())

    def exchange_orders(self) -> tuple[TrackedOrder, ...]:
        """Live orders the exchange has or may have (sent, unknown, resting): what a
        cancel-all must cancel."""
        return tuple(o for o in self.orders.live() if o.state is not OrderState.QUEUED)

    def pending_markets(self) -> frozenset[str]:
        """Markets with a live order."""
        return self.orders.pending_markets()
