"""Subscriptions of the feed: what a market needs, where its data arrive, acks by subset."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TypeAlias

import orjson

from hip3term.venue.hyperliquid.wire import JsonValue

__all__ = [
    "SUBSCRIPTION_CHANNELS",
    "Subscription",
    "SubscriptionSet",
    "ack_matches",
    "already_subscribed",
    "channel_of",
    "market_subscriptions",
]

Subscription: TypeAlias = Mapping[str, JsonValue]
"""A subscription object as sent, e.g. `{"type": "l2Book", "coin": "xyz:COIN"}`."""

SUBSCRIPTION_CHANNELS: Mapping[str, str] = MappingProxyType({"userEvents": "user"})
"""Subscription types whose data arrive on a channel of another name."""


def already_subscribed(text: str) -> dict[str, JsonValue] | None:
    """The subscription of an `Already subscribed: {...}` error text, else None."""
    prefix = "Already subscribed: "
    if not text.startswith(prefix):
        return None
    try:
        echo = orjson.loads(text[len(prefix):])
    except orjson.JSONDecodeError:
        return None
    return echo if isinstance(echo, dict) else None


def channel_of(subscription_type: str) -> str:
    """The wire channel a subscription's data arrive on (`userEvents` -> `user`)."""
    return SUBSCRIPTION_CHANNELS.get(subscription_type, subscription_type)


def market_subscriptions(coin: str, user: str | None = None) -> list[dict[str, JsonValue]]:
    """The subscriptions of one market: l2Book, bbo, trades, activeAssetCtx of `coin`,
    and orderUpdates and userFills of `user` (lowercased) when given."""
    subs: list[dict[str, JsonValue]] = [
        {"type": kind, "coin": coin} for kind in ("l2Book", "bbo", "trades", "activeAssetCtx")]
    if user is not None:
        subs += [{"type": kind, "user": user.lower()} for kind in ("orderUpdates", "userFills")]
    return subs


def ack_matches(subscription: Subscription, echo: Mapping[str, JsonValue]) -> bool:
    """Whether a subscription ack's echo is ours: same type, and every field of ours that
    the echo carries is equal (addresses compared case-insensitively); fields the
    server added or dropped are ignored."""
    if echo.get("type") != subscription.get("type"):
        return False
    for key, value in subscription.items():
        if key not in echo:
            continue
        theirs = echo[key]
        if key == "user" and isinstance(value, str) and isinstance(theirs, str):
            if value.lower() != theirs.lower():
                return False
        elif theirs != value:
            return False
    return True




class SubscriptionSet:
    """The subscriptions of a connection and which of them the server acknowledged.

    Args:
        subscriptions: the subscription objects, in the order they are sent.
    """

    __slots__ = ("_acked", "channels", "subscriptions")

    def __init__(self, subscriptions: Iterable[Subscription]) -> None:
        self.subscriptions: tuple[Subscription, ...] = tuple(
            MappingProxyType(dict(sub)) for sub in subscriptions)
        self.channels = tuple(channel_of(str(sub["type"])) for sub in self.subscriptions)
        """The channel each subscription's data arrive on."""
        self._acked = [False] * len(self.subscriptions)

    def reset(self) -> list[str]:
        """A new connection: nothing is acknowledged. Returns the channels that were."""
        was = [ch for ch, acked in zip(self.channels, self._acked, strict=True) if acked]
        self._acked = [False] * len(self.subscriptions)
        return was

    def acknowledge(self, echo: Mapping[str, JsonValue]) -> Subscription | None:
        """Mark the first unacknowledged subscription the echo matches; None if none."""
        for i, sub in enumerate(self.subscriptions):
            if not self._acked[i] and ack_matches(sub, echo):
                self._acked[i] = True
                return sub
        return None

    def pending(self) -> list[Subscription]:
        """The subscriptions not acknowledged yet."""
        return [sub for sub, acked in zip(self.subscriptions, self._acked, strict=True)
                if not acked]

    @property
    def all_acknowledged(self) -> bool:
        """Every subscription was acknowledged."""
        return all(self._acked)

    def subscribed(self, channel: str) -> bool:
        """Some subscription of `channel` is acknowledged."""
        return any(acked for ch, acked in zip(self.channels, self._acked, strict=True)
                   if ch == channel)
