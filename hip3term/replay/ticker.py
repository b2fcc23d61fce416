"""The replay's ticks: the engine's and the executor's, as one `VirtualTimeLoop` ticker.

The live node runs two timer tasks, ten times a second each; a replay's loop runs
`ReplayTicker.tick` itself at the same instants (`VirtualTimeLoop.set_ticker`) and asks
the ticker, after each tick and after each recorded frame, until when the ticks to come
would do nothing (`idle_until`, `still_idle_until`): those it skips. Compiled with the rest
of the per-frame path (`hip3term._native`): it runs once per frame or tick.
"""

from __future__ import annotations

import logging

from hip3term.execution.executor import ExecutorLoop
from hip3term.replay.venue import VenueCounters
from hip3term.runtime.engine import Engine

__all__ = ["ReplayTicker"]

_log = logging.getLogger("hip3term.replay")


class ReplayTicker:
    """The engine's and the executor's ticks of a replay.

    Args:
        engine: the replay's engine.
        executor: its executor loop (None when observing).
        counters: the venue's counters (a failed engine tick counts as an error).

    No tick is skipped when the engine says none is idle (`Engine.skip_idle_ticks` False).
    """

    def __init__(self, engine: Engine, executor: ExecutorLoop | None,
                 counters: VenueCounters) -> None:  # fmt: skip
        self.engine, self.executor, self.counters = engine, executor, counters

    def tick(self) -> None:
        """The engine's tick, then the executor's (what the engine's tick queued goes out
        in the same instant)."""
        try:
            self.engine.on_tick()
        except Exception:  # as the live node: a bug is logged, the next tick comes
            self.counters.errors += 1
            _log.exception("replay: engine tick failed")
        if self.executor is not None:
            self.executor.safe_tick()

    def idle_until(self) -> int:
        """Right after a tick: until when the engine's ticks would return at once, as long
        as the executor has nothing queued (0: the next tick runs)."""
        return 0 if self._executor_busy() else self.engine.idle_until_ns

    def still_idle_until(self) -> int:
        """After a frame reached the engine (and scheduled nothing on the loop): the same
        as `idle_until` if that frame changed nothing a tick reads (a book or a quote
        usually does not; an asset context, a fill or an order does), else 0."""
        return 0 if self._executor_busy() else self.engine.still_idle_until_ns()

    def _executor_busy(self) -> bool:
        executor = self.executor
        return executor is not None and not executor.idle
