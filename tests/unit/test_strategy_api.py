"""The strategy API: intents, the context and its views, the harness dispatch.

Market states are built from exchange-format JSON frames through the real parser; the
market rules are the real `xyz:COIN` entry of the 2026-09-24 mainnet meta. The frame
builders here are shared with the plugin tests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hip3term.book.market_state import TradeLike
from hip3term.config import RiskSettings
from hip3term.core.clock import SimClock
from hip3term.strategy import (
    CancelAll,
    CancelOrder,
    FillLike,
    Flatten,
    IntentError,
    MarketRules,
    NotionalLimits,
    OrderUpdateLike,
    PlaceOrder,
    Signal,
    Strategy,
    StrategyContext,
    StrategyParams,
    order_done,
)
from hip3term.strategy.harness import HeldOrder, ManualOrders, ManualPositions, StrategyHarness
from hip3term.venue.hyperliquid.markets import AssetDirectory, MarketInfo
from hip3term.venue.hyperliquid.parse import parse_frame
from hip3term.venue.hyperliquid.wire import ParseError

COIN = "xyz:COIN"
T0 = 1_790_000_000_000  # ms
FIXTURES = Path(__file__).parent.parent / "fixtures"

# -- exchange-format frames ----------------------------------------------------------------


def parsed(frame: dict[str, Any]) -> object:
    event = parse_frame(json.dumps(frame))
    assert not isinstance(event, ParseError), event
    return event


def lv(px: str, sz: str = "2.5", n: int = 1) -> dict[str, Any]:
    return {"px": px, "sz": sz, "n": n}


def book_frame(t: int, bids: list[dict[str, Any]], asks: list[dict[str, Any]],
               coin: str = COIN) -> object:
    return parsed({"channel": "l2Book",
                   "data": {"coin": coin, "time": t, "levels": [bids, asks]}})


def bbo_frame(t: int, bid: str, ask: str, bid_sz: str = "2.5", ask_sz: str = "2.5",
              coin: str = COIN) -> object:
    return parsed({"channel": "bbo",
                   "data": {"coin": coin, "time": t, "bbo": [lv(bid, bid_sz), lv(ask, ask_sz)]}})


def ctx_frame(oracle: str, mark: str | None = None, coin: str = COIN) -> object:
    mark = mark or oracle
    return parsed({"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": {
        "funding": "0.0000125", "openInterest": "1399928.08", "prevDayPx": oracle,
        "dayNtlVlm": "8319444.56", "premium": "0.0", "oraclePx": oracle, "markPx": mark,
        "midPx": mark, "impactPxs": [mark, mark], "dayBaseVlm": "43800.1"}}})


def trades_frame(trades: list[tuple[int, str, str, str, int]], coin: str = COIN) -> object:
    return parsed({"channel": "trades", "data": [
        {"coin": coin, "side": side, "px": px, "sz": sz, "time": t, "hash": "0x" + "00" * 32,
         "tid": tid, "users": ["0x" + "11" * 20, "0x" + "22" * 20]}
        for tid, side, px, sz, t in trades]})


def update_frame(cloid: str, status: str, *, side: str = "B", px: str = "190.0",
                 sz: str = "0.1", oid: int = 7, t: int = T0, coin: str = COIN) -> object:
    return parsed({"channel": "orderUpdates", "data": [{"order": {
        "coin": coin, "side": side, "limitPx": px, "sz": sz, "oid": oid, "timestamp": t,
        "origSz": sz, "cloid": cloid}, "status": status, "statusTimestamp": t}]})


def fills_frame(fills: list[dict[str, Any]], snapshot: bool = False) -> object:
    return parsed({"channel": "userFills", "data": {
        "isSnapshot": snapshot, "user": "0x" + "33" * 20, "fills": fills}})


def fill(tid: int, side: str, px: str, sz: str, fee: str, t: int, *,
         cloid: str | None = None, coin: str = COIN, start: str = "0.0") -> dict[str, Any]:
    wire = {"coin": coin, "px": px, "sz": sz, "side": side, "time": t, "startPosition": start,
            "dir": "Open Long" if side == "B" else "Open Short", "closedPnl": "0.0",
            "hash": "0x" + "44" * 32, "oid": tid + 1, "crossed": True, "fee": fee,
            "tid": tid, "feeToken": "USDC"}
    if cloid is not None:
        wire["cloid"] = cloid
    return wire


def coin_info(name: str = COIN) -> MarketInfo:
    """The real `xyz:COIN` rules (szDecimals 3) from the mainnet meta fixture."""
    perp_dexs = json.loads((FIXTURES / "info_perpDexs.json").read_text())
    meta = json.loads((FIXTURES / "info_meta_xyz.json").read_text())
    return AssetDirectory.from_responses(perp_dexs, {"xyz": meta}).lookup(name)


# -- a strategy that records its callbacks -----------------------------------------------


class RecorderParams(StrategyParams):
    place_on_bbo: bool = False


class Recorder(Strategy[RecorderParams]):
    name = "recorder"
    description = "Records callbacks."
    Params = RecorderParams

    def __init__(self, params: RecorderParams) -> None:
        super().__init__(params)
        self.calls: list[tuple[str, object]] = []

    def on_start(self, ctx: StrategyContext[RecorderParams]) -> None:
        self.calls.append(("start", None))

    def on_book(self, ctx: StrategyContext[RecorderParams]) -> None:
        self.calls.append(("book", ctx.book.best_bid))

    def on_bbo(self, ctx: StrategyContext[RecorderParams]) -> None:
        self.calls.append(("bbo", ctx.book.best_bid))
        if self.params.place_on_bbo:
            ctx.place(is_buy=True, px=Decimal("189.5"), sz=Decimal("0.1"), tif="Alo")

    def on_trades(self, ctx: StrategyContext[RecorderParams],
                  trades: Sequence[TradeLike]) -> None:
        self.calls.append(("trades", tuple(t.tid for t in trades)))

    def on_asset_ctx(self, ctx: StrategyContext[RecorderParams]) -> None:
        self.calls.append(("ctx", ctx.book.asset_ctx))

    def on_order_update(self, ctx: StrategyContext[RecorderParams],
                        update: OrderUpdateLike) -> None:
        self.calls.append(("update", (update.cloid, update.status)))

    def on_fill(self, ctx: StrategyContext[RecorderParams], fill: FillLike) -> None:
        self.calls.append(("fill", fill.tid))

    def on_timer(self, ctx: StrategyContext[RecorderParams]) -> None:
        self.calls.append(("timer", ctx.now_ms()))

    def on_stop(self, ctx: StrategyContext[RecorderParams]) -> None:
        self.calls.append(("stop", None))


def harness(strategy: Strategy[Any] | None = None, **kwargs: Any) -> StrategyHarness:
    return StrategyHarness(strategy or Recorder(RecorderParams()), coin_info(),
                           SimClock(T0), **kwargs)


CLOID = "0x" + "ab" * 16

# -- intents -------------------------------------------------------------------------------


def test_place_order_valid_fields_kept() -> None:
    order = PlaceOrder(CLOID, COIN, True, Decimal("190.01"), Decimal("0.1"), "Ioc",
                       expected_edge_bps=12.5, tag="entry", ref_px=Decimal("190"))
    assert order.notional == Decimal("19.001")
    assert not order.reduce_only


@pytest.mark.parametrize(("field", "value"), [
    ("cloid", "0xABC"), ("cloid", "0x" + "AB" * 16), ("px", Decimal(0)), ("px", 190.0),
    ("sz", Decimal("-1")), ("sz", Decimal("NaN")), ("tif", "Fok"),
    ("expected_edge_bps", float("inf")), ("ref_px", Decimal(0)),
])
def test_place_order_malformed_field_raises(field: str, value: object) -> None:
    fields: dict[str, Any] = {"cloid": CLOID, "market": COIN, "is_buy": True,
                              "px": Decimal("190"), "sz": Decimal("0.1"), "tif": "Ioc"}
    fields[field] = value
    with pytest.raises(IntentError, match=field.split("_")[0]):
        PlaceOrder(**fields)


def test_cancel_and_signal_validate_cloids_and_side() -> None:
    with pytest.raises(IntentError):
        CancelOrder("not-a-cloid")
    with pytest.raises(IntentError):
        Signal("s", COIN, "entry", "up", 1.0, False)  # type: ignore[arg-type]  # on purpose
    signal = Signal("s", COIN, "entry", "buy", 1.0, False, values={"a": 1.0})
    with pytest.raises(TypeError):
        signal.values["a"] = 2.0  # type: ignore[index]  # read-only on purpose


@pytest.mark.parametrize(("status", "done"), [
    ("open", False), ("triggered", False), ("queued", False), ("sent", False),
    ("resting", False), ("unknown", False), ("filled", True), ("canceled", True),
    ("badAloPxRejected", True), ("rejected", True), ("denied", True), ("failed", True),
    ("scheduledCancel", True), ("marginCanceled", True),
])
def test_order_done_by_status_word(status: str, done: bool) -> None:
    assert order_done(status) is done


# -- context -------------------------------------------------------------------------------


def test_market_info_satisfies_market_rules() -> None:
    rules: MarketRules = coin_info()
    assert rules.name == COIN
    assert rules.sz_decimals == 3


def test_limits_from_risk_settings() -> None:
    limits = NotionalLimits.from_risk(RiskSettings(max_notional_per_market=Decimal(70),
                                                   max_notional_total=Decimal(90),
                                                   time_stop_s=12.0))
    assert limits == NotionalLimits(Decimal(70), Decimal(90), 12.0)


def test_context_place_assigns_unique_cloids_and_drains_in_order() -> None:
    h = harness()
    ctx = h.ctx
    first = ctx.place(is_buy=True, px=Decimal("189.5"), sz=Decimal("0.1"), tif="Alo", tag="b")
    ctx.cancel(first, "requote")
    second = ctx.place(is_buy=False, px=Decimal("190.5"), sz=Decimal("0.1"), tif="Alo")
    ctx.cancel_all("pause")
    ctx.flatten("done", every_market=True)
    assert first != second
    intents = ctx.drain_intents()
    assert [type(i) for i in intents] == [PlaceOrder, CancelOrder, PlaceOrder, CancelAll,
                                          Flatten]
    placed = intents[0]
    assert isinstance(placed, PlaceOrder)
    assert (placed.cloid, placed.market, placed.tag, placed.created_ns) == (
        first, COIN, "b", T0 * 1_000_000)
    assert intents[3] == CancelAll(COIN, "pause")
    assert intents[4] == Flatten(None, "done")
    assert ctx.drain_intents() == []


@pytest.mark.parametrize(("px", "sz", "reduce_only", "match"), [
    ("190.001", "0.1", False, "tick"),       # 6 significant figures
    ("190", "0.0001", False, "multiple"),    # under one lot of 0.001
    ("190", "0.05", False, "minimum"),       # $9.50 under $10
])
def test_context_place_refuses_rule_breaking_orders(px: str, sz: str, reduce_only: bool,
                                                     match: str) -> None:
    ctx = harness().ctx
    with pytest.raises(IntentError, match=match):
        ctx.place(is_buy=True, px=Decimal(px), sz=Decimal(sz), tif="Ioc",
                  reduce_only=reduce_only)
    assert ctx.drain_intents() == []


def test_context_reduce_only_under_minimum_is_allowed() -> None:
    ctx = harness().ctx
    ctx.place(is_buy=False, px=Decimal("190"), sz=Decimal("0.05"), tif="Ioc", reduce_only=True)
    assert len(ctx.drain_intents()) == 1


def test_context_notional_room_counts_positions_orders_and_undrained_intents() -> None:
    positions, orders = ManualPositions(), ManualOrders()
    h = harness(positions=positions, orders=orders)
    ctx = h.ctx
    assert ctx.notional_room(Decimal(200)) == Decimal(50)
    positions.set(COIN, Decimal("-0.1"), Decimal(180))            # $20 at px 200
    positions.set("xyz:TSLA", Decimal("0.1"), Decimal(400))       # $40 at entry
    orders.add(HeldOrder(COIN, True, Decimal(100), Decimal("0.05"), None))      # $5
    orders.add(HeldOrder(COIN, False, Decimal(100), Decimal("1"), None, True))  # reduce-only
    # market: 50 - 20 - 5 = 25; total: 100 - 20 - 40 - 5 = 35
    assert ctx.notional_room(Decimal(200)) == Decimal(25)
    ctx.place(is_buy=True, px=Decimal(200), sz=Decimal("0.1"), tif="Ioc")  # $20 more
    assert ctx.notional_room(Decimal(200)) == Decimal(5)
    positions.set("xyz:TSLA", Decimal("0.2"), Decimal(400))       # total now over
    assert ctx.notional_room(Decimal(200)) == Decimal(0)


def test_context_position_and_open_orders_default_to_own_market() -> None:
    positions, orders = ManualPositions(), ManualOrders()
    ctx = harness(positions=positions, orders=orders).ctx
    positions.set("xyz:TSLA", Decimal(1), Decimal(400))
    orders.add(HeldOrder("xyz:TSLA", True, Decimal(399), Decimal(1), CLOID))
    assert ctx.position() is None
    assert ctx.open_orders() == ()
    held = ctx.position("xyz:TSLA")
    assert held is not None
    assert held.unrealized_pnl(Decimal(410)) == Decimal(10)
    assert len(ctx.open_orders("xyz:TSLA")) == 1
    assert len(ctx.positions()) == 1


def test_context_log_signal_is_stamped_and_drained() -> None:
    ctx = harness().ctx
    signal = ctx.log_signal(kind="entry", side="sell", expected_edge_bps=18.5, traded=False,
                            reason="cooldown", values={"dislocation_bps": 36.5})
    assert (signal.strategy, signal.market, signal.at_ns) == ("recorder", COIN, T0 * 1_000_000)
    assert ctx.drain_signals() == [signal]
    assert ctx.drain_signals() == []


def _has_output(ctx: StrategyContext[Any]) -> bool:
    return ctx.has_output  # read through a call: each assert sees it anew (no narrowing)


def test_context_has_output_until_both_are_drained() -> None:
    ctx = harness().ctx
    assert not _has_output(ctx)
    ctx.log_signal(kind="entry", side="buy", expected_edge_bps=None, traded=False)
    assert _has_output(ctx)
    ctx.cancel(CLOID)
    ctx.drain_signals()
    assert _has_output(ctx)  # the cancel is still there
    ctx.drain_intents()
    assert not _has_output(ctx)
    ctx.flatten()
    assert _has_output(ctx)


def test_context_refuses_rules_of_another_market() -> None:
    with pytest.raises(ValueError, match="xyz:TSLA"):
        StrategyContext(
            strategy="x", state=harness().state, rules=coin_info("xyz:TSLA"),
            clock=SimClock(T0), params=RecorderParams(), limits=NotionalLimits(),
            positions=ManualPositions(), orders=ManualOrders(), cloids=lambda: CLOID)


def test_context_features_use_the_clock() -> None:
    h = harness()
    h.feed(ctx_frame("190.0"), at_ms=T0)
    h.feed(bbo_frame(T0, "189.99", "190.01"), at_ms=T0)
    assert h.ctx.features().mid.value == Decimal("190.00")
    h.clock.advance(21_000)  # past the 20 s book staleness
    stale = h.ctx.features()
    assert not stale.mid.valid
    assert "book stale" in stale.mid.reason


# -- harness dispatch ----------------------------------------------------------------------


def test_harness_dispatches_each_channel_to_its_callback() -> None:
    strategy = Recorder(RecorderParams())
    h = harness(strategy)
    h.start()
    h.feed(book_frame(T0, [lv("189.99")], [lv("190.01")]), at_ms=T0)
    h.feed(bbo_frame(T0 + 100, "190.00", "190.02"), at_ms=T0 + 100)
    h.feed(ctx_frame("190.05"), at_ms=T0 + 200)
    h.feed(trades_frame([(1, "B", "190.02", "0.5", T0 + 250), (2, "A", "190.0", "1", T0 + 260)]))
    h.feed(trades_frame([(2, "A", "190.0", "1", T0 + 260), (3, "A", "190.0", "1", T0 + 270)]))
    h.feed(trades_frame([(3, "A", "190.0", "1", T0 + 270)]))  # nothing new: no callback
    h.feed(update_frame(CLOID, "open"))
    h.feed(update_frame(CLOID, "filled", coin="xyz:TSLA"))  # other market: ignored
    h.feed(fills_frame([fill(9, "B", "190", "0.1", "0.01", T0, cloid=CLOID),
                        fill(10, "B", "400", "0.1", "0.01", T0, coin="xyz:TSLA")]))
    h.timer(at_ms=T0 + 1000)
    h.stop()
    kinds = [kind for kind, _ in strategy.calls]
    assert kinds == ["start", "book", "bbo", "ctx", "trades", "trades", "update", "fill",
                     "timer", "stop"]
    assert strategy.calls[4][1] == (1, 2)
    assert strategy.calls[5][1] == (3,)
    assert strategy.calls[6][1] == (CLOID, "open")
    assert strategy.calls[8][1] == T0 + 1000


def test_harness_skips_callbacks_for_stale_and_foreign_frames() -> None:
    strategy = Recorder(RecorderParams())
    h = harness(strategy)
    h.feed(bbo_frame(T0 + 500, "190.00", "190.02"), at_ms=T0)
    h.feed(bbo_frame(T0 + 400, "189.00", "189.02"), at_ms=T0 + 10)  # older exchange time
    h.feed(bbo_frame(T0 + 600, "1.00", "1.02", coin="xyz:TSLA"), at_ms=T0 + 20)
    assert [kind for kind, _ in strategy.calls] == ["bbo"]


def test_harness_collects_intents_and_feeds_metrics() -> None:
    from hip3term.strategy.metrics import StrategyMetrics

    metrics = StrategyMetrics("recorder")
    h = harness(Recorder(RecorderParams(place_on_bbo=True)), metrics=metrics)
    intents = h.feed(bbo_frame(T0, "189.99", "190.01"), at_ms=T0)
    assert len(intents) == 1
    placed = intents[0]
    assert isinstance(placed, PlaceOrder)
    h.feed(fills_frame([fill(5, "B", "189.5", "0.1", "0.0095", T0 + 5, cloid=placed.cloid)]))
    snap = metrics.snapshot()
    assert (snap.orders_placed, snap.orders_filled, snap.fills) == (1, 1, 1)
    assert h.intents == intents


def test_base_strategy_callbacks_do_nothing() -> None:
    h = harness(Strategy(StrategyParams()))
    assert h.start() == []
    assert h.feed(bbo_frame(T0, "189.99", "190.01"), at_ms=T0) == []
    assert h.timer() == []
    assert h.strategy.status() == {}
