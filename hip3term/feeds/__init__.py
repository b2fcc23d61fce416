"""Feed client: the venue websocket, kept alive; imports core, config and venue parsing."""

from hip3term.feeds.backoff import Backoff
from hip3term.feeds.client import FeedClient
from hip3term.feeds.health import (
    ChannelHealth,
    FeedConnected,
    FeedDisconnected,
    FeedHealth,
    FeedReconnecting,
    FeedServerError,
    FeedStale,
    FeedSubscribed,
    HealthEvent,
)
from hip3term.feeds.posts import (
    Disconnected,
    FeedError,
    NotConnected,
    PostFailed,
    PostRejected,
    PostTimeout,
    PostUnreadable,
)
from hip3term.feeds.settings import FeedClientSettings
from hip3term.feeds.subscriptions import ack_matches, market_subscriptions

__all__ = [
    "Backoff",
    "ChannelHealth",
    "Disconnected",
    "FeedClient",
    "FeedClientSettings",
    "FeedConnected",
    "FeedDisconnected",
    "FeedError",
    "FeedHealth",
    "FeedReconnecting",
    "FeedServerError",
    "FeedStale",
    "FeedSubscribed",
    "HealthEvent",
    "NotConnected",
    "PostFailed",
    "PostRejected",
    "PostTimeout",
    "PostUnreadable",
    "ack_matches",
    "market_subscriptions",
]
