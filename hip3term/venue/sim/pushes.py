"""What the exchange core hands the server to send: event frames and their audience (pure).

Event-driven channels (trades, orderUpdates, userFills, userEvents) are pushed the moment
something happens; the server routes each `Push` to the connections subscribed to its
`route`. Snapshot-style channels (l2Book, bbo, activeAssetCtx, allMids) are pulled by the
server on its own schedule and are not `Push`es.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Route = tuple[str, str]
"""`(subscription type, key)`: `("trades", coin)`, `("orderUpdates", user)`, …"""


@dataclass(frozen=True, slots=True)
class Push:
    """One data frame `{"channel": channel, "data": data}` for the subscribers of `route`."""

    route: Route
    channel: str
    data: Any


def trades_push(coin: str, trades: list[dict[str, Any]]) -> Push:
    """The `trades` frame for `coin`."""
    return Push(("trades", coin), "trades", trades)


def order_updates_push(user: str, updates: list[dict[str, Any]]) -> Push:
    """The `orderUpdates` frame for `user`."""
    return Push(("orderUpdates", user), "orderUpdates", updates)


def user_fills_push(user: str, fills: list[dict[str, Any]]) -> Push:
    """A live (non-snapshot) `userFills` frame for `user`."""
    return Push(("userFills", user), "userFills", {"user": user, "fills": fills})


def user_events_fills_push(user: str, fills: list[dict[str, Any]]) -> Push:
    """The `userEvents` frame (channel `user`) carrying fills for `user`."""
    return Push(("userEvents", user), "user", {"fills": fills})


def user_events_cancel_push(user: str, cancels: list[dict[str, Any]]) -> Push:
    """The `userEvents` frame (channel `user`) for orders canceled by the exchange."""
    return Push(("userEvents", user), "user", {"nonUserCancel": cancels})
