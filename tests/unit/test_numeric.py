"""Price/size rules and wire strings of hip3term.core.numeric.

The expected values come from PROTOCOL.md §4.5 and §5. The properties compare the module
with a reference written straight from the §5 wording (count the decimals and the
significant figures of the plain decimal string) and with a brute-force rounding over every
allowed number of decimals, so they do not check the code against itself.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.core.numeric import (
    RoundMode,
    from_ticks,
    is_valid_price,
    parse_decimal,
    price_tick,
    round_price,
    round_price_for_side,
    round_size,
    to_ticks,
    to_wire,
)

WIDE = Context(prec=80)
PROPERTY = settings(max_examples=400, deadline=None)

# --- the reference, from the words of PROTOCOL.md §5 -----------------------------------


def spec_valid(px: Decimal, sz_decimals: int, max_decimals: int = 6) -> bool:
    """Integers always; otherwise <= 5 significant figures and <= 6 - szDecimals decimals."""
    if px <= 0:
        return False
    whole, _, fraction = format(px, "f").partition(".")
    fraction = fraction.rstrip("0")
    if not fraction:
        return True
    significant = (whole + fraction).lstrip("0")
    return len(fraction) <= max(max_decimals - sz_decimals, 0) and len(significant) <= 5


def _candidates(px: Decimal, sz_decimals: int, rounding: str) -> list[Decimal]:
    allowed = max(6 - sz_decimals, 0)
    found = []
    for decimals in range(allowed + 1):
        candidate = px.quantize(Decimal(1).scaleb(-decimals), rounding, WIDE)
        if spec_valid(candidate, sz_decimals):
            found.append(candidate)
    return found


def ref_up(px: Decimal, sz_decimals: int) -> Decimal:
    return min(_candidates(px, sz_decimals, ROUND_CEILING))


def ref_down(px: Decimal, sz_decimals: int) -> Decimal | None:
    found = _candidates(px, sz_decimals, ROUND_FLOOR)
    return max(found) if found else None


# --- strategies ------------------------------------------------------------------------

LOW, HIGH = Decimal("0.000001"), Decimal("10000000")


def _scaled(mantissa: int, exponent: int) -> Decimal:
    return Decimal(mantissa).scaleb(exponent, WIDE)


def _near_power_of_ten(k: int, offset: Decimal) -> Decimal:
    return WIDE.add(Decimal(1).scaleb(k), offset)


prices = st.one_of(
    st.decimals(min_value=LOW, max_value=HIGH, allow_nan=False, allow_infinity=False),
    st.builds(_scaled, st.integers(1, 10**12), st.integers(-18, 0)),
    st.builds(
        _near_power_of_ten,
        st.integers(-5, 6),
        st.sampled_from([Decimal(0), Decimal("1e-9"), Decimal("-1e-9"), Decimal("5e-7")]),
    ),
).filter(lambda px: LOW <= px <= HIGH)
sz_decimals_st = st.integers(0, 5)
modes = st.sampled_from(list(RoundMode))


def _min_valid(sz_decimals: int) -> Decimal:
    return Decimal(1).scaleb(-max(6 - sz_decimals, 0))


# --- PROTOCOL.md §5 examples -----------------------------------------------------------


@pytest.mark.parametrize(
    ("px", "sz_decimals", "valid"),
    [
        ("1234.5", 0, True),
        ("1234.56", 0, False),
        ("0.001234", 0, True),
        ("0.0012345", 0, False),
        ("0.01234", 1, True),
        ("0.012345", 1, False),
        ("117365.5", 5, False),  # BTC, pitfall 3
        ("117365", 5, True),
    ],
)
def test_is_valid_price_protocol_examples(px: str, sz_decimals: int, valid: bool) -> None:
    assert is_valid_price(Decimal(px), sz_decimals) is valid


@pytest.mark.parametrize("sz_decimals", range(6))
def test_is_valid_price_integers_always_valid_but_not_six_figure_fractions(
    sz_decimals: int,
) -> None:
    assert is_valid_price(Decimal(123456), sz_decimals)
    assert is_valid_price(123456, sz_decimals)
    assert not is_valid_price(Decimal("12345.6"), sz_decimals)


@pytest.mark.parametrize("px", ["0", "-1", "-190.12"])
def test_is_valid_price_non_positive_is_invalid(px: str) -> None:
    assert not is_valid_price(Decimal(px), 0)


def test_is_valid_price_spot_allows_eight_minus_sz_decimals() -> None:
    assert is_valid_price(Decimal("0.00001234"), 0, max_decimals=8)
    assert not is_valid_price(Decimal("0.00001234"), 0)


def test_price_tick_coin_near_190_is_one_cent() -> None:
    # DESIGN.md §4 / data README: xyz:COIN, szDecimals 3, price near 190, tick 0.01.
    assert price_tick(Decimal("190.37"), 3) == Decimal("0.01")


def test_price_tick_above_ten_thousand_is_one() -> None:
    assert price_tick(117365, 5) == 1
    assert price_tick(Decimal("99999.5"), 0) == 1
    assert price_tick(Decimal(10_000_000), 0) == 1


def test_price_tick_at_power_of_ten_is_the_spacing_above() -> None:
    assert price_tick(Decimal(100), 3) == Decimal("0.01")
    assert price_tick(Decimal("99.99"), 3) == Decimal("0.001")
    assert is_valid_price(Decimal("99.999"), 3)
    assert not is_valid_price(Decimal("100.001"), 3)


def test_round_price_for_side_directions() -> None:
    px = Decimal("190.123")
    assert round_price_for_side(px, is_buy=True, aggressive=True, sz_decimals=3) == Decimal(
        "190.13"
    )
    assert round_price_for_side(px, is_buy=True, aggressive=False, sz_decimals=3) == Decimal(
        "190.12"
    )
    assert round_price_for_side(px, is_buy=False, aggressive=True, sz_decimals=3) == Decimal(
        "190.12"
    )
    assert round_price_for_side(px, is_buy=False, aggressive=False, sz_decimals=3) == Decimal(
        "190.13"
    )


def test_round_price_btc_half_dollar_rounds_to_integers() -> None:
    px = Decimal("117365.5")
    assert round_price(px, 5, RoundMode.DOWN) == 117365
    assert round_price(px, 5, RoundMode.UP) == 117366
    assert round_price(px, 5, RoundMode.NEAREST) == 117366  # a tie goes up


def test_round_price_below_smallest_valid_price() -> None:
    # szDecimals 5: one decimal allowed, so nothing valid lies under 0.1.
    assert round_price(Decimal("0.05"), 5, RoundMode.UP) == Decimal("0.1")
    assert round_price(Decimal("0.05"), 5, RoundMode.NEAREST) == Decimal("0.1")
    with pytest.raises(ValueError, match=r"smallest valid price .* is 0\.1"):
        round_price(Decimal("0.05"), 5, RoundMode.DOWN)


@pytest.mark.parametrize("px", ["0", "-1", "NaN", "Infinity"])
def test_round_price_refuses_non_positive_or_non_finite(px: str) -> None:
    with pytest.raises(ValueError):
        round_price(Decimal(px), 0, RoundMode.UP)


def test_round_price_refuses_a_mode_that_is_not_round_mode() -> None:
    with pytest.raises(TypeError):
        round_price(Decimal(1), 0, "up")  # type: ignore[arg-type]  # reason: the point


# --- sizes -----------------------------------------------------------------------------


def test_round_size_normal_orders_round_to_nearest_lot() -> None:
    assert round_size(Decimal("1.2344"), 3) == Decimal("1.234")
    assert round_size(Decimal("1.2346"), 3) == Decimal("1.235")
    assert round_size(Decimal("1.2345"), 3) == Decimal("1.235")  # half up
    assert round_size(Decimal("2.6"), 0) == 3


def test_round_size_reduce_only_truncates() -> None:
    assert round_size(Decimal("1.2349"), 3, reduce_only=True) == Decimal("1.234")
    assert round_size(Decimal("2.99"), 0, reduce_only=True) == 2
    assert round_size(Decimal("1.234"), 3, reduce_only=True) == Decimal("1.234")


@pytest.mark.parametrize(("sz", "reduce_only"), [("0.0004", False), ("0.0009", True)])
def test_round_size_refuses_to_round_a_positive_size_to_zero(sz: str, reduce_only: bool) -> None:
    with pytest.raises(ValueError, match=r"is 0: the lot size .* is 0\.001"):
        round_size(Decimal(sz), 3, reduce_only=reduce_only)


@pytest.mark.parametrize("sz", ["0", "-1", "NaN"])
def test_round_size_refuses_non_positive(sz: str) -> None:
    with pytest.raises(ValueError):
        round_size(Decimal(sz), 3)


# --- wire strings (PROTOCOL.md §4.5) ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (Decimal("100.0"), "100"),
        (Decimal("1670.1"), "1670.1"),
        (Decimal("0.00076"), "0.00076"),
        (Decimal("987654321.0"), "987654321"),
        (Decimal("-0.0"), "0"),  # Rust's answer; Python's "-0" is a bug (§4.5)
        (Decimal("1E+3"), "1000"),
        (Decimal("4.3370"), "4.337"),  # the trailing zero that broke signatures
        (100, "100"),
    ],
)
def test_to_wire_protocol_examples(value: Decimal | int, wire: str) -> None:
    assert to_wire(value) == wire


def test_to_wire_is_exact_beyond_the_default_context_precision() -> None:
    text = "1234567890123456789012345678901.5"
    assert to_wire(Decimal(text)) == text
    assert to_wire(Decimal("0.1000000000000000000000000000001")) == (
        "0.1000000000000000000000000000001"
    )


# --- parse_decimal ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["190.12", "-0.5", "100", "0.0", "0", ".5", "5."])
def test_parse_decimal_accepts_plain_decimals(text: str) -> None:
    assert parse_decimal(text) == Decimal(text)


@pytest.mark.parametrize(
    "text",
    ["NaN", "nan", "sNaN", "inf", "Infinity", "-Infinity", "1e5", "1E-3", " 1", "1 ", "+1", "",
     "abc", "1.2.3", "0x10", "1_000", "-", ".", "\u0661"],
)  # fmt: skip
def test_parse_decimal_refuses_everything_else(text: str) -> None:
    with pytest.raises(ValueError, match="plain decimal"):
        parse_decimal(text)


# --- floats never get in ---------------------------------------------------------------

FLOAT_CALLS: list[tuple[str, Callable[[], Any]]] = [
    ("to_wire", lambda: to_wire(1.5)),  # type: ignore[arg-type]
    ("parse_decimal", lambda: parse_decimal(1.5)),  # type: ignore[arg-type]
    ("is_valid_price", lambda: is_valid_price(1.5, 0)),  # type: ignore[arg-type]
    ("price_tick", lambda: price_tick(1.5, 0)),  # type: ignore[arg-type]
    ("round_price", lambda: round_price(1.5, 0, RoundMode.UP)),  # type: ignore[arg-type]
    (
        "round_price_for_side",
        lambda: round_price_for_side(1.5, is_buy=True, aggressive=True, sz_decimals=0),  # type: ignore[arg-type]
    ),
    ("round_size", lambda: round_size(1.5, 1)),  # type: ignore[arg-type]
    ("to_ticks", lambda: to_ticks(1.5, 1)),  # type: ignore[arg-type]
    ("round_size bool", lambda: round_size(True, 0)),
    ("to_wire bool", lambda: to_wire(True)),
    ("is_valid_price float szDecimals", lambda: is_valid_price(Decimal(1), 1.0)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("name", "call"), FLOAT_CALLS, ids=[name for name, _ in FLOAT_CALLS])
def test_floats_and_bools_are_refused(name: str, call: Callable[[], Any]) -> None:
    with pytest.raises(TypeError):
        call()


# --- integer ticks ---------------------------------------------------------------------


def test_ticks_round_trip() -> None:
    assert to_ticks(Decimal("190.12"), 2) == 19012
    assert to_ticks(Decimal("190.1200"), 2) == 19012
    assert from_ticks(19012, 2) == Decimal("190.12")
    assert to_ticks(7, 3) == 7000
    with pytest.raises(ValueError, match=r"not a multiple of 0\.01"):
        to_ticks(Decimal("190.123"), 2)


# --- properties ------------------------------------------------------------------------


@PROPERTY
@given(px=prices, sz_decimals=sz_decimals_st)
def test_property_is_valid_price_matches_the_rule_text(px: Decimal, sz_decimals: int) -> None:
    assert is_valid_price(px, sz_decimals) == spec_valid(px, sz_decimals)


@PROPERTY
@given(px=prices, sz_decimals=sz_decimals_st, mode=modes)
def test_property_every_rounded_price_obeys_the_rules(
    px: Decimal, sz_decimals: int, mode: RoundMode
) -> None:
    if mode is RoundMode.DOWN and ref_down(px, sz_decimals) is None:
        with pytest.raises(ValueError):
            round_price(px, sz_decimals, mode)
        return
    rounded = round_price(px, sz_decimals, mode)
    assert spec_valid(rounded, sz_decimals)
    assert is_valid_price(rounded, sz_decimals)


@PROPERTY
@given(px=prices, sz_decimals=sz_decimals_st)
def test_property_up_and_down_are_the_nearest_valid_prices_on_their_side(
    px: Decimal, sz_decimals: int
) -> None:
    up = round_price(px, sz_decimals, RoundMode.UP)
    assert up >= px
    assert up == ref_up(px, sz_decimals)
    down = ref_down(px, sz_decimals)
    if down is not None:
        assert round_price(px, sz_decimals, RoundMode.DOWN) == down
        assert down <= px


@PROPERTY
@given(px=prices, sz_decimals=sz_decimals_st)
def test_property_nearest_moves_at_most_half_a_tick(px: Decimal, sz_decimals: int) -> None:
    nearest = round_price(px, sz_decimals, RoundMode.NEAREST)
    if px < _min_valid(sz_decimals):
        assert nearest == _min_valid(sz_decimals)  # nothing valid below: the only choice
        return
    with localcontext(prec=200):  # exact: hypothesis draws 60-digit prices
        assert abs(nearest - px) * 2 <= price_tick(px, sz_decimals)
    assert nearest in (ref_up(px, sz_decimals), ref_down(px, sz_decimals))


@PROPERTY
@given(px=prices, sz_decimals=sz_decimals_st, mode=modes)
def test_property_rounding_moves_less_than_a_tick_of_the_result(
    px: Decimal, sz_decimals: int, mode: RoundMode
) -> None:
    if mode is RoundMode.DOWN and px < _min_valid(sz_decimals):
        return  # no result to measure; the raise is checked above
    rounded = round_price(px, sz_decimals, mode)
    with localcontext(prec=200):  # exact: hypothesis draws 60-digit prices
        assert abs(rounded - px) < price_tick(rounded, sz_decimals)


@PROPERTY
@given(px=prices, sz_decimals=sz_decimals_st, mode=modes)
def test_property_valid_prices_are_unchanged(
    px: Decimal, sz_decimals: int, mode: RoundMode
) -> None:
    valid = ref_up(px, sz_decimals)
    assert round_price(valid, sz_decimals, mode) == valid


@PROPERTY
@given(px=prices, sz_decimals=sz_decimals_st)
def test_property_price_tick_is_the_gap_to_the_next_valid_price(
    px: Decimal, sz_decimals: int
) -> None:
    valid = ref_up(px, sz_decimals)
    finest = Decimal(1).scaleb(-max(6 - sz_decimals, 0))
    next_valid = ref_up(valid + finest, sz_decimals)
    assert price_tick(valid, sz_decimals) == next_valid - valid


@PROPERTY
@given(px=prices, sz_decimals=sz_decimals_st, is_buy=st.booleans(), aggressive=st.booleans())
def test_property_side_rounding_never_goes_the_wrong_way(
    px: Decimal, sz_decimals: int, is_buy: bool, aggressive: bool
) -> None:
    rounds_up = is_buy == aggressive  # aggressive buys and passive sells
    if not rounds_up and px < _min_valid(sz_decimals):
        return
    rounded = round_price_for_side(
        px, is_buy=is_buy, aggressive=aggressive, sz_decimals=sz_decimals
    )
    assert rounded >= px if rounds_up else rounded <= px


@PROPERTY
@given(
    sz=st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**6), allow_nan=False),
    sz_decimals=sz_decimals_st,
)
def test_property_sizes_are_whole_lots_and_reduce_only_never_grows(
    sz: Decimal, sz_decimals: int
) -> None:
    step = Decimal(1).scaleb(-sz_decimals)
    if sz >= step:
        truncated = round_size(sz, sz_decimals, reduce_only=True)
        with localcontext(prec=200):  # exact: hypothesis draws 50-digit sizes
            assert sz - step < truncated <= sz
            assert truncated % step == 0
    if sz * 2 >= step:
        nearest = round_size(sz, sz_decimals)
        with localcontext(prec=200):
            assert abs(nearest - sz) * 2 <= step
            assert nearest % step == 0


wire_decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.builds(_scaled, st.integers(-(10**40), 10**40), st.integers(-40, 40)),
)


@PROPERTY
@given(value=wire_decimals)
def test_property_to_wire_is_canonical_and_exact(value: Decimal) -> None:
    wire = to_wire(value)
    assert Decimal(wire) == value
    assert "e" not in wire.lower()
    assert not wire.startswith("+")
    assert wire != "-0"
    if "." in wire:
        assert not wire.endswith("0")
        assert not wire.endswith(".")
