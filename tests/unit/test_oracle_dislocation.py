"""The oracle-dislocation taker: signals, fees, staleness, sizing, price buffer, exits.

Every market state comes from exchange-format frames through the real parser, with the
real `xyz:COIN` rules (szDecimals 3: prices up to 5 significant figures and 3 decimals,
sizes in lots of 0.001). Expected numbers are worked out by hand in the comments.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from hip3term.core.clock import SimClock
from hip3term.strategy import CancelAll, Flatten, PlaceOrder
from hip3term.strategy.harness import HeldOrder, ManualOrders, ManualPositions, StrategyHarness
from plugins.oracle_dislocation import OracleDislocation, OracleDislocationParams
from tests.unit.test_strategy_api import (
    COIN,
    T0,
    bbo_frame,
    coin_info,
    ctx_frame,
    update_frame,
)


def bps(a: str, b: str) -> float:
    """(a - b) / b in bps, computed here independently of the features module."""
    return float((Decimal(a) - Decimal(b)) / Decimal(b)) * 1e4


def through(px: str, oracle: str) -> float:
    """How far `px` sits through the oracle (either side), in bps of the oracle."""
    return abs(bps(px, oracle))


def P(**params: Any) -> OracleDislocationParams:  # noqa: N802  # reason: reads like a type
    """Parameters with the hand-worked fee of these tests: 9 bps a side (a HIP-3 market at
    deployer scale 1 without growth mode); the market's own fee is tested separately."""
    params.setdefault("taker_fee_bps", 9.0)
    return OracleDislocationParams(**params)


def setup(**params: Any) -> StrategyHarness:
    h = StrategyHarness(OracleDislocation(P(**params)), coin_info(),
                        SimClock(T0))
    h.feed(ctx_frame("190.00"), at_ms=T0)
    return h


def orders(intents: list[Any]) -> list[PlaceOrder]:
    return [i for i in intents if isinstance(i, PlaceOrder)]


# -- signals -----------------------------------------------------------------------------


def test_ask_below_oracle_beyond_fees_and_threshold_buys_ioc() -> None:
    h = setup()
    # ask 189.30 vs oracle 190: 36.84 bps; fees 2 x 9 = 18 -> edge 18.84 > 15
    intents = h.feed(bbo_frame(T0 + 100, "189.20", "189.30", ask_sz="4.0"), at_ms=T0 + 100)
    [order] = orders(intents)
    assert (order.is_buy, order.tif, order.reduce_only, order.tag) == (True, "Ioc", False,
                                                                     "entry")
    assert order.px == Decimal("189.32")   # touch + 2 ticks of 0.01
    assert order.sz == Decimal("0.200")    # 0.05 x 4.0, $37.86 within $50
    assert order.ref_px == Decimal("189.30")
    edge = through("189.30", "190.00") - 18
    assert order.expected_edge_bps == pytest.approx(edge)
    [signal] = h.signals
    assert (signal.kind, signal.side, signal.traded, signal.cloid) == ("entry", "buy", True,
                                                                       order.cloid)
    assert signal.expected_edge_bps == pytest.approx(edge)
    assert signal.values["fees_bps"] == 18.0


def test_bid_above_oracle_sells_ioc() -> None:
    h = setup()
    # bid 190.70 vs oracle 190: 36.84 bps above -> sell at 190.70 - 2 ticks
    [order] = orders(h.feed(bbo_frame(T0 + 100, "190.70", "190.80", bid_sz="4.0"),
                            at_ms=T0 + 100))
    assert (order.is_buy, order.px, order.sz) == (False, Decimal("190.68"), Decimal("0.200"))
    assert order.expected_edge_bps == pytest.approx(bps("190.70", "190.00") - 18)
    assert h.signals[0].side == "sell"


@pytest.mark.parametrize(("ask", "fee", "threshold", "traded"), [
    ("189.30", 9.0, 15.0, True),    # 36.84 - 18 = 18.84 > 15
    ("189.45", 9.0, 15.0, False),   # 28.95 - 18 = 10.95: below, not even a signal
    ("189.45", 5.0, 15.0, True),    # 28.95 - 10 = 18.95 > 15
    ("189.30", 12.0, 15.0, False),  # 36.84 - 24 = 12.84 < 15
    ("189.30", 9.0, 20.0, False),   # 18.84 < 20
    ("189.30", 0.9, 30.0, True),    # growth mode: 36.84 - 1.8 = 35.04 > 30
])
def test_threshold_counts_round_trip_fees(ask: str, fee: float, threshold: float,
                                          traded: bool) -> None:
    h = setup(taker_fee_bps=fee, threshold_bps=threshold)
    intents = h.feed(bbo_frame(T0 + 100, "189.10", ask, ask_sz="4.0"), at_ms=T0 + 100)
    assert bool(orders(intents)) is traded
    assert len(h.signals) == (1 if traded else 0)


def test_quiet_market_gives_no_signal() -> None:
    h = setup()
    assert h.feed(bbo_frame(T0 + 100, "189.99", "190.01"), at_ms=T0 + 100) == []
    assert h.signals == []


def test_stale_oracle_logs_signal_without_trading() -> None:
    h = setup()
    # the oracle keeps the same price for 12 s (pushes continue): age 12 s > 10 s limit
    for second in range(1, 13):
        h.feed(ctx_frame("190.00"), at_ms=T0 + second * 1000)
    intents = h.feed(bbo_frame(T0 + 12_000, "189.20", "189.30", ask_sz="4.0"),
                     at_ms=T0 + 12_000)
    assert orders(intents) == []
    [signal] = h.signals
    assert not signal.traded
    assert "oracle unchanged for 12.0 s" in signal.reason
    assert signal.expected_edge_bps == pytest.approx(through("189.30", "190.00") - 18)


def test_moving_oracle_resets_the_age() -> None:
    h = setup()
    for second in range(1, 13):
        h.feed(ctx_frame("190.00" if second < 12 else "190.01"), at_ms=T0 + second * 1000)
    intents = h.feed(bbo_frame(T0 + 12_000, "189.20", "189.30", ask_sz="4.0"),
                     at_ms=T0 + 12_000)
    assert len(orders(intents)) == 1


@pytest.mark.parametrize("case", ["book stale", "context stale", "oracle frozen", "no ctx"])
def test_invalid_features_give_no_signal(case: str) -> None:
    clock = SimClock(T0)
    h = StrategyHarness(OracleDislocation(P()), coin_info(), clock)
    if case != "no ctx":
        h.feed(ctx_frame("190.00"), at_ms=T0)
    if case == "book stale":
        h.feed(bbo_frame(T0, "189.99", "190.01", ask_sz="4.0"), at_ms=T0)
        # the oracle moves 42 bps above the ask, but the book is 21 s old (limit 20)
        intents = h.feed(ctx_frame("190.80"), at_ms=T0 + 21_000)
        intents += h.timer(at_ms=T0 + 21_000)
    elif case == "context stale":
        intents = h.feed(bbo_frame(T0 + 11_000, "189.20", "189.30", ask_sz="4.0"),
                         at_ms=T0 + 11_000)  # last context 11 s old (limit 10)
    elif case == "oracle frozen":
        for second in range(5, 35, 5):  # fresh contexts, same oracle for 30+ s
            h.feed(ctx_frame("190.00"), at_ms=T0 + second * 1000)
        intents = h.feed(bbo_frame(T0 + 31_000, "189.20", "189.30", ask_sz="4.0"),
                         at_ms=T0 + 31_000)
    else:
        intents = h.feed(bbo_frame(T0, "189.20", "189.30", ask_sz="4.0"), at_ms=T0)
    assert intents == []
    assert h.signals == []


# -- sizing --------------------------------------------------------------------------------


@pytest.mark.parametrize(("ask_sz", "alpha", "expected"), [
    ("4.0", "0.05", "0.200"),     # alpha x touch
    ("3.333", "0.05", "0.166"),   # 0.16665 truncated to lots (nearest would be 0.167)
    ("20", "0.05", "0.264"),      # 1.0 wanted; $50 / 189.32 = 0.26410 -> 0.264 ($49.98)
    ("4.0", "0.1", "0.264"),      # 0.4 wanted, capped by the $50 market limit
])
def test_size_is_alpha_of_touch_capped_by_limits_in_lots(ask_sz: str, alpha: str,
                                                         expected: str) -> None:
    h = setup(size_alpha=Decimal(alpha))
    [order] = orders(h.feed(bbo_frame(T0 + 100, "189.20", "189.30", ask_sz=ask_sz),
                            at_ms=T0 + 100))
    assert order.sz == Decimal(expected)
    assert order.sz * order.px <= Decimal(50)


def test_total_limit_counts_positions_elsewhere() -> None:
    positions = ManualPositions()
    positions.set("xyz:TSLA", Decimal("0.2"), Decimal(400))  # $80 of the $100 total
    h = StrategyHarness(OracleDislocation(P()), coin_info(),
                        SimClock(T0), positions=positions)
    h.feed(ctx_frame("190.00"), at_ms=T0)
    [order] = orders(h.feed(bbo_frame(T0 + 100, "189.20", "189.30", ask_sz="4.0"),
                            at_ms=T0 + 100))
    assert order.sz == Decimal("0.105")  # $20 / 189.32 = 0.10564 -> 0.105


def test_size_under_ten_dollars_is_skipped_and_logged() -> None:
    h = setup()
    # 0.05 x 1.0 = 0.05 at 189.32 = $9.47
    intents = h.feed(bbo_frame(T0 + 100, "189.20", "189.30", ask_sz="1.0"), at_ms=T0 + 100)
    assert orders(intents) == []
    [signal] = h.signals
    assert not signal.traded
    assert "under the $10 minimum" in signal.reason


def test_no_room_under_limits_is_logged() -> None:
    positions = ManualPositions()
    positions.set("xyz:TSLA", Decimal("0.25"), Decimal(400))  # $100: total used up
    h = StrategyHarness(OracleDislocation(P()), coin_info(),
                        SimClock(T0), positions=positions)
    h.feed(ctx_frame("190.00"), at_ms=T0)
    assert orders(h.feed(bbo_frame(T0 + 100, "189.20", "189.30", ask_sz="4.0"),
                         at_ms=T0 + 100)) == []
    assert "notional limits reached" in h.signals[0].reason


# -- price buffer --------------------------------------------------------------------------


@pytest.mark.parametrize(("bid", "ask", "oracle", "is_buy", "ticks", "expected"), [
    ("189.20", "189.30", "190.00", True, 2, "189.32"),
    ("189.20", "189.30", "190.00", True, 0, "189.30"),
    ("99.5", "99.999", "100.50", True, 2, "100.01"),   # 100.001 is invalid: rounded up
    ("99.995", "99.999", "100.50", True, 1, "100"),    # 99.999 + 0.001 = 100 exactly
    ("100.00", "100.10", "99.60", False, 2, "99.98"),  # tick below 100 is finer; 99.98 ok
    ("100.40", "100.50", "100.00", False, 3, "100.37"),
])
def test_ioc_price_is_touch_plus_buffer_rounded_aggressively(
        bid: str, ask: str, oracle: str, is_buy: bool, ticks: int, expected: str) -> None:
    info = coin_info()
    h = StrategyHarness(OracleDislocation(P(buffer_ticks=ticks)), info,
                        SimClock(T0))
    h.feed(ctx_frame(oracle), at_ms=T0)
    [order] = orders(h.feed(bbo_frame(T0 + 100, bid, ask, "400", "400"), at_ms=T0 + 100))
    assert order.is_buy is is_buy
    assert order.px == Decimal(expected)
    assert info.is_valid_price(order.px)
    touch = Decimal(ask if is_buy else bid)
    assert (order.px >= touch) if is_buy else (order.px <= touch)


# -- one position per market, pending entry, cooldown -----------------------------------


def test_open_position_blocks_entry_and_is_logged() -> None:
    positions = ManualPositions()
    h = StrategyHarness(OracleDislocation(P()), coin_info(),
                        SimClock(T0), positions=positions)
    h.feed(ctx_frame("190.00"), at_ms=T0)
    positions.set(COIN, Decimal("0.2"), Decimal("189.30"), T0)
    intents = h.feed(bbo_frame(T0 + 100, "189.20", "189.30", ask_sz="4.0"), at_ms=T0 + 100)
    assert orders(intents) == []
    assert h.signals[-1].reason == "position open (0.2)"


def test_pending_entry_then_cooldown_then_trade_again() -> None:
    h = setup(cooldown_s=5.0)
    [first] = orders(h.feed(bbo_frame(T0 + 100, "189.20", "189.30", ask_sz="4.0"),
                            at_ms=T0 + 100))
    assert orders(h.feed(bbo_frame(T0 + 200, "189.21", "189.30", ask_sz="4.0"),
                         at_ms=T0 + 200)) == []
    assert h.signals[-1].reason == "entry pending"
    h.feed(update_frame(first.cloid, "canceled"), at_ms=T0 + 300)  # the IOC found nothing
    assert orders(h.feed(bbo_frame(T0 + 400, "189.22", "189.30", ask_sz="4.0"),
                         at_ms=T0 + 400)) == []
    assert h.signals[-1].reason == "cooldown (4.7 s left)"
    assert len(orders(h.feed(bbo_frame(T0 + 5_100, "189.23", "189.30", ask_sz="4.0"),
                             at_ms=T0 + 5_100))) == 1
    assert [s.traded for s in h.signals] == [True, False, False, True]


def test_live_entry_order_from_before_blocks_entry() -> None:
    live = ManualOrders()
    live.add(HeldOrder(COIN, True, Decimal("189.3"), Decimal("0.2"), "0x" + "cd" * 16))
    h = StrategyHarness(OracleDislocation(P()), coin_info(),
                        SimClock(T0), orders=live)
    h.feed(ctx_frame("190.00"), at_ms=T0)
    assert orders(h.feed(bbo_frame(T0 + 100, "189.20", "189.30", ask_sz="4.0"),
                         at_ms=T0 + 100)) == []
    assert h.signals[-1].reason == "entry pending"


# -- exits ---------------------------------------------------------------------------------


def long_position(size: str = "0.2") -> tuple[StrategyHarness, ManualPositions]:
    positions = ManualPositions()
    h = StrategyHarness(OracleDislocation(P()), coin_info(),
                        SimClock(T0), positions=positions)
    h.feed(ctx_frame("190.00"), at_ms=T0)
    positions.set(COIN, Decimal(size), Decimal("189.32"), T0)
    return h, positions


def test_long_exits_with_reduce_only_ioc_when_dislocation_closes() -> None:
    h, _ = long_position()
    # bid 189.90: 5.3 bps under the oracle, more than 2: keep holding
    assert orders(h.feed(bbo_frame(T0 + 100, "189.90", "189.95"), at_ms=T0 + 100)) == []
    # bid 189.97: 1.6 bps under the oracle: closed
    [exit_order] = orders(h.feed(bbo_frame(T0 + 200, "189.97", "189.99"), at_ms=T0 + 200))
    assert (exit_order.is_buy, exit_order.reduce_only, exit_order.tif, exit_order.tag) == (
        False, True, "Ioc", "exit")
    assert (exit_order.px, exit_order.sz) == (Decimal("189.95"), Decimal("0.2"))
    # (189.97 - 189.32) / 189.32 = 34.33 bps, minus one taker fee of 9
    assert exit_order.expected_edge_bps == pytest.approx(bps("189.97", "189.32") - 9)
    assert h.signals[-1].kind == "exit"
    # pending exit: no second exit until it is done
    assert orders(h.feed(bbo_frame(T0 + 300, "189.98", "190.00"), at_ms=T0 + 300)) == []
    h.feed(update_frame(exit_order.cloid, "canceled", side="A"), at_ms=T0 + 400)
    assert len(orders(h.feed(bbo_frame(T0 + 500, "189.98", "190.00"), at_ms=T0 + 500))) == 1


def test_short_exits_by_buying_when_ask_reaches_oracle() -> None:
    positions = ManualPositions()
    h = StrategyHarness(OracleDislocation(P()), coin_info(),
                        SimClock(T0), positions=positions)
    h.feed(ctx_frame("190.00"), at_ms=T0)
    positions.set(COIN, Decimal("-0.2"), Decimal("190.68"), T0)
    [exit_order] = orders(h.feed(bbo_frame(T0 + 100, "189.98", "190.02"), at_ms=T0 + 100))
    assert (exit_order.is_buy, exit_order.px, exit_order.sz) == (True, Decimal("190.04"),
                                                                 Decimal("0.2"))
    assert exit_order.reduce_only


def test_position_under_minimum_exits_reduce_only() -> None:
    h, _ = long_position("0.05")  # 0.05 x 189.95 = $9.50: reduce-only has no minimum
    [exit_order] = orders(h.feed(bbo_frame(T0 + 100, "189.97", "189.99"), at_ms=T0 + 100))
    assert (exit_order.reduce_only, exit_order.sz) == (True, Decimal("0.05"))


def test_position_under_one_lot_is_left_to_the_flattener() -> None:
    h, _ = long_position("0.0005")  # half a lot (e.g. left by a rounding elsewhere)
    intents = h.feed(bbo_frame(T0 + 100, "189.97", "189.99"), at_ms=T0 + 100)
    assert intents == [Flatten(COIN, "dislocation closed (-1.6 bps from the oracle); "
                                     "no valid exit order")]
    assert h.feed(bbo_frame(T0 + 200, "189.97", "189.99"), at_ms=T0 + 200) == []  # not again
    assert len(h.feed(bbo_frame(T0 + 5_200, "189.97", "189.99"), at_ms=T0 + 5_200)) == 1


def test_no_exit_on_invalid_features() -> None:
    h, _ = long_position()
    h.feed(bbo_frame(T0 + 100, "189.80", "189.90"), at_ms=T0 + 100)
    # context 11 s old: dislocations invalid; the time stop is the engine's job
    assert h.feed(bbo_frame(T0 + 11_000, "189.99", "190.01"), at_ms=T0 + 11_000) == []
    assert not any(isinstance(i, CancelAll) for i in h.intents)


def test_fee_defaults_to_the_markets_own_taker_fee() -> None:
    # xyz:COIN in the real meta: deployer scale 1, growth mode: 4.5 x 2 x 0.1 = 0.9 bps
    h = StrategyHarness(OracleDislocation(OracleDislocationParams(threshold_bps=15)),
                        coin_info(), SimClock(T0))
    h.feed(ctx_frame("190.00"), at_ms=T0)
    # ask 189.65 vs oracle 190: 18.42 bps; fees 2 x 0.9 = 1.8 -> edge 16.62 > 15
    [order] = orders(h.feed(bbo_frame(T0 + 100, "189.60", "189.65", ask_sz="4.0"),
                            at_ms=T0 + 100))
    assert order.expected_edge_bps == pytest.approx(through("189.65", "190.00") - 1.8)
    assert h.signals[-1].values["fees_bps"] == pytest.approx(1.8)


def test_gate_needs_an_explicit_fee() -> None:
    with pytest.raises(ValueError, match="gate_model needs an explicit taker_fee_bps"):
        OracleDislocationParams(gate_model="models/x")
