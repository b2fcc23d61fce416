"""Noticing that the engine's belief misses a fill, so that the exchange's truth is fetched.

The position tracker learns fills from `userFills` frames. A frame lost in transit (cut,
unreadable) leaves the belief wrong until a later fill shows it (its `startPosition`) or
the next reconcile. `FillGapWatch` notices sooner, from three signs:

- an order the exchange reported (post answer, orderUpdates) as filled for more than the
  fills applied to it, still so `FILL_WAIT_MS` later (the fill frame is not coming);
- a reduce-only order refused because it "would increase position" (we believe a position
  the exchange does not have);
- a correction the tracker made from a fill's `startPosition` (it revealed a missed fill).

Pure and synchronous; the engine asks `due(now_ms)` on every tick and then calls its
`on_fill_gap` hook (the node reconciles and reads the missed fills back for the journal).
"""

from __future__ import annotations

from hip3term.core.events import OrderState, OrderStateChanged, PositionCorrected
from hip3term.positions.tracker import PositionTracker

__all__ = ["FILL_WAIT_MS", "FillGapWatch"]

FILL_WAIT_MS = 2_000
"""How long fills reported by an order's status may take to arrive as frames."""

_WRONG_SIDE = ("increase position", "reduceOnlyRejected")


class FillGapWatch:
    """Collects the signs of a missed fill (see the module docstring)."""

    def __init__(self, tracker: PositionTracker) -> None:
        """Watch the orders of `tracker`."""
        self._tracker = tracker
        self._waiting: dict[str, int] = {}  # cloid -> when its fills were first missing
        self._gap = False
        self.gaps = 0

    def on_event(self, event: object, now_ms: int) -> None:
        """Look at one engine event."""
        if isinstance(event, PositionCorrected):
            self._gap = self._gap or (event.source == "fill" and event.believed_size is not None)
        elif isinstance(event, OrderStateChanged) and event.cloid is not None:
            if event.state is OrderState.REJECTED and any(w in event.status for w in _WRONG_SIDE):
                self._gap = True
            elif event.filled_sz > 0:
                self._waiting.setdefault(event.cloid, now_ms)

    @property
    def idle(self) -> bool:
        """Nothing watched and no gap seen: `due` would say False until an event."""
        return not self._waiting and not self._gap

    def due(self, now_ms: int) -> bool:
        """Whether a gap was seen since the last call (the watch is then reset)."""
        for cloid, since in list(self._waiting.items()) if self._waiting else ():
            order = self._tracker.order(cloid=cloid)
            if order is None or order.applied_sz >= order.filled_sz:
                del self._waiting[cloid]
            elif now_ms - since > FILL_WAIT_MS:
                del self._waiting[cloid]
                self._gap = True
        gap, self._gap = self._gap, False
        self.gaps += gap
        return gap
