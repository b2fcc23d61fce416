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

Book sides are `Ladder`s of `Level`s (module `ladder`, re-exported here) whose numbers are
validated when the frame is parsed but become `Decimal`s only when read.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Literal, TypeAlias

from hip3term.venue.hyperliquid.ladder import Ladder as Ladder  # re-exported: wire.Ladder
from hip3term.venue.hyperliquid.ladder import Level as Level  # re-exported: wire.Level

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
        return self.bids.best

    @property
    def best_ask(self) -> Level | None:
        """The best ask, or None when the ask side is empty."""
        return self.asks.best


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
