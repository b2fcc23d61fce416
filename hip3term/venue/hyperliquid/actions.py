"""Builders of Hyperliquid L1 actions, as plain dicts in the exchange's exact key order.

The exchange hashes the msgpack of an action, so key order, value types and number
strings all change the signature (PROTOCOL.md 4.2 and 4.5). Each builder here returns a
fresh dict whose insertion order is the order the exchange expects, with prices and sizes
as canonical decimal strings (`core.numeric.to_wire`). Floats are refused with
`TypeError`, and so are ints passed where a bool is meant (msgpack packs `True` and `1`
differently). Bad values raise `ValueError`. The results go straight to
`signing.sign_l1_action`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeAlias, get_args

from hip3term.core.numeric import to_wire

__all__ = [
    "BuilderFee",
    "Grouping",
    "LimitType",
    "Tif",
    "Tpsl",
    "TriggerType",
    "WireDict",
    "cancel_action",
    "cancel_by_cloid_action",
    "cloid_from_int",
    "noop_action",
    "order_action",
    "order_wire",
    "random_cloid",
    "schedule_cancel_action",
    "update_leverage_action",
    "validate_cloid",
]

WireDict: TypeAlias = dict[str, object]
"""A JSON object ready to be msgpack-hashed and sent (insertion order is key order)."""

Tif = Literal["Alo", "Ioc", "Gtc"]
"""Time in force: Alo = post-only, Ioc = the unfilled part is canceled, Gtc = rests."""

Tpsl = Literal["tp", "sl"]
"""Whether a trigger order is a take-profit or a stop-loss."""

Grouping = Literal["na", "normalTpsl", "positionTpsl"]
"""How the orders of one action relate: independent, parent + TP/SL, or TP/SL on a position."""

_TIFS: frozenset[str] = frozenset(get_args(Tif))
_TPSLS: frozenset[str] = frozenset(get_args(Tpsl))
_GROUPINGS: frozenset[str] = frozenset(get_args(Grouping))
_CLOID = re.compile(r"0[xX][0-9a-fA-F]{32}")
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
_CLOID_LIMIT = 1 << 128


def _require_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _require_int(value: object, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _positive_wire(value: Decimal | int, name: str) -> str:
    text = to_wire(value)  # TypeError for float and bool
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {text}")
    return text


@dataclass(frozen=True, slots=True)
class LimitType:
    """A limit order's type: `{"limit": {"tif": ...}}`.

    Attributes:
        tif: "Alo" (post-only), "Ioc" (immediate or cancel) or "Gtc" (good till canceled).
    """

    tif: Tif

    def __post_init__(self) -> None:
        if self.tif not in _TIFS:
            raise ValueError(f"tif must be one of Alo, Ioc, Gtc, got {self.tif!r}")

    def to_wire(self) -> WireDict:
        """The order's `t` value."""
        return {"limit": {"tif": self.tif}}


@dataclass(frozen=True, slots=True)
class TriggerType:
    """A trigger (TP/SL) order's type: `{"trigger": {"isMarket", "triggerPx", "tpsl"}}`.

    Attributes:
        is_market: True to execute as a market order when triggered, False as a limit
            order at the order's price.
        trigger_px: The trigger price (Decimal or int, never float).
        tpsl: "tp" (take profit) or "sl" (stop loss).
    """

    is_market: bool
    trigger_px: Decimal | int
    tpsl: Tpsl

    def __post_init__(self) -> None:
        _require_bool(self.is_market, "is_market")
        _positive_wire(self.trigger_px, "trigger_px")
        if self.tpsl not in _TPSLS:
            raise ValueError(f"tpsl must be 'tp' or 'sl', got {self.tpsl!r}")

    def to_wire(self) -> WireDict:
        """The order's `t` value; isMarket comes before triggerPx, as the exchange hashes it."""
        return {
            "trigger": {
                "isMarket": self.is_market,
                "triggerPx": to_wire(self.trigger_px),
                "tpsl": self.tpsl,
            }
        }


@dataclass(frozen=True, slots=True)
class BuilderFee:
    """A builder code attached to an order action: `{"b": address, "f": fee}`.

    Attributes:
        address: The builder's address, 0x + 40 hex digits (sent in lower case).
        fee: The fee in tenths of a basis point (10 = 1 bp), an int.
    """

    address: str
    fee: int

    def __post_init__(self) -> None:
        if not isinstance(self.address, str) or not _ADDRESS.fullmatch(self.address):
            raise ValueError(f"builder address must be 0x + 40 hex digits, got {self.address!r}")
        _require_int(self.fee, "builder fee")

    def to_wire(self) -> WireDict:
        """The action's `builder` value."""
        return {"b": self.address.lower(), "f": self.fee}


def validate_cloid(cloid: str) -> str:
    """Check a client order id (0x + 32 hex digits, 128 bits) and return it in lower case.

    Raises:
        ValueError: `cloid` is not 0x followed by exactly 32 hex digits.
    """
    if not isinstance(cloid, str) or not _CLOID.fullmatch(cloid):
        raise ValueError(f"a cloid is 0x followed by 32 hex digits, got {cloid!r}")
    return "0x" + cloid[2:].lower()


def cloid_from_int(number: int) -> str:
    """The cloid of an integer in [0, 2**128), e.g. 1 -> 0x000…0001 (from a counter)."""
    _require_int(number, "cloid number")
    if number >= _CLOID_LIMIT:
        raise ValueError("a cloid number must be below 2**128")
    return f"0x{number:032x}"


def random_cloid() -> str:
    """A cloid made of 16 random bytes from the operating system."""
    return "0x" + os.urandom(16).hex()


def order_wire(
    asset: int,
    is_buy: bool,
    px: Decimal | int,
    sz: Decimal | int,
    reduce_only: bool,
    order_type: LimitType | TriggerType,
    cloid: str | None = None,
) -> WireDict:
    """One order of an order action: `{"a","b","p","s","r","t"[,"c"]}`.

    Args:
        asset: The asset id (e.g. 110007 for a HIP-3 market; see the market map).
        is_buy: True to buy, False to sell.
        px: The limit price, already valid for the market (Decimal or int).
        sz: The size, already a multiple of the market's lot (Decimal or int).
        reduce_only: True if the order may only reduce a position.
        order_type: `LimitType(tif)` or `TriggerType(...)`.
        cloid: An optional client order id (lower-cased); no `c` key when None.

    Raises:
        TypeError: a float price or size, or a non-bool flag.
        ValueError: a negative asset, a non-positive price or size, or a bad cloid.
    """
    if not isinstance(order_type, LimitType | TriggerType):
        raise TypeError("order_type must be a LimitType or a TriggerType")
    wire: WireDict = {
        "a": _require_int(asset, "asset"),
        "b": _require_bool(is_buy, "is_buy"),
        "p": _positive_wire(px, "px"),
        "s": _positive_wire(sz, "sz"),
        "r": _require_bool(reduce_only, "reduce_only"),
        "t": order_type.to_wire(),
    }
    if cloid is not None:
        wire["c"] = validate_cloid(cloid)
    return wire


def order_action(
    orders: Sequence[WireDict], grouping: Grouping = "na", builder: BuilderFee | None = None
) -> WireDict:
    """An order action: `{"type":"order","orders":[...],"grouping":...[,"builder":...]}`.

    Args:
        orders: At least one `order_wire` result.
        grouping: "na" for independent orders, "normalTpsl" for a parent order followed by
            its TP/SL children, "positionTpsl" for TP/SL attached to the position.
        builder: An optional builder code and fee.

    Raises:
        ValueError: no orders, or an unknown grouping.
    """
    if not orders:
        raise ValueError("an order action needs at least one order")
    if grouping not in _GROUPINGS:
        raise ValueError(f"grouping must be one of na, normalTpsl, positionTpsl, got {grouping!r}")
    action: WireDict = {"type": "order", "orders": list(orders), "grouping": grouping}
    if builder is not None:
        action["builder"] = builder.to_wire()
    return action


def cancel_action(cancels: Sequence[tuple[int, int]], *, fast: bool = False) -> WireDict:
    """A cancel by order id: `{"type":"cancel","cancels":[{"a":asset,"o":oid}...]}`.

    Args:
        cancels: (asset, oid) pairs, at least one.
        fast: Append `"f": true` (a fast cancel; it cannot target trigger orders). The key
            is omitted when False, as the exchange requires.
    """
    if not cancels:
        raise ValueError("a cancel action needs at least one (asset, oid) pair")
    action: WireDict = {
        "type": "cancel",
        "cancels": [
            {"a": _require_int(asset, "asset"), "o": _require_int(oid, "oid")}
            for asset, oid in cancels
        ],
    }
    if _require_bool(fast, "fast"):
        action["f"] = True
    return action


def cancel_by_cloid_action(cancels: Sequence[tuple[int, str]], *, fast: bool = False) -> WireDict:
    """A cancel by client order id: `{"type":"cancelByCloid","cancels":[{"asset","cloid"}...]}`.

    Note the long key names (`asset`, `cloid`), unlike `cancel`'s `a` and `o`.

    Args:
        cancels: (asset, cloid) pairs, at least one; cloids are lower-cased.
        fast: Append `"f": true` (omitted when False).
    """
    if not cancels:
        raise ValueError("a cancelByCloid action needs at least one (asset, cloid) pair")
    action: WireDict = {
        "type": "cancelByCloid",
        "cancels": [
            {"asset": _require_int(asset, "asset"), "cloid": validate_cloid(cloid)}
            for asset, cloid in cancels
        ],
    }
    if _require_bool(fast, "fast"):
        action["f"] = True
    return action


def schedule_cancel_action(time_ms: int | None) -> WireDict:
    """The dead-man switch: cancel all orders at `time_ms`, or clear it when None.

    The exchange requires `time_ms` at least 5 s in the future, allows 10 triggers a day
    and gates the action behind $1M of traded volume (PROTOCOL.md 4.2, 9.8).
    """
    if time_ms is None:
        return {"type": "scheduleCancel"}
    return {"type": "scheduleCancel", "time": _require_int(time_ms, "time_ms")}


def update_leverage_action(asset: int, is_cross: bool, leverage: int) -> WireDict:
    """Set an asset's leverage: `{"type":"updateLeverage","asset","isCross","leverage"}`.

    Args:
        asset: The asset id.
        is_cross: True for cross margin, False for isolated (HIP-3 markets are often
            isolated-only).
        leverage: An int of at least 1 (the market's maximum applies).
    """
    return {
        "type": "updateLeverage",
        "asset": _require_int(asset, "asset"),
        "isCross": _require_bool(is_cross, "is_cross"),
        "leverage": _require_int(leverage, "leverage", minimum=1),
    }


def noop_action() -> WireDict:
    """The no-op action `{"type":"noop"}`, which only uses up its nonce.

    Signed with the nonce of an action still in flight, it makes that action fail.
    """
    return {"type": "noop"}
