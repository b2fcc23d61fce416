"""Reconnect delays: exponential backoff with jitter, capped, reset after a healthy period.

The n-th delay after the last reset (n = 0, 1, 2, ...) is drawn from
`ceiling_n * [1 - jitter, 1]`, where `ceiling_n = min(max_s, initial_s * 2 ** n)`.
With `jitter = 1` this is "full jitter" (uniform in `[0, ceiling_n]`), which spreads
clients that lost the same server across the whole window; with `jitter = 0` the delays
are exactly the ceilings. Pure: the random source is injected.
"""

from __future__ import annotations

import math
import random

__all__ = ["Backoff"]

_MAX_EXPONENT = 60  # 2**60 times any sane initial delay is far beyond any cap


class Backoff:
    """Delays between reconnection attempts.

    Args:
        initial_s: the first ceiling (seconds, > 0).
        max_s: the cap of every delay (seconds, >= initial_s).
        jitter: the randomised share of each delay, 0 to 1 (1 = full jitter).
        rng: the random source (a seeded `random.Random` in tests).
    """

    __slots__ = ("_rng", "attempts", "initial_s", "jitter", "max_s")

    def __init__(self, initial_s: float, max_s: float, jitter: float = 1.0,
                 rng: random.Random | None = None) -> None:
        if not (math.isfinite(initial_s) and initial_s > 0):
            raise ValueError(f"initial_s must be a positive number, got {initial_s!r}")
        if not (math.isfinite(max_s) and max_s >= initial_s):
            raise ValueError(f"max_s must be at least initial_s ({initial_s}), got {max_s!r}")
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, got {jitter!r}")
        self.initial_s, self.max_s, self.jitter = initial_s, max_s, jitter
        self._rng = rng or random.Random()  # jitter, not security: no CSPRNG needed
        self.attempts = 0
        """Delays handed out since the last reset."""

    def ceiling(self, attempt: int) -> float:
        """The largest delay of the `attempt`-th retry (0-based) after a reset."""
        return min(self.max_s, self.initial_s * 2.0 ** min(attempt, _MAX_EXPONENT))

    def next_delay(self) -> float:
        """The delay before the next attempt, in seconds; counts the attempt."""
        ceiling = self.ceiling(self.attempts)
        self.attempts += 1
        return ceiling * (1.0 - self.jitter + self.jitter * self._rng.random())

    def reset(self) -> None:
        """Start again from `initial_s` (after a connection stayed healthy long enough)."""
        self.attempts = 0
