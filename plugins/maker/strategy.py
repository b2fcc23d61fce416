"""Post-only market maker: one level of ALO quotes around a fair price.

- *quotes*: a bid and an ask at `fair * (1 - skew) * (1 -/+ half_spread)`, fair being the
  microprice (or the mid), skew `inventory_skew_bps * inventory / limit` (a long position
  lowers both quotes, so the ask fills first). Prices round passively (bid down, ask up)
  and are then kept off the other side: a bid is always below the best ask, an ask above
  the best bid, so a quote never crosses the book.
- *inventory limit* `min(max_inventory_notional, risk.max_notional_per_market)`: a
  quote's size is cut so that its full fill keeps the position within the limit, and a
  side that cannot show the $10 minimum within it is not quoted.
- *states* NORMAL / DEFENSIVE / PAUSE (`next_state`): PAUSE wins whenever one of its
  triggers holds (a required feature invalid, book or oracle stale, mark-oracle
  divergence, inventory over the limit, violent moves: rv over a limit) and lasts at least
  `pause_hold_s`; leaving PAUSE always goes to DEFENSIVE, which lasts at least
  `defensive_hold_s`; DEFENSIVE also holds while one of its (softer) triggers holds and
  widens the spread and shrinks the size. Entering PAUSE cancels every order
  (`cancel_all`), and so does every evaluation in PAUSE while orders are still live.
- *minimal cancels*: a live quote is replaced only when the wanted price moved more than
  `requote_bps`, the quote is older than `refresh_s`, or it is larger than now allowed.
- a post-only reject (`badAloPxRejected`: the book moved first) is normal: the side is
  quoted again on a later evaluation, after `reject_retry_s`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from mypy_extensions import mypyc_attr

from hip3term.book.features import Features
from hip3term.errors import MarketError
from hip3term.strategy import (
    OrderUpdateLike,
    Strategy,
    StrategyContext,
    order_done,
)
from plugins.maker.params import MakerParams

__all__ = ["Maker", "MakerParams", "MakerState", "Quote", "next_state"]

_NS_PER_S: Final = 1_000_000_000
_BPS: Final = Decimal("0.0001")
_CANCEL_REPEAT_NS: Final = _NS_PER_S
_REQUIRED: Final = ("mid", "microprice", "spread_bps", "mark_oracle_bps", "oracle_age_s",
             "rv_1s_bps", "rv_10s_bps")
_FAILED: Final = frozenset({"rejected", "denied", "failed"})
_INSIDE_KEPT: Final = 512  # prices one tick inside the book kept by best price (the touch revisits)


class MakerState(enum.StrEnum):
    """NORMAL quotes; DEFENSIVE quotes wider and smaller; PAUSE quotes nothing."""

    NORMAL = "normal"
    DEFENSIVE = "defensive"
    PAUSE = "pause"


def next_state(current: MakerState, held_ns: int, *, pause: bool, defensive: bool,
               params: MakerParams) -> MakerState:
    """The state after one evaluation (pure).

    Args:
        current: the state now.
        held_ns: how long the current state has lasted.
        pause: a PAUSE trigger holds.
        defensive: a DEFENSIVE trigger holds.
        params: the hold times.
    """
    if pause:
        return MakerState.PAUSE
    if current is MakerState.PAUSE:
        if held_ns < params.pause_hold_s * _NS_PER_S:
            return MakerState.PAUSE
        return MakerState.DEFENSIVE
    if defensive:
        return MakerState.DEFENSIVE
    if current is MakerState.DEFENSIVE and held_ns < params.defensive_hold_s * _NS_PER_S:
        return MakerState.DEFENSIVE
    return MakerState.NORMAL


@dataclass(frozen=True, slots=True)
class Quote:
    """A quote: wanted (no cloid yet) or live (with the cloid and the time it was placed)."""

    is_buy: bool
    px: Decimal
    sz: Decimal
    edge_bps: float
    cloid: str = ""
    placed_ns: int = 0


@mypyc_attr(allow_interpreted_subclasses=True)  # an operator's plugin may extend it
class Maker(Strategy[MakerParams]):
    """The post-only maker (see the module docstring)."""

    name = "maker"
    description = ("One level of post-only quotes around the microprice with inventory skew; "
                   "NORMAL / DEFENSIVE / PAUSE states, PAUSE cancels all.")
    Params = MakerParams
    timer_interval_s = 0.5

    def __init__(self, params: MakerParams) -> None:
        super().__init__(params)
        self.state = MakerState.PAUSE
        self.reasons: tuple[str, ...] = ("starting",)
        self.transitions: list[tuple[int, MakerState, MakerState, str]] = []
        self.quotes: dict[bool, Quote] = {}  # is_buy -> live quote
        self.rejects = 0
        self._since_ns: int | None = None
        self._retry_ns = {True: 0, False: 0}
        self._cancel_ns: int | None = None
        # the float parameters as the Decimals (and the float) the arithmetic uses, made once
        self._half_spread = Decimal(str(params.half_spread_bps))
        self._skew_bps = Decimal(str(params.inventory_skew_bps))
        self._spread_mult = Decimal(str(params.defensive_spread_mult))
        self._inventory_frac = Decimal(str(params.defensive_inventory_frac))
        self._requote = Decimal(str(params.requote_bps))
        self._refresh_ns = params.refresh_s * _NS_PER_S
        # The quotes wanted depend only on the values of their inputs (prices come out
        # rounded to the tick, sizes to the lot, edges as floats), so the last answer
        # serves while those values repeat (the top unchanged: timer, context, a book
        # restating the same top). The same holds for the price one tick inside the book.
        self._wanted_key: tuple[object, ...] | None = None
        self._wanted: dict[bool, Quote] = {}
        self._inside: dict[tuple[bool, Decimal], Decimal | None] = {}
        self._inside_rules: object = None  # the rules the kept prices were made with

    # -- callbacks ---------------------------------------------------------------------

    def on_start(self, ctx: StrategyContext[MakerParams]) -> None:
        self._since_ns = ctx.monotonic_ns()
        self._cancel_all(ctx, "starting in PAUSE", force=True)

    def on_stop(self, ctx: StrategyContext[MakerParams]) -> None:
        self._cancel_all(ctx, "stopping", force=True)

    def on_book(self, ctx: StrategyContext[MakerParams]) -> None:
        self.evaluate(ctx)

    def on_bbo(self, ctx: StrategyContext[MakerParams]) -> None:
        self.evaluate(ctx)

    def on_asset_ctx(self, ctx: StrategyContext[MakerParams]) -> None:
        self.evaluate(ctx)

    def on_timer(self, ctx: StrategyContext[MakerParams]) -> None:
        self.evaluate(ctx)

    def on_order_update(self, ctx: StrategyContext[MakerParams],
                        update: OrderUpdateLike) -> None:
        if not order_done(update.status):
            return
        for is_buy, quote in list(self.quotes.items()):
            if quote.cloid == update.cloid:
                del self.quotes[is_buy]
                if update.status in _FAILED or update.status.endswith("Rejected"):
                    self.rejects += 1
                    self._retry_ns[is_buy] = (ctx.monotonic_ns()
                                              + round(self.params.reject_retry_s * _NS_PER_S))

    def status(self) -> Mapping[str, str | float | int | None]:
        """State, its reasons and the live quotes."""
        bid, ask = self.quotes.get(True), self.quotes.get(False)
        return {"state": self.state.value, "reasons": "; ".join(self.reasons),
                "bid": None if bid is None else str(bid.px),
                "ask": None if ask is None else str(ask.px), "rejects": self.rejects}

    # -- evaluation --------------------------------------------------------------------

    def evaluate(self, ctx: StrategyContext[MakerParams]) -> None:
        """Update the state, then cancel or (re)place quotes as it requires."""
        now = ctx.monotonic_ns()
        features = ctx.features()
        pause, defensive = self.triggers(ctx, features)
        if self._since_ns is None:  # the first evaluation starts the initial PAUSE
            self._since_ns = now
        new = next_state(self.state, now - self._since_ns, pause=bool(pause),
                         defensive=bool(defensive), params=self.params)
        if new is not self.state:
            self._transition(ctx, new, tuple(pause or defensive), now)
        if new is MakerState.PAUSE:
            if self.quotes or ctx.open_orders():
                self._cancel_all(ctx, "PAUSE: " + "; ".join(self.reasons))
            return
        wanted = self.wanted_quotes(ctx, features)
        for is_buy in (True, False):
            self._update_side(ctx, is_buy, wanted.get(is_buy), now)

    def _transition(self, ctx: StrategyContext[MakerParams], new: MakerState,
                    reasons: tuple[str, ...], now: int) -> None:
        text = "; ".join(reasons) or "triggers cleared"
        self.transitions.append((ctx.now_ns(), self.state, new, text))
        ctx.log_signal(kind="state", side=None, expected_edge_bps=None, traded=False,
                       reason=f"{self.state.value} -> {new.value}: {text}")
        self.state, self.reasons, self._since_ns = new, reasons, now
        if new is MakerState.PAUSE:
            self._cancel_all(ctx, f"PAUSE: {text}", force=True)

    def _cancel_all(self, ctx: StrategyContext[MakerParams], reason: str, *,
                    force: bool = False) -> None:
        now = ctx.monotonic_ns()
        if force or self._cancel_ns is None or now - self._cancel_ns >= _CANCEL_REPEAT_NS:
            ctx.cancel_all(reason)
            self._cancel_ns = now
        self.quotes.clear()

    def triggers(self, ctx: StrategyContext[MakerParams],
                 features: Features) -> tuple[list[str], list[str]]:
        """The PAUSE and the DEFENSIVE reasons that hold now."""
        params = self.params
        pause: list[str] = []
        defensive: list[str] = []
        pause += [f"{name} invalid: {feature.reason}" for name in _REQUIRED
                  if (feature := getattr(features, name)).value is None]
        if pause:
            return pause, defensive
        age = ctx.book.book_age_s(ctx.monotonic_ns())
        if age is None or age > params.max_book_age_s:
            pause.append(f"book stale ({age or 0:.1f} s)")
        checks = (
            (features.oracle_age_s.value, params.max_oracle_age_s, None, "oracle unchanged"),
            (_abs(features.mark_oracle_bps.value), params.max_mark_oracle_bps,
             params.defensive_mark_oracle_bps, "mark-oracle bps"),
            (features.rv_1s_bps.value, params.max_rv_1s_bps, None, "rv 1 s bps"),
            (features.rv_10s_bps.value, params.max_rv_10s_bps, params.defensive_rv_10s_bps,
             "rv 10 s bps"),
        )
        for value, pause_at, defensive_at, what in checks:
            if value is not None and value > pause_at:
                pause.append(f"{what} {value:.1f} > {pause_at:g}")
            elif value is not None and defensive_at is not None and value > defensive_at:
                defensive.append(f"{what} {value:.1f} > {defensive_at:g}")
        inventory, limit = self._inventory(ctx, features)
        if abs(inventory) > limit:
            pause.append(f"inventory ${abs(inventory):.2f} over the ${limit} limit")
        elif abs(inventory) >= limit * self._inventory_frac:
            defensive.append(f"inventory ${abs(inventory):.2f} of the ${limit} limit")
        return pause, defensive

    def _inventory(self, ctx: StrategyContext[MakerParams],
                   features: Features) -> tuple[Decimal, Decimal]:
        # (signed position notional at the mid, position limit)
        limit = min(self.params.max_inventory_notional, ctx.limits.per_market)
        position, mid = ctx.position(), features.mid.value
        if position is None or mid is None:
            return Decimal(0), limit
        return position.size * mid, limit

    # -- quotes ------------------------------------------------------------------------

    def wanted_quotes(self, ctx: StrategyContext[MakerParams],
                      features: Features) -> dict[bool, Quote]:
        """The quotes wanted now, by side (is_buy); a side is missing when not quoted."""
        params = self.params
        fair = _fair(features, params.fair)
        best_bid, best_ask = ctx.book.best_bid, ctx.book.best_ask
        if fair is None or best_bid is None or best_ask is None:
            return {}
        inventory, limit = self._inventory(ctx, features)
        held = Decimal(0) if (pos := ctx.position()) is None else pos.size
        defensive = self.state is MakerState.DEFENSIVE
        key = (fair, best_bid.px, best_ask.px, inventory, limit, held, defensive,
               ctx.min_order_notional, ctx.rules)
        if key != self._wanted_key:
            self._wanted = self._quotes_for(ctx, fair, best_bid.px, best_ask.px, inventory,
                                            limit, held, defensive)
            self._wanted_key = key
        return dict(self._wanted)

    def _quotes_for(self, ctx: StrategyContext[MakerParams], fair: Decimal, best_bid: Decimal,
                    best_ask: Decimal, inventory: Decimal, limit: Decimal, held: Decimal,
                    defensive: bool) -> dict[bool, Quote]:  # fmt: skip
        params = self.params
        share = max(Decimal(-1), min(Decimal(1), inventory / limit))
        skew = self._skew_bps * share
        half = self._half_spread
        size_notional = params.quote_notional
        if defensive:
            half *= self._spread_mult
            size_notional *= params.defensive_size_mult
        centre = fair * (1 - skew * _BPS)
        wanted: dict[bool, Quote] = {}
        for is_buy in (True, False):
            raw = centre * (1 - half * _BPS) if is_buy else centre * (1 + half * _BPS)
            px = self._passive_price(ctx, raw, is_buy, best_bid, best_ask)
            if px is None:
                continue
            # a full fill must keep |position| * max(fair, px) within the limit
            ref = max(fair, px)
            cap = limit / ref - held if is_buy else limit / ref + held
            sz = _lots(ctx, min(size_notional / fair, cap))
            if sz * px >= ctx.min_order_notional:
                edge = float((fair - px) / fair * (1 if is_buy else -1)) * 1e4
                wanted[is_buy] = Quote(is_buy, px, sz, edge - params.maker_fee_bps)
        return wanted

    def _passive_price(self, ctx: StrategyContext[MakerParams], raw: Decimal, is_buy: bool,
                       best_bid: Decimal, best_ask: Decimal) -> Decimal | None:
        # Round away from the book, then keep the quote strictly off the other side.
        rules = ctx.rules
        try:
            px = rules.round_price(raw, is_buy=is_buy, aggressive=False)
        except MarketError:
            return None
        inside = self._inside_price(ctx, is_buy, best_ask if is_buy else best_bid)
        if inside is None:
            return None
        px = min(px, inside) if is_buy else max(px, inside)
        return px if px > 0 else None

    def _inside_price(self, ctx: StrategyContext[MakerParams], is_buy: bool,
                      other: Decimal) -> Decimal | None:
        # The valid price one tick inside the other side's best (`other`): below the best
        # ask for a bid, above the best bid for an ask (None when there is none).
        rules, kept = ctx.rules, self._inside
        if rules is not self._inside_rules:
            kept.clear()
            self._inside_rules = rules
        key = (is_buy, other)
        if key in kept:
            return kept[key]
        try:
            tick = rules.price_tick(other)
            inside: Decimal | None = rules.round_price(
                other - tick if is_buy else other + tick, is_buy=is_buy, aggressive=False)
        except MarketError:
            inside = None
        if len(kept) >= _INSIDE_KEPT:
            kept.clear()  # the touch wanders: start again rather than grow
        kept[key] = inside
        return inside

    def _update_side(self, ctx: StrategyContext[MakerParams], is_buy: bool,
                     wanted: Quote | None, now: int) -> None:
        live = self.quotes.get(is_buy)
        if live is not None:
            if wanted is not None and not self._stale(live, wanted, now):
                return
            ctx.cancel(live.cloid, "requote" if wanted is not None else "side not quoted")
            del self.quotes[is_buy]
        if wanted is None or now < self._retry_ns[is_buy]:
            return
        cloid = ctx.place(is_buy=is_buy, px=wanted.px, sz=wanted.sz, tif="Alo",
                          expected_edge_bps=wanted.edge_bps, tag="bid" if is_buy else "ask",
                          ref_px=wanted.px)
        self.quotes[is_buy] = Quote(is_buy, wanted.px, wanted.sz, wanted.edge_bps, cloid, now)

    def _stale(self, live: Quote, wanted: Quote, now: int) -> bool:
        moved = abs(wanted.px - live.px) / live.px / _BPS > self._requote
        aged = now - live.placed_ns >= self._refresh_ns
        return moved or aged or live.sz > wanted.sz


def _abs(value: float | None) -> float | None:
    return None if value is None else abs(value)


def _fair(features: Features, source: str) -> Decimal | None:
    if source == "mid":
        return features.mid.value
    value = features.microprice.value
    return None if value is None else Decimal(repr(value))


def _lots(ctx: StrategyContext[MakerParams], size: Decimal) -> Decimal:
    if size <= 0:
        return Decimal(0)
    try:
        return ctx.rules.round_size(size, reduce_only=True)
    except MarketError:  # under one lot
        return Decimal(0)
