"""What the simulator's matching engine reports: orders, fills, trades, statuses (immutable).

Every record has a `wire()` method giving the exact JSON shape Hyperliquid sends
(PROTOCOL.md sections 2.4, 4.3 and 8), with prices, sizes and amounts as canonical strings
(`to_wire`). Sides are `"B"` (buy) and `"A"` (sell).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal
from typing import Any, Literal

from hip3term.core.numeric import to_wire

__all__ = [
    "ALO_REJECT",
    "CANCEL_MISSING",
    "DUPLICATE_CLOID",
    "INVALID_SIZE",
    "IOC_REJECT",
    "MARGIN_REJECT",
    "REDUCE_ONLY_REJECT",
    "TICK_REJECT",
    "CancelResult",
    "FillRecord",
    "Filled",
    "Level",
    "OrderEvent",
    "OrderView",
    "PlaceResult",
    "PlaceStatus",
    "Rejected",
    "Resting",
    "Tif",
    "Trade",
    "isolated_position_wire",
    "margin_summary_wire",
    "min_notional_text",
    "usdc_round",
]

Tif = Literal["Gtc", "Ioc", "Alo"]

TICK_REJECT = "Price must be divisible by tick size."
MARGIN_REJECT = "Insufficient margin to place order."
REDUCE_ONLY_REJECT = "Reduce only order would increase position."
ALO_REJECT = "Post only order would have immediately matched, bbo was {bid}@{ask}."
IOC_REJECT = "Order could not immediately match against any resting orders."
CANCEL_MISSING = "Order was never placed, already canceled, or filled."
INVALID_SIZE = "Order has invalid size."
DUPLICATE_CLOID = "Duplicate cloid: an open order already uses it."
"""The simulator's own text: the exchange's text for this case is not documented."""

USDC_QUANTUM = Decimal("0.000001")
_CTX = Context(prec=34)
_ZERO = Decimal(0)


def min_notional_text(min_notional: Decimal) -> str:
    """The minimum-value reject text, e.g. `Order must have minimum value of $10.`."""
    return f"Order must have minimum value of ${to_wire(min_notional)}."


def usdc_round(value: Decimal) -> Decimal:
    """`value` rounded (half-even) to micro-USDC, the precision money is booked in."""
    return value.quantize(USDC_QUANTUM, ROUND_HALF_EVEN, _CTX)


def _side(is_buy: bool) -> str:
    return "B" if is_buy else "A"


@dataclass(frozen=True, slots=True)
class OrderView:
    """A snapshot of one order (its `sz` is what remained when the snapshot was taken)."""

    coin: str
    asset: int
    owner: str
    oid: int
    is_buy: bool
    limit_px: Decimal
    sz: Decimal
    orig_sz: Decimal
    timestamp: int
    tif: Tif
    reduce_only: bool
    cloid: str | None

    @property
    def side(self) -> str:
        """`"B"` for a buy, `"A"` for a sell."""
        return _side(self.is_buy)

    def wire(self) -> dict[str, Any]:
        """The order as `orderUpdates` and `openOrders` send it (`cloid` only when set)."""
        out: dict[str, Any] = {
            "coin": self.coin,
            "side": self.side,
            "limitPx": to_wire(self.limit_px),
            "sz": to_wire(self.sz),
            "oid": self.oid,
            "timestamp": self.timestamp,
            "origSz": to_wire(self.orig_sz),
        }
        if self.cloid is not None:
            out["cloid"] = self.cloid
        if self.reduce_only:
            out["reduceOnly"] = True
        return out

    def frontend_wire(self) -> dict[str, Any]:
        """The order as `frontendOpenOrders` and `orderStatus` send it (limit orders only)."""
        return {
            "coin": self.coin,
            "side": self.side,
            "limitPx": to_wire(self.limit_px),
            "sz": to_wire(self.sz),
            "oid": self.oid,
            "timestamp": self.timestamp,
            "triggerCondition": "N/A",
            "isTrigger": False,
            "triggerPx": "0",
            "children": [],
            "isPositionTpsl": False,
            "reduceOnly": self.reduce_only,
            "orderType": "Limit",
            "origSz": to_wire(self.orig_sz),
            "tif": self.tif,
            "cloid": self.cloid,
        }


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """An order status change (`orderUpdates`), also the answer of `orderStatus`.

    `status` is one of the exchange's order statuses: `open`, `filled`, `canceled`,
    `selfTradeCanceled`, `reduceOnlyCanceled` or a `…Rejected` status.
    """

    order: OrderView
    status: str
    status_timestamp: int

    @property
    def owner(self) -> str:
        """The account the order belongs to."""
        return self.order.owner

    def wire(self) -> dict[str, Any]:
        """One element of the `orderUpdates` data array."""
        return {
            "order": self.order.wire(),
            "status": self.status,
            "statusTimestamp": self.status_timestamp,
        }

    def status_wire(self) -> dict[str, Any]:
        """The `order` object of an `orderStatus` response (frontend order shape)."""
        return {
            "order": self.order.frontend_wire(),
            "status": self.status,
            "statusTimestamp": self.status_timestamp,
        }


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One side of one match: a `WsFill` for `owner`. Every match gives two of them."""

    owner: str
    coin: str
    asset: int
    px: Decimal
    sz: Decimal
    is_buy: bool
    time: int
    start_position: Decimal
    dir: str
    closed_pnl: Decimal
    hash: str
    oid: int
    crossed: bool
    fee: Decimal
    tid: int
    cloid: str | None
    fee_token: str = "USDC"

    @property
    def side(self) -> str:
        """`"B"` for the buyer, `"A"` for the seller."""
        return _side(self.is_buy)

    def wire(self) -> dict[str, Any]:
        """The `WsFill` object (`cloid` only when the order had one)."""
        out: dict[str, Any] = {
            "coin": self.coin,
            "px": to_wire(self.px),
            "sz": to_wire(self.sz),
            "side": self.side,
            "time": self.time,
            "startPosition": to_wire(self.start_position),
            "dir": self.dir,
            "closedPnl": to_wire(self.closed_pnl),
            "hash": self.hash,
            "oid": self.oid,
            "crossed": self.crossed,
            "fee": to_wire(self.fee),
            "tid": self.tid,
            "feeToken": self.fee_token,
            "twapId": None,
        }
        if self.cloid is not None:
            out["cloid"] = self.cloid
        return out


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade (`trades` channel); `is_buy` is the aggressor's side."""

    coin: str
    asset: int
    is_buy: bool
    px: Decimal
    sz: Decimal
    time: int
    hash: str
    tid: int
    buyer: str
    seller: str

    def wire(self) -> dict[str, Any]:
        """The `trades` element `{coin, side, px, sz, hash, time, tid, users}`."""
        return {
            "coin": self.coin,
            "side": _side(self.is_buy),
            "px": to_wire(self.px),
            "sz": to_wire(self.sz),
            "hash": self.hash,
            "time": self.time,
            "tid": self.tid,
            "users": [self.buyer, self.seller],
        }


@dataclass(frozen=True, slots=True)
class Level:
    """One aggregated book level: total size and number of orders at one price."""

    px: Decimal
    sz: Decimal
    n: int

    def wire(self) -> dict[str, Any]:
        """`{"px", "sz", "n"}` as in `l2Book` and `bbo`."""
        return {"px": to_wire(self.px), "sz": to_wire(self.sz), "n": self.n}


@dataclass(frozen=True, slots=True)
class Resting:
    """The order rests on the book (possibly after a partial fill)."""

    oid: int
    cloid: str | None

    def wire(self) -> dict[str, Any]:
        """`{"resting": {"oid", "cloid"?}}`."""
        body: dict[str, Any] = {"oid": self.oid}
        if self.cloid is not None:
            body["cloid"] = self.cloid
        return {"resting": body}


@dataclass(frozen=True, slots=True)
class Filled:
    """The order filled `total_sz` at the average price `avg_px` and does not rest."""

    total_sz: Decimal
    avg_px: Decimal
    oid: int
    cloid: str | None

    def wire(self) -> dict[str, Any]:
        """`{"filled": {"totalSz", "avgPx", "oid", "cloid"?}}`."""
        body: dict[str, Any] = {
            "totalSz": to_wire(self.total_sz),
            "avgPx": to_wire(self.avg_px),
            "oid": self.oid,
        }
        if self.cloid is not None:
            body["cloid"] = self.cloid
        return {"filled": body}


@dataclass(frozen=True, slots=True)
class Rejected:
    """The exchange refused the order; `text` is its exact error text."""

    text: str
    status: str = "rejected"

    def wire(self) -> dict[str, Any]:
        """`{"error": text}`."""
        return {"error": self.text}


PlaceStatus = Resting | Filled | Rejected


@dataclass(frozen=True, slots=True)
class PlaceResult:
    """The outcome of one order.

    Attributes:
        status: The `statuses` element of the order response.
        fills: Every fill produced, both sides of each match, in match order.
        events: Order status changes, for every owner involved, in order.
        trades: The public trades produced.
    """

    status: PlaceStatus
    fills: tuple[FillRecord, ...] = ()
    events: tuple[OrderEvent, ...] = ()
    trades: tuple[Trade, ...] = ()


@dataclass(frozen=True, slots=True)
class CancelResult:
    """The outcome of one cancel: `error` is None on success."""

    error: str | None
    events: tuple[OrderEvent, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the order was canceled."""
        return self.error is None

    def wire(self) -> str | dict[str, str]:
        """`"success"` or `{"error": text}` (a `statuses` element of the cancel response)."""
        return "success" if self.error is None else {"error": self.error}


def margin_summary_wire(
    value: Decimal, ntl: Decimal, raw: Decimal, used: Decimal
) -> dict[str, str]:
    """A `marginSummary` / `crossMarginSummary` object, amounts rounded to micro-USDC."""
    return {
        "accountValue": to_wire(usdc_round(value)),
        "totalNtlPos": to_wire(usdc_round(ntl)),
        "totalRawUsd": to_wire(usdc_round(raw)),
        "totalMarginUsed": to_wire(usdc_round(used)),
    }


def isolated_position_wire(
    coin: str,
    szi: Decimal,
    entry_px: Decimal,
    margin: Decimal,
    leverage: int,
    max_leverage: int,
    mark: Decimal,
    cum_funding: tuple[Decimal, Decimal, Decimal] = (_ZERO, _ZERO, _ZERO),
) -> tuple[dict[str, Any], Decimal, Decimal, Decimal]:
    """One `assetPositions` entry of an isolated position, and its summary figures.

    Args:
        coin: Wire coin name.
        szi: Signed size (not 0).
        entry_px: Entry price (full precision).
        margin: Isolated margin in USDC.
        leverage: The position's leverage.
        max_leverage: The market's maximum leverage.
        mark: Mark price.
        cum_funding: Funding paid (allTime, sinceOpen, sinceChange).

    Returns:
        The wire dict, then positionValue, rawUsd and marginUsed (unrounded).
    """
    size = abs(szi)
    raw_usd = margin - szi * entry_px
    upnl = szi * (mark - entry_px)
    value = size * mark
    used = raw_usd + szi * mark
    roe = _CTX.divide(upnl * leverage, size * entry_px)
    denominator = size / (2 * max_leverage) - szi
    liq = _CTX.divide(raw_usd, denominator) if denominator != 0 else _ZERO
    all_time, since_open, since_change = cum_funding
    wire = {
        "type": "oneWay",
        "position": {
            "coin": coin,
            "szi": to_wire(szi),
            "leverage": {
                "type": "isolated",
                "value": leverage,
                "rawUsd": to_wire(usdc_round(raw_usd)),
            },
            "entryPx": to_wire(_significant(entry_px, 6, ROUND_DOWN)),
            "positionValue": to_wire(usdc_round(value)),
            "unrealizedPnl": to_wire(usdc_round(upnl)),
            "returnOnEquity": to_wire(roe.quantize(Decimal("1e-10"), ROUND_HALF_EVEN, _CTX)),
            "liquidationPx": to_wire(_significant(liq, 12, ROUND_HALF_EVEN)) if liq > 0 else None,
            "marginUsed": to_wire(usdc_round(used)),
            "maxLeverage": max_leverage,
            "cumFunding": {
                "allTime": to_wire(all_time),
                "sinceOpen": to_wire(since_open),
                "sinceChange": to_wire(since_change),
            },
        },
    }
    return wire, value, raw_usd, used


def _significant(value: Decimal, digits: int, rounding: str) -> Decimal:
    if value.is_zero():
        return value
    exponent = value.adjusted() - digits + 1
    return value.quantize(Decimal((0, (1,), exponent)), rounding, _CTX)
