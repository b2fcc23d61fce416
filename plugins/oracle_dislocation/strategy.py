"""Oracle-dislocation taker: buy the ask below the oracle, sell the bid above it.

HIP-3 oracles are pushed by the deployer about every 3 s; between pushes the book can sit
through the oracle. The 48-hour study of 28 `xyz` equity perps (Jan 2026) found tens of
thousands of small raw signals per ticker (5-8 bps average, most reverting, losing after
fees) and only 50-1000 signals over 25-45 bps in 48 h, with win rates above 90 % at those
thresholds after fees. So the strategy trades only the large ones:

- *signal*: `buy_dislocation_bps` (oracle - best ask, over the oracle) or
  `sell_dislocation_bps` (best bid - oracle) from the market's features; its *expected
  edge* is the dislocation minus the round-trip taker fees (`2 * taker_fee_bps`, entry
  and exit are both IOC). A dislocation whose expected edge exceeds `threshold_bps` is a
  signal, and every signal is logged with its expected edge, traded or not (with the
  reason: stale oracle, position open, entry pending, cooldown, notional limits, size
  under the $10 minimum). With the defaults (9 bps a side, threshold 15) a buy needs the
  ask 33 bps under the oracle, inside the study's 25-45 bps band.
- *no signal* while a dislocation feature is invalid (book or oracle context stale, the
  oracle frozen: `xyz` equity oracles stop off-hours); *no entry* on an oracle that has not
  moved for `max_oracle_age_s`.
- *entry*: an IOC at the touch plus `buffer_ticks` ticks (rounded aggressively to a valid
  price), size `min(size_alpha * size at the touch, what the notional limits allow)`
  truncated to whole lots; one position and one pending entry per market, and
  `cooldown_s` between entries.
- *exit*: the engine's 30 s time stop, or earlier once the dislocation has closed (the exit
  side is within `exit_on_close_bps` of the oracle): a reduce-only IOC at the touch minus
  the buffer (reduce-only orders are exempt from the $10 minimum), or the engine's
  flattener when no valid exit order exists. Any position in the strategy's market is
  managed this way.
- *gate* (optional, `gate_model`): a LightGBM bundle trained by `hip3term train` gives
  each signal the probability that its after-fee markout is positive, from the same
  feature code the training used (`hip3term.ml.gate`); a signal that would otherwise be
  traded passes only when that probability is at least `gate_threshold`, and one that
  does not pass is logged untraded with the probability (`values["gate_p"]`, logged on
  every signal while a gate is loaded). The bundle must have been trained with this
  taker's round-trip fees. Without `gate_model` nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from mypy_extensions import mypyc_attr

from hip3term.book.features import Feature, Features, OracleFeatures
from hip3term.errors import MarketError
from hip3term.ml.gate import Gate, ModelError
from hip3term.strategy import (
    OrderUpdateLike,
    PositionLike,
    Side,
    Strategy,
    StrategyContext,
    order_done,
)
from plugins.oracle_dislocation.params import OracleDislocationParams

__all__ = ["OracleDislocation", "OracleDislocationParams"]

_NS_PER_S: Final = 1_000_000_000
_FLATTEN_REPEAT_NS: Final = 5 * _NS_PER_S


@mypyc_attr(allow_interpreted_subclasses=True)  # an operator's plugin may extend it
class OracleDislocation(Strategy[OracleDislocationParams]):
    """The oracle-dislocation IOC taker (see the module docstring)."""

    name = "oracle_dislocation"
    description = ("Takes the book with a small IOC when it sits through the oracle by more "
                   "than fees plus a threshold; exits when the gap closes or by time stop.")
    Params = OracleDislocationParams
    timer_interval_s = 1.0

    def __init__(self, params: OracleDislocationParams) -> None:
        super().__init__(params)
        self.entry_cloid: str | None = None
        self.exit_cloid: str | None = None
        self._last_entry_ns: int | None = None
        self._flatten_ns: int | None = None
        self.signals = 0
        self.entries = 0
        self.gate = (None if params.gate_model is None or params.taker_fee_bps is None
                     else _load_gate(params.gate_model, params.taker_fee_bps))
        self._fee_bps: float | None = params.taker_fee_bps

    def fee_bps(self, ctx: StrategyContext[OracleDislocationParams]) -> float:
        """Taker fee per side in bps: the parameter, else the market's tier-0 taker fee."""
        if self._fee_bps is None:
            self._fee_bps = float(ctx.rules.taker_fee_rate) * 1e4
        return self._fee_bps

    # -- callbacks ---------------------------------------------------------------------

    def on_book(self, ctx: StrategyContext[OracleDislocationParams]) -> None:
        # the oracle features on every update; the whole snapshot only for a signal (the
        # gate reads it), at the same time, so with the same values
        oracle = ctx.oracle_features()
        position = ctx.position()
        if position is not None:
            self._manage_exit(ctx, oracle, position)
        else:
            self._flatten_ns = None
        found = self._signal(oracle, self.fee_bps(ctx) if self._fee_bps is None
                             else self._fee_bps)
        if found is not None:
            self._on_signal(ctx, ctx.features(), position, *found)

    # every market update and the timer evaluate the same rule (compiled with mypyc, a
    # native class cannot alias one method under other names: each calls on_book)

    def on_bbo(self, ctx: StrategyContext[OracleDislocationParams]) -> None:
        self.on_book(ctx)

    def on_asset_ctx(self, ctx: StrategyContext[OracleDislocationParams]) -> None:
        self.on_book(ctx)

    def on_timer(self, ctx: StrategyContext[OracleDislocationParams]) -> None:
        self.on_book(ctx)

    def on_order_update(self, ctx: StrategyContext[OracleDislocationParams],
                        update: OrderUpdateLike) -> None:
        if update.cloid is None or not order_done(update.status):
            return
        if update.cloid == self.entry_cloid:
            self.entry_cloid = None
        if update.cloid == self.exit_cloid:
            self.exit_cloid = None

    def status(self) -> Mapping[str, str | float | int | None]:
        """Pending entry/exit and counts."""
        return {"entry_pending": self.entry_cloid, "exit_pending": self.exit_cloid,
                "signals": self.signals, "entries": self.entries}

    # -- decisions ---------------------------------------------------------------------

    def _signal(self, features: OracleFeatures,
                fee_bps: float) -> tuple[Side, float, float] | None:  # fmt: skip
        # (side, dislocation, expected edge) of the larger valid dislocation over the bar
        buy, sell = features.buy_dislocation_bps, features.sell_dislocation_bps
        if buy.value is None or sell.value is None:
            return None
        side: Side = "buy" if buy.value >= sell.value else "sell"
        dislocation = max(buy.value, sell.value)
        edge = dislocation - 2 * fee_bps
        return (side, dislocation, edge) if edge > self.params.threshold_bps else None

    def _on_signal(self, ctx: StrategyContext[OracleDislocationParams], features: Features,
                   position: PositionLike | None, side: Side, dislocation: float,
                   edge: float) -> None:
        self.signals += 1
        values = {"dislocation_bps": dislocation, "fees_bps": 2 * self.fee_bps(ctx)}
        if features.oracle_age_s.value is not None:
            values["oracle_age_s"] = features.oracle_age_s.value
        reason = self._blocker(ctx, features.oracle_age_s, position)
        if self.gate is not None:
            p = values["gate_p"] = self.gate.probability(features, side, ctx.now_ns())
            if not reason and p < self.params.gate_threshold:
                reason = f"gated out (p={p:.3f} < {self.params.gate_threshold:g})"
        if not reason:
            order = self._entry_order(ctx, side == "buy")
            if not isinstance(order, str):
                px, sz, touch = order
                cloid = ctx.place(is_buy=side == "buy", px=px, sz=sz, tif="Ioc",
                                  expected_edge_bps=edge, tag="entry", ref_px=touch)
                self.entry_cloid, self._last_entry_ns = cloid, ctx.monotonic_ns()
                self.entries += 1
                ctx.log_signal(kind="entry", side=side, expected_edge_bps=edge, traded=True,
                               cloid=cloid, values=values)
                return
            reason = order
        ctx.log_signal(kind="entry", side=side, expected_edge_bps=edge, traded=False,
                       reason=reason, values=values)

    def _blocker(self, ctx: StrategyContext[OracleDislocationParams],
                 oracle_age: Feature[float], position: PositionLike | None) -> str:
        params = self.params
        if oracle_age.value is None:
            return f"oracle age unknown: {oracle_age.reason}"
        if oracle_age.value > params.max_oracle_age_s:
            return (f"oracle unchanged for {oracle_age.value:.1f} s "
                    f"(limit {params.max_oracle_age_s:g} s)")
        if position is not None:
            return f"position open ({position.size})"
        if self.entry_cloid is not None or any(
                not order.reduce_only for order in ctx.open_orders()):
            return "entry pending"
        if self._last_entry_ns is not None:
            left = self._last_entry_ns + params.cooldown_s * _NS_PER_S - ctx.monotonic_ns()
            if left > 0:
                return f"cooldown ({left / _NS_PER_S:.1f} s left)"
        return ""

    def _entry_order(self, ctx: StrategyContext[OracleDislocationParams],
                     is_buy: bool) -> tuple[Decimal, Decimal, Decimal] | str:
        # (limit price, size, touch price), or why no order can be made
        touch = ctx.book.best_ask if is_buy else ctx.book.best_bid
        if touch is None:
            return "no touch"
        px = _buffered_price(ctx, touch.px, is_buy=is_buy, ticks=self.params.buffer_ticks)
        if px is None:
            return f"no valid price beyond {touch.px}"
        room = ctx.notional_room(px)
        if room <= 0:
            return (f"notional limits reached (${ctx.limits.per_market} a market, "
                    f"${ctx.limits.total} in all)")
        wanted = min(touch.sz * self.params.size_alpha, room / px)
        try:
            sz = ctx.rules.round_size(wanted, reduce_only=True)
        except MarketError:
            sz = Decimal(0)
        if sz * px < ctx.min_order_notional:
            return (f"size {wanted:.6f} (${wanted * px:.2f}) under the "
                    f"${ctx.min_order_notional} minimum")
        return px, sz, touch.px

    def _manage_exit(self, ctx: StrategyContext[OracleDislocationParams],
                     features: OracleFeatures, position: PositionLike) -> None:  # fmt: skip
        if self.exit_cloid is not None:
            return
        is_long = position.size > 0
        gap = features.sell_dislocation_bps if is_long else features.buy_dislocation_bps
        touch = ctx.book.best_bid if is_long else ctx.book.best_ask
        if gap.value is None or touch is None or gap.value < -self.params.exit_on_close_bps:
            return
        side: Side = "sell" if is_long else "buy"
        reason = f"dislocation closed ({gap.value:.1f} bps from the oracle)"
        move = (touch.px - position.entry_px) / position.entry_px * (1 if is_long else -1)
        edge = float(move) * 1e4 - self.fee_bps(ctx)
        px = _buffered_price(ctx, touch.px, is_buy=not is_long, ticks=self.params.buffer_ticks)
        try:
            sz = ctx.rules.round_size(abs(position.size), reduce_only=True)
        except MarketError:  # under one lot: only the flattener can deal with it
            px = None
        if px is None:
            self._flatten(ctx, reason + "; no valid exit order")
            return
        self.exit_cloid = ctx.place(is_buy=not is_long, px=px, sz=sz, tif="Ioc",
                                    reduce_only=True, expected_edge_bps=edge, tag="exit",
                                    ref_px=touch.px)
        ctx.log_signal(kind="exit", side=side, expected_edge_bps=edge, traded=True,
                       reason=reason, cloid=self.exit_cloid)

    def _flatten(self, ctx: StrategyContext[OracleDislocationParams], reason: str) -> None:
        now = ctx.monotonic_ns()
        if self._flatten_ns is None or now - self._flatten_ns >= _FLATTEN_REPEAT_NS:
            self._flatten_ns = now
            ctx.flatten(reason)


def _load_gate(path: str, taker_fee_bps: float) -> Gate:
    # At construction (never in a callback): the bundle is read and compiled once.
    gate = Gate.load(path)
    if abs(gate.fees_bps - 2 * taker_fee_bps) > 1e-9:
        raise ModelError(
            f"{path}: trained with {gate.fees_bps:g} bps round-trip fees, but this taker "
            f"pays 2 x {taker_fee_bps:g} bps: its probabilities answer another question; "
            f"retrain with --fees-bps {2 * taker_fee_bps:g} or set taker_fee_bps to "
            f"{gate.fees_bps / 2:g}")
    return gate


def _buffered_price(ctx: StrategyContext[OracleDislocationParams], touch: Decimal, *,
                    is_buy: bool, ticks: int) -> Decimal | None:
    # The touch moved `ticks` ticks through the book, rounded aggressively to a valid price.
    step = ctx.rules.price_tick(touch) * ticks
    target = touch + step if is_buy else touch - step
    if target <= 0:
        target = touch
    try:
        return ctx.rules.round_price(target, is_buy=is_buy, aggressive=True)
    except MarketError:
        return None
