"""Market state and features: pure and synchronous; imports only the standard library."""

from hip3term.book.features import Feature, Features, FeatureSettings
from hip3term.book.market_state import AssetContext, MarketState

__all__ = ["AssetContext", "Feature", "FeatureSettings", "Features", "MarketState"]
