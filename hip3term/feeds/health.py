"""Feed health: the events the client emits and the counters it keeps per channel.

Health events (frozen, delivered through the client's `on_health` callback):
`FeedConnected`, `FeedSubscribed`, `FeedStale`, `FeedReconnecting`, `FeedDisconnected`
and `FeedServerError`. `FeedHealth` is the snapshot `FeedClient.health()` returns.

What each per-channel counter counts (channel = the frame's wire channel; frames
without a readable channel, such as the greeting or non-JSON, count under "(none)"):

- `frames`: every frame received, including duplicates and malformed ones;
- `malformed`: frames that could not be parsed, by `ParseErrorKind` value;
- `duplicates`: copies that were not delivered: an l2Book, bbo or orderUpdates frame
  byte-identical to the previous frame of that channel (and coin); a trade whose
  (coin, tid) was already delivered; a fill whose (oid, tid) was already delivered
  (userFills and the `user` channel). activeAssetCtx and allMids carry no time, and the
  exchange repeats an unchanged context, so they are never counted as duplicates;
- `gaps`: places where data was probably missed: the exchange time of an l2Book, bbo or
  trade going backwards, a stale period (no frame for longer than the channel's
  threshold), and a connection lost while the channel was subscribed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

from hip3term.venue.hyperliquid.wire import JsonValue

__all__ = [
    "NO_CHANNEL",
    "ChannelCounters",
    "ChannelHealth",
    "FeedConnected",
    "FeedDisconnected",
    "FeedHealth",
    "FeedReconnecting",
    "FeedServerError",
    "FeedStale",
    "FeedSubscribed",
    "HealthEvent",
    "LogThrottle",
]

NO_CHANNEL = "(none)"
"""The counter key of frames without a readable channel."""

_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class FeedConnected:
    """The websocket opened (`connection` counts from 1 over the client's life)."""

    url: str
    connection: int


@dataclass(frozen=True, slots=True)
class FeedSubscribed:
    """The server acknowledged one of our subscriptions (as we sent it)."""

    subscription: Mapping[str, JsonValue]


@dataclass(frozen=True, slots=True)
class FeedStale:
    """A channel delivered nothing for longer than its threshold; a reconnect follows."""

    channel: str
    age_s: float
    threshold_s: float


@dataclass(frozen=True, slots=True)
class FeedReconnecting:
    """The client waits `delay_s` before connection attempt `attempt` (1 = first retry)."""

    attempt: int
    delay_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class FeedDisconnected:
    """The connection was lost or closed (or could not be opened), and why."""

    reason: str


@dataclass(frozen=True, slots=True)
class FeedServerError:
    """An `error` frame that no post claimed, e.g. "Invalid subscription ..."."""

    text: str


HealthEvent: TypeAlias = (
    FeedConnected | FeedSubscribed | FeedStale | FeedReconnecting | FeedDisconnected
    | FeedServerError
)


@dataclass(slots=True)
class ChannelCounters:
    """The mutable counters of one channel (see the module docstring)."""

    frames: int = 0
    malformed: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    gaps: int = 0
    last_frame_ns: int | None = None
    last_exchange_ms: int | None = None

    def snapshot(self, now_ns: int, stale_after_s: float | None,
                 subscribed: bool) -> ChannelHealth:
        """A frozen copy, with the age of the last parsed frame at `now_ns`."""
        age = None if self.last_frame_ns is None else (
            max(0, now_ns - self.last_frame_ns) / _NS_PER_S)
        return ChannelHealth(
            frames=self.frames, malformed=MappingProxyType(dict(self.malformed)),
            duplicates=self.duplicates, gaps=self.gaps, last_frame_age_s=age,
            stale_after_s=stale_after_s, subscribed=subscribed)


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """Counters of one channel at the time of the snapshot.

    Attributes:
        frames, malformed, duplicates, gaps: see the module docstring.
        last_frame_age_s: seconds since the last frame that parsed, None if none yet.
        stale_after_s: the channel's staleness threshold, None if it never goes stale.
        subscribed: the server acknowledged our subscription on the current connection.
    """

    frames: int
    malformed: Mapping[str, int]
    duplicates: int
    gaps: int
    last_frame_age_s: float | None
    stale_after_s: float | None
    subscribed: bool

    @property
    def malformed_total(self) -> int:
        """All malformed frames, whatever the kind."""
        return sum(self.malformed.values())


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """A snapshot of the feed client.

    Attributes:
        url: the websocket URL.
        connected: a websocket is open.
        ready: connected and every subscription acknowledged.
        rtt_ms: round-trip time of the last ping answered, None before the first pong.
        connections: connections opened over the client's life.
        reconnects: connection attempts made after the first one.
        pending_posts: posts waiting for their answer.
        late_post_answers: answers that came after their post had timed out or failed.
        callback_errors: exceptions raised by our consumers' callbacks (logged).
        last_disconnect: the reason of the last disconnection, None if none yet.
        channels: counters by channel.
    """

    url: str
    connected: bool
    ready: bool
    rtt_ms: float | None
    connections: int
    reconnects: int
    pending_posts: int
    late_post_answers: int
    callback_errors: int
    last_disconnect: str | None
    channels: Mapping[str, ChannelHealth]

    def total(self, counter: str) -> int:
        """One counter summed over every channel: "frames", "duplicates", "gaps" or
        "malformed"."""
        if counter == "malformed":
            return sum(ch.malformed_total for ch in self.channels.values())
        return sum(int(getattr(ch, counter)) for ch in self.channels.values())


class LogThrottle:
    """At most one log line per key per interval, with the count of lines held back
    (malformed frames or a failing callback must not flood the log).

    Args:
        log: the logger to write to.
        every_ns: the interval per key, in nanoseconds.
    """

    __slots__ = ("_every_ns", "_held", "_last", "_log")

    def __init__(self, log: logging.Logger, every_ns: int) -> None:
        self._log, self._every_ns = log, every_ns
        self._last: dict[str, int] = {}
        self._held: dict[str, int] = {}

    def log(self, now_ns: int, key: str, level: int, message: str, *args: object,
            exc_info: bool = False) -> bool:
        """Log unless `key` was logged less than the interval ago; True when logged."""
        last = self._last.get(key)
        if last is not None and now_ns - last < self._every_ns:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now_ns
        held = self._held.pop(key, 0)
        suffix = f" ({held} similar held back)" if held else ""
        self._log.log(level, message + suffix, *args, exc_info=exc_info)
        return True
