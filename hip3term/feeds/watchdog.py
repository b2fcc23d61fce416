"""Keep-alive and staleness decisions of one connection (pure and synchronous).

The client's monitor task asks the watchdog, on every tick, whether a ping is due, whether
unacknowledged subscriptions should be sent again, and whether the connection must end:
a ping unanswered for longer than the pong timeout, or a watched channel without a frame
for longer than its threshold (measured from the later of its last frame and the start
of the connection), or subscriptions still unacknowledged after `MAX_ACK_RESENDS`
resends. All times are monotonic nanoseconds passed in by the caller, so the decisions
can be tested without a clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hip3term.feeds.health import FeedStale

__all__ = ["MAX_ACK_RESENDS", "Problem", "Watchdog"]

_NS_PER_S = 1_000_000_000
MAX_ACK_RESENDS = 2
"""How many times unacknowledged subscriptions are sent again before reconnecting."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why the connection must end; `stale` is set when a channel went stale."""

    reason: str
    stale: FeedStale | None = None


class Watchdog:
    """Pings, pongs and per-channel staleness.

    Args:
        ping_interval_s: send a ping this often.
        pong_timeout_s: a ping unanswered this long ends the connection.
        stale_after_s: (channel, threshold seconds) of the channels to watch; channels
            listed twice keep the smallest threshold.
        ack_timeout_s: how long subscriptions may stay unacknowledged before a resend.
    """

    __slots__ = ("_ack_ns", "_ack_resends", "_acks_since_ns", "_interval_ns",
                 "_next_ping_ns", "_pings", "_pong_ns", "_start_ns", "_thresholds", "tick_s")

    def __init__(self, ping_interval_s: float, pong_timeout_s: float,
                 stale_after_s: Iterable[tuple[str, float]] = (),
                 ack_timeout_s: float = 5.0) -> None:
        self._interval_ns = round(ping_interval_s * _NS_PER_S)
        self._pong_ns = round(pong_timeout_s * _NS_PER_S)
        self._ack_ns = round(ack_timeout_s * _NS_PER_S)
        thresholds: dict[str, int] = {}
        for channel, seconds in stale_after_s:
            ns = round(seconds * _NS_PER_S)
            thresholds[channel] = min(ns, thresholds.get(channel, ns))
        self._thresholds = thresholds
        shortest = min(ping_interval_s, pong_timeout_s, ack_timeout_s,
                       *(ns / _NS_PER_S for ns in thresholds.values()))
        self.tick_s = min(max(shortest / 4, 0.01), 1.0)
        """How often to call `check` and `ping_due`: a quarter of the shortest limit."""
        self._pings: deque[int] = deque()
        self._start_ns = self._acks_since_ns = self._next_ping_ns = 0
        self._ack_resends = 0

    def threshold_s(self, channel: str) -> float | None:
        """The staleness threshold of `channel`, None when it is not watched."""
        ns = self._thresholds.get(channel)
        return None if ns is None else ns / _NS_PER_S

    def start(self, now_ns: int) -> None:
        """A connection opened at `now_ns`: forget pings, start the staleness clocks."""
        self._pings.clear()
        self._start_ns = self._acks_since_ns = now_ns
        self._next_ping_ns = now_ns + self._interval_ns
        self._ack_resends = 0

    def resend_acks(self, now_ns: int, all_acknowledged: bool) -> bool:
        """True when unacknowledged subscriptions should be sent again now (counted)."""
        if all_acknowledged or now_ns - self._acks_since_ns <= self._ack_ns:
            return False
        if self._ack_resends >= MAX_ACK_RESENDS:
            return False  # `check` ends the connection instead
        self._ack_resends += 1
        self._acks_since_ns = now_ns
        return True

    def ping_due(self, now_ns: int) -> bool:
        """True when a ping should go out now (it is then counted as sent)."""
        if now_ns < self._next_ping_ns:
            return False
        self._pings.append(now_ns)
        self._next_ping_ns = now_ns + self._interval_ns
        return True

    def on_pong(self, now_ns: int) -> int | None:
        """A pong arrived: the round trip of the oldest unanswered ping, in ns."""
        return now_ns - self._pings.popleft() if self._pings else None

    def check(self, now_ns: int, last_frame_ns: Callable[[str], int | None],
              all_acknowledged: bool = True) -> Problem | None:
        """Whether the connection must end now.

        Args:
            now_ns: the current monotonic time.
            last_frame_ns: the time of a channel's last frame (None if none yet).
            all_acknowledged: every subscription was acknowledged.
        """
        if self._pings and now_ns - self._pings[0] > self._pong_ns:
            return Problem(f"no pong within {self._pong_ns / _NS_PER_S:g} s")
        if (not all_acknowledged and self._ack_resends >= MAX_ACK_RESENDS
                and now_ns - self._acks_since_ns > self._ack_ns):
            return Problem(f"subscriptions not acknowledged after {MAX_ACK_RESENDS} resends")
        for channel, threshold_ns in self._thresholds.items():
            age_ns = now_ns - max(last_frame_ns(channel) or 0, self._start_ns)
            if age_ns > threshold_ns:
                age_s = age_ns / _NS_PER_S
                return Problem(f"{channel} stale ({age_s:.1f} s without a frame)",
                               FeedStale(channel, age_s, threshold_ns / _NS_PER_S))
        return None
