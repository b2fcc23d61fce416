"""Post-only market maker (imports hip3term.strategy, core and book only)."""

from plugins.maker.strategy import Maker, MakerParams, MakerState

STRATEGY = Maker

__all__ = ["STRATEGY", "Maker", "MakerParams", "MakerState"]
