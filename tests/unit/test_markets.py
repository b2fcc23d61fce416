"""Market names, asset ids and order checks of hip3term.venue.hyperliquid.markets.

The directory is built from real exchange responses in tests/fixtures (see ORIGINS.md):
perpDexs and meta(dex="xyz") of 2026-09-24 and the validator meta of 2023-07-17. Expected
ids and facts come from PROTOCOL.md §3.1 (110001 = xyz:TSLA), the data README (xyz:COIN is
110007, szDecimals 3; 124 xyz assets of which 15 delisted; the perpDexs order).
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hip3term.errors import MarketError
from hip3term.venue.hyperliquid.markets import AssetDirectory, MarketInfo, resolve_market_name

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def perp_dexs() -> list[Any]:
    data: list[Any] = _load("info_perpDexs.json")
    return data


@pytest.fixture(scope="module")
def meta_xyz() -> dict[str, Any]:
    data: dict[str, Any] = _load("info_meta_xyz.json")
    return data


@pytest.fixture(scope="module")
def meta_validator() -> dict[str, Any]:
    data: dict[str, Any] = _load("info_meta_validator.json")
    return data


@pytest.fixture(scope="module")
def directory(
    perp_dexs: list[Any], meta_xyz: dict[str, Any], meta_validator: dict[str, Any]
) -> AssetDirectory:
    return AssetDirectory.from_responses(perp_dexs, {"xyz": meta_xyz, "": meta_validator})


@pytest.fixture(scope="module")
def coin(directory: AssetDirectory) -> MarketInfo:
    return directory.resolve("COIN", "xyz")


# --- asset ids from the real responses -------------------------------------------------


def test_xyz_coin_is_asset_110007_with_three_size_decimals(coin: MarketInfo) -> None:
    assert coin.name == "xyz:COIN"
    assert coin.asset_id == 110007
    assert coin.sz_decimals == 3
    assert (coin.dex, coin.dex_index, coin.index) == ("xyz", 1, 7)
    assert coin.max_leverage == 10
    assert coin.margin_mode == "noCross"
    assert coin.only_isolated
    assert not coin.is_delisted
    assert coin.coin == "COIN"


def test_xyz_tsla_is_asset_110001(directory: AssetDirectory) -> None:
    assert directory.lookup("xyz:TSLA").asset_id == 110001
    assert directory.by_asset_id(110001).name == "xyz:TSLA"


def test_validator_btc_resolves_with_empty_dex(directory: AssetDirectory) -> None:
    btc = directory.resolve("BTC", "")
    assert (btc.name, btc.asset_id, btc.dex, btc.dex_index) == ("BTC", 0, "", 0)
    assert btc.sz_decimals == 5
    assert directory.lookup("ETH").asset_id == 1
    assert not btc.only_isolated


def test_dex_indices_follow_perp_dexs_order(directory: AssetDirectory) -> None:
    assert directory.dex_index("") == 0
    assert directory.dex_index("xyz") == 1
    assert directory.dex_index("io") == 10
    assert directory.dexes == ["", "xyz"]


def test_asset_id_follows_the_dex_position_not_a_constant(
    perp_dexs: list[Any], meta_xyz: dict[str, Any]
) -> None:
    shifted = [None, {"name": "abc"}, *perp_dexs[1:]]
    directory = AssetDirectory.from_responses(shifted, {"xyz": meta_xyz})
    assert directory.lookup("xyz:COIN").asset_id == 120007  # 100000 + 2*10000 + 7


def test_markets_lists_the_whole_meta_in_order(directory: AssetDirectory) -> None:
    markets = directory.markets("xyz")
    assert len(markets) == 124
    assert sum(info.is_delisted for info in markets) == 15
    assert markets[0].name == "xyz:XYZ100"
    assert [info.index for info in markets] == list(range(124))


def test_markets_of_a_dex_without_meta_or_unknown(directory: AssetDirectory) -> None:
    with pytest.raises(MarketError, match="meta of dex 'flx' was not loaded"):
        directory.markets("flx")
    with pytest.raises(MarketError, match="unknown dex 'nope'"):
        directory.markets("nope")


def test_by_asset_id_unknown(directory: AssetDirectory) -> None:
    with pytest.raises(MarketError, match="asset id 129999"):
        directory.by_asset_id(129999)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("xyz:coin", "xyz:COIN"), ("xyz:COINN", "xyz:COIN"), ("BTCC", "BTC")],
)
def test_lookup_unknown_lists_close_matches(
    directory: AssetDirectory, name: str, suggestion: str
) -> None:
    with pytest.raises(MarketError, match=f"close matches: .*{suggestion}"):
        directory.lookup(name)


def test_lookup_on_a_dex_not_loaded_says_so(directory: AssetDirectory) -> None:
    with pytest.raises(MarketError, match="meta of dex 'flx' is not loaded"):
        directory.lookup("flx:FOO")


# --- malformed responses ---------------------------------------------------------------


def test_meta_fetched_without_dex_is_refused(
    perp_dexs: list[Any], meta_validator: dict[str, Any]
) -> None:
    # PROTOCOL.md §9 pitfall 9: forgetting "dex" returns the validator meta.
    with pytest.raises(MarketError, match='without "dex": "xyz"'):
        AssetDirectory.from_responses(perp_dexs, {"xyz": meta_validator})


@pytest.mark.parametrize(
    ("perp_dexs", "message"),
    [
        ({"name": "xyz"}, "non-empty JSON array"),
        ([], "non-empty JSON array"),
        ([{"name": "xyz"}], r"perpDexs\[0\] must be null"),
        ([None, {"fullName": "XYZ"}], r"perpDexs\[1\] has no string 'name'"),
        (
            [None, {"name": "xyz"}, {"name": "xyz"}],
            r"perpDexs\[2\]\.name 'xyz' is empty or repeated",
        ),
        ([None, {"name": "XYZ"}], "lower-case"),
    ],
)
def test_malformed_perp_dexs_names_the_problem(perp_dexs: Any, message: str) -> None:
    with pytest.raises(MarketError, match=message):
        AssetDirectory.from_responses(perp_dexs, {})


def _broken_meta(meta_xyz: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(meta_xyz)
    if value is None:
        del broken["universe"][7][key]
    else:
        broken["universe"][7][key] = value
    return broken


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "szDecimals",
            None,
            r"universe\[7\] \(xyz:COIN\) has no non-negative integer 'szDecimals'",
        ),
        ("szDecimals", "3", "'szDecimals'"),
        ("szDecimals", True, "'szDecimals'"),
        ("maxLeverage", None, "'maxLeverage'"),
        ("name", None, r"universe\[7\] has no string 'name'"),
        ("marginMode", 3, "'marginMode'"),
    ],
)
def test_malformed_meta_names_the_problem(
    perp_dexs: list[Any], meta_xyz: dict[str, Any], key: str, value: Any, message: str
) -> None:
    with pytest.raises(MarketError, match=message):
        AssetDirectory.from_responses(perp_dexs, {"xyz": _broken_meta(meta_xyz, key, value)})


@pytest.mark.parametrize(
    ("metas", "message"),
    [
        ({"xyz": {}}, "meta of dex 'xyz' has no 'universe' list"),
        ({"xyz": []}, "no 'universe' list"),
        ({"xyz": {"universe": [1]}}, r"universe\[0\] is not an object"),
        ({"nope": {"universe": []}}, "dex 'nope', which perpDexs does not list"),
        ({"": {"universe": [{"name": "xyz:A", "szDecimals": 1, "maxLeverage": 3}]}}, "builder"),
    ],
)
def test_malformed_metas_name_the_problem(perp_dexs: list[Any], metas: Any, message: str) -> None:
    with pytest.raises(MarketError, match=message):
        AssetDirectory.from_responses(perp_dexs, metas)


# --- name resolution -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("market", "dex", "expected"),
    [
        ("COIN", "xyz", "xyz:COIN"),
        ("xyz:COIN", "xyz", "xyz:COIN"),
        ("BTC", "", "BTC"),
        ("kPEPE", "", "kPEPE"),  # coins are exact, lower-case letters included
        ("TSLA", "flx", "flx:TSLA"),
        ("flx:TSLA", "xyz", "flx:TSLA"),  # "xyz" is the default dex: no contradiction
        ("flx:TSLA", "flx", "flx:TSLA"),
    ],
)
def test_resolve_market_name(market: str, dex: str, expected: str) -> None:
    assert resolve_market_name(market, dex) == expected


@pytest.mark.parametrize(
    ("market", "dex", "message"),
    [
        ("xyz:COIN", "flx", "on dex 'xyz' but dex 'flx' was chosen"),
        ("xyz:COIN", "", "validator dex"),
        ("XYZ:COIN", "xyz", "lower-case"),
        ("COIN", "XYZ", "lower-case"),
        ("", "xyz", "must be a coin name"),
        (" COIN", "xyz", "must be a coin name"),
        (":COIN", "xyz", "empty dex"),
        ("xyz:", "xyz", "no valid coin"),
        ("xyz:A:B", "xyz", "no valid coin"),
        ("CO IN", "xyz", "no valid coin"),
        ("COIN", "x-z", "letters and digits"),
    ],
)
def test_resolve_market_name_errors(market: str, dex: str, message: str) -> None:
    with pytest.raises(MarketError, match=message):
        resolve_market_name(market, dex)


def test_resolve_market_name_with_another_default_dex() -> None:
    assert resolve_market_name("xyz:COIN", "flx", default_dex="flx") == "xyz:COIN"
    with pytest.raises(MarketError):
        resolve_market_name("flx:A", "xyz", default_dex="km")


# --- order checks ----------------------------------------------------------------------


def test_check_order_accepts_a_valid_order(coin: MarketInfo) -> None:
    coin.check_order(Decimal("190.12"), Decimal("0.1"))
    coin.check_order(Decimal(200), Decimal("0.05"))  # exactly $10
    coin.check_order(190, 1, reduce_only=True)


def test_check_order_invalid_price_names_the_nearest_valid_prices(coin: MarketInfo) -> None:
    with pytest.raises(MarketError, match=r"invalid price 190\.123.*190\.12 or 190\.13"):
        coin.check_order(Decimal("190.123"), Decimal(1))


def test_check_order_btc_half_dollar_is_refused(directory: AssetDirectory) -> None:
    btc = directory.lookup("BTC")
    with pytest.raises(MarketError, match="117365 or 117366"):
        btc.check_order(Decimal("117365.5"), Decimal("0.001"))
    btc.check_order(Decimal(117365), Decimal("0.001"))


@pytest.mark.parametrize(
    ("sz", "message"),
    [
        ("0.0523", r"multiples of 0\.001 .* 0\.052 or 0\.053"),
        ("0.0004", r"nearest valid: 0\.001$"),
        ("0", "size must be positive"),
        ("-1", "size must be positive"),
    ],
)
def test_check_order_bad_size(coin: MarketInfo, sz: str, message: str) -> None:
    with pytest.raises(MarketError, match=message):
        coin.check_order(Decimal("190.12"), Decimal(sz))


@pytest.mark.parametrize("px", ["0", "-190.12", "NaN"])
def test_check_order_non_positive_price(coin: MarketInfo, px: str) -> None:
    with pytest.raises(MarketError, match="price must be positive"):
        coin.check_order(Decimal(px), Decimal(1))


def test_check_order_under_ten_dollars_is_refused(coin: MarketInfo) -> None:
    with pytest.raises(MarketError, match=r"Order must have minimum value of \$10\..*\$9\.506"):
        coin.check_order(Decimal("190.12"), Decimal("0.05"))


def test_check_order_reduce_only_under_ten_dollars_is_allowed(coin: MarketInfo) -> None:
    # a position worth less than $10 must stay closable (the time stop and the latch
    # flatten with reduce-only orders); the simulator's matching engine agrees
    coin.check_order(Decimal("190.12"), Decimal("0.05"), reduce_only=True)


def test_check_order_delisted_market_is_refused(directory: AssetDirectory) -> None:
    delisted = directory.lookup("xyz:HO")  # isDelisted in the 2026-09-24 meta
    assert delisted.is_delisted
    with pytest.raises(MarketError, match="delisted"):
        delisted.check_order(Decimal(100), Decimal(1))


def test_check_order_refuses_floats(coin: MarketInfo) -> None:
    with pytest.raises(TypeError):
        coin.check_order(190.12, Decimal(1))  # type: ignore[arg-type]  # reason: the point
    with pytest.raises(TypeError):
        coin.check_order(Decimal("190.12"), 0.1)  # type: ignore[arg-type]  # reason: the point


# --- rounding and wire strings on a market ---------------------------------------------


def test_market_round_price_by_side(coin: MarketInfo) -> None:
    px = Decimal("190.123")
    assert coin.round_price(px, is_buy=True, aggressive=True) == Decimal("190.13")
    assert coin.round_price(px, is_buy=True, aggressive=False) == Decimal("190.12")
    assert coin.round_price(px, is_buy=False, aggressive=True) == Decimal("190.12")
    assert coin.round_price(px, is_buy=False, aggressive=False) == Decimal("190.13")
    assert coin.price_tick(px) == Decimal("0.01")


def test_market_round_price_with_nothing_below(directory: AssetDirectory) -> None:
    btc = directory.lookup("BTC")  # szDecimals 5: one price decimal, nothing under 0.1
    with pytest.raises(MarketError, match=r"BTC: no valid price at or below 0\.05"):
        btc.round_price(Decimal("0.05"), is_buy=True, aggressive=False)


def test_market_round_size_truncates_for_reduce_only(coin: MarketInfo) -> None:
    assert coin.round_size(Decimal("0.0529"), reduce_only=True) == Decimal("0.052")
    assert coin.round_size(Decimal("0.0529"), reduce_only=False) == Decimal("0.053")
    with pytest.raises(MarketError, match=r"xyz:COIN: size 0\.0009"):
        coin.round_size(Decimal("0.0009"), reduce_only=True)


def test_price_and_size_wire_strings_are_canonical(
    coin: MarketInfo, directory: AssetDirectory
) -> None:
    # PROTOCOL.md §4.5 examples, each on a market where the price is valid.
    assert coin.price_wire(Decimal("100.0")) == "100"
    assert coin.price_wire(Decimal("1670.1")) == "1670.1"
    assert coin.price_wire(Decimal("987654321.0")) == "987654321"
    assert directory.lookup("MATIC").price_wire(Decimal("0.00076")) == "0.00076"
    assert coin.price_wire(Decimal("190.10")) == "190.1"
    assert coin.size_wire(Decimal("1.500")) == "1.5"
    assert coin.size_wire(3) == "3"


def test_wire_strings_refuse_invalid_numbers(coin: MarketInfo) -> None:
    with pytest.raises(MarketError, match="invalid price"):
        coin.price_wire(Decimal("190.123"))
    with pytest.raises(MarketError, match="invalid size"):
        coin.size_wire(Decimal("1.0005"))
    with pytest.raises(TypeError):
        coin.price_wire(190.1)  # type: ignore[arg-type]  # reason: the point


# --- fees (PROTOCOL.md 3.5: base tier taker 4.5 bps, maker 1.5 bps; scaleIfHip3 =
# s < 1 ? s + 1 : 2s; growth mode x0.1)


def test_fees_of_a_growth_mode_market_from_the_real_meta(directory: AssetDirectory) -> None:
    coin = directory.lookup("xyz:COIN")  # deployerFeeScale "1.0", growthMode "enabled"
    assert coin.deployer_fee_scale == Decimal(1) and coin.growth_mode
    # 4.5 bps x 2 (scale 1) x 0.1 = 0.9 bps; 1.5 bps x 2 x 0.1 = 0.3 bps
    assert coin.taker_fee_rate == Decimal("0.00009")
    assert coin.maker_fee_rate == Decimal("0.00003")


def test_fees_of_a_market_without_growth_mode(directory: AssetDirectory) -> None:
    gold = directory.lookup("xyz:GOLD")  # deployerFeeScale "1.0", no growth mode
    assert not gold.growth_mode
    assert gold.fee_rates() == (Decimal("0.0009"), Decimal("0.0003"))  # 9 and 3 bps


def test_validator_perps_pay_the_base_rates(directory: AssetDirectory) -> None:
    btc = directory.lookup("BTC")
    assert btc.deployer_fee_scale is None
    assert btc.fee_rates() == (Decimal("0.00045"), Decimal("0.00015"))


@pytest.mark.parametrize(
    ("scale", "growth", "taker_units"),
    [  # the worked table of PROTOCOL.md 3.5, in units of the normal fee
        ("0", False, "1"), ("0.5", False, "1.5"), ("1", False, "2"), ("3", False, "6"),
        ("0", True, "0.1"), ("0.5", True, "0.15"), ("1", True, "0.2"), ("9.99", True, "1.998"),
    ],
)
def test_hip3_fee_scale_matches_the_protocol_table(scale: str, growth: bool,
                                                   taker_units: str) -> None:
    from hip3term.venue.hyperliquid.markets import BASE_TAKER_FEE_RATE, hip3_fee_rates

    taker, _ = hip3_fee_rates(Decimal(scale), growth_mode=growth)
    assert taker == BASE_TAKER_FEE_RATE * Decimal(taker_units)


# --- the same responses again: the same directory ---------------------------------------


def _fresh(value: Any) -> Any:
    return json.loads(json.dumps(value))  # new objects, as a new answer decodes


def test_the_same_responses_give_the_same_directory(perp_dexs: list[Any],
                                                    meta_xyz: dict[str, Any]) -> None:
    first = AssetDirectory.from_responses(_fresh(perp_dexs), {"xyz": _fresh(meta_xyz)})
    again = AssetDirectory.from_responses(_fresh(perp_dexs), {"xyz": _fresh(meta_xyz)})
    assert again is first
    parsed = AssetDirectory._parse(perp_dexs, {"xyz": meta_xyz})  # no memo
    assert again.markets("xyz") == parsed.markets("xyz")
    assert again.dexes == parsed.dexes and again.dex_index("xyz") == parsed.dex_index("xyz")


def test_a_kept_directory_does_not_follow_its_responses(perp_dexs: list[Any],
                                                        meta_xyz: dict[str, Any]) -> None:
    dexs, meta = _fresh(perp_dexs), _fresh(meta_xyz)
    kept = AssetDirectory.from_responses(dexs, {"xyz": meta})
    meta["universe"][7]["szDecimals"] = 1  # the caller's objects change afterwards
    changed = AssetDirectory.from_responses(dexs, {"xyz": meta})
    assert changed is not kept and changed.lookup("xyz:COIN").sz_decimals == 1
    assert kept.lookup("xyz:COIN").sz_decimals == 3
    again = AssetDirectory.from_responses(_fresh(perp_dexs), {"xyz": _fresh(meta_xyz)})
    assert again.lookup("xyz:COIN").sz_decimals == 3
    kept.markets("xyz").clear()  # what a shared directory hands out is a copy
    assert len(kept.markets("xyz")) == 124


class _Name(str):
    pass


@pytest.mark.parametrize("change", ["nan", "tuple", "bool", "str_subclass", "infinite"])
def test_look_alike_responses_are_read_as_themselves(perp_dexs: list[Any],
                                                     meta_xyz: dict[str, Any],
                                                     change: str) -> None:
    # Each change keeps the JSON text of a response already read (or leaves it with none),
    # but not its meaning: the answer is what reading this one gives, never the kept one.
    base = _fresh(meta_xyz)
    base["universe"][7]["isDelisted"] = None
    kept = AssetDirectory.from_responses(_fresh(perp_dexs), {"xyz": base})
    assert not kept.lookup("xyz:COIN").is_delisted
    meta, dexs = copy.deepcopy(base), _fresh(perp_dexs)
    coin = meta["universe"][7]
    if change == "nan":
        coin["isDelisted"] = float("nan")  # orjson writes NaN as null; bool(NaN) is True
    elif change == "infinite":
        coin["isDelisted"] = float("inf")
    elif change == "tuple":
        meta["universe"] = tuple(meta["universe"])
    elif change == "bool":
        coin["szDecimals"] = True  # the text of 1 differs, but == 1
        coin["isDelisted"] = None
    else:
        coin["name"] = _Name(coin["name"])
    expected: Any
    try:
        expected = AssetDirectory._parse(dexs, {"xyz": meta}).markets("xyz")
    except MarketError as exc:
        expected = exc.message
    try:
        got: Any = AssetDirectory.from_responses(dexs, {"xyz": meta})
    except MarketError as exc:
        got = exc.message
    else:
        assert got is not kept
        got = got.markets("xyz")
        assert [type(m.name) for m in got] == [type(m.name) for m in expected]
    assert got == expected


def test_refused_responses_are_refused_every_time(perp_dexs: list[Any],
                                                  meta_xyz: dict[str, Any]) -> None:
    meta = _fresh(meta_xyz)
    meta["universe"][3]["maxLeverage"] = -1
    for _ in range(2):
        with pytest.raises(MarketError, match="maxLeverage"):
            AssetDirectory.from_responses(_fresh(perp_dexs), {"xyz": meta})
