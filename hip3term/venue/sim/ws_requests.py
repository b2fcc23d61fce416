"""Client messages on the simulator's websocket, parsed as the exchange parses them (pure).

Four methods exist: `subscribe`, `unsubscribe` (with a `subscription` object), `ping`
and `post` (`{"method":"post","id":N,"request":{"type":"info"|"action","payload":{…}}}`).
Anything else, including text that is not JSON, raises `SubscriptionParseError`; the
server answers it with `Error parsing JSON into valid websocket request: <text>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from hip3term.venue.sim.subscriptions import (
    Subscription,
    SubscriptionParseError,
    parse_subscription,
)

PARSE_ERROR_PREFIX = "Error parsing JSON into valid websocket request: "


@dataclass(frozen=True, slots=True)
class PingRequest:
    """`{"method":"ping"}`: answered with `{"channel":"pong"}`."""


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """A subscribe or unsubscribe request with its normalised subscription."""

    method: Literal["subscribe", "unsubscribe"]
    subscription: Subscription


@dataclass(frozen=True, slots=True)
class PostRequest:
    """A `post` request: an info query or a signed action, correlated by `id`."""

    id: int
    kind: Literal["info", "action"]
    payload: dict[str, Any]


WsRequest = PingRequest | SubscriptionRequest | PostRequest


def parse_ws_request(text: str | bytes) -> WsRequest:
    """Parse one client message.

    Raises:
        SubscriptionParseError: the text is not a valid websocket request.
        InvalidSubscriptionError: a subscription parsed but has a value out of range.
    """
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise SubscriptionParseError("not JSON") from None
    if not isinstance(obj, dict):
        raise SubscriptionParseError("not an object")
    method = obj.get("method")
    if method == "ping":
        return PingRequest()
    if method in ("subscribe", "unsubscribe"):
        return SubscriptionRequest(method, parse_subscription(obj.get("subscription")))
    if method == "post":
        return _parse_post(obj)
    raise SubscriptionParseError("unknown method")


def _parse_post(obj: dict[str, Any]) -> PostRequest:
    post_id = obj.get("id")
    if isinstance(post_id, bool) or not isinstance(post_id, int) or post_id < 0:
        raise SubscriptionParseError("post id must be an unsigned integer")
    request = obj.get("request")
    if not isinstance(request, dict):
        raise SubscriptionParseError("post request must be an object")
    kind = request.get("type")
    payload = request.get("payload")
    if kind not in ("info", "action") or not isinstance(payload, dict):
        raise SubscriptionParseError("post request type must be info or action")
    return PostRequest(post_id, kind, payload)


def parse_error_text(text: str | bytes) -> str:
    """The exchange's error text for an unparsable message (it quotes the message)."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return PARSE_ERROR_PREFIX + raw
