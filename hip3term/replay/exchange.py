"""The replay's exchange: the simulator's exchange core trading against a recorded book.

`RecordedBookExchange` wraps a `SimExchange` (signature recovery, nonces, the address
budget, tick/lot/minimum checks with the exchange's texts, isolated margin, fees, order
statuses, `orderUpdates`/`userFills` frames and every info answer) whose matching engine
holds only the replayed account's own orders. The recorded market reaches it as parsed
events at their exchange time (`on_market`) and forms the *recorded book*: the last
l2Book snapshot, with its top replaced by a newer bbo (levels the bbo shows to be gone
are dropped).

Fill model:

- *at arrival* (an `order` action): the recorded book is placed in the engine as house
  liquidity for the duration of the action, so IOCs, crossing GTCs and ALO checks meet
  the book as it stood when the order arrived; the house orders are then removed. What an
  order takes stays taken until the next book or bbo restates the levels. Only the levels
  the action's limit prices can reach are placed, with each side's best (a trigger order
  or a malformed one: the whole book): a level beyond every limit could not trade, and
  placing the whole book for each order made the orders most of a busy replay's time.
- *resting orders* queue behind the size displayed at their price when they came to rest
  (nothing ahead when they improve the price). A later book showing less at that price
  shortens the queue (cancellations are assumed ahead of us). A recorded trade at the
  order's price consumes the queue first and then fills the order; a trade through its
  price, or a book whose other side crosses it (the market moved through it), fills it
  at its own price as the maker. Recorded trades of the recorded session's own account
  are left out (they were the live strategy's, not the market's).

Fills against resting orders are made by house IOCs of the recorded size (exempt from
the minimum order value, since they stand for the market's flow). Stress: `fees_bps`
adds to both fee rates, `slippage_bps` moves every recorded level away from the mid
(asks up, bids down, to valid prices) before it can be traded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

from hip3term.errors import ConfigError, MarketError
from hip3term.venue.hyperliquid import wire
from hip3term.venue.hyperliquid.markets import MarketInfo
from hip3term.venue.sim.actions import MalformedError, parse_order
from hip3term.venue.sim.book import BookOrder
from hip3term.venue.sim.exchange import DEX, SimExchange, dex_package, market_spec
from hip3term.venue.sim.ledger import MarketSpec
from hip3term.venue.sim.market import StepResult
from hip3term.venue.sim.matching import MatchingEngine
from hip3term.venue.sim.pushes import Push
from hip3term.venue.sim.records import OrderView

__all__ = ["HOUSE", "RecordedBookExchange"]

HOUSE: Final = "0x000000000000000000000000000000000000c33d"
"""The house account standing for the recorded market."""
_ACCOUNT_CHANNELS: Final = frozenset({"orderUpdates", "userFills"})
_BPS: Final = Decimal(10_000)
_ZERO: Final = Decimal(0)
# the messages `on_market` tells apart, as Final names: compiled, a Final is a C static,
# `wire.L2Book` a lookup of the module's global and then of the module's attribute
_BOOK: Final = wire.L2Book
_BBO: Final = wire.Bbo
_CTX: Final = wire.AssetCtx
_TRADES: Final = wire.Trades

_Side = list[tuple[Decimal, Decimal]]
_Limits = tuple[Decimal | None, Decimal | None]  # (highest buy limit, lowest sell limit)


def _crossing_limits(action: object, asset: int) -> _Limits | None:
    # The highest buy and the lowest sell limit among an order action's orders for `asset`
    # (None for a side with none): a buy can only take asks at or under its limit, a sell
    # bids at or over it. None when that cannot be told (a trigger order, anything
    # malformed, which the simulator's own checks then answer): the whole book is loaded.
    items = action.get("orders") if isinstance(action, dict) else None
    if not isinstance(items, list):
        return None
    try:
        orders = [parse_order(item) for item in items]
    except MalformedError:
        return None
    buy: Decimal | None = None
    sell: Decimal | None = None
    for order in orders:
        if order.tif is None:
            return None  # a trigger order
        if order.asset != asset:
            continue  # another market's book is not loaded
        try:
            px = Decimal(order.px)
        except ArithmeticError:
            return None
        if not px.is_finite():
            return None
        if order.is_buy:
            buy = px if buy is None or px > buy else buy
        else:
            sell = px if sell is None or px < sell else sell
    return buy, sell


class _ReplayEngine(MatchingEngine):
    # The house stands for the recorded market: its orders skip the order checks (a
    # recorded trade of $3 must be able to fill a resting order by $3).
    def _refusal(self, order: BookOrder, spec: MarketSpec) -> tuple[str, str] | None:
        if self.ledger.is_house(order.owner):
            return None
        return super()._refusal(order, spec)


class _Tape:
    # The exchange's market driver (`exchange.MarketDriver`): mark and context from the
    # recorded activeAssetCtx; nothing is stepped.
    def __init__(self, spec: MarketSpec, start_px: Decimal) -> None:
        self._spec, self.mark, self.oracle = spec, start_px, start_px
        self.ctx: wire.AssetCtx | None = None

    @property
    def spec(self) -> MarketSpec:
        return self._spec

    @property
    def mark_px(self) -> Decimal:
        return self.mark

    def asset_ctx(self) -> dict[str, Any]:
        ctx = self.ctx
        return {
            "funding": str(ctx.funding) if ctx else "0", "openInterest": "0",
            "prevDayPx": str(self.mark), "dayNtlVlm": "0", "premium": None,
            "oraclePx": str(self.oracle), "markPx": str(self.mark), "midPx": None,
            "impactPxs": None, "dayBaseVlm": "0",
        }  # fmt: skip

    def step(self, now_ms: int | None = None) -> StepResult:
        return StepResult()


class RecordedBookExchange:
    """The exchange of a replay (see the module docstring).

    Args:
        market: the market name ("xyz:COIN"); it must be a coin of the simulator's `xyz`.
        clock: the virtual clock (exchange time).
        account: the replayed account (funded with `funding`), which also signs.
        funding: its USDC.
        fees_bps: added to the taker and maker fee rates.
        slippage_bps: recorded levels move this far away from the mid before they trade.
        own_accounts: addresses whose recorded trades are left out (the recorded session's).
        whole_book: every order action meets the whole recorded book, not only the levels
            its orders can reach (what that must be indistinguishable from; tests).

    Raises:
        ConfigError: the market is not one the simulated exchange knows.
    """

    def __init__(self, market: str, *, clock: Any, account: str, funding: Decimal,
                 fees_bps: float = 0.0, slippage_bps: float = 0.0,
                 own_accounts: Iterable[str] = (), whole_book: bool = False) -> None:  # fmt: skip
        meta, perp_dexs, static_ctxs, directory = dex_package()
        try:
            self.info: MarketInfo = directory.lookup(market)
        except MarketError as exc:
            raise ConfigError(f"replay of {market}: the simulated exchange trades the markets "
                              f"of the {DEX!r} dex only ({exc.message})") from None
        spec = _with_fees(market_spec(self.info), Decimal(repr(fees_bps)) / _BPS)
        self.spec = spec
        self._tape = _Tape(spec, Decimal(static_ctxs[self.info.index]["oraclePx"])
                           if self.info.index < len(static_ctxs) else Decimal(100))
        self.engine = _ReplayEngine([spec], clock)
        self.sim = SimExchange(clock=clock, engine=self.engine, drivers=[self._tape],
                               directory=directory, meta=meta, perp_dexs=perp_dexs,
                               static_ctxs=static_ctxs)  # fmt: skip
        self.account = account.lower()
        self.sim.fund(self.account, funding)
        self.engine.ledger.open_account(HOUSE, house=True)
        self._slip = Decimal(repr(slippage_bps)) / _BPS
        self._own = frozenset(a.lower() for a in own_accounts)
        self._book: wire.L2Book | None = None
        self._bbo: wire.Bbo | None = None  # newer than the book, or None
        self._sides: dict[bool, _Side] = {}  # composite sides, built on demand
        self._book_sides: dict[bool, _Side] = {}  # the l2Book's own sides, built on demand
        self._taken: dict[tuple[bool, Decimal], Decimal] = {}
        self._ahead: dict[int, Decimal] = {}
        self.resting_fills = 0
        self.whole_book = whole_book

    # ------------------------------------------------------------ requests

    def info_response(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The `response` object of an info post."""
        return self.sim.info_response(payload)

    def action_response(self, payload: dict[str, Any]) -> tuple[dict[str, Any], list[Push]]:
        """The `response` of an action post and the account frames it caused."""
        action = payload.get("action")
        is_order = isinstance(action, dict) and action.get("type") == "order"
        if is_order:
            self._load_house(None if self.whole_book
                             else _crossing_limits(action, self.spec.asset))
        try:
            response, pushes = self.sim.action_response(payload)
        finally:
            if is_order:
                self.engine.cancel_all(HOUSE)
        mine = [p for p in pushes if p.channel in _ACCOUNT_CHANNELS]
        if is_order:
            self._note_taken(mine)
            self._note_resting()
        return response, mine

    # ------------------------------------------------------------ the recorded market

    def on_market(self, event: wire.Event) -> list[Push]:
        """A recorded market event at its exchange time; the account frames it caused."""
        if isinstance(event, _BOOK):
            self._book, self._bbo = event, None
            self._book_sides.clear()
        elif isinstance(event, _BBO):
            self._bbo = event
        elif isinstance(event, _CTX):
            self._tape.ctx, self._tape.mark, self._tape.oracle = (
                event, event.mark_px, event.oracle_px)
            return []
        elif isinstance(event, _TRADES):
            return self._on_trades(event) if self._ahead else []
        else:
            return []
        self._sides.clear()
        self._taken.clear()
        return self._on_book() if self._ahead else []

    def side(self, is_bid: bool) -> _Side:
        """The recorded book's side as (px, sz), best first (the bbo over the book)."""
        cached = self._sides.get(is_bid)
        if cached is not None:
            return cached
        bbo = self._bbo
        levels: _Side
        if bbo is None:
            levels = self._book_side(is_bid)
        else:
            top = bbo.bid if is_bid else bbo.ask
            levels = []
            if top is not None:
                levels.append((top.px, top.sz))
                levels += [(p, s) for p, s in self._book_side(is_bid)
                           if (p < top.px if is_bid else p > top.px)]  # fmt: skip
        self._sides[is_bid] = levels
        return levels

    def _book_side(self, is_bid: bool) -> _Side:
        # The l2Book's side as (px, sz), converted once per book (bbos come and go on it).
        levels = self._book_sides.get(is_bid)
        if levels is None:
            book = self._book
            ladder = None if book is None else book.bids if is_bid else book.asks
            levels = [] if ladder is None else list(zip(ladder.prices(), ladder.sizes(),
                                                        strict=True))  # fmt: skip
            self._book_sides[is_bid] = levels
        return levels

    def size_at(self, is_bid: bool, px: Decimal) -> Decimal:
        """The recorded size at `px` on one side (0 when no level is there)."""
        return next((s for p, s in self.side(is_bid) if p == px), _ZERO)

    # ------------------------------------------------------------ arrival

    def _load_house(self, limits: _Limits | None) -> None:
        # The recorded book as house orders. With the action's limits known, each side
        # stops after its best level at the first level no order of the action can reach
        # (levels come best first): those could not trade, and the best levels still give
        # the engine the touch it shows (an ALO's rejection text). `limits` None: all.
        mine = self._open()
        top_bid = max((o.limit_px for o in mine if o.is_buy), default=None)
        low_ask = min((o.limit_px for o in mine if not o.is_buy), default=None)
        asset = self.spec.asset
        for is_bid in (True, False):
            reach = None if limits is None else limits[1] if is_bid else limits[0]
            placed = False
            for px, sz in self.side(is_bid):
                shown = self._slipped(px, is_bid)
                if placed and limits is not None and (reach is None or (
                        shown < reach if is_bid else shown > reach)):
                    break
                left = sz - self._taken.get((is_bid, px), _ZERO)
                if left <= 0 or (is_bid and low_ask is not None and shown >= low_ask) or (
                        not is_bid and top_bid is not None and shown <= top_bid):
                    continue  # our own resting orders are filled by the market model only
                self.engine.place(HOUSE, asset, is_bid, shown, left, "Gtc")
                placed = True

    def _slipped(self, px: Decimal, is_bid: bool) -> Decimal:
        if not self._slip:
            return px
        moved = px * (1 - self._slip) if is_bid else px * (1 + self._slip)
        return self.info.round_price(moved, is_buy=not is_bid, aggressive=True)

    def _note_taken(self, pushes: list[Push]) -> None:
        for push in pushes:
            if push.channel != "userFills":
                continue
            for fill in push.data["fills"]:
                if fill["crossed"]:
                    key = (fill["side"] != "B", Decimal(fill["px"]))  # the side taken from
                    self._taken[key] = self._taken.get(key, _ZERO) + Decimal(fill["sz"])

    def _note_resting(self) -> None:
        open_now = {o.oid: o for o in self._open()}
        self._ahead = {oid: ahead for oid, ahead in self._ahead.items() if oid in open_now}
        for oid, order in open_now.items():
            if oid not in self._ahead:
                self._ahead[oid] = self.size_at(order.is_buy, order.limit_px)

    def _open(self) -> list[OrderView]:
        return self.engine.open_orders(self.account)

    # ------------------------------------------------------------ resting orders

    def _on_book(self) -> list[Push]:
        orders = self.engine.open_limits(self.account)
        ahead = self._ahead
        self._ahead = {oid: min(ahead.get(oid, _ZERO), self.size_at(is_buy, px))
                       for oid, is_buy, px in orders}
        pushes: list[Push] = []
        for is_bid in (True, False):
            mine = [px for _, is_buy, px in orders if is_buy == is_bid]
            other = self.side(not is_bid)
            if not mine or not other:
                continue
            best = max(mine) if is_bid else min(mine)
            crossing = [(p, s) for p, s in other if (p <= best if is_bid else p >= best)]
            if crossing:  # the market moved through our price: fill as the maker
                size = sum((s for _, s in crossing), _ZERO)
                pushes += self._hit(not is_bid, crossing[0][0], size)
        return pushes

    def _on_trades(self, event: wire.Trades) -> list[Push]:
        pushes: list[Push] = []
        for trade in event.trades:
            if trade.coin != self.spec.name or self._own.intersection(
                    u.lower() for u in trade.users):  # fmt: skip
                continue
            for px, size in self._trade_plan(trade):
                pushes += self._hit(trade.side == "B", px, size)
        return pushes

    def _trade_plan(self, trade: wire.Trade) -> list[tuple[Decimal, Decimal]]:
        # Which of our orders a recorded trade fills, best price first: (px, size).
        hits_bids = trade.side == "A"
        orders = sorted((o for o in self._open() if o.is_buy == hits_bids),
                        key=lambda o: (-o.limit_px if hits_bids else o.limit_px, o.timestamp))
        left, plan = trade.sz, []
        for order in orders:
            through = order.limit_px > trade.px if hits_bids else order.limit_px < trade.px
            if not through and order.limit_px != trade.px:
                break
            if not through:
                queued = min(self._ahead.get(order.oid, _ZERO), left)
                self._ahead[order.oid] = self._ahead.get(order.oid, _ZERO) - queued
                left -= queued
            size = min(order.sz, left)
            if size > 0:
                plan.append((order.limit_px, size))
                left -= size
            if left <= 0:
                break
        return plan

    def _hit(self, is_buy: bool, px: Decimal, size: Decimal) -> list[Push]:
        result = self.engine.place(HOUSE, self.spec.asset, is_buy, px, size, "Ioc")
        user_fills = [f for f in result.fills if f.owner == self.account]
        self.resting_fills += len(user_fills)
        pushes = self.sim.result_pushes(result.fills, result.events, ())
        return [p for p in pushes if p.channel in _ACCOUNT_CHANNELS]


def _with_fees(spec: MarketSpec, extra: Decimal) -> MarketSpec:
    if not extra:
        return spec
    return dataclasses.replace(spec, taker_fee_rate=spec.taker_fee_rate + extra,
                               maker_fee_rate=spec.maker_fee_rate + extra)
