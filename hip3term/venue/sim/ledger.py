"""Accounts, positions and isolated margin of the simulated exchange (pure, synchronous).

The `Ledger` holds, per account address (lower case), a USDC balance and one position per
asset. Every HIP-3 position is *isolated* (HIP-3 markets such as `xyz:COIN` are
isolated-only; cross margin is not simulated):

- opening or increasing a position moves `size * px / leverage` of USDC from the balance
  into the position's isolated margin;
- reducing it gives back the same fraction of that margin plus the realized PnL
  `(px - entry) * size` (for a long; the negative for a short);
- the entry price is the volume-weighted average of the fills that increased the position;
- fees are paid from the balance (a negative fee is a rebate);
- funding is paid from (or into) the isolated margin.

Money is kept in micro-USDC: margins, PnL, fees and funding are rounded to 6 decimals
(half-even) when they are booked, so balances stay exact decimals. Entry prices keep full
precision (34 digits).

The figures of `clearinghouseState` follow the real `xyz:NVDA` isolated response
(PROTOCOL.md section 8; checked in tests against the real numbers):

- `rawUsd = margin - szi * entryPx` (the USDC the position holds, entry notional included);
- `marginUsed = rawUsd + szi * mark = margin + unrealizedPnl`;
- `positionValue = |szi| * mark`; `unrealizedPnl = szi * (mark - entryPx)`;
- `returnOnEquity = unrealizedPnl / (|szi| * entryPx / leverage)`;
- `liquidationPx` solves `rawUsd + szi * px = |szi| * px / (2 * maxLeverage)` (the
  maintenance margin is half the initial margin at maximum leverage);
- `marginSummary.accountValue = balance + sum(marginUsed)`; the cross summary holds the
  balance alone; `withdrawable` is the balance less the margin reserved by open orders.

Wire rounding (chosen to look like the real responses): `entryPx` truncated to 6
significant figures, `liquidationPx` to 12 significant figures, `returnOnEquity` to 10
decimals, USDC amounts to 6 decimals. Liquidations are not simulated: a position's margin
may go negative.

"House" accounts (the synthetic market's makers and takers) use the same arithmetic but
are never refused for margin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any, Literal

from hip3term.core.numeric import to_wire
from hip3term.venue.hyperliquid.markets import (
    BASE_MAKER_FEE_RATE,
    BASE_TAKER_FEE_RATE,
    hip3_fee_rates,
)
from hip3term.venue.sim.records import (
    isolated_position_wire,
    margin_summary_wire,
    usdc_round,
)

__all__ = [
    "BASE_MAKER_FEE_RATE",
    "BASE_TAKER_FEE_RATE",
    "FillEffect",
    "FundingPayment",
    "Ledger",
    "MarketSpec",
    "PositionSnapshot",
    "hip3_fee_rates",
]

_CTX = Context(prec=34)
_ZERO = Decimal(0)

Direction = Literal[
    "Open Long", "Close Long", "Open Short", "Close Short", "Long > Short", "Short > Long"
]


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One perp market of the simulator.

    Attributes:
        asset: The asset id used in orders (e.g. 110007 for `xyz:COIN`).
        name: The coin name on the wire, dex-prefixed for HIP-3 (`"xyz:COIN"`).
        sz_decimals: Size decimals from `meta` (sizes are multiples of `10**-sz_decimals`).
        max_leverage: The market's maximum leverage (also the default leverage).
        taker_fee_rate: Fee rate paid by takers (0.00045 = 0.045%).
        maker_fee_rate: Fee rate paid by makers (negative for a rebate).
        only_isolated: Whether cross margin is refused (true for HIP-3 markets).
        min_notional: Smallest order value `px * sz` in USDC (reduce-only orders exempt).
    """

    asset: int
    name: str
    sz_decimals: int
    max_leverage: int
    taker_fee_rate: Decimal = BASE_TAKER_FEE_RATE
    maker_fee_rate: Decimal = BASE_MAKER_FEE_RATE
    only_isolated: bool = True
    min_notional: Decimal = Decimal(10)

    @property
    def dex(self) -> str:
        """The dex name: the part before `:` of the coin name, or "" for validator perps."""
        return self.name.split(":", 1)[0] if ":" in self.name else ""


@dataclass(frozen=True, slots=True)
class FillEffect:
    """What one fill did to one account's position (the WsFill fields it decides)."""

    start_position: Decimal
    dir: Direction
    closed_pnl: Decimal


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """One funding payment; `usdc` is what the account received (negative when paid)."""

    owner: str
    asset: int
    coin: str
    time: int
    usdc: Decimal
    szi: Decimal
    funding_rate: Decimal

    def wire(self) -> dict[str, Any]:
        """The `funding` object of the `user` channel."""
        return {
            "time": self.time,
            "coin": self.coin,
            "usdc": to_wire(self.usdc),
            "szi": to_wire(self.szi),
            "fundingRate": to_wire(self.funding_rate),
        }


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """A copy of one position (szi > 0 long, < 0 short, 0 flat)."""

    asset: int
    szi: Decimal
    entry_px: Decimal
    margin: Decimal
    leverage: int
    cum_funding_all_time: Decimal
    cum_funding_since_open: Decimal
    cum_funding_since_change: Decimal


@dataclass(slots=True)
class _Position:
    szi: Decimal = _ZERO
    entry_px: Decimal = _ZERO
    margin: Decimal = _ZERO
    funding_all_time: Decimal = _ZERO
    funding_since_open: Decimal = _ZERO
    funding_since_change: Decimal = _ZERO


@dataclass(slots=True)
class _Account:
    balance: Decimal
    house: bool
    positions: dict[int, _Position]
    leverage: dict[int, int]


class Ledger:
    """USDC balances and isolated positions by account address."""

    def __init__(self) -> None:
        """Start with no accounts."""
        self._accounts: dict[str, _Account] = {}

    # --- accounts ---------------------------------------------------------------------

    def open_account(self, address: str, usdc: Decimal = _ZERO, *, house: bool = False) -> None:
        """Create an account (or mark an existing one as house) and deposit `usdc`."""
        account = self._account(address)
        account.house = account.house or house
        self.deposit(address, usdc)

    def deposit(self, address: str, usdc: Decimal) -> None:
        """Add `usdc` (may be negative for a withdrawal) to the account's balance."""
        self._account(address).balance += usdc_round(usdc)

    def is_house(self, address: str) -> bool:
        """Whether `address` is a house account (never refused for margin)."""
        account = self._accounts.get(address.lower())
        return account is not None and account.house

    def balance(self, address: str) -> Decimal:
        """The account's USDC outside isolated margins (0 for an unknown address)."""
        account = self._accounts.get(address.lower())
        return account.balance if account is not None else _ZERO

    def addresses(self) -> list[str]:
        """Every known account address."""
        return list(self._accounts)

    def _account(self, address: str) -> _Account:
        key = address.lower()
        account = self._accounts.get(key)
        if account is None:
            account = _Account(balance=_ZERO, house=False, positions={}, leverage={})
            self._accounts[key] = account
        return account

    # --- leverage and margin ------------------------------------------------------------

    def leverage(self, address: str, spec: MarketSpec) -> int:
        """The account's leverage on `spec` (the market's maximum until set)."""
        account = self._accounts.get(address.lower())
        if account is None:
            return spec.max_leverage
        return account.leverage.get(spec.asset, spec.max_leverage)

    def set_leverage(self, address: str, spec: MarketSpec, leverage: int) -> str | None:
        """Set the leverage; an open position's margin is moved to `entry notional / lev`.

        Returns:
            None on success, else the error text (the balance cannot fund the margin).
        """
        account = self._account(address)
        position = account.positions.get(spec.asset)
        if position is not None and position.szi != 0:
            target = usdc_round(abs(position.szi) * position.entry_px / leverage)
            extra = target - position.margin
            if extra > account.balance and not account.house:
                return "Insufficient margin to change leverage."
            account.balance -= extra
            position.margin = target
        account.leverage[spec.asset] = leverage
        return None

    def add_margin(self, address: str, spec: MarketSpec, usdc: Decimal) -> str | None:
        """Move `usdc` into (positive) or out of (negative) the position's isolated margin.

        Removal must leave at least `entry notional / leverage` in the position.

        Returns:
            None on success, else the error text.
        """
        account = self._account(address)
        position = account.positions.get(spec.asset)
        if position is None or position.szi == 0:
            return "Cannot update margin of an empty position."
        amount = usdc_round(usdc)
        if amount > account.balance and not account.house:
            return "Insufficient balance to add margin."
        floor = abs(position.szi) * position.entry_px / self.leverage(address, spec)
        if amount < 0 and position.margin + amount < floor:
            return "Cannot remove margin below the initial margin."
        account.balance -= amount
        position.margin += amount
        return None

    def margin_for_order(
        self, address: str, spec: MarketSpec, is_buy: bool, px: Decimal, sz: Decimal
    ) -> Decimal:
        """Margin an order would need: the part that opens or increases, at `px`.

        The part that only reduces the current position needs none.
        """
        szi = self.position_size(address, spec.asset)
        reducing = min(sz, abs(szi)) if (szi < 0) == is_buy and szi != 0 else _ZERO
        return (sz - reducing) * px / self.leverage(address, spec)

    # --- positions ----------------------------------------------------------------------

    def position_size(self, address: str, asset: int) -> Decimal:
        """Signed position size (0 when flat or unknown)."""
        account = self._accounts.get(address.lower())
        if account is None:
            return _ZERO
        position = account.positions.get(asset)
        return position.szi if position is not None else _ZERO

    def position(self, address: str, spec: MarketSpec) -> PositionSnapshot:
        """A copy of the account's position on `spec` (all zero when flat)."""
        account = self._accounts.get(address.lower())
        position = account.positions.get(spec.asset) if account is not None else None
        position = position if position is not None else _Position()
        return PositionSnapshot(
            asset=spec.asset,
            szi=position.szi,
            entry_px=position.entry_px,
            margin=position.margin,
            leverage=self.leverage(address, spec),
            cum_funding_all_time=position.funding_all_time,
            cum_funding_since_open=position.funding_since_open,
            cum_funding_since_change=position.funding_since_change,
        )

    def open_interest(self, asset: int) -> Decimal:
        """Sum of long sizes over all accounts (equal to the sum of short sizes)."""
        total = _ZERO
        for account in self._accounts.values():
            position = account.positions.get(asset)
            if position is not None and position.szi > 0:
                total += position.szi
        return total

    def net_position(self, asset: int) -> Decimal:
        """Sum of signed sizes over all accounts (always 0: every fill has two sides)."""
        return sum(
            (a.positions[asset].szi for a in self._accounts.values() if asset in a.positions),
            _ZERO,
        )

    def apply_fill(
        self,
        address: str,
        spec: MarketSpec,
        is_buy: bool,
        px: Decimal,
        sz: Decimal,
        fee: Decimal,
    ) -> FillEffect:
        """Book one fill of `sz` at `px` for `address`, paying `fee`.

        Returns:
            The position before the fill, the fill's direction and its closed PnL
            (gross of fees).
        """
        account = self._account(address)
        position = account.positions.setdefault(spec.asset, _Position())
        start = position.szi
        leverage = self.leverage(address, spec)
        account.balance -= fee
        position.funding_since_change = _ZERO
        if start == 0 or (start > 0) == is_buy:
            self._increase(account, position, is_buy, px, sz, leverage)
            return FillEffect(start, "Open Long" if is_buy else "Open Short", _ZERO)
        closing = min(sz, abs(start))
        closed_pnl = self._reduce(account, position, px, closing)
        rest = sz - closing
        if rest > 0:
            self._increase(account, position, is_buy, px, rest, leverage)
            return FillEffect(start, "Short > Long" if is_buy else "Long > Short", closed_pnl)
        return FillEffect(start, "Close Short" if is_buy else "Close Long", closed_pnl)

    @staticmethod
    def _increase(
        account: _Account,
        position: _Position,
        is_buy: bool,
        px: Decimal,
        sz: Decimal,
        leverage: int,
    ) -> None:
        if position.szi == 0:
            position.funding_since_open = _ZERO
            position.funding_since_change = _ZERO
        old = abs(position.szi)
        new = old + sz
        position.entry_px = _CTX.divide(old * position.entry_px + sz * px, new)
        position.szi = new if is_buy else -new
        margin = usdc_round(sz * px / leverage)
        position.margin += margin
        account.balance -= margin

    @staticmethod
    def _reduce(account: _Account, position: _Position, px: Decimal, closing: Decimal) -> Decimal:
        size = abs(position.szi)
        direction = 1 if position.szi > 0 else -1
        closed_pnl = usdc_round(direction * (px - position.entry_px) * closing)
        if closing == size:
            released = position.margin
            position.szi = _ZERO
            position.entry_px = _ZERO
        else:
            released = usdc_round(position.margin * closing / size)
            position.szi -= direction * closing
        position.margin -= released
        account.balance += released + closed_pnl
        return closed_pnl

    def apply_funding(
        self, spec: MarketSpec, rate: Decimal, mark: Decimal, time: int
    ) -> list[FundingPayment]:
        """Charge `szi * mark * rate` to every open position (longs pay when rate > 0)."""
        payments: list[FundingPayment] = []
        for address, account in self._accounts.items():
            position = account.positions.get(spec.asset)
            if position is None or position.szi == 0:
                continue
            paid = usdc_round(position.szi * mark * rate)
            position.margin -= paid
            position.funding_all_time += paid
            position.funding_since_open += paid
            position.funding_since_change += paid
            payments.append(
                FundingPayment(address, spec.asset, spec.name, time, -paid, position.szi, rate)
            )
        return payments

    # --- clearinghouseState ---------------------------------------------------------------

    def clearinghouse_state(
        self,
        address: str,
        specs: Iterable[MarketSpec],
        marks: Mapping[int, Decimal],
        reserved: Decimal,
        time: int,
    ) -> dict[str, Any]:
        """The `clearinghouseState` response for `address` over the markets `specs`.

        Args:
            address: The account.
            specs: The markets of the requested dex.
            marks: Mark price by asset id (a missing mark uses the entry price).
            reserved: Margin held by the account's open orders (not withdrawable).
            time: The response's `time` (ms).
        """
        account = self._accounts.get(address.lower())
        balance = account.balance if account is not None else _ZERO
        positions: list[dict[str, Any]] = []
        ntl = raw_total = used_total = _ZERO
        for spec in specs:
            position = account.positions.get(spec.asset) if account is not None else None
            if position is None or position.szi == 0:
                continue
            mark = marks.get(spec.asset, position.entry_px)
            leverage = self.leverage(address, spec)
            wire, value, raw, used = isolated_position_wire(
                spec.name,
                position.szi,
                position.entry_px,
                position.margin,
                leverage,
                spec.max_leverage,
                mark,
                (
                    position.funding_all_time,
                    position.funding_since_open,
                    position.funding_since_change,
                ),
            )
            positions.append(wire)
            ntl += value
            raw_total += raw
            used_total += used
        value, raw_total = balance + used_total, balance + raw_total
        return {
            "marginSummary": margin_summary_wire(value, ntl, raw_total, used_total),
            "crossMarginSummary": margin_summary_wire(balance, _ZERO, balance, _ZERO),
            "crossMaintenanceMarginUsed": "0",
            "withdrawable": to_wire(max(usdc_round(balance - reserved), _ZERO)),
            "assetPositions": positions,
            "time": time,
        }
