"""Decimal numbers on the wire: canonical strings, never floats.

Prices and sizes are `Decimal` (or integer ticks) inside hip3term; `to_wire` is the only
way they become the strings that are signed and sent.
"""

from __future__ import annotations

from decimal import Decimal


def to_wire(value: Decimal | int) -> str:
    """Canonical wire string: no exponent, no trailing zeros, no trailing dot, no sign on 0.

    >>> to_wire(Decimal("100.0")), to_wire(Decimal("0.00076")), to_wire(Decimal("1E+3"))
    ('100', '0.00076', '1000')
    """
    if isinstance(value, bool):
        raise TypeError("a bool is not a number on the wire")
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, Decimal):
        raise TypeError(f"wire numbers must be Decimal or int, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{value} cannot be sent on the wire")
    if value.is_zero():
        return "0"
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
