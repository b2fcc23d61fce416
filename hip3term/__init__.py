"""hip3term: a terminal trading workstation for Hyperliquid HIP-3 markets.

Nothing is imported eagerly here but `_native`, the check (under a millisecond of hashing)
that decides whether the compiled hot path or its Python source runs: `hip3term --help` and
the headless paths must stay light.
"""

__version__ = "0.1.0"

from hip3term import _native

_native.install()  # compiled hot path or pure Python, decided once (see `_native`)
