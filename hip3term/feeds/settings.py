"""The feed client's settings: a small frozen dataclass, built from the config's `feeds`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hip3term.config import FeedSettings

__all__ = ["FeedClientSettings"]


@dataclass(frozen=True, slots=True)
class FeedClientSettings:
    """Keep-alive, reconnect and staleness settings of `FeedClient`.

    Attributes:
        ping_interval_s: send `{"method":"ping"}` this often.
        pong_timeout_s: reconnect when a ping stays unanswered this long.
        backoff_initial_s: first reconnect delay ceiling; it doubles per failed attempt.
        backoff_max_s: cap of every reconnect delay.
        backoff_jitter: randomised share of each delay, 0 to 1 (1 = full jitter).
        healthy_reset_s: a connection that lasted this long resets the backoff.
        stale_after_s: seconds without a frame after which a subscribed channel is stale
            and the client reconnects, by subscription type (e.g. "l2Book"); a type not
            listed (or 0) never goes stale.
        ack_timeout_s: subscriptions not acknowledged this long after they were sent are
            sent again (an "Already subscribed" answer counts as an ack); after two
            resends the connection is renewed.
        open_timeout_s: timeout of the websocket opening handshake.
        close_timeout_s: how long a clean close may take before the socket is dropped.
        max_frame_bytes: largest frame accepted.
    """

    ping_interval_s: float = 30.0
    pong_timeout_s: float = 10.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    backoff_jitter: float = 1.0
    healthy_reset_s: float = 5.0
    stale_after_s: Mapping[str, float] = field(default_factory=dict)
    ack_timeout_s: float = 5.0
    open_timeout_s: float = 10.0
    close_timeout_s: float = 2.0
    max_frame_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("ping_interval_s", "pong_timeout_s", "backoff_initial_s",
                     "backoff_max_s", "healthy_reset_s", "ack_timeout_s", "open_timeout_s",
                     "close_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be at least backoff_initial_s")
        if not 0.0 <= self.backoff_jitter <= 1.0:
            raise ValueError(f"backoff_jitter must be between 0 and 1, got {self.backoff_jitter}")
        thresholds = {str(k): float(v) for k, v in self.stale_after_s.items() if v}
        if any(not (math.isfinite(v) and v > 0) for v in thresholds.values()):
            raise ValueError(f"stale_after_s must map to positive seconds, got {thresholds}")
        object.__setattr__(self, "stale_after_s", MappingProxyType(thresholds))

    def stale_after(self, subscription_type: str) -> float | None:
        """Seconds without data after which the type's channel is stale; None = never."""
        return self.stale_after_s.get(subscription_type)

    @classmethod
    def from_settings(cls, feeds: FeedSettings, **overrides: float) -> FeedClientSettings:
        """Build from the config's `feeds` section (`backoff_jitter` taken as the
        randomised share of each delay: 1 = full jitter).

        Args:
            feeds: the `[feeds]` section of the settings.
            **overrides: fields to set instead, e.g. `open_timeout_s=5`.
        """
        values: dict[str, object] = {
            "ping_interval_s": feeds.ping_interval_s,
            "pong_timeout_s": feeds.pong_timeout_s,
            "backoff_initial_s": feeds.backoff_initial_s,
            "backoff_max_s": feeds.backoff_max_s,
            "backoff_jitter": feeds.backoff_jitter,
            "healthy_reset_s": feeds.healthy_reset_s,
            "stale_after_s": {k: v for k, v in feeds.stale_after_s.items() if v},
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]  # reason: fields checked in __post_init__
