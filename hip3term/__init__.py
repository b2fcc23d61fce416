"""hip3term: a terminal trading workstation for Hyperliquid HIP-3 markets.

Nothing is imported eagerly here: `hip3term --help` and the headless paths must stay light.
"""

__version__ = "0.1.0"

from hip3term import _native

_native.install()  # compiled hot path or pure Python, decided once (see `_native`)
