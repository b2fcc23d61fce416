"""Positions: fills and orders -> positions and PnL (pure). Imports core and execution.orders."""

from hip3term.positions.tracker import FillLike, Position, PositionTracker

__all__ = ["FillLike", "Position", "PositionTracker"]
