"""Decimal numbers on the wire and Hyperliquid's price/size rules; never floats.

Prices and sizes are `Decimal` (or integer ticks) inside hip3term; `to_wire` is the only
way they become the strings that are signed and sent. Every function here refuses `float`
(and `bool`) with `TypeError`, so a float cannot sneak into a price by accident.

The exchange's rules (PROTOCOL.md §5), for perps (`max_decimals` 6; spot uses 8):

- a price is valid when it is an integer, or when it has at most 5 significant figures
  and at most `max_decimals - szDecimals` decimals;
- a size is a multiple of `10**-szDecimals`.

In each decade `[10**k, 10**(k+1))` the valid prices are therefore exactly the multiples
of one step, the *tick* of that decade: `10**(k-4)` (5 significant figures) or
`10**-(max_decimals - szDecimals)` (decimals), whichever is larger, but never more than 1
because integers are always valid (from 10000 up the tick is 1). At a power of ten the
tick changes: `price_tick(Decimal(100), 3)` is the spacing above 100 (0.01), while the
valid price just below 100 is 99.999 (spacing 0.001).

Rounding is exact decimal arithmetic in a context wide enough for the operands, so it is
never affected by the thread's current `decimal` context.
"""

from __future__ import annotations

import enum
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal

__all__ = [
    "PERP_MAX_DECIMALS",
    "PRICE_SIG_FIGS",
    "SPOT_MAX_DECIMALS",
    "RoundMode",
    "from_ticks",
    "is_valid_price",
    "parse_decimal",
    "price_decimals",
    "price_tick",
    "round_price",
    "round_price_for_side",
    "round_size",
    "size_step",
    "to_ticks",
    "to_wire",
]

PERP_MAX_DECIMALS = 6
"""Price decimals allowed for perps (validator and HIP-3) before subtracting szDecimals."""

SPOT_MAX_DECIMALS = 8
"""Price decimals allowed for spot before subtracting szDecimals."""

PRICE_SIG_FIGS = 5
"""Significant figures allowed in a non-integer price."""

# Plain decimal notation only: an optional minus, digits, an optional fraction.
_PLAIN_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


class RoundMode(enum.Enum):
    """Which valid price `round_price` picks."""

    UP = "up"
    """The smallest valid price at or above the input."""
    DOWN = "down"
    """The largest valid price at or below the input."""
    NEAREST = "nearest"
    """The closer of UP and DOWN; an exact tie goes UP."""


def to_wire(value: Decimal | int) -> str:
    """Canonical wire string: no exponent, no trailing zeros, no trailing dot, no sign on 0.

    Exact for any finite Decimal, whatever its number of digits.

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
    # Strip trailing zeros from the digit tuple by hand: Decimal.normalize() would round
    # to the context precision (28 digits by default) and change long values silently.
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    kept = len(digits)
    while digits[kept - 1] == 0:
        kept -= 1
    exponent += len(digits) - kept
    text = format(Decimal((sign, digits[:kept], exponent)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def parse_decimal(text: str) -> Decimal:
    """Parse a number written in plain decimal notation, as the exchange writes them.

    Accepts `"190.12"`, `"-0.5"`, `"100"`, `"0.0"`. Refuses NaN, infinities, exponents
    (`"1e-5"`), signs other than a leading minus, whitespace and anything else.

    Raises:
        TypeError: `text` is not a `str` (a float is refused, not converted).
        ValueError: `text` is not a plain decimal number.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_decimal takes a str, not {type(text).__name__}")
    if _PLAIN_DECIMAL.fullmatch(text) is None:
        raise ValueError(
            f"{text!r} is not a plain decimal number (digits with an optional leading '-' "
            "and one '.'; no exponent, NaN, infinity or spaces)"
        )
    return Decimal(text)


def price_decimals(sz_decimals: int, max_decimals: int = PERP_MAX_DECIMALS) -> int:
    """The most decimals a price may have: `max_decimals - sz_decimals`, at least 0."""
    _check_decimals(sz_decimals, max_decimals)
    return max(max_decimals - sz_decimals, 0)


def size_step(sz_decimals: int) -> Decimal:
    """The lot size `10**-sz_decimals`, e.g. `Decimal("0.001")` for szDecimals 3."""
    _check_decimals(sz_decimals, PERP_MAX_DECIMALS)
    return _pow10(-sz_decimals)


def is_valid_price(
    px: Decimal | int, sz_decimals: int, max_decimals: int = PERP_MAX_DECIMALS
) -> bool:
    """Whether the exchange accepts `px` as an order price.

    True for positive integers, and for positive prices with at most 5 significant
    figures and at most `max_decimals - sz_decimals` decimals.

    >>> is_valid_price(Decimal("1234.5"), 0), is_valid_price(Decimal("1234.56"), 0)
    (True, False)

    Raises:
        TypeError: `px` is a float (or anything but Decimal/int).
        ValueError: `px` is NaN or infinite, or the decimals are negative.
    """
    value = _require_number(px, "price")
    _check_decimals(sz_decimals, max_decimals)
    if value <= 0:
        return False
    return _last_digit_exponent(value) >= _tick_exponent(value, sz_decimals, max_decimals)


def price_tick(
    px: Decimal | int, sz_decimals: int, max_decimals: int = PERP_MAX_DECIMALS
) -> Decimal:
    """The spacing of valid prices in the decade of `px` (a power of ten, at most 1).

    At a power of ten this is the spacing *above* it (see the module docstring). Below
    the smallest valid price (`10**-price_decimals`) it is that smallest price.

    >>> price_tick(Decimal("190.3"), 3), price_tick(117365, 5)
    (Decimal('0.01'), Decimal('1'))

    Raises:
        TypeError: `px` is a float.
        ValueError: `px` is not a positive finite number.
    """
    value = _require_positive(px, "price")
    _check_decimals(sz_decimals, max_decimals)
    return _pow10(_tick_exponent(value, sz_decimals, max_decimals))


def round_price(
    px: Decimal | int,
    sz_decimals: int,
    mode: RoundMode,
    max_decimals: int = PERP_MAX_DECIMALS,
) -> Decimal:
    """Round `px` to a valid price in the direction `mode` asks.

    A valid price comes back unchanged (as a Decimal). Otherwise the result is less than
    one tick from `px`. UP always exists; DOWN (and NEAREST, which falls back to UP)
    needs a valid price at or below `px`.

    >>> round_price(Decimal("190.123"), 3, RoundMode.DOWN)
    Decimal('190.12')

    Raises:
        TypeError: `px` is a float, or `mode` is not a RoundMode.
        ValueError: `px` is not positive and finite, or DOWN has no valid price at or
            below `px` (it is under the smallest valid price `10**-price_decimals`).
    """
    value = _require_positive(px, "price")
    _check_decimals(sz_decimals, max_decimals)
    if not isinstance(mode, RoundMode):
        raise TypeError(f"mode must be a RoundMode, not {type(mode).__name__}")
    exponent = _tick_exponent(value, sz_decimals, max_decimals)
    up = _quantize(value, exponent, ROUND_CEILING)
    down = _quantize(value, exponent, ROUND_FLOOR)
    if mode is RoundMode.UP or up == value:
        return up
    if down <= 0:
        if mode is RoundMode.NEAREST:
            return up
        smallest = _pow10(-price_decimals(sz_decimals, max_decimals))
        raise ValueError(
            f"no valid price at or below {to_wire(value)}: the smallest valid price with "
            f"szDecimals {sz_decimals} is {to_wire(smallest)}"
        )
    if mode is RoundMode.DOWN:
        return down
    return up if up - value <= value - down else down


def round_price_for_side(
    px: Decimal | int,
    *,
    is_buy: bool,
    aggressive: bool,
    sz_decimals: int,
    max_decimals: int = PERP_MAX_DECIMALS,
) -> Decimal:
    """Round an order price toward or away from the market, as the order needs.

    Aggressive orders (takers, IOC, flattening) round so they cross at least as far as
    asked: a buy rounds UP, a sell DOWN. Passive orders (quotes, ALO) round so they never
    cross further than asked: a buy rounds DOWN, a sell UP.

    Raises:
        TypeError: `px` is a float.
        ValueError: as `round_price`.
    """
    mode = RoundMode.UP if is_buy == aggressive else RoundMode.DOWN
    return round_price(px, sz_decimals, mode, max_decimals)


def round_size(sz: Decimal | int, sz_decimals: int, *, reduce_only: bool = False) -> Decimal:
    """Round a positive size to a multiple of the lot `10**-sz_decimals`.

    Normal orders round to the nearest lot (half up). Reduce-only orders truncate toward
    zero, so a close never asks for more than the position (PROTOCOL.md §9 pitfall 15).
    A positive size is never rounded to 0 silently: that raises.

    Raises:
        TypeError: `sz` is a float.
        ValueError: `sz` is not positive and finite, or it rounds to 0 (it is smaller
            than one lot, or than half a lot for normal orders).
    """
    value = _require_positive(sz, "size")
    _check_decimals(sz_decimals, PERP_MAX_DECIMALS)
    rounding = ROUND_FLOOR if reduce_only else ROUND_HALF_UP
    rounded = _quantize(value, -sz_decimals, rounding)
    if rounded.is_zero():
        how = "truncated (reduce-only)" if reduce_only else "rounded to the nearest lot"
        raise ValueError(
            f"size {to_wire(value)} {how} is 0: the lot size with szDecimals "
            f"{sz_decimals} is {to_wire(_pow10(-sz_decimals))}"
        )
    return rounded


def to_ticks(value: Decimal | int, decimals: int) -> int:
    """`value` as an exact integer count of `10**-decimals` ticks.

    >>> to_ticks(Decimal("190.12"), 2)
    19012

    Raises:
        TypeError: `value` is a float.
        ValueError: `value` is not finite or not a multiple of `10**-decimals`.
    """
    number = _require_number(value, "value")
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise TypeError("decimals must be an int")
    if number.is_zero():
        return 0
    if _last_digit_exponent(number) < -decimals:
        raise ValueError(f"{to_wire(number)} is not a multiple of {to_wire(_pow10(-decimals))}")
    return int(number.scaleb(decimals, _context_for(number, decimals)))


def from_ticks(ticks: int, decimals: int) -> Decimal:
    """The Decimal worth `ticks` ticks of `10**-decimals` (exact).

    >>> from_ticks(19012, 2)
    Decimal('190.12')
    """
    if isinstance(ticks, bool) or not isinstance(ticks, int):
        raise TypeError(f"ticks must be an int, not {type(ticks).__name__}")
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise TypeError("decimals must be an int")
    return Decimal(ticks).scaleb(-decimals, Context(prec=len(str(abs(ticks))) + 2))


# --- private helpers -----------------------------------------------------------------


def _require_number(value: object, what: str) -> Decimal:
    # bool is an int subclass, and True is not a price.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{what} must be Decimal or int, not {type(value).__name__}")
    number = Decimal(value) if isinstance(value, int) else value
    if not number.is_finite():
        raise ValueError(f"{what} must be finite, got {number}")
    return number


def _require_positive(value: object, what: str) -> Decimal:
    number = _require_number(value, what)
    if number <= 0:
        raise ValueError(f"{what} must be positive, got {to_wire(number)}")
    return number


def _check_decimals(sz_decimals: int, max_decimals: int) -> None:
    for name, number in (("sz_decimals", sz_decimals), ("max_decimals", max_decimals)):
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"{name} must be an int, not {type(number).__name__}")
        if number < 0:
            raise ValueError(f"{name} must be >= 0, got {number}")


def _tick_exponent(px: Decimal, sz_decimals: int, max_decimals: int) -> int:
    # px > 0. adjusted() is the exponent of the leading digit, floor(log10(px)).
    sig_fig_exponent = px.adjusted() - (PRICE_SIG_FIGS - 1)
    decimals_exponent = -max(max_decimals - sz_decimals, 0)
    return min(0, max(sig_fig_exponent, decimals_exponent))


def _last_digit_exponent(value: Decimal) -> int:
    # The exponent of the last non-zero digit of a non-zero finite Decimal, exactly.
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    count = 0
    for digit in reversed(digits):
        if digit != 0:
            break
        count += 1
    return exponent + count


def _pow10(exponent: int) -> Decimal:
    return Decimal((0, (1,), exponent))


def _context_for(value: Decimal, exponent: int) -> Context:
    # Wide enough that quantizing or scaling `value` at `exponent` is exact.
    _, digits, value_exponent = value.as_tuple()
    assert isinstance(value_exponent, int)
    return Context(prec=len(digits) + abs(value_exponent) + abs(exponent) + 2)


def _quantize(value: Decimal, exponent: int, rounding: str) -> Decimal:
    return value.quantize(_pow10(exponent), rounding, _context_for(value, exponent))
