"""The simulator's matching engine: books, orders, fills (pure, synchronous, deterministic).

`MatchingEngine` keeps one limit order book per market with price-time priority and
matches limit orders (`Gtc`, `Ioc`, `Alo`, optionally reduce-only) the way Hyperliquid
does, booking every fill in a `Ledger` (isolated margin, fees, PnL). It has no asyncio
and no I/O; time comes from the injected `Clock`. The loopback server and replay drive it
and turn its records (`hip3term.venue.sim.records`) into frames.

Order of checks in `place` (the first failure decides):

1. input errors raise (`MarketError` for an unknown asset; `ValueError` for a bad TIF or
   a malformed cloid; `TypeError` for a float): the server validates the wire first;
2. size not a positive multiple of the lot: `Order has invalid size.` (no oid, no event);
3. a cloid already used by one of the owner's open orders: `DUPLICATE_CLOID` (no oid);

then the order gets an oid, and a refusal gives an order event with the exchange's
status (as the real `orderUpdates` does for `badAloPxRejected`):

4. price breaking the tick rules (5 significant figures, `6 - szDecimals` decimals):
   `Price must be divisible by tick size.` (`tickRejected`). The exchange also answers
   "Order has invalid price." for such prices; the simulator uses the first text only;
5. value `px * sz` under the market's minimum (reduce-only orders are exempt, an
   uncertain point of PROTOCOL.md section 5): `Order must have minimum value of $10.`
   (`minTradeNtlRejected`);
6. reduce-only with no position, on the side that would increase it, or larger than
   the position: `Reduce only order would increase position.` (`reduceOnlyRejected`);
7. `Alo` that would cross: `Post only order would have immediately matched, bbo was
   {bid}@{ask}.` with the best bid and ask as wire strings (`189.99@190`), a missing
   side written `None` (`badAloPxRejected`);
8. margin (not for house accounts nor reduce-only orders): the increasing part's
   `sz * px / leverage` plus the taker fee on `px * sz` must not exceed the balance less
   the margin reserved by open orders: `Insufficient margin to place order.`
   (`perpMarginRejected`);
9. `Ioc` that fills nothing: `Order could not immediately match against any resting
   orders.` (`iocCancelRejected`).

Matching: the incoming order takes the best opposite level while it crosses, oldest
order first, at the resting order's price. A resting order of the same owner is canceled
(`selfTradeCanceled`) and matching goes on. A resting reduce-only order fills at most its
owner's position and is canceled (`reduceOnlyCanceled`) when it could only increase it.
What remains of a `Gtc` rests (status `Resting`, even after a partial fill); what remains
of an `Ioc` is canceled (status `Filled` with the filled size, event `canceled`).

Events are status changes only (`open`, `filled`, `canceled`, `…Canceled`, `…Rejected`);
partial fills of a resting order show in fills, not in events. Fees: `px * sz * rate`
rounded to micro-USDC. Every fill of one incoming order carries that order's hash
(`0x` + 64 hex, from the oid); trade ids count up from `tid_start`.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from hip3term.core.clock import Clock
from hip3term.core.numeric import is_valid_price, size_step, to_wire
from hip3term.errors import MarketError
from hip3term.venue.sim.book import BookOrder, OrderBook, OrderIndex
from hip3term.venue.sim.ledger import FundingPayment, Ledger, MarketSpec, PositionSnapshot
from hip3term.venue.sim.records import (
    ALO_REJECT,
    CANCEL_MISSING,
    DUPLICATE_CLOID,
    INVALID_SIZE,
    IOC_REJECT,
    MARGIN_REJECT,
    REDUCE_ONLY_REJECT,
    TICK_REJECT,
    CancelResult,
    Filled,
    FillRecord,
    Level,
    OrderEvent,
    OrderView,
    PlaceResult,
    Rejected,
    Resting,
    Tif,
    Trade,
    min_notional_text,
)

__all__ = ["MatchingEngine"]

_TIFS = frozenset({"Gtc", "Ioc", "Alo"})
_CLOID = re.compile(r"0x[0-9a-fA-F]{32}")
_AVG_CTX = Context(prec=12)
_ZERO = Decimal(0)
_FEE_QUANTUM = Decimal("0.000001")


class MatchingEngine:
    """Books, orders and accounts of the simulated exchange.

    Args:
        markets: The markets (asset ids and coin names must be unique).
        clock: Source of every timestamp (order, status, fill, response time).
        ledger: Accounts to use (a new empty `Ledger` by default).
        oid_start: The first order id; ids then count up by one per order.
        tid_start: The first trade id; ids then count up by one per match.
        error_asset_suffix: Append ` asset=N` to per-order reject texts, as the real
            exchange often does.
        max_user_fills: Fills kept per (non-house) account for `user_fills`.
        max_finished_orders: Finished orders kept for `order_status` (oldest dropped).
    """

    def __init__(
        self,
        markets: Sequence[MarketSpec],
        clock: Clock,
        *,
        ledger: Ledger | None = None,
        oid_start: int = 1_000_000,
        tid_start: int = 100_000_000_000_000,
        error_asset_suffix: bool = False,
        max_user_fills: int = 10_000,
        max_finished_orders: int = 200_000,
    ) -> None:
        self._specs = {spec.asset: spec for spec in markets}
        self._assets = {spec.name: spec.asset for spec in markets}
        if len(self._specs) != len(markets) or len(self._assets) != len(markets):
            raise ValueError("market asset ids and names must be unique")
        self._clock = clock
        self.ledger = ledger if ledger is not None else Ledger()
        self._books = {asset: OrderBook() for asset in self._specs}
        self._next_oid = oid_start
        self._next_tid = tid_start
        self._suffix = error_asset_suffix
        self._max_user_fills = max_user_fills
        self._index = OrderIndex(max_finished_orders)
        self._user_fills: dict[str, deque[FillRecord]] = {}
        no_trade: tuple[Decimal | None, Decimal, Decimal] = (None, _ZERO, _ZERO)
        self._totals = dict.fromkeys(self._specs, no_trade)

    # --- markets ------------------------------------------------------------------------

    @property
    def markets(self) -> tuple[MarketSpec, ...]:
        """Every market, in the order given."""
        return tuple(self._specs.values())

    def spec(self, asset: int) -> MarketSpec:
        """The market of `asset`.

        Raises:
            MarketError: no such asset.
        """
        spec = self._specs.get(asset)
        if spec is None:
            raise MarketError(f"asset {asset} is not a market of this simulator")
        return spec

    def asset_of(self, coin: str) -> int:
        """The asset id of the coin name `coin` (e.g. `"xyz:COIN"`).

        Raises:
            MarketError: no such coin.
        """
        if coin not in self._assets:
            raise MarketError(f"coin {coin!r} is not a market of this simulator")
        return self._assets[coin]

    # --- orders ---------------------------------------------------------------------------

    def place(
        self,
        owner: str,
        asset: int,
        is_buy: bool,
        px: Decimal,
        sz: Decimal,
        tif: Tif = "Gtc",
        reduce_only: bool = False,
        cloid: str | None = None,
    ) -> PlaceResult:
        """Place one limit order and match it (see the module docstring for the rules).

        Args:
            owner: The account address (any case; stored lower case).
            asset: The market's asset id.
            is_buy: True to buy.
            px: Limit price.
            sz: Size in coin units.
            tif: `Gtc`, `Ioc` or `Alo`.
            reduce_only: Only reduce the current position.
            cloid: Client order id, `0x` + 32 hex digits (stored lower case).

        Returns:
            The response status, the fills (both sides), the order events of every owner
            involved and the public trades.

        Raises:
            MarketError: unknown asset.
            ValueError: unknown TIF or malformed cloid.
            TypeError: price or size not a Decimal.
        """
        spec = self.spec(asset)
        _check_input(px, sz, tif, cloid)
        owner = owner.lower()
        cloid = cloid.lower() if cloid is not None else None
        if sz <= 0 or sz % size_step(spec.sz_decimals) != 0:
            return PlaceResult(Rejected(self._text(INVALID_SIZE, asset)))
        if cloid is not None and self._index.open_oid(owner, cloid) is not None:
            return PlaceResult(Rejected(self._text(DUPLICATE_CLOID, asset)))
        now = self._clock.now_ms()
        order = BookOrder(
            self._next_oid, owner, asset, is_buy, px, sz, tif, reduce_only, cloid, now
        )
        self._next_oid += 1
        refusal = self._refusal(order, spec)
        if refusal is not None:
            status, text = refusal
            return PlaceResult(
                Rejected(self._text(text, asset), status),
                events=(self._finish(order, status, now),),
            )
        return self._execute(order, spec, now)

    def _refusal(self, order: BookOrder, spec: MarketSpec) -> tuple[str, str] | None:
        if not is_valid_price(order.px, spec.sz_decimals):
            return "tickRejected", TICK_REJECT
        if not order.reduce_only and order.px * order.sz < spec.min_notional:
            return "minTradeNtlRejected", min_notional_text(spec.min_notional)
        if order.reduce_only:
            szi = self.ledger.position_size(order.owner, spec.asset)
            if szi == 0 or (szi > 0) == order.is_buy or order.sz > abs(szi):
                return "reduceOnlyRejected", REDUCE_ONLY_REJECT
        book = self._books[spec.asset]
        if order.tif == "Alo" and book.crosses(order):
            bid, ask = book.best_bid(), book.best_ask()
            text = ALO_REJECT.format(
                bid=to_wire(bid) if bid is not None else "None",
                ask=to_wire(ask) if ask is not None else "None",
            )
            return "badAloPxRejected", text
        if not order.reduce_only and not self.ledger.is_house(order.owner):
            needed = self.ledger.margin_for_order(
                order.owner, spec, order.is_buy, order.px, order.sz
            ) + order.px * order.sz * max(spec.taker_fee_rate, _ZERO)
            available = self.ledger.balance(order.owner) - self.reserved_margin(order.owner)
            if needed > available:
                return "perpMarginRejected", MARGIN_REJECT
        return None

    def _execute(self, order: BookOrder, spec: MarketSpec, now: int) -> PlaceResult:
        fills: list[FillRecord] = []
        events: list[OrderEvent] = []
        trades: list[Trade] = []
        makers = self._match(order, spec, now, fills, events, trades)
        filled = order.orig_sz - order.sz
        status: Resting | Filled | Rejected
        if order.tif != "Ioc" and order.sz > 0:
            self._rest(order)
            events.append(self._event(order, "open", now))
            status = Resting(order.oid, order.cloid)
        elif filled == 0:
            events.append(self._finish(order, "iocCancelRejected", now))
            status = Rejected(self._text(IOC_REJECT, spec.asset), "iocCancelRejected")
        else:
            events.append(self._finish(order, "filled" if order.sz == 0 else "canceled", now))
            notional = sum((f.px * f.sz for f in fills if f.crossed), _ZERO)
            status = Filled(filled, _AVG_CTX.divide(notional, filled), order.oid, order.cloid)
        if fills:
            makers.add(order.owner)
            self._sweep_reduce_only(makers, spec.asset, now, events)
        return PlaceResult(status, tuple(fills), tuple(events), tuple(trades))

    def _match(
        self,
        taker: BookOrder,
        spec: MarketSpec,
        now: int,
        fills: list[FillRecord],
        events: list[OrderEvent],
        trades: list[Trade],
    ) -> set[str]:
        book = self._books[spec.asset]
        makers: set[str] = set()
        while taker.sz > 0 and book.crosses(taker):
            maker = book.front(not taker.is_buy)
            if maker.owner == taker.owner:
                events.append(self._cancel_resting(maker, "selfTradeCanceled", now))
                continue
            qty = min(taker.sz, maker.sz)
            if maker.reduce_only:
                qty = min(qty, self._reduce_allowance(maker))
                if qty == 0:
                    events.append(self._cancel_resting(maker, "reduceOnlyCanceled", now))
                    continue
            self._trade(spec, maker, taker, qty, now, fills, trades)
            makers.add(maker.owner)
            if maker.sz == 0:
                book.remove(maker)
                events.append(self._finish(maker, "filled", now))
        return makers

    def _trade(
        self,
        spec: MarketSpec,
        maker: BookOrder,
        taker: BookOrder,
        qty: Decimal,
        now: int,
        fills: list[FillRecord],
        trades: list[Trade],
    ) -> None:
        px = maker.px
        tid = self._next_tid
        self._next_tid += 1
        if not taker.hash:
            taker.hash = "0x" + hashlib.sha256(f"hip3term-sim:{taker.oid}".encode()).hexdigest()
        for order, rate, crossed in (
            (maker, spec.maker_fee_rate, False),
            (taker, spec.taker_fee_rate, True),
        ):
            fee = (px * qty * rate).quantize(_FEE_QUANTUM, ROUND_HALF_EVEN)
            effect = self.ledger.apply_fill(order.owner, spec, order.is_buy, px, qty, fee)
            order.sz -= qty
            fill = FillRecord(
                owner=order.owner, coin=spec.name, asset=spec.asset, px=px, sz=qty,
                is_buy=order.is_buy, time=now, start_position=effect.start_position,
                dir=effect.dir, closed_pnl=effect.closed_pnl, hash=taker.hash,
                oid=order.oid, crossed=crossed, fee=fee, tid=tid, cloid=order.cloid,
            )  # fmt: skip
            fills.append(fill)
            self._remember_fill(fill)
        _, notional, base = self._totals[spec.asset]
        self._totals[spec.asset] = (px, notional + px * qty, base + qty)
        buyer, seller = (taker, maker) if taker.is_buy else (maker, taker)
        trades.append(
            Trade(spec.name, spec.asset, taker.is_buy, px, qty, now, taker.hash, tid,
                  buyer.owner, seller.owner)
        )  # fmt: skip

    def _reduce_allowance(self, order: BookOrder) -> Decimal:
        szi = self.ledger.position_size(order.owner, order.asset)
        if szi == 0 or (szi > 0) == order.is_buy:
            return _ZERO
        return abs(szi)

    def _sweep_reduce_only(
        self, owners: set[str], asset: int, now: int, events: list[OrderEvent]
    ) -> None:
        # After fills, a resting reduce-only order that could only increase is canceled.
        for owner in sorted(owners):
            doomed = [
                order
                for order in self._index.of_owner(owner)
                if order.asset == asset and order.reduce_only and self._reduce_allowance(order) == 0
            ]
            events.extend(self._cancel_resting(o, "reduceOnlyCanceled", now) for o in doomed)

    # --- order bookkeeping -----------------------------------------------------------------

    def _rest(self, order: BookOrder) -> None:
        self._books[order.asset].add(order)
        self._index.add(order)

    def _cancel_resting(self, order: BookOrder, status: str, now: int) -> OrderEvent:
        self._books[order.asset].remove(order)
        return self._finish(order, status, now)

    def _finish(self, order: BookOrder, status: str, now: int) -> OrderEvent:
        # The order leaves the open set (if it was there) with its final status.
        self._index.remove(order)
        event = self._event(order, status, now)
        if not self.ledger.is_house(order.owner):
            self._index.remember(event)
        return event

    def _event(self, order: BookOrder, status: str, now: int) -> OrderEvent:
        return OrderEvent(self._view(order), status, now)

    def _view(self, order: BookOrder) -> OrderView:
        return OrderView(
            coin=self._specs[order.asset].name, asset=order.asset, owner=order.owner,
            oid=order.oid, is_buy=order.is_buy, limit_px=order.px, sz=order.sz,
            orig_sz=order.orig_sz, timestamp=order.timestamp, tif=order.tif,
            reduce_only=order.reduce_only, cloid=order.cloid,
        )  # fmt: skip

    def _remember_fill(self, fill: FillRecord) -> None:
        if self.ledger.is_house(fill.owner):
            return
        kept = self._user_fills.get(fill.owner)
        if kept is None:
            kept = self._user_fills[fill.owner] = deque(maxlen=self._max_user_fills)
        kept.append(fill)

    def _text(self, text: str, asset: int) -> str:
        return f"{text} asset={asset}" if self._suffix else text

    # --- cancels --------------------------------------------------------------------------

    def cancel(self, owner: str, asset: int, oid: int) -> CancelResult:
        """Cancel the open order `oid` of `owner` on `asset`.

        Returns:
            Success with the `canceled` event, or the error `CANCEL_MISSING` when no such
            open order exists (never placed, already canceled or filled, another owner's,
            or on another asset).
        """
        order = self._index.get(oid)
        if order is None or order.owner != owner.lower() or order.asset != asset:
            return CancelResult(CANCEL_MISSING)
        return CancelResult(None, (self._cancel_resting(order, "canceled", self._now()),))

    def cancel_by_cloid(self, owner: str, asset: int, cloid: str) -> CancelResult:
        """Cancel the open order of `owner` with client id `cloid` on `asset`."""
        oid = self._index.open_oid(owner.lower(), cloid.lower())
        if oid is None:
            return CancelResult(CANCEL_MISSING)
        return self.cancel(owner, asset, oid)

    def cancel_all(self, owner: str, asset: int | None = None) -> list[OrderEvent]:
        """Cancel every open order of `owner` (on `asset` only, if given), oldest first."""
        now = self._now()
        orders = self._index.of_owner(owner.lower())
        return [
            self._cancel_resting(order, "canceled", now)
            for order in orders
            if asset is None or order.asset == asset
        ]

    # --- queries ----------------------------------------------------------------------------

    def open_orders(self, owner: str, dex: str | None = None) -> list[OrderView]:
        """Open orders of `owner`, newest first (on markets of `dex` only, if given)."""
        orders = self._index.of_owner(owner.lower())
        return [
            self._view(order)
            for order in reversed(orders)
            if dex is None or self._specs[order.asset].dex == dex
        ]

    def open_limits(self, owner: str) -> list[tuple[int, bool, Decimal]]:
        """`(oid, is_buy, limit price)` of the open orders of `owner`, newest first: the
        orders of `open_orders(owner)` without a snapshot of each (for checks made on
        every market update)."""
        return [(order.oid, order.is_buy, order.px)
                for order in reversed(self._index.of_owner(owner.lower()))]

    def open_order_count(self, owner: str, asset: int | None = None) -> int:
        """How many open orders `owner` has (on `asset` only, if given)."""
        if asset is None:
            return self._index.count(owner.lower())
        return sum(1 for order in self._index.of_owner(owner.lower()) if order.asset == asset)

    def is_open(self, oid: int) -> bool:
        """Whether `oid` rests on a book (cheap)."""
        return self._index.get(oid) is not None

    def order_status(
        self, owner: str, oid: int | None = None, cloid: str | None = None
    ) -> OrderEvent | None:
        """The current status of an order of `owner`, by oid or by cloid.

        Open orders report `open` with their remaining size; finished ones their final
        event. House accounts' finished orders are not kept. None = `unknownOid`.
        """
        owner = owner.lower()
        if oid is None:
            if cloid is None:
                raise ValueError("order_status needs an oid or a cloid")
            oid = self._index.latest_oid(owner, cloid.lower())
            if oid is None:
                return None
        order = self._index.get(oid)
        if order is not None:
            if order.owner != owner:
                return None
            return OrderEvent(self._view(order), "open", order.timestamp)
        event = self._index.finished(oid)
        return event if event is not None and event.owner == owner else None

    def reserved_margin(self, owner: str) -> Decimal:
        """Margin held by the open orders of `owner`: `sz * px / leverage` of each order
        that is not reduce-only."""
        total = _ZERO
        for order in self._index.of_owner(owner.lower()):
            if not order.reduce_only:
                spec = self._specs[order.asset]
                total += order.sz * order.px / self.ledger.leverage(owner, spec)
        return total

    def book_levels(self, asset: int, depth: int = 20) -> tuple[list[Level], list[Level]]:
        """Bids and asks aggregated by price, best first, at most `depth` a side."""
        book = self._books[self.spec(asset).asset]
        return book.levels(True, depth), book.levels(False, depth)

    def bbo(self, asset: int) -> tuple[Level | None, Level | None]:
        """The best bid and best ask levels (None for an empty side)."""
        bids, asks = self.book_levels(asset, 1)
        return (bids[0] if bids else None, asks[0] if asks else None)

    def best_prices(self, asset: int) -> tuple[Decimal | None, Decimal | None]:
        """The best bid and ask prices only (cheaper than `bbo`)."""
        book = self._books[self.spec(asset).asset]
        return book.best_bid(), book.best_ask()

    def mid(self, asset: int) -> Decimal | None:
        """`(best bid + best ask) / 2`, or None when a side is empty."""
        bid, ask = self.best_prices(asset)
        return (bid + ask) / 2 if bid is not None and ask is not None else None

    def trade_totals(self, asset: int) -> tuple[Decimal | None, Decimal, Decimal]:
        """Last trade price (None before the first trade), and the notional and base
        volume traded on `asset` since the engine started."""
        return self._totals[self.spec(asset).asset]

    def user_fills(self, owner: str) -> list[FillRecord]:
        """The most recent fills of a non-house account, oldest first."""
        return list(self._user_fills.get(owner.lower(), ()))

    # --- accounts ---------------------------------------------------------------------------

    def position(self, owner: str, asset: int) -> PositionSnapshot:
        """A copy of `owner`'s position on `asset`."""
        return self.ledger.position(owner, self.spec(asset))

    def update_leverage(
        self, owner: str, asset: int, leverage: int, *, is_cross: bool = False
    ) -> str | None:
        """Set `owner`'s leverage on `asset` (`updateLeverage`).

        Returns:
            None on success, else an error text (the simulator's own wording: the
            exchange's texts for these cases are not documented).
        """
        spec = self.spec(asset)
        if is_cross and spec.only_isolated:
            return "Cross margin is not allowed for this asset."
        if isinstance(leverage, bool) or not 1 <= leverage <= spec.max_leverage:
            return f"Invalid leverage value: must be between 1 and {spec.max_leverage}."
        return self.ledger.set_leverage(owner, spec, leverage)

    def update_isolated_margin(self, owner: str, asset: int, usdc: Decimal) -> str | None:
        """Add (positive) or remove (negative) isolated margin; None or an error text."""
        return self.ledger.add_margin(owner, self.spec(asset), usdc)

    def apply_funding(self, asset: int, rate: Decimal, mark: Decimal) -> list[FundingPayment]:
        """Charge one funding interval at `rate` to every position on `asset`, at `mark`."""
        return self.ledger.apply_funding(self.spec(asset), rate, mark, self._now())

    def clearinghouse_state(
        self, owner: str, dex: str, marks: Mapping[int, Decimal]
    ) -> dict[str, Any]:
        """The `clearinghouseState` response of `owner` for the markets of `dex`."""
        specs = [spec for spec in self._specs.values() if spec.dex == dex]
        return self.ledger.clearinghouse_state(
            owner, specs, marks, self.reserved_margin(owner), self._now()
        )

    def _now(self) -> int:
        return self._clock.now_ms()


def _check_input(px: Decimal, sz: Decimal, tif: str, cloid: str | None) -> None:
    if not isinstance(px, Decimal) or not isinstance(sz, Decimal):
        raise TypeError("price and size must be Decimal")
    if not px.is_finite() or not sz.is_finite():
        raise ValueError("price and size must be finite")
    if tif not in _TIFS:
        raise ValueError(f"tif must be Gtc, Ioc or Alo, not {tif!r}")
    if cloid is not None and _CLOID.fullmatch(cloid) is None:
        raise ValueError(f"a cloid is 0x followed by 32 hex digits, not {cloid!r}")
