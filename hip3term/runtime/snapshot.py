"""Immutable snapshots of the running node, for the status line and the TUI.

The engine's objects are mutable and belong to the event loop; nothing outside the engine
reads them. Instead the node builds a `NodeSnapshot` on request (`TradingNode.snapshot()`,
a few hundred microseconds): frozen dataclasses, tuples and `Decimal`s only, safe to keep,
compare and render from any task or thread. Widgets never hold engine objects.

The node is driven through the `NodeHandle` protocol: `snapshot()`, `command(...)` for the
operator's levels (halt, flatten, cancel, pause, resume; each journaled as an operator
action) and `request_stop()` (graceful quit: cancel-all first when configured).

Units: prices and sizes are `Decimal`; times are unix ms (`*_ms`) or seconds as floats
(`*_s`, ages and countdowns); bps are floats. `None` means "not known (yet)".
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Protocol, TypeVar

from hip3term.core.events import LatchState, OrderState, TripTrigger
from hip3term.feeds.health import FeedHealth
from hip3term.persistence.rows import JournalHealth
from hip3term.recording.recorder import RecorderHealth
from hip3term.risk.ready import ReadyFlags
from hip3term.strategy.metrics import MetricsSnapshot

__all__ = [
    "BookLevelRow",
    "BookSnapshot",
    "ChannelStatus",
    "CommandResult",
    "EventLine",
    "ExecutorSnapshot",
    "FeatureRow",
    "FeedStatus",
    "LatchStatus",
    "MarketSnapshot",
    "NodeHandle",
    "NodeSnapshot",
    "OperatorCommand",
    "OrderRow",
    "PendingPostRow",
    "PnlSummary",
    "PositionRow",
    "ReadyFlags",
    "StrategySnapshot",
    "TradeRow",
    "WouldBeOrder",
]

_BPS = Decimal(10_000)
_T = TypeVar("_T")


def _pickled_by_fields(cls: type[_T]) -> type[_T]:
    # Pickle as (class, field values). A slotted dataclass otherwise pickles through the
    # dataclasses module's Python-level __getstate__, which reads fields() for every
    # object: ~3 us each, ~100 objects a snapshot, 0.3-0.4 ms of the engine process's
    # interpreter lock 10 times a second (the engine waited). Now ~0.1 ms a snapshot.
    values = operator.attrgetter(*(f.name for f in fields(cls)))  # type: ignore[arg-type]
    single = len(fields(cls)) == 1  # type: ignore[arg-type]

    def reduce(self: _T) -> tuple[object, ...]:
        got = values(self)
        return _rebuilt, (cls, (got,) if single else got)

    cls.__reduce__ = reduce  # type: ignore[assignment,method-assign]
    return cls


def _rebuilt(cls: type[_T], values: tuple[object, ...]) -> _T:
    # The inverse of `_pickled_by_fields`' reduce (the fields set as dataclasses do).
    obj = object.__new__(cls)
    for f, value in zip(fields(cls), values, strict=True):  # type: ignore[arg-type]
        object.__setattr__(obj, f.name, value)
    return obj


class OperatorCommand(enum.StrEnum):
    """What the operator can do (TUI keys, headless stdin commands).

    HALT: trip the hard stop (cancel all, flatten all, hold). FLATTEN: hard halt, cancel
    all and flatten every position. CANCEL: hard halt and cancel every open order. PAUSE:
    soft halt, no new orders. RESUME: back to ACTIVE (needs a reason). STATUS: nothing
    but a status line. QUIT: graceful shutdown.
    """

    HALT = "halt"
    FLATTEN = "flatten"
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    STATUS = "status"
    QUIT = "quit"


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class CommandResult:
    """The outcome of an operator command: accepted or not, and a line for the operator."""

    accepted: bool
    message: str


# ---------------------------------------------------------------- feed


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """One subscribed channel's counters (see `feeds.health`)."""

    name: str
    frames: int
    malformed: int
    duplicates: int
    gaps: int
    last_frame_age_s: float | None
    stale_after_s: float | None
    subscribed: bool


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class FeedStatus:
    """The websocket: up or down, since when, round trip, reconnects, channel counters."""

    url: str
    connected: bool
    ready: bool
    rtt_ms: float | None
    connections: int
    reconnects: int
    pending_posts: int
    malformed: int
    duplicates: int
    gaps: int
    last_disconnect: str | None
    down_since_ms: int | None
    channels: tuple[ChannelStatus, ...] = ()

    @classmethod
    def from_health(cls, health: FeedHealth, down_since_ms: int | None) -> FeedStatus:
        """Build from the feed client's `health()`."""
        channels = tuple(
            ChannelStatus(name, ch.frames, ch.malformed_total, ch.duplicates, ch.gaps,
                          ch.last_frame_age_s, ch.stale_after_s, ch.subscribed)
            for name, ch in sorted(health.channels.items())
        )  # fmt: skip
        return cls(
            url=health.url, connected=health.connected, ready=health.ready,
            rtt_ms=health.rtt_ms, connections=health.connections,
            reconnects=health.reconnects, pending_posts=health.pending_posts,
            malformed=health.total("malformed"), duplicates=health.total("duplicates"),
            gaps=health.total("gaps"), last_disconnect=health.last_disconnect,
            down_since_ms=down_since_ms, channels=channels,
        )  # fmt: skip


# ---------------------------------------------------------------- risk


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class LatchStatus:
    """The risk latch: state, and for a trip its trigger, detail and time."""

    state: LatchState
    trigger: TripTrigger | None = None
    detail: str = ""
    tripped_ms: int | None = None
    resumes: int = 0

    @property
    def active(self) -> bool:
        """True when new orders are allowed by the latch."""
        return self.state is LatchState.ACTIVE

    @property
    def reason(self) -> str:
        """What the operator must read before resuming ("" when ACTIVE)."""
        if self.trigger is not None:
            return f"{self.trigger}: {self.detail}"
        return self.detail


# ---------------------------------------------------------------- market


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class BookLevelRow:
    """One level of the merged book."""

    px: Decimal
    sz: Decimal
    n: int


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Up to 20 levels a side of the merged book (best first)."""

    bids: tuple[BookLevelRow, ...] = ()
    asks: tuple[BookLevelRow, ...] = ()
    time_ms: int | None = None
    age_s: float | None = None

    @property
    def best_bid(self) -> BookLevelRow | None:
        """The best bid, None when the side is empty."""
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> BookLevelRow | None:
        """The best ask, None when the side is empty."""
        return self.asks[0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        """The mid, None when a side is empty."""
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].px + self.asks[0].px) / 2

    @property
    def spread_bps(self) -> float | None:
        """The top-of-book spread in bps of the mid."""
        mid = self.mid
        if mid is None or mid <= 0:
            return None
        return float((self.asks[0].px - self.bids[0].px) / mid * _BPS)


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class FeatureRow:
    """One feature: its value, or None with the reason it is invalid."""

    name: str
    value: float | Decimal | None
    reason: str = ""


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class TradeRow:
    """One public trade (side is the aggressor's: "B" buy, "A" sell)."""

    time_ms: int
    side: str
    px: Decimal
    sz: Decimal


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """The traded market: book, oracle/mark, features, recent trades."""

    market: str
    asset_id: int | None = None
    book: BookSnapshot = field(default_factory=BookSnapshot)
    oracle_px: Decimal | None = None
    mark_px: Decimal | None = None
    funding: Decimal | None = None
    open_interest: Decimal | None = None
    oracle_age_s: float | None = None
    features: tuple[FeatureRow, ...] = ()
    trades: tuple[TradeRow, ...] = ()

    def feature(self, name: str) -> FeatureRow | None:
        """The feature called `name`, None if there is none."""
        return next((row for row in self.features if row.name == name), None)


# ---------------------------------------------------------------- positions and orders


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class PositionRow:
    """One open position.

    Attributes:
        size: signed (positive long).
        age_s: seconds since the entry (exchange time of the opening fill).
        time_stop_in_s: seconds left before the time stop flattens it (negative: due or
            overdue); None when the time stop does not apply.
        flattening: a flatten episode is running for it.
    """

    market: str
    size: Decimal
    entry_px: Decimal
    entry_ms: int
    age_s: float
    time_stop_in_s: float | None
    mark_px: Decimal | None
    notional: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    flattening: bool


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class OrderRow:
    """One live order (queued, sent, unknown or resting)."""

    cloid: str | None
    oid: int | None
    market: str
    side: str
    px: Decimal
    sz: Decimal
    filled_sz: Decimal
    tif: str
    reduce_only: bool
    state: OrderState
    status: str
    origin: str
    age_s: float


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class PnlSummary:
    """Session PnL (net of fees) and trade statistics."""

    realized: Decimal = Decimal(0)
    unrealized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    trades: int = 0
    wins: int = 0
    losses: int = 0
    consecutive_losses: int = 0
    fills: int = 0

    @property
    def total(self) -> Decimal:
        """Realized plus unrealized."""
        return self.realized + self.unrealized

    @property
    def win_rate(self) -> float | None:
        """Winning share of the closed round trips, None before the first."""
        return self.wins / self.trades if self.trades else None


# ---------------------------------------------------------------- executor


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class PendingPostRow:
    """One post in flight: its post id, kind ("order", "cancel", ...), age, nonce, items."""

    post_id: int
    kind: str
    age_ms: float
    nonce: int | None
    items: int


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class ExecutorSnapshot:
    """Queues, in flight and counters of the executor (zeros in observe mode)."""

    cancels: int = 0
    reduce_only: int = 0
    new: int = 0
    held: int = 0
    in_flight: int = 0
    reserved: int = 0
    limit: int = 100
    high_water: int = 80
    level: str = "normal"
    pending_posts: tuple[PendingPostRow, ...] = ()
    sent: int = 0
    timeouts: int = 0
    send_failures: int = 0
    resolved: int = 0
    running: bool = False

    @property
    def queued(self) -> int:
        """Everything waiting in the three queues."""
        return self.cancels + self.reduce_only + self.new


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class WouldBeOrder:
    """An order observe mode withheld: what would have been sent, with its expected edge.

    `state` is "live" while a would-be resting order stands (until the strategy cancels
    it), else "done" (an IOC, reported done at once) or "canceled".
    """

    time_ms: int
    cloid: str
    market: str
    side: str
    px: Decimal
    sz: Decimal
    tif: str
    reduce_only: bool
    expected_edge_bps: float | None
    tag: str
    state: str


# ---------------------------------------------------------------- strategy and events


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class StrategySnapshot:
    """The running strategy: its own status summary and its metrics."""

    name: str
    observe: bool
    started: bool = False
    status: Mapping[str, str | float | int | None] = field(default_factory=dict)  # picklable
    metrics: MetricsSnapshot | None = None
    last_signal: str = ""


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class EventLine:
    """One line of the recent-events log ("info", "warning" or "alert")."""

    time_ms: int
    severity: str
    kind: str
    text: str


# ---------------------------------------------------------------- the whole node


@_pickled_by_fields
@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """Everything the status line and the TUI show, at `taken_ms`.

    Attributes:
        mode: "trading" (orders are sent) or "observe" (would-be orders only).
        phase: "starting", "running", "stopping" or "stopped".
        account: the account address queried (None in observe mode without one).
        dead_man: the dead-man switch: "armed until HH:MM:SS", "refused: <exchange text>"
            (then client-side cancel-all is relied on), "off" or "observe".
        nonce_last: the last nonce handed out (None in observe mode).
    """

    taken_ms: int
    session_id: str
    venue: str
    market: str
    mode: str
    phase: str
    account: str | None
    feed: FeedStatus | None
    ready: ReadyFlags
    latch: LatchStatus
    market_state: MarketSnapshot
    positions: tuple[PositionRow, ...]
    orders: tuple[OrderRow, ...]
    pnl: PnlSummary
    strategy: StrategySnapshot
    executor: ExecutorSnapshot
    would_be: tuple[WouldBeOrder, ...] = ()
    events: tuple[EventLine, ...] = ()
    dead_man: str = "off"
    nonce_last: int | None = None
    recorder: RecorderHealth | None = None
    journal: JournalHealth | None = None

    @property
    def observe(self) -> bool:
        """True when nothing is sent."""
        return self.mode == "observe"

    def position(self, market: str) -> PositionRow | None:
        """The position in `market`, None when flat."""
        return next((row for row in self.positions if row.market == market), None)


class NodeHandle(Protocol):
    """What a front end (TUI, headless loop, tests) may do with a running node."""

    def snapshot(self) -> NodeSnapshot:
        """The node's state now (immutable)."""
        ...

    def command(self, command: OperatorCommand, *, who: str = "operator",
                reason: str = "") -> CommandResult:  # fmt: skip
        """Carry out an operator command now (journaled as an operator action)."""
        ...

    def request_stop(self, reason: str = "operator quit") -> None:
        """Ask for a graceful shutdown (cancel-all first when configured)."""
        ...
