"""Hyperliquid's wire language: market rules, signing, actions and frame parsing."""
