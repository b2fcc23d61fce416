"""Websocket subscriptions as the exchange parses, normalises and echoes them (pure).

The exchange parses every client message into a typed request; a message that does not
parse (unknown `type`, a `coin` that is not a string, a `user` that is not an address,
a missing field) gets the error frame
`Error parsing JSON into valid websocket request: <the text the client sent>`.
A subscription that parses is *normalised*: optional fields are filled in with their
defaults, in the exchange's key order, and that normalised object is what the ack echoes
and what the duplicate/unsubscribe errors quote (compact JSON), e.g.

    {"type":"l2Book","coin":"SOL","nSigFigs":null,"mantissa":null,"fast":false}
    {"type":"userFills","user":"0x…","aggregateByTime":false}

Types the simulator pushes data for: l2Book, bbo, trades, activeAssetCtx, allMids,
orderUpdates, userFills, userEvents (channel `user`). Other real subscription types
(candle, webData2, userFundings, …) are parsed, acknowledged and logged as "not
simulated", and nothing is pushed for them: a client written for the exchange keeps
working, it just never hears from those channels.

Semantic checks that the exchange makes after parsing (nSigFigs outside 2..5, mantissa
without nSigFigs 5) give `Invalid subscription {…}` with the normalised object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

PUSHED_TYPES = frozenset(
    {
        "l2Book",
        "bbo",
        "trades",
        "activeAssetCtx",
        "allMids",
        "orderUpdates",
        "userFills",
        "userEvents",
    }
)
_COIN_TYPES = frozenset({"l2Book", "bbo", "trades", "activeAssetCtx"})
_USER_TYPES = frozenset(
    {
        "orderUpdates",
        "userEvents",
        "userFundings",
        "userNonFundingLedgerUpdates",
        "userTwapSliceFills",
        "userTwapHistory",
        "notification",
        "webData2",
        "webData3",
        "spotState",
        "allDexsClearinghouseState",
    }
)
_USER_DEX_TYPES = frozenset({"clearinghouseState", "openOrders", "twapStates"})
_DEX_TYPES = frozenset({"allMids", "assetCtxs"})
_CANDLE_INTERVALS = frozenset(
    {"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M"}
)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")

CHANNEL_OF_TYPE = {"userEvents": "user"}


class SubscriptionParseError(ValueError):
    """The message is not a valid websocket request (exchange: "Error parsing JSON…")."""


class InvalidSubscriptionError(ValueError):
    """The subscription parsed but its values are not allowed ("Invalid subscription")."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One normalised subscription.

    Attributes:
        type: the subscription type as the client named it (e.g. "l2Book").
        fields: the normalised fields after `type`, in the exchange's echo order.
    """

    type: str
    fields: tuple[tuple[str, Any], ...]

    def echo(self) -> dict[str, Any]:
        """The normalised subscription object the exchange echoes in acks and errors."""
        out: dict[str, Any] = {"type": self.type}
        out.update(self.fields)
        return out

    def compact(self) -> str:
        """Compact JSON of `echo()`, as quoted by "Already subscribed: …"."""
        return orjson.dumps(self.echo()).decode()

    def get(self, name: str) -> Any:
        """Value of a normalised field (None when the type has no such field)."""
        for key, value in self.fields:
            if key == name:
                return value
        return None

    @property
    def pushed(self) -> bool:
        """True when the simulator pushes data for this type."""
        return self.type in PUSHED_TYPES

    @property
    def channel(self) -> str:
        """The channel its data frames carry (`userEvents` -> `user`)."""
        return CHANNEL_OF_TYPE.get(self.type, self.type)

    @property
    def coin(self) -> str:
        """The coin of a coin-keyed subscription ("" otherwise)."""
        value = self.get("coin")
        return value if isinstance(value, str) else ""

    @property
    def user(self) -> str:
        """The lower-case user address of a user-keyed subscription ("" otherwise)."""
        value = self.get("user")
        return value if isinstance(value, str) else ""


def parse_subscription(obj: Any) -> Subscription:
    """Parse and normalise a subscription object.

    Raises:
        SubscriptionParseError: the object does not parse as any subscription type.
        InvalidSubscriptionError: it parses but a value is out of the allowed range.
    """
    if not isinstance(obj, dict):
        raise SubscriptionParseError("subscription is not an object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise SubscriptionParseError("subscription type missing")
    if kind == "l2Book":
        return _parse_l2book(obj)
    if kind in _COIN_TYPES:
        return Subscription(kind, (("coin", _string(obj, "coin")),))
    if kind == "candle":
        interval = _string(obj, "interval")
        if interval not in _CANDLE_INTERVALS:
            raise SubscriptionParseError("unknown candle interval")
        return Subscription(kind, (("coin", _string(obj, "coin")), ("interval", interval)))
    if kind == "userFills":
        aggregate = _optional_bool(obj, "aggregateByTime")
        return Subscription(kind, (("user", _address(obj)), ("aggregateByTime", aggregate)))
    if kind in _USER_TYPES:
        return Subscription(kind, (("user", _address(obj)),))
    if kind in _USER_DEX_TYPES:
        return Subscription(kind, (("user", _address(obj)), *_optional_dex(obj)))
    if kind in _DEX_TYPES:
        return Subscription(kind, tuple(_optional_dex(obj)))
    if kind == "activeAssetData":
        return Subscription(kind, (("user", _address(obj)), ("coin", _string(obj, "coin"))))
    if kind in ("allDexsAssetCtxs", "fastAssetCtxs"):
        return Subscription(kind, ())
    raise SubscriptionParseError(f"unknown subscription type {kind!r}")


def _parse_l2book(obj: dict[str, Any]) -> Subscription:
    coin = _string(obj, "coin")
    sig_figs = _optional_int(obj, "nSigFigs")
    mantissa = _optional_int(obj, "mantissa")
    fast = _optional_bool(obj, "fast")
    sub = Subscription(
        "l2Book",
        (("coin", coin), ("nSigFigs", sig_figs), ("mantissa", mantissa), ("fast", fast)),
    )
    if sig_figs is not None and sig_figs not in (2, 3, 4, 5):
        raise InvalidSubscriptionError(sub.compact())
    if mantissa is not None and (sig_figs != 5 or mantissa not in (1, 2, 5)):
        raise InvalidSubscriptionError(sub.compact())
    return sub


def _string(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise SubscriptionParseError(f"{key} must be a string")
    return value


def _address(obj: dict[str, Any]) -> str:
    value = obj.get("user")
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise SubscriptionParseError("user must be an address")
    return value.lower()


def _optional_bool(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise SubscriptionParseError(f"{key} must be a bool")
    return value


def _optional_int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SubscriptionParseError(f"{key} must be an unsigned integer")
    return value


def _optional_dex(obj: dict[str, Any]) -> list[tuple[str, Any]]:
    if "dex" not in obj or obj["dex"] is None:
        return []
    value = obj["dex"]
    if not isinstance(value, str):
        raise SubscriptionParseError("dex must be a string")
    return [("dex", value)]
