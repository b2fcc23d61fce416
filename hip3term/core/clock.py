"""Clocks: one injected source of time for the live process, replay and tests.

Every component that needs the time takes a `Clock` instead of calling `time.time()`.
Live code gets a `LiveClock`; replay, the simulator's tests and every unit test get a
`SimClock` that only moves when told to, so nothing depends on real timing.

Three readings, as the standard library has them:

- `now_ms()` / `now_ns()`: wall-clock time since the unix epoch (exchange timestamps,
  nonces, recordings);
- `monotonic_ns()`: a clock that never goes backwards, for measuring durations and
  timeouts (latency, staleness).

A `SimClock` keeps all three in step: its monotonic reading is its wall reading.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "LiveClock", "SimClock"]

_NS_PER_MS = 1_000_000


@runtime_checkable
class Clock(Protocol):
    """The source of time every component is given."""

    def now_ms(self) -> int:
        """Wall-clock time in unix milliseconds."""
        ...

    def now_ns(self) -> int:
        """Wall-clock time in unix nanoseconds."""
        ...

    def monotonic_ns(self) -> int:
        """A never-decreasing reading in nanoseconds, for durations only."""
        ...


class LiveClock:
    """The machine's clocks (`time.time_ns` and `time.monotonic_ns`)."""

    def now_ms(self) -> int:
        """Wall-clock time in unix milliseconds."""
        return time.time_ns() // _NS_PER_MS

    def now_ns(self) -> int:
        """Wall-clock time in unix nanoseconds."""
        return time.time_ns()

    def monotonic_ns(self) -> int:
        """The system's monotonic clock in nanoseconds."""
        return time.monotonic_ns()

    def __repr__(self) -> str:
        return "LiveClock()"


class SimClock:
    """A clock that moves only when told to, and never backwards.

    Args:
        start_ms: the initial wall-clock time in unix milliseconds (not negative).

    >>> clock = SimClock(1_700_000_000_000)
    >>> clock.advance(250)
    >>> clock.now_ms()
    1700000000250
    """

    def __init__(self, start_ms: int) -> None:
        self._ns = _ms_to_ns(start_ms, "start_ms")

    def now_ms(self) -> int:
        """The simulated wall-clock time in unix milliseconds (rounded down)."""
        return self._ns // _NS_PER_MS

    def now_ns(self) -> int:
        """The simulated wall-clock time in unix nanoseconds."""
        return self._ns

    def monotonic_ns(self) -> int:
        """The same reading as `now_ns`: a simulated clock has only one timeline."""
        return self._ns

    def advance(self, ms: int) -> None:
        """Move the clock forward by `ms` milliseconds.

        Raises:
            ValueError: `ms` is negative.
            TypeError: `ms` is not an int.
        """
        self._ns += _ms_to_ns(ms, "ms")

    def advance_ns(self, ns: int) -> None:
        """Move the clock forward by `ns` nanoseconds (for sub-millisecond latencies).

        Raises:
            ValueError: `ns` is negative.
            TypeError: `ns` is not an int.
        """
        if isinstance(ns, bool) or not isinstance(ns, int):
            raise TypeError(f"ns must be an int, not {type(ns).__name__}")
        if ns < 0:
            raise ValueError(f"a SimClock never goes backwards (advance_ns by {ns})")
        self._ns += ns

    def set(self, ms: int) -> None:
        """Jump to the unix time `ms` (milliseconds), which may equal the current one.

        Setting the current millisecond keeps any sub-millisecond part; setting a later
        one lands exactly on it.

        Raises:
            ValueError: `ms` is earlier than the current time.
            TypeError: `ms` is not an int.
        """
        target = _ms_to_ns(ms, "ms")
        if ms < self.now_ms():
            raise ValueError(
                f"a SimClock never goes backwards: set({ms}) is before now ({self.now_ms()})"
            )
        self._ns = max(self._ns, target)

    def __repr__(self) -> str:
        return f"SimClock(now_ns={self._ns})"


def _ms_to_ns(ms: int, name: str) -> int:
    if isinstance(ms, bool) or not isinstance(ms, int):
        raise TypeError(f"{name} must be an int, not {type(ms).__name__}")
    if ms < 0:
        raise ValueError(f"{name} must not be negative, got {ms}")
    return ms * _NS_PER_MS
