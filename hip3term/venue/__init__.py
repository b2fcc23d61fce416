"""Venues: the Hyperliquid wire language and the embedded exchange simulator."""
