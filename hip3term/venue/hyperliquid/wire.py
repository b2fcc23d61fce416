"""Typed Hyperliquid websocket messages, as `parse.parse_frame` returns them.

These are wire messages, not domain events, so they are named for what they are on the
wire (nouns: `L2Book`, `Trades`, `PostAction`), not in the past tense of `core/events.py`.
All are frozen, slotted dataclasses. Prices, sizes and other amounts are `Decimal` built
from the exchange's decimal strings (never floats); times are integer milliseconds.

Every message class has a class attribute `channel` (the wire channel name, `None` for the
plain-text greeting) and a property `exchange_time_ms` (the exchange time the frame
carries, or `None` when it carries none). For frames whose items are a list (trades,
fills, order updates) it is the time of the first item: one push holds the items of one
block. `ParseError` is the value returned instead of an event when a frame cannot be read.

Book sides are `Ladder`s whose numbers are validated when the frame is parsed but become
`Decimal`s only when read: 40 `Level`s of Decimals cost several times the JSON decoding
of the frame, and most readers want the top of the book only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Literal, TypeAlias, overload

import orjson

JsonValue: TypeAlias = (
    bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
)
"""A decoded JSON value, as orjson returns it."""

Side: TypeAlias = Literal["B", "A"]
"""`"B"` is the bid / buy side, `"A"` the ask / sell side (for trades: the aggressor)."""


class _Untimed:
    # Base of the messages that carry no exchange time (an unreadable frame has none
    # that can be trusted).
    __slots__ = ()

    @property
    def exchange_time_ms(self) -> None:
        """None: the frame carries no exchange time."""
        return None


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
    ladder is iterated); `prices()` and `sizes()` skip the `Level` objects. Ladders are
    equal when their levels are.
    """

    __slots__ = ("_cache", "_complete", "_json", "_len", "_n", "_pxs", "_rows", "_szs")
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

    @classmethod
    def from_wire(cls, pxs: tuple[str, ...], szs: tuple[str, ...], ns: tuple[int, ...]
                  ) -> Ladder:
        """A lazy ladder over validated decimal strings (the parser's constructor)."""
        ladder = cls.__new__(cls)
        ladder._pxs, ladder._szs, ladder._n = pxs, szs, ns
        ladder._len, ladder._rows, ladder._json = len(ns), None, None
        ladder._cache, ladder._complete = None, False
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
        return ladder

    @classmethod
    def from_json(cls, text: bytes, count: int) -> Ladder:
        """The laziest: a ladder over the JSON text of its side (the parser's).

        `text` must be a validated side in the exchange's compact form, a list of `count`
        objects `{"px":"<decimal>","sz":"<decimal>","n":<integer>}`. The top level is
        read from the text alone; anything more decodes it (then as `from_rows`).
        """
        ladder = cls.__new__(cls)
        ladder._len, ladder._rows, ladder._json = count, None, text
        ladder._cache, ladder._complete = None, False
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
            if i == 0 and self._json is not None and (top := _TOP_ROW.match(self._json)):
                px, sz, n = top.groups()
                level = Level(Decimal(px.decode()), Decimal(sz.decode()), int(n))
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


class _AtTime:
    # Base of the messages stamped with one exchange time (books and quotes).
    __slots__ = ()
    time_ms: int

    @property
    def exchange_time_ms(self) -> int:
        """The exchange time of the snapshot or quote."""
        return self.time_ms


@dataclass(frozen=True, slots=True)
class L2Book(_AtTime):
    """A full book snapshot of one coin (`l2Book`; every push is a snapshot, not a diff)."""

    channel: ClassVar[str] = "l2Book"
    coin: str
    time_ms: int
    bids: Ladder
    asks: Ladder

    @property
    def best_bid(self) -> Level | None:
        """The best bid, or None when the bid side is empty."""
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        """The best ask, or None when the ask side is empty."""
        return self.asks[0] if self.asks else None


@dataclass(frozen=True, slots=True)
class Bbo(_AtTime):
    """Best bid and offer of one coin (`bbo`); a side is None when it is empty."""

    channel: ClassVar[str] = "bbo"
    coin: str
    time_ms: int
    bid: Level | None
    ask: Level | None


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade; `side` is the aggressor's, `users` is (buyer, seller)."""

    coin: str
    side: Side
    px: Decimal
    sz: Decimal
    time_ms: int
    tid: int
    hash: str
    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Trades:
    """A push of the `trades` channel (on subscribe: recent trades)."""

    channel: ClassVar[str] = "trades"
    trades: tuple[Trade, ...]

    @property
    def exchange_time_ms(self) -> int | None:
        """The first trade's time, None for an empty push."""
        return self.trades[0].time_ms if self.trades else None


@dataclass(frozen=True, slots=True)
class AssetCtx(_Untimed):
    """The perp context of one coin (`activeAssetCtx`): mark, oracle, funding, OI.

    None where the exchange sends null (book-less coins) or, for the display-only day
    volumes, leaves the field out.
    """

    channel: ClassVar[str] = "activeAssetCtx"
    coin: str
    mark_px: Decimal
    oracle_px: Decimal
    mid_px: Decimal | None
    funding: Decimal
    open_interest: Decimal
    premium: Decimal | None
    impact_pxs: tuple[Decimal, Decimal] | None
    day_ntl_vlm: Decimal | None
    prev_day_px: Decimal
    day_base_vlm: Decimal | None


@dataclass(frozen=True, slots=True)
class AllMids(_Untimed):
    """Mid prices by coin (`allMids`); `dex` when the exchange echoes it."""

    channel: ClassVar[str] = "allMids"
    mids: Mapping[str, Decimal]
    dex: str | None


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One order's new status (`orderUpdates`); `status` is the exchange's word."""

    coin: str
    side: Side
    limit_px: Decimal
    sz: Decimal
    orig_sz: Decimal
    oid: int
    cloid: str | None
    timestamp_ms: int
    status: str
    status_timestamp_ms: int
    reduce_only: bool | None


@dataclass(frozen=True, slots=True)
class OrderUpdates:
    """A push of the `orderUpdates` channel (no snapshot on subscribe)."""

    channel: ClassVar[str] = "orderUpdates"
    updates: tuple[OrderUpdate, ...]

    @property
    def exchange_time_ms(self) -> int | None:
        """The first update's status time, None for an empty push."""
        return self.updates[0].status_timestamp_ms if self.updates else None


@dataclass(frozen=True, slots=True)
class Liquidation:
    """The liquidation block of a fill."""

    liquidated_user: str | None
    mark_px: Decimal
    method: str


@dataclass(frozen=True, slots=True)
class Fill:
    """One of our fills; `crossed` means taker, a negative `fee` is a rebate."""

    coin: str
    px: Decimal
    sz: Decimal
    side: Side
    time_ms: int
    start_position: Decimal
    dir: str
    closed_pnl: Decimal
    hash: str
    oid: int
    crossed: bool
    fee: Decimal
    fee_token: str
    tid: int
    cloid: str | None
    builder_fee: Decimal | None
    liquidation: Liquidation | None
    twap_id: int | None


@dataclass(frozen=True, slots=True)
class UserFills:
    """A push of `userFills`; the first after subscribing has `is_snapshot` True."""

    channel: ClassVar[str] = "userFills"
    user: str
    is_snapshot: bool
    fills: tuple[Fill, ...]

    @property
    def exchange_time_ms(self) -> int | None:
        """The first fill's time, None for an empty push."""
        return self.fills[0].time_ms if self.fills else None


@dataclass(frozen=True, slots=True)
class UserFunding:
    """A funding payment of the `user` channel."""

    time_ms: int
    coin: str
    usdc: Decimal
    szi: Decimal
    funding_rate: Decimal
    n_samples: int | None


@dataclass(frozen=True, slots=True)
class UserLiquidation:
    """A liquidation of the `user` channel."""

    lid: int
    liquidator: str
    liquidated_user: str
    liquidated_ntl_pos: Decimal
    liquidated_account_value: Decimal


@dataclass(frozen=True, slots=True)
class NonUserCancel:
    """An order the exchange canceled on its own."""

    coin: str
    oid: int


UserEventKind: TypeAlias = Literal["fills", "funding", "liquidation", "nonUserCancel"]


@dataclass(frozen=True, slots=True)
class UserEvent:
    """A push of the `user` channel (subscription `userEvents`): exactly one variant.

    `kind` names the variant; only its field is filled (`fills`, `funding`,
    `liquidation` or `cancels`), the others are empty.
    """

    channel: ClassVar[str] = "user"
    kind: UserEventKind
    fills: tuple[Fill, ...] = ()
    funding: UserFunding | None = None
    liquidation: UserLiquidation | None = None
    cancels: tuple[NonUserCancel, ...] = ()

    @property
    def exchange_time_ms(self) -> int | None:
        """The first fill's or the funding's time; None for the other variants."""
        if self.fills:
            return self.fills[0].time_ms
        return self.funding.time_ms if self.funding is not None else None


@dataclass(frozen=True, slots=True)
class SubscriptionAck(_Untimed):
    """`subscriptionResponse`: the exchange's echo of a (un)subscribe; match by subset."""

    channel: ClassVar[str] = "subscriptionResponse"
    method: str
    subscription: Mapping[str, JsonValue]


@dataclass(frozen=True, slots=True)
class ChannelError(_Untimed):
    """`error`: the exchange's error text; `post_id` from a trailing `id=N` if present."""

    channel: ClassVar[str] = "error"
    text: str
    post_id: int | None


@dataclass(frozen=True, slots=True)
class Pong(_Untimed):
    """`pong`: the answer to `{"method":"ping"}`."""

    channel: ClassVar[str] = "pong"


@dataclass(frozen=True, slots=True)
class Greeting(_Untimed):
    """The plain-text frame the server sends right after the connection opens."""

    channel: ClassVar[str | None] = None
    text: str


@dataclass(frozen=True, slots=True)
class Resting:
    """Order status: the order rests on the book."""

    oid: int
    cloid: str | None


@dataclass(frozen=True, slots=True)
class Filled:
    """Order status: the order filled `total_sz` at `avg_px` (an IOC's rest is canceled)."""

    total_sz: Decimal
    avg_px: Decimal
    oid: int
    cloid: str | None


@dataclass(frozen=True, slots=True)
class StatusError:
    """Order or cancel status: refused, with the exchange's text."""

    text: str


@dataclass(frozen=True, slots=True)
class StatusWord:
    """A bare-string status: `"success"` (cancel), `"waitingForFill"`, `"waitingForTrigger"`."""

    word: str


OrderStatus: TypeAlias = Resting | Filled | StatusError | StatusWord


@dataclass(frozen=True, slots=True)
class PostInfo(_Untimed):
    """Answer to an info post: `data` is the JSON the `/info` endpoint would return."""

    channel: ClassVar[str] = "post"
    id: int
    info_type: str
    data: JsonValue


@dataclass(frozen=True, slots=True)
class PostAction(_Untimed):
    """Answer to an action post.

    `status` "ok" with `response_type` ("order", "cancel", "default", ...) and one status
    per order or cancel in `statuses` (a batch refused as a whole may carry a single
    status); or `status` "err" with the whole request's `error` text.
    """

    channel: ClassVar[str] = "post"
    id: int
    status: Literal["ok", "err"]
    response_type: str | None
    statuses: tuple[OrderStatus, ...]
    error: str | None


@dataclass(frozen=True, slots=True)
class PostError(_Untimed):
    """A post the server could not handle; `text` mirrors the HTTP error it stands for."""

    channel: ClassVar[str] = "post"
    id: int
    text: str


Event: TypeAlias = (
    L2Book | Bbo | Trades | AssetCtx | AllMids | OrderUpdates | UserFills
    | UserEvent | SubscriptionAck | ChannelError | Pong | Greeting
    | PostInfo | PostAction | PostError
)
"""Every message `parse_frame` can return."""

PostResponse: TypeAlias = PostInfo | PostAction | PostError


class ParseErrorKind(enum.StrEnum):
    """Why a frame could not be read.

    NOT_JSON: not JSON (and not the greeting). NOT_OBJECT: JSON but not an object.
    BAD_ENVELOPE: no string `channel`, no `data`, or a malformed post envelope.
    UNKNOWN_CHANNEL: a channel this parser does not read. UNKNOWN_VARIANT: a known
    channel with a shape it does not know (a new `user` variant, an order status of a
    new form). MISSING_FIELD: a field hip3term depends on is absent. BAD_TYPE: a field
    of the wrong JSON type (a float or null where a decimal string belongs). BAD_NUMBER:
    a decimal string that is no number, or a negative price, size or id. BAD_VALUE: a
    value outside its set (a side other than B/A, a status other than ok/err).
    INTERNAL: a bug in the parser, never expected.
    """

    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    BAD_ENVELOPE = "bad_envelope"
    UNKNOWN_CHANNEL = "unknown_channel"
    UNKNOWN_VARIANT = "unknown_variant"
    MISSING_FIELD = "missing_field"
    BAD_TYPE = "bad_type"
    BAD_NUMBER = "bad_number"
    BAD_VALUE = "bad_value"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class ParseError(_Untimed):
    """A frame that could not be read: counted and logged, never raised.

    `detail` says where and what (`levels[0][3].px: expected a decimal string, got a
    float`); `channel` is the frame's when it could be read; `post_id` is a post's
    request id when it could be read, so that the post can still be completed.
    """

    kind: ParseErrorKind
    detail: str
    channel: str | None
    post_id: int | None = None


@dataclass(frozen=True, slots=True)
class FramePeek:
    """Channel and exchange time of a raw frame, read without a full parse."""

    channel: str | None
    time_ms: int | None
