"""Hyperliquid markets: name resolution, asset ids and per-market order rules.

No I/O here: the feed or simulator fetches `{"type":"perpDexs"}` and `{"type":"meta",
"dex": name}` and hands the raw JSON to `AssetDirectory.from_responses`.

Asset ids (PROTOCOL.md §3.1) are computed, never hard-coded: a validator perp (dex `""`,
position 0 of `perpDexs`) has the id of its index in `meta`; a builder-deployed perp of
the dex at position `i >= 1` of `perpDexs` has `100000 + i*10000 + index in meta(dex)`.
With the real 2026-09-24 responses `xyz:COIN` is 110007 and `xyz:TSLA` 110001.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

import orjson

from hip3term.core import numeric
from hip3term.errors import MarketError

__all__ = [
    "BASE_MAKER_FEE_RATE",
    "BASE_TAKER_FEE_RATE",
    "DEFAULT_DEX",
    "MIN_ORDER_NOTIONAL",
    "AssetDirectory",
    "MarketInfo",
    "resolve_market_name",
]

DEFAULT_DEX = "xyz"
"""The dex a bare `--market COIN` refers to unless configured otherwise."""

MIN_ORDER_NOTIONAL = Decimal(10)
BASE_TAKER_FEE_RATE = Decimal("0.00045")
"""Tier-0 perp taker fee rate (4.5 bps), before the HIP-3 deployer scale."""
BASE_MAKER_FEE_RATE = Decimal("0.00015")
"""Tier-0 perp maker fee rate (1.5 bps), before the HIP-3 deployer scale."""
"""Smallest order value (price x size, in USD) the exchange accepts."""

BUILDER_ASSET_BASE = 100_000
BUILDER_DEX_STRIDE = 10_000

_MIN_NOTIONAL_TEXT = "Order must have minimum value of $10."
_PARSED_MAX = 4
# The last directories `from_responses` built, by the JSON text of their responses, with
# those responses as that text decodes (see `from_responses`). A few: the shipped `xyz`
# meta and a live exchange's current one.
_parsed: dict[bytes, tuple[Any, AssetDirectory]] = {}
_ISOLATED_MODES = frozenset({"strictIsolated", "noCross"})


def resolve_market_name(market: str, dex: str, *, default_dex: str = DEFAULT_DEX) -> str:
    """Turn what the operator typed into the exchange's market name.

    `("COIN", "xyz")` gives `"xyz:COIN"`; `("BTC", "")` gives the validator perp `"BTC"`;
    a full name `"xyz:COIN"` is kept as it is when `dex` is `"xyz"` or `default_dex` (a dex
    left at its default does not contradict a name that carries its own). A full name
    whose dex differs from an explicitly chosen dex (including `""`, the validator dex) is
    an error. Names are case-sensitive: dex names are lower-case, coins exact (`kPEPE`).

    Raises:
        MarketError: the name is empty or malformed, or contradicts `dex`.
    """
    if not isinstance(market, str) or not isinstance(dex, str):
        raise MarketError("market and dex must be strings")
    _check_dex_name(dex, "--dex")
    if market.strip() != market or not market:
        raise MarketError(f"market {market!r} must be a coin name such as COIN or xyz:COIN")
    if ":" not in market:
        _check_coin(market, market)
        return f"{dex}:{market}" if dex else market
    prefix, _, coin = market.partition(":")
    if not prefix:
        raise MarketError(f"market {market!r} has an empty dex before ':'")
    _check_dex_name(prefix, f"the dex of market {market!r}")
    _check_coin(coin, market)
    if dex not in (prefix, default_dex):
        shown = f"{dex!r}" if dex else "'' (the validator dex)"
        raise MarketError(
            f"market {market!r} is on dex {prefix!r} but dex {shown} was chosen: "
            f"use --market {coin} with --dex {prefix}, or drop one of them"
        )
    return market


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """One perp market as the exchange describes it, with its order rules.

    Attributes:
        name: the exchange's name, `"xyz:COIN"` or `"BTC"`.
        asset_id: the id used in order actions (110007 for `xyz:COIN` on mainnet).
        dex: the dex name, `""` for validator perps.
        dex_index: the position of the dex in `perpDexs` (0 for the validator dex).
        index: the position of the market in `meta(dex).universe`.
        sz_decimals: sizes are multiples of `10**-sz_decimals`.
        max_leverage: the largest leverage allowed.
        margin_mode: `"strictIsolated"`, `"noCross"` or None (normal).
        only_isolated: cross margin is unavailable.
        is_delisted: the market accepts no orders.
        growth_mode: growth mode is enabled (lower fees).
        deployer_fee_scale: the HIP-3 deployer's fee scale from `meta(dex)` (None for
            validator perps, which have no deployer).
    """

    name: str
    asset_id: int
    dex: str
    dex_index: int
    index: int
    sz_decimals: int
    max_leverage: int
    margin_mode: str | None
    only_isolated: bool
    is_delisted: bool
    growth_mode: bool
    deployer_fee_scale: Decimal | None = None

    @property
    def taker_fee_rate(self) -> Decimal:
        """Tier-0 taker fee rate of this market (0.00009 for `xyz:COIN`: scale 1, growth)."""
        return self.fee_rates()[0]

    @property
    def maker_fee_rate(self) -> Decimal:
        """Tier-0 maker fee rate of this market (a negative rate is a rebate)."""
        return self.fee_rates()[1]

    def fee_rates(self) -> tuple[Decimal, Decimal]:
        """Tier-0 (taker, maker) fee rates: the base rates, scaled for a HIP-3 market."""
        if self.deployer_fee_scale is None:
            return BASE_TAKER_FEE_RATE, BASE_MAKER_FEE_RATE
        return hip3_fee_rates(self.deployer_fee_scale, growth_mode=self.growth_mode)

    @property
    def coin(self) -> str:
        """The name without its dex prefix (`"COIN"` for `"xyz:COIN"`)."""
        return self.name.partition(":")[2] if self.dex else self.name

    @property
    def price_decimals(self) -> int:
        """The most decimals a price may have (`6 - sz_decimals`)."""
        return numeric.price_decimals(self.sz_decimals)

    @property
    def size_step(self) -> Decimal:
        """The lot size `10**-sz_decimals`."""
        return numeric.size_step(self.sz_decimals)

    def price_tick(self, px: Decimal | int) -> Decimal:
        """The spacing of valid prices at `px` (see `numeric.price_tick`).

        Raises:
            MarketError: `px` is not positive.
        """
        try:
            return numeric.price_tick(px, self.sz_decimals)
        except ValueError as exc:
            raise MarketError(f"{self.name}: {exc}") from exc

    def is_valid_price(self, px: Decimal | int) -> bool:
        """Whether `px` obeys the tick rules of this market."""
        return numeric.is_valid_price(px, self.sz_decimals)

    def round_price(self, px: Decimal | int, *, is_buy: bool, aggressive: bool) -> Decimal:
        """Round to a valid price: aggressive buys and passive sells up, the others down.

        Raises:
            MarketError: `px` is not positive, or no valid price lies in that direction.
            TypeError: `px` is a float.
        """
        try:
            return numeric.round_price_for_side(
                px, is_buy=is_buy, aggressive=aggressive, sz_decimals=self.sz_decimals
            )
        except ValueError as exc:
            raise MarketError(f"{self.name}: {exc}") from exc

    def round_size(self, sz: Decimal | int, *, reduce_only: bool) -> Decimal:
        """Round to a whole number of lots: nearest, or truncated for reduce-only.

        Raises:
            MarketError: `sz` is not positive, or it is smaller than one lot.
            TypeError: `sz` is a float.
        """
        try:
            return numeric.round_size(sz, self.sz_decimals, reduce_only=reduce_only)
        except ValueError as exc:
            raise MarketError(f"{self.name}: {exc}") from exc

    def check_order(
        self, px: Decimal | int, sz: Decimal | int, *, reduce_only: bool = False
    ) -> None:
        """Refuse an order the exchange would refuse, before anything is signed.

        The $10 minimum applies to orders that can open or add to a position. Reduce-only
        orders are exempt: whether the exchange exempts them is undocumented (PROTOCOL.md
        §5, §10), but a position worth less than $10 must stay closable by the time stop
        and the latch; if the exchange refuses one, the flatten failure is visible and
        counted. The simulator's matching engine follows the same rule.

        Raises:
            MarketError: the market is delisted, the price breaks the tick rules (the
                message gives the nearest valid prices), the size is not positive or not
                a whole number of lots, or a non-reduce-only order is worth under $10.
            TypeError: `px` or `sz` is a float.
        """
        if self.is_delisted:
            raise MarketError(f"{self.name} is delisted: it accepts no orders")
        price = self._checked_price(px)
        size = self._checked_size(sz)
        notional = _exact_context(price, size).multiply(price, size)
        if notional < MIN_ORDER_NOTIONAL and not reduce_only:
            raise MarketError(
                f"{_MIN_NOTIONAL_TEXT} {self.name}: order of {numeric.to_wire(size)} at "
                f"{numeric.to_wire(price)} is worth ${numeric.to_wire(notional)}"
            )

    def price_wire(self, px: Decimal | int) -> str:
        """The canonical wire string of a valid price (no exponent, no trailing zeros).

        Raises:
            MarketError: `px` is not a valid price for this market.
        """
        return numeric.to_wire(self._checked_price(px))

    def size_wire(self, sz: Decimal | int) -> str:
        """The canonical wire string of a valid size.

        Raises:
            MarketError: `sz` is not positive or not a whole number of lots.
        """
        return numeric.to_wire(self._checked_size(sz))

    def _checked_price(self, px: Decimal | int) -> Decimal:
        if isinstance(px, bool) or not isinstance(px, Decimal | int):
            raise TypeError(f"price must be Decimal or int, not {type(px).__name__}")
        price = Decimal(px)
        if not price.is_finite() or price <= 0:
            raise MarketError(f"{self.name}: price must be positive, got {px}")
        if numeric.is_valid_price(price, self.sz_decimals):
            return price
        below = self._nearest_price(price, numeric.RoundMode.DOWN)
        above = numeric.round_price(price, self.sz_decimals, numeric.RoundMode.UP)
        nearest = f"{below} or {numeric.to_wire(above)}" if below else numeric.to_wire(above)
        raise MarketError(
            f"{self.name}: invalid price {numeric.to_wire(price)}: prices need at most 5 "
            f"significant figures and at most {self.price_decimals} decimals (integers "
            f"always valid); nearest valid: {nearest}"
        )

    def _nearest_price(self, price: Decimal, mode: numeric.RoundMode) -> str:
        try:
            return numeric.to_wire(numeric.round_price(price, self.sz_decimals, mode))
        except ValueError:
            return ""

    def _checked_size(self, sz: Decimal | int) -> Decimal:
        if isinstance(sz, bool) or not isinstance(sz, Decimal | int):
            raise TypeError(f"size must be Decimal or int, not {type(sz).__name__}")
        size = Decimal(sz)
        if not size.is_finite() or size <= 0:
            raise MarketError(f"{self.name}: size must be positive, got {sz}")
        try:
            numeric.to_ticks(size, self.sz_decimals)
        except ValueError:
            raise MarketError(self._invalid_size_text(size)) from None
        return size

    def _invalid_size_text(self, size: Decimal) -> str:
        step = self.size_step
        try:
            down: Decimal | None = numeric.round_size(size, self.sz_decimals, reduce_only=True)
        except ValueError:
            down = None  # under one lot: only the lot itself is near
        if down is None:
            nearest = numeric.to_wire(step)
        else:
            nearest = f"{numeric.to_wire(down)} or {numeric.to_wire(down + step)}"
        return (
            f"{self.name}: invalid size {numeric.to_wire(size)}: sizes are multiples of "
            f"{numeric.to_wire(step)} (szDecimals {self.sz_decimals}); nearest valid: {nearest}"
        )


class AssetDirectory:
    """Every market of the dexes whose `meta` was loaded, by name and by asset id."""

    def __init__(self, dex_indices: Mapping[str, int], markets: Mapping[str, list[MarketInfo]]):
        """Build from parsed data; use `from_responses` for raw exchange JSON."""
        self._dex_indices = dict(dex_indices)
        self._by_dex = {dex: list(infos) for dex, infos in markets.items()}
        self._by_name: dict[str, MarketInfo] = {}
        self._by_asset: dict[int, MarketInfo] = {}
        for infos in self._by_dex.values():
            for info in infos:
                if info.name in self._by_name or info.asset_id in self._by_asset:
                    raise MarketError(f"market {info.name} (asset {info.asset_id}) appears twice")
                self._by_name[info.name] = info
                self._by_asset[info.asset_id] = info

    @classmethod
    def from_responses(
        cls, perp_dexs: list[Any], metas: Mapping[str, Mapping[str, Any]]
    ) -> AssetDirectory:
        """Build from the raw `perpDexs` response and raw `meta` responses keyed by dex.

        `metas` maps a dex name (`""` for the validator dex) to the JSON of
        `{"type":"meta","dex":name}`. Only the dexes given there get markets.

        The same responses give the same directory object: the last few are kept by their
        JSON text (124 assets take 0.5 ms to parse; every replay's resync and every
        simulator read the shipped `xyz` meta again). Sharing is safe: a directory never
        changes after it is built (no method mutates it, `markets` and `dexes` return new
        lists) and holds frozen `MarketInfo`s. A hit needs the same text and equal values,
        which also tells apart what the text alone does not (a tuple for a list, NaN for
        null); responses with other than JSON's own types are parsed every time.

        Raises:
            MarketError: a response is malformed (the message names what is missing), or a
                `meta` does not belong to its dex (e.g. fetched without `"dex"`).
        """
        key = _responses_key(cls, perp_dexs, metas)
        if key is not None:
            cached = _parsed.get(key)
            if cached is not None and cached[0] == [perp_dexs, metas]:
                return cached[1]
        directory = cls._parse(perp_dexs, metas)
        if key is not None:
            decoded = orjson.loads(key)
            if decoded == [perp_dexs, metas]:  # not when NaN was written as null
                if len(_parsed) >= _PARSED_MAX:  # the oldest goes
                    _parsed.pop(next(iter(_parsed), b""), None)
                _parsed[key] = (decoded, directory)
        return directory

    @classmethod
    def _parse(
        cls, perp_dexs: list[Any], metas: Mapping[str, Mapping[str, Any]]
    ) -> AssetDirectory:
        dex_indices = _parse_perp_dexs(perp_dexs)
        if not isinstance(metas, Mapping):
            raise MarketError("metas must map dex names to meta responses")
        markets: dict[str, list[MarketInfo]] = {}
        for dex, meta in metas.items():
            if dex not in dex_indices:
                raise MarketError(
                    f"a meta response was given for dex {dex!r}, which perpDexs does not list "
                    f"(known: {_quoted(dex_indices)})"
                )
            markets[dex] = _parse_meta(meta, dex, dex_indices[dex])
        return cls(dex_indices, markets)

    @property
    def dexes(self) -> list[str]:
        """The dexes whose markets are loaded, in `perpDexs` order."""
        return sorted(self._by_dex, key=self._dex_indices.__getitem__)

    def dex_index(self, dex: str) -> int:
        """The position of `dex` in `perpDexs` (0 for the validator dex `""`).

        Raises:
            MarketError: `perpDexs` does not list `dex`.
        """
        try:
            return self._dex_indices[dex]
        except KeyError:
            raise MarketError(
                f"unknown dex {dex!r}; perpDexs lists {_quoted(self._dex_indices)}"
            ) from None

    def markets(self, dex: str) -> list[MarketInfo]:
        """The markets of `dex` in `meta` order (delisted ones included).

        Raises:
            MarketError: the dex is unknown or its meta was not loaded.
        """
        self.dex_index(dex)
        try:
            return list(self._by_dex[dex])
        except KeyError:
            raise MarketError(
                f"the meta of dex {dex!r} was not loaded (loaded: {_quoted(self.dexes)})"
            ) from None

    def lookup(self, name: str) -> MarketInfo:
        """The market with the exchange name `name` (`"xyz:COIN"`, `"BTC"`).

        Raises:
            MarketError: no such market; the message lists close matches.
        """
        info = self._by_name.get(name)
        if info is not None:
            return info
        raise MarketError(self._unknown_market_text(name))

    def resolve(self, market: str, dex: str, *, default_dex: str = DEFAULT_DEX) -> MarketInfo:
        """`lookup(resolve_market_name(market, dex))`: what the operator typed to a market."""
        return self.lookup(resolve_market_name(market, dex, default_dex=default_dex))

    def by_asset_id(self, asset_id: int) -> MarketInfo:
        """The market with the asset id `asset_id`.

        Raises:
            MarketError: no loaded market has that id.
        """
        info = self._by_asset.get(asset_id)
        if info is None:
            raise MarketError(f"no loaded market has asset id {asset_id}")
        return info

    def _unknown_market_text(self, name: str) -> str:
        text = f"unknown market {name!r}"
        dex = name.partition(":")[0] if ":" in name else ""
        if dex not in self._by_dex:
            text += f"; the meta of dex {dex!r} is not loaded (loaded: {_quoted(self.dexes)})"
        folded = {known.casefold(): known for known in self._by_name}
        close = difflib.get_close_matches(name, list(self._by_name), n=5, cutoff=0.75)
        same_case = folded.get(name.casefold())
        if same_case is not None and same_case not in close:
            close.insert(0, same_case)
        if close:
            text += f"; close matches: {', '.join(close)} (names are case-sensitive)"
        return text


# --- parsing the raw responses ---------------------------------------------------------


def _responses_key(cls: type, perp_dexs: Any, metas: Any) -> bytes | None:
    # The JSON text of the responses; None for a subclass of the directory (not kept) or
    # responses that are not JSON's own types (a str, int, dict or list subclass is
    # refused here: its text is its base's). Equal text can still hide a tuple for a list
    # or NaN for null: `from_responses` compares the values as well.
    if cls is not AssetDirectory:
        return None
    try:
        return orjson.dumps([perp_dexs, metas], option=orjson.OPT_PASSTHROUGH_SUBCLASS)
    except TypeError:  # not JSON (orjson.JSONEncodeError is a TypeError)
        return None


def _parse_perp_dexs(perp_dexs: Any) -> dict[str, int]:
    if not isinstance(perp_dexs, list) or not perp_dexs:
        raise MarketError("the perpDexs response must be a non-empty JSON array")
    if perp_dexs[0] is not None:
        raise MarketError("perpDexs[0] must be null (the validator dex)")
    indices: dict[str, int] = {"": 0}
    for position, entry in enumerate(perp_dexs[1:], start=1):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise MarketError(f"perpDexs[{position}] has no string 'name'")
        name = entry["name"]
        _check_dex_name(name, f"perpDexs[{position}].name")
        if not name or name in indices:
            raise MarketError(f"perpDexs[{position}].name {name!r} is empty or repeated")
        indices[name] = position
    return indices


def _parse_meta(meta: Any, dex: str, dex_index: int) -> list[MarketInfo]:
    where = f"meta of dex {dex!r}"
    if not isinstance(meta, Mapping) or not isinstance(meta.get("universe"), list):
        raise MarketError(f"the {where} has no 'universe' list")
    universe: list[Any] = meta["universe"]
    if dex_index and len(universe) > BUILDER_DEX_STRIDE:
        raise MarketError(f"the {where} lists {len(universe)} assets, more than ids allow")
    return [_parse_asset(entry, where, dex, dex_index, i) for i, entry in enumerate(universe)]


def _parse_asset(entry: Any, where: str, dex: str, dex_index: int, index: int) -> MarketInfo:
    at = f"{where}, universe[{index}]"
    if not isinstance(entry, Mapping):
        raise MarketError(f"{at} is not an object")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise MarketError(f"{at} has no string 'name'")
    expected_prefix = f"{dex}:" if dex else ""
    if dex and not name.startswith(expected_prefix):
        raise MarketError(
            f"{at} is {name!r}, not an {expected_prefix!r} name: was this meta fetched "
            f'without "dex": "{dex}"?'
        )
    if not dex and ":" in name:
        raise MarketError(f"{at} is {name!r}, a builder-dex name in the validator meta")
    margin_mode = entry.get("marginMode")
    if margin_mode is not None and not isinstance(margin_mode, str):
        raise MarketError(f"{at} ({name}) has a non-string 'marginMode'")
    asset_id = index
    if dex_index:
        asset_id += BUILDER_ASSET_BASE + dex_index * BUILDER_DEX_STRIDE
    return MarketInfo(
        name=name,
        asset_id=asset_id,
        dex=dex,
        dex_index=dex_index,
        index=index,
        sz_decimals=_required_int(entry, "szDecimals", at, name),
        max_leverage=_required_int(entry, "maxLeverage", at, name),
        margin_mode=margin_mode,
        only_isolated=entry.get("onlyIsolated") is True or margin_mode in _ISOLATED_MODES,
        is_delisted=bool(entry.get("isDelisted", False)),
        growth_mode=entry.get("growthMode") == "enabled",
        deployer_fee_scale=_fee_scale(entry, at, name) if dex_index else None,
    )


def _fee_scale(entry: Mapping[str, Any], at: str, name: str) -> Decimal:
    # absent means the protocol's default scale of 1 (PROTOCOL.md section 3.5)
    raw = entry.get("deployerFeeScale", "1.0")
    try:
        scale = Decimal(str(raw))
    except ArithmeticError:
        raise MarketError(f"{at} ({name}) has a bad 'deployerFeeScale' {raw!r}") from None
    if not scale.is_finite() or scale < 0:
        raise MarketError(f"{at} ({name}) has a bad 'deployerFeeScale' {raw!r}")
    return scale


def hip3_fee_rates(
    deployer_fee_scale: Decimal,
    *,
    growth_mode: bool,
    base_taker: Decimal | None = None,
    base_maker: Decimal | None = None,
) -> tuple[Decimal, Decimal]:
    """Taker and maker fee rates of a HIP-3 market (PROTOCOL.md section 3.5).

    `scaleIfHip3 = s < 1 ? s + 1 : 2 * s`, times 0.1 in growth mode. Positive rates get
    the scale; a maker rebate (negative base rate) does not.

    >>> hip3_fee_rates(Decimal("1.0"), growth_mode=True)  # xyz:COIN in meta(xyz)
    (Decimal('0.0000900'), Decimal('0.0000300'))
    """
    base_taker = BASE_TAKER_FEE_RATE if base_taker is None else base_taker
    base_maker = BASE_MAKER_FEE_RATE if base_maker is None else base_maker
    if deployer_fee_scale < 0:
        raise ValueError(f"a deployer fee scale is >= 0, got {deployer_fee_scale}")
    scale = deployer_fee_scale + 1 if deployer_fee_scale < 1 else 2 * deployer_fee_scale
    if growth_mode:
        scale *= Decimal("0.1")
    taker = base_taker * scale if base_taker > 0 else base_taker
    maker = base_maker * scale if base_maker > 0 else base_maker
    return taker, maker


def _required_int(entry: Mapping[str, Any], key: str, at: str, name: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MarketError(f"{at} ({name}) has no non-negative integer {key!r}")
    return value


# --- small helpers ---------------------------------------------------------------------


def _check_dex_name(dex: str, what: str) -> None:
    if dex != dex.lower():
        raise MarketError(f"{what} is {dex!r}: dex names are lower-case ({dex.lower()!r})")
    if dex and not (dex.isascii() and dex.isalnum()):
        raise MarketError(f"{what} is {dex!r}: dex names are letters and digits only")


def _check_coin(coin: str, market: str) -> None:
    if not coin or ":" in coin or any(char.isspace() for char in coin):
        raise MarketError(
            f"market {market!r} has no valid coin: expected COIN or dex:COIN, e.g. xyz:COIN"
        )


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(repr(name) for name in names) or "none"


def _exact_context(*values: Decimal) -> Context:
    # A product of these values fits in this many digits, so the fma is exact.
    digits = sum(len(value.as_tuple().digits) for value in values)
    return Context(prec=digits + 2)
