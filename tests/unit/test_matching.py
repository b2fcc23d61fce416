from __future__ import annotations

import json
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hip3term.core.clock import SimClock
from hip3term.errors import MarketError
from hip3term.venue.sim.ledger import MarketSpec
from hip3term.venue.sim.matching import MatchingEngine
from hip3term.venue.sim.records import (
    CANCEL_MISSING,
    DUPLICATE_CLOID,
    INVALID_SIZE,
    IOC_REJECT,
    MARGIN_REJECT,
    REDUCE_ONLY_REJECT,
    TICK_REJECT,
    Filled,
    PlaceResult,
    Rejected,
    Resting,
    Tif,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
START_MS = 1_785_261_289_146
D = Decimal
COIN = MarketSpec(
    asset=110007, name="xyz:COIN", sz_decimals=3, max_leverage=10,
    taker_fee_rate=D("0.00045"), maker_fee_rate=D("0.00015"),
)  # fmt: skip
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20
CAROL = "0x" + "c3" * 20
DAVE = "0x" + "d4" * 20
CLOID = "0xa1f0cddc17303d07f3fd128d5b35071d"  # from a real orderUpdates frame


@pytest.fixture
def clock() -> SimClock:
    return SimClock(START_MS)


@pytest.fixture
def engine(clock: SimClock) -> MatchingEngine:
    eng = MatchingEngine([COIN], clock)
    for who in (ALICE, BOB, CAROL, DAVE):
        eng.ledger.open_account(who, D(10_000))
    return eng


def place(
    eng: MatchingEngine, who: str, is_buy: bool, px: str, sz: str, tif: Tif = "Gtc",
    reduce_only: bool = False, cloid: str | None = None,
) -> PlaceResult:  # fmt: skip
    return eng.place(who, COIN.asset, is_buy, D(px), D(sz), tif, reduce_only, cloid)


def resting_oid(result: PlaceResult) -> int:
    assert isinstance(result.status, Resting), result.status
    return result.status.oid


def shape(value: Any) -> Any:
    """The key structure of a JSON value (dict keys, recursively; lists by first item)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def real_frames(name: str) -> Iterator[dict[str, Any]]:
    with (FIXTURES / name).open() as handle:
        for line in handle:
            yield json.loads(line)


def real_frame(name: str, note_part: str) -> Any:
    return next(f["msg"] for f in real_frames(name) if note_part in f["note"])


# --- priority, partial fills, TIFs ------------------------------------------------------------


def test_price_time_priority_best_price_first_then_oldest(engine: MatchingEngine) -> None:
    bob = resting_oid(place(engine, BOB, False, "190", "1"))
    carol = resting_oid(place(engine, CAROL, False, "190", "1"))
    dave = resting_oid(place(engine, DAVE, False, "189.99", "1"))
    result = place(engine, ALICE, True, "190", "2.5", "Ioc")
    makers = [(f.oid, f.px, f.sz) for f in result.fills if not f.crossed]
    assert makers == [(dave, D("189.99"), D(1)), (bob, D(190), D(1)), (carol, D(190), D("0.5"))]
    assert isinstance(result.status, Filled)
    assert result.status.total_sz == D("2.5")
    # (189.99 + 190 + 0.5 * 190) / 2.5 = 474.99 / 2.5
    assert result.status.avg_px == D("189.996")
    asks = engine.book_levels(COIN.asset)[1]
    assert [(lvl.px, lvl.sz, lvl.n) for lvl in asks] == [(D(190), D("0.5"), 1)]


def test_partial_fill_leaves_the_rest_of_the_maker_resting(engine: MatchingEngine) -> None:
    oid = resting_oid(place(engine, BOB, False, "190", "3"))
    place(engine, ALICE, True, "190", "1", "Ioc")
    status = engine.order_status(BOB, oid=oid)
    assert status is not None and status.status == "open"
    assert (status.order.sz, status.order.orig_sz) == (D(2), D(3))
    [view] = engine.open_orders(BOB)
    assert view.sz == D(2)


@pytest.mark.parametrize("tif", ["Gtc", "Alo"])
def test_non_crossing_gtc_and_alo_rest(engine: MatchingEngine, tif: Tif) -> None:
    place(engine, BOB, False, "190.01", "1")
    result = place(engine, ALICE, True, "190", "1", tif, cloid=CLOID)
    assert result.status == Resting(resting_oid(result), CLOID)
    assert [e.status for e in result.events] == ["open"]
    assert engine.best_prices(COIN.asset) == (D(190), D("190.01"))


def test_ioc_without_liquidity_is_rejected_with_the_exchange_text(engine: MatchingEngine) -> None:
    place(engine, BOB, False, "190.01", "1")
    result = place(engine, ALICE, True, "190", "1", "Ioc")
    assert result.status == Rejected(IOC_REJECT, "iocCancelRejected")
    assert [e.status for e in result.events] == ["iocCancelRejected"]
    assert engine.open_orders(ALICE) == []


def test_ioc_partial_fill_reports_filled_size_and_cancels_the_rest(engine: MatchingEngine) -> None:
    place(engine, BOB, False, "190", "1")
    result = place(engine, ALICE, True, "190.05", "3", "Ioc")
    assert isinstance(result.status, Filled)
    assert (result.status.total_sz, result.status.avg_px) == (D(1), D(190))
    taker_events = [e for e in result.events if e.owner == ALICE.lower()]
    assert [(e.status, e.order.sz) for e in taker_events] == [("canceled", D(2))]
    assert engine.open_orders(ALICE) == []


def test_alo_that_would_cross_is_rejected_showing_the_bbo(engine: MatchingEngine) -> None:
    place(engine, BOB, True, "189.99", "1")
    place(engine, CAROL, False, "190.01", "1")
    result = place(engine, ALICE, True, "190.01", "1", "Alo")
    expected = "Post only order would have immediately matched, bbo was 189.99@190.01."
    assert result.status == Rejected(expected, "badAloPxRejected")
    assert [e.status for e in result.events] == ["badAloPxRejected"]
    assert result.fills == ()


def test_gtc_rests_then_fills_as_maker_paying_the_maker_fee(engine: MatchingEngine) -> None:
    oid = resting_oid(place(engine, ALICE, True, "190", "2"))
    result = place(engine, BOB, False, "189", "2", "Ioc")
    maker, taker = result.fills
    assert (maker.owner, maker.oid, maker.crossed, maker.side) == (ALICE.lower(), oid, False, "B")
    assert (taker.owner, taker.crossed, taker.side) == (BOB.lower(), True, "A")
    assert maker.px == taker.px == D(190)  # the resting order's price
    assert maker.fee == D("0.057")  # 380 * 0.015%
    assert taker.fee == D("0.171")  # 380 * 0.045%
    assert maker.tid == taker.tid and maker.hash == taker.hash
    assert [(e.owner, e.status) for e in result.events] == [
        (ALICE.lower(), "filled"), (BOB.lower(), "filled")
    ]  # fmt: skip


# --- refusals ---------------------------------------------------------------------------------


def test_reduce_only_that_would_increase_is_rejected(engine: MatchingEngine) -> None:
    flat = place(engine, ALICE, False, "190", "1", reduce_only=True)
    assert flat.status == Rejected(REDUCE_ONLY_REJECT, "reduceOnlyRejected")
    place(engine, BOB, False, "190", "2")
    place(engine, ALICE, True, "190", "2", "Ioc")  # alice is long 2
    same_side = place(engine, ALICE, True, "190", "1", "Ioc", reduce_only=True)
    assert same_side.status == Rejected(REDUCE_ONLY_REJECT, "reduceOnlyRejected")
    too_big = place(engine, ALICE, False, "189", "3", "Ioc", reduce_only=True)
    assert too_big.status == Rejected(REDUCE_ONLY_REJECT, "reduceOnlyRejected")


def test_reduce_only_partial_close(engine: MatchingEngine) -> None:
    place(engine, BOB, False, "190", "2")
    place(engine, ALICE, True, "190", "2", "Ioc")
    place(engine, CAROL, True, "191", "5")
    result = place(engine, ALICE, False, "191", "1.5", "Ioc", reduce_only=True)
    [fill] = [f for f in result.fills if f.owner == ALICE.lower()]
    assert (fill.dir, fill.start_position, fill.closed_pnl) == ("Close Long", D(2), D("1.5"))
    assert engine.position(ALICE, COIN.asset).szi == D("0.5")


def test_resting_reduce_only_is_canceled_when_the_position_closes(engine: MatchingEngine) -> None:
    place(engine, BOB, False, "190", "1")
    place(engine, ALICE, True, "190", "1", "Ioc")
    ro = resting_oid(place(engine, ALICE, False, "195", "1", reduce_only=True))
    place(engine, CAROL, True, "189", "1")
    result = place(engine, ALICE, False, "189", "1", "Ioc")  # closes the long another way
    assert ("reduceOnlyCanceled", ro) in [(e.status, e.order.oid) for e in result.events]
    assert engine.open_orders(ALICE) == []


def test_self_trade_cancels_the_resting_order_and_matching_goes_on(engine: MatchingEngine) -> None:
    own = resting_oid(place(engine, ALICE, False, "190", "1"))
    place(engine, BOB, False, "190.01", "1")
    result = place(engine, ALICE, True, "190.01", "1", "Ioc")
    assert (result.events[0].status, result.events[0].order.oid) == ("selfTradeCanceled", own)
    [taker] = [f for f in result.fills if f.crossed]
    assert (taker.owner, taker.px) == (ALICE.lower(), D("190.01"))
    assert engine.order_status(ALICE, oid=own) is not None
    assert engine.open_orders(ALICE) == []


@pytest.mark.parametrize(
    ("sz", "accepted"),
    [
        ("5", True),  # margin 950 / 10 = 95 plus fee 0.4275: 95.4275 <= 100
        ("5.2", True),  # 98.8 + 0.4446 = 99.2446
        ("5.25", False),  # 99.75 + 0.448875 = 100.198875 > 100
        ("6", False),
    ],
)
def test_margin_check_at_leverage_10(clock: SimClock, sz: str, accepted: bool) -> None:
    eng = MatchingEngine([COIN], clock)
    eng.ledger.open_account(ALICE, D(100))
    result = place(eng, ALICE, True, "190", sz)
    if accepted:
        assert isinstance(result.status, Resting)
    else:
        assert result.status == Rejected(MARGIN_REJECT, "perpMarginRejected")


def test_open_orders_reserve_margin(clock: SimClock) -> None:
    eng = MatchingEngine([COIN], clock)
    eng.ledger.open_account(ALICE, D(100))
    assert isinstance(place(eng, ALICE, True, "190", "3").status, Resting)  # reserves 57
    second = place(eng, ALICE, True, "190", "3")  # 57 + 0.2565 > 100 - 57
    assert second.status == Rejected(MARGIN_REJECT, "perpMarginRejected")


@pytest.mark.parametrize(
    ("px", "sz", "ok"),
    [("190", "0.052", False), ("190", "0.053", True), ("10", "1", True), ("9.999", "1", False)],
)
def test_min_notional_of_10_usdc(engine: MatchingEngine, px: str, sz: str, ok: bool) -> None:
    result = place(engine, ALICE, True, px, sz)
    if ok:
        assert isinstance(result.status, Resting)
    else:
        assert result.status == Rejected(
            "Order must have minimum value of $10.", "minTradeNtlRejected"
        )


def test_reduce_only_is_exempt_from_the_minimum_value(engine: MatchingEngine) -> None:
    place(engine, BOB, False, "190", "1")
    place(engine, ALICE, True, "190", "1", "Ioc")
    place(engine, CAROL, True, "190", "1")
    result = place(engine, ALICE, False, "190", "0.01", "Ioc", reduce_only=True)
    assert isinstance(result.status, Filled)


@pytest.mark.parametrize("px", ["190.001", "190.015", "1900.05", "0", "-190"])
def test_price_breaking_the_tick_rules_is_rejected(engine: MatchingEngine, px: str) -> None:
    result = place(engine, ALICE, True, px, "1")
    assert result.status == Rejected(TICK_REJECT, "tickRejected")
    assert [e.status for e in result.events] == ["tickRejected"]


@pytest.mark.parametrize("px", ["190.01", "190", "99.999", "19001"])
def test_valid_prices_are_accepted(engine: MatchingEngine, px: str) -> None:
    assert isinstance(place(engine, ALICE, True, px, "1").status, Resting)


@pytest.mark.parametrize("sz", ["0.0001", "0", "-1"])
def test_invalid_size_is_rejected_without_an_order(engine: MatchingEngine, sz: str) -> None:
    result = place(engine, ALICE, True, "190", sz)
    assert result.status == Rejected(INVALID_SIZE)
    assert result.events == ()


def test_errors_can_carry_the_asset_suffix(clock: SimClock) -> None:
    eng = MatchingEngine([COIN], clock, error_asset_suffix=True)
    result = eng.place(ALICE, COIN.asset, True, D("190.001"), D(1))
    assert isinstance(result.status, Rejected)
    assert result.status.text == "Price must be divisible by tick size. asset=110007"


def test_bad_input_raises(engine: MatchingEngine) -> None:
    with pytest.raises(MarketError):
        engine.place(ALICE, 1, True, D(1), D(1))
    with pytest.raises(ValueError, match="tif"):
        engine.place(ALICE, COIN.asset, True, D(190), D(1), "Fok")  # type: ignore[arg-type]  # reason: invalid on purpose
    with pytest.raises(ValueError, match="cloid"):
        engine.place(ALICE, COIN.asset, True, D(190), D(1), cloid="0x1234")
    with pytest.raises(TypeError):
        engine.place(ALICE, COIN.asset, True, 190.0, D(1))  # type: ignore[arg-type]  # reason: a float is the test


def test_duplicate_open_cloid_is_rejected_but_reusable_after_cancel(engine: MatchingEngine) -> None:
    oid = resting_oid(place(engine, ALICE, True, "189", "1", cloid=CLOID))
    assert place(engine, ALICE, True, "188", "1", cloid=CLOID).status == Rejected(DUPLICATE_CLOID)
    assert isinstance(place(engine, BOB, True, "188", "1", cloid=CLOID).status, Resting)
    assert engine.cancel(ALICE, COIN.asset, oid).ok
    assert isinstance(place(engine, ALICE, True, "188", "1", cloid=CLOID).status, Resting)


# --- PnL and fees -----------------------------------------------------------------------------


def test_round_trip_pnl_worked_by_hand(engine: MatchingEngine) -> None:
    # Alice buys 2 @ 190.00 and 1 @ 191.50: entry = (380 + 191.5) / 3 = 190.50.
    # Sells 1.5 @ 192.30: closedPnl = (192.30 - 190.50) * 1.5 = 2.70.
    # Sells 2.5 @ 189.00: closes 1.5 for (189 - 190.50) * 1.5 = -2.25, then is short 1 @ 189.
    # Taker fees at 0.045%: 380 -> 0.171; 191.5 -> 0.086175; 288.45 -> 0.1298025, booked
    # half-even as 0.129802; 472.5 -> 0.212625. Total 0.599602.
    # Margin at 10x: 38 + 19.15 = 57.15; half of it (28.575) comes back at the first sale,
    # the rest at the second; the new short holds 18.9.
    # Balance: 10000 + 2.70 - 2.25 - 0.599602 - 18.9 = 9980.950398.
    steps = [
        (BOB, False, "190", "2", True, "190", "2"),
        (BOB, False, "191.5", "1", True, "191.5", "1"),
        (CAROL, True, "192.3", "1.5", False, "192.3", "1.5"),
        (CAROL, True, "189", "2.5", False, "189", "2.5"),
    ]
    fills = []
    for maker, m_buy, m_px, m_sz, t_buy, t_px, t_sz in steps:
        place(engine, maker, m_buy, m_px, m_sz)
        result = place(engine, ALICE, t_buy, t_px, t_sz, "Ioc")
        fills += [f for f in result.fills if f.owner == ALICE.lower()]
    assert [(f.dir, f.start_position, f.closed_pnl, f.fee) for f in fills] == [
        ("Open Long", D(0), D(0), D("0.171")),
        ("Open Long", D(2), D(0), D("0.086175")),
        ("Close Long", D(3), D("2.7"), D("0.129802")),
        ("Long > Short", D("1.5"), D("-2.25"), D("0.212625")),
    ]
    position = engine.position(ALICE, COIN.asset)
    assert (position.szi, position.entry_px, position.margin) == (D(-1), D(189), D("18.9"))
    assert engine.ledger.balance(ALICE) == D("9980.950398")
    state = engine.clearinghouse_state(ALICE, "xyz", {COIN.asset: D(189)})
    assert state["marginSummary"]["accountValue"] == "9999.850398"


@pytest.mark.parametrize(
    ("taker_rate", "maker_rate", "taker_fee", "maker_fee"),
    [
        ("0.00045", "0.00015", "0.0855", "0.0285"),  # 190 * 0.045% / 0.015%
        ("0.00009", "0.00003", "0.0171", "0.0057"),  # xyz:COIN: scale 1, growth mode
        ("0.00045", "-0.00002", "0.0855", "-0.0038"),  # a maker rebate
    ],
)
def test_fees_follow_the_market_rates(
    clock: SimClock, taker_rate: str, maker_rate: str, taker_fee: str, maker_fee: str
) -> None:
    spec = MarketSpec(110007, "xyz:COIN", 3, 10, D(taker_rate), D(maker_rate))
    eng = MatchingEngine([spec], clock)
    for who in (ALICE, BOB):
        eng.ledger.open_account(who, D(1000))
    eng.place(BOB, spec.asset, False, D(190), D(1))
    maker, taker = eng.place(ALICE, spec.asset, True, D(190), D(1), "Ioc").fills
    assert (taker.fee, maker.fee) == (D(taker_fee), D(maker_fee))
    assert eng.ledger.balance(BOB) == D(1000) - D(19) - D(maker_fee)  # 19 = margin at 10x


# --- cancels and order status -------------------------------------------------------------------


def test_cancel_semantics(engine: MatchingEngine) -> None:
    oid = resting_oid(place(engine, ALICE, True, "189", "1"))
    assert engine.cancel(BOB, COIN.asset, oid).error == CANCEL_MISSING  # not bob's
    assert engine.cancel(ALICE, COIN.asset + 1, oid).error == CANCEL_MISSING  # wrong asset
    result = engine.cancel(ALICE.upper().replace("0X", "0x"), COIN.asset, oid)
    assert result.wire() == "success"
    assert [(e.status, e.order.oid, e.order.sz) for e in result.events] == [("canceled", oid, D(1))]
    again = engine.cancel(ALICE, COIN.asset, oid)
    assert again.wire() == {"error": "Order was never placed, already canceled, or filled."}
    assert engine.cancel(ALICE, COIN.asset, 123).error == CANCEL_MISSING  # never placed
    assert engine.book_levels(COIN.asset) == ([], [])


def test_cancel_of_a_filled_order_fails(engine: MatchingEngine) -> None:
    oid = resting_oid(place(engine, BOB, False, "190", "1"))
    place(engine, ALICE, True, "190", "1", "Ioc")
    assert engine.cancel(BOB, COIN.asset, oid).error == CANCEL_MISSING


def test_cancel_by_cloid_and_cancel_all(engine: MatchingEngine) -> None:
    place(engine, ALICE, True, "189", "1", cloid=CLOID)
    place(engine, ALICE, True, "188", "1")
    place(engine, ALICE, False, "191", "1")
    place(engine, BOB, False, "192", "1")
    assert engine.cancel_by_cloid(ALICE, COIN.asset, CLOID.upper().replace("0X", "0x")).ok
    assert engine.cancel_by_cloid(ALICE, COIN.asset, CLOID).error == CANCEL_MISSING
    events = engine.cancel_all(ALICE)
    assert [e.order.limit_px for e in events] == [D(188), D(191)]  # oldest first
    assert engine.open_orders(ALICE) == []
    assert engine.open_order_count(BOB) == 1


def test_order_status_by_oid_and_by_cloid(engine: MatchingEngine, clock: SimClock) -> None:
    oid = resting_oid(place(engine, ALICE, True, "190", "2", cloid=CLOID))
    by_cloid = engine.order_status(ALICE, cloid=CLOID)
    assert by_cloid is not None and (by_cloid.order.oid, by_cloid.status) == (oid, "open")
    clock.advance(1500)
    place(engine, BOB, False, "190", "2", "Ioc")
    done = engine.order_status(ALICE, oid=oid)
    assert done is not None
    assert (done.status, done.status_timestamp, done.order.timestamp) == (
        "filled", START_MS + 1500, START_MS
    )  # fmt: skip
    assert engine.order_status(ALICE, cloid=CLOID) == done
    assert engine.order_status(BOB, oid=oid) is None  # another user's order: unknownOid
    assert engine.order_status(ALICE, oid=999) is None


def test_rejected_order_status_is_queryable_by_cloid(engine: MatchingEngine) -> None:
    place(engine, BOB, False, "190", "1")
    place(engine, ALICE, True, "190", "1", "Alo", cloid=CLOID)
    status = engine.order_status(ALICE, cloid=CLOID)
    assert status is not None and status.status == "badAloPxRejected"


def test_oids_and_tids_count_up_from_their_start(clock: SimClock) -> None:
    eng = MatchingEngine([COIN], clock, oid_start=500, tid_start=7)
    eng.ledger.open_account(ALICE, D(1000), house=True)
    eng.ledger.open_account(BOB, D(1000), house=True)
    assert resting_oid(eng.place(BOB, COIN.asset, False, D(190), D(1))) == 500
    assert resting_oid(eng.place(BOB, COIN.asset, False, D(191), D(1))) == 501
    result = eng.place(ALICE, COIN.asset, True, D(191), D(2), "Ioc")
    assert [t.tid for t in result.trades] == [7, 8]
    assert result.trades[0].hash == result.trades[1].hash
    assert result.trades[0].hash.startswith("0x") and len(result.trades[0].hash) == 66
    int(result.trades[0].hash, 16)


def test_house_accounts_skip_margin_and_keep_no_finished_orders(clock: SimClock) -> None:
    eng = MatchingEngine([COIN], clock)
    eng.ledger.open_account(ALICE, house=True)  # no money at all
    oid = resting_oid(eng.place(ALICE, COIN.asset, True, D(190), D(100)))
    eng.cancel(ALICE, COIN.asset, oid)
    assert eng.order_status(ALICE, oid=oid) is None


def test_trade_totals_mid_bbo_and_user_fills(clock: SimClock) -> None:
    eng = MatchingEngine([COIN], clock, max_user_fills=3)
    for who in (ALICE, BOB):
        eng.ledger.open_account(who, D(10_000))
    assert eng.trade_totals(COIN.asset) == (None, D(0), D(0))
    assert eng.mid(COIN.asset) is None and eng.bbo(COIN.asset) == (None, None)
    eng.place(BOB, COIN.asset, False, D(190), D(1))
    eng.place(BOB, COIN.asset, False, D("190.2"), D(2))
    eng.place(BOB, COIN.asset, True, D("189.5"), D(1))
    eng.place(ALICE, COIN.asset, True, D("190.2"), D(2), "Ioc")  # 1 @ 190, 1 @ 190.2
    assert eng.trade_totals(COIN.asset) == (D("190.2"), D("380.2"), D(2))
    assert eng.mid(COIN.asset) == D("189.85")
    bid, ask = eng.bbo(COIN.asset)
    assert bid is not None and ask is not None
    assert (bid.px, ask.px, ask.sz) == (D("189.5"), D("190.2"), D(1))
    eng.place(ALICE, COIN.asset, False, D("189.5"), D(1), "Ioc")
    assert [f.px for f in eng.user_fills(ALICE)] == [D(190), D("190.2"), D("189.5")]
    eng.place(BOB, COIN.asset, False, D("190.2"), D("0.1"))
    eng.place(ALICE, COIN.asset, True, D("190.2"), D("0.1"), "Ioc")
    assert [f.px for f in eng.user_fills(ALICE)] == [D("190.2"), D("189.5"), D("190.2")]
    assert eng.open_order_count(BOB, COIN.asset) == 2  # 0.9 and 0.1 left at 190.2


def test_only_the_most_recent_finished_orders_are_kept(clock: SimClock) -> None:
    eng = MatchingEngine([COIN], clock, max_finished_orders=2)
    eng.ledger.open_account(ALICE, D(10_000))
    cloid_2 = "0x" + "2" * 32
    oids = [
        resting_oid(place(eng, ALICE, True, "180", "1", cloid=cloid))
        for cloid in (CLOID, cloid_2, None)
    ]
    for oid in oids:
        assert eng.cancel(ALICE, COIN.asset, oid).ok
    assert eng.order_status(ALICE, oid=oids[0]) is None  # dropped, and its cloid with it
    assert eng.order_status(ALICE, cloid=CLOID) is None
    kept = eng.order_status(ALICE, cloid=cloid_2)
    assert kept is not None and kept.status == "canceled"
    assert eng.order_status(ALICE, oid=oids[2]) is not None


# --- wire shapes against real exchange data -------------------------------------------------------


def test_order_update_and_status_shapes_match_real_frames(engine: MatchingEngine) -> None:
    result = place(engine, ALICE, True, "190", "1", cloid=CLOID)
    real_update = real_frame("real_account_frames.jsonl", "resting post-only bid")["data"][0]
    assert shape(result.events[0].wire()) == shape(real_update)
    status = engine.order_status(ALICE, cloid=CLOID)
    assert status is not None
    real_status = json.loads((FIXTURES / "info_historicalOrders.json").read_text())[0]
    assert shape(status.status_wire()) == shape(real_status)
    real_open = real_frame("real_account_frames.jsonl", "POST /info openOrders")[0]
    assert shape(engine.open_orders(ALICE)[0].wire()) == shape(real_open)
    real_frontend = json.loads((FIXTURES / "info_frontendOpenOrders.json").read_text())[-1]
    assert set(engine.open_orders(ALICE)[0].frontend_wire()) == set(real_frontend) | {"cloid"}


def test_fill_trade_and_level_shapes_match_real_frames(engine: MatchingEngine) -> None:
    place(engine, BOB, False, "190", "1")
    result = place(engine, ALICE, True, "190", "1", "Ioc")
    real_fill = real_frame("real_account_frames.jsonl", "userEvents reply")["data"]["fills"][0]
    assert shape(result.fills[0].wire()) == shape(real_fill)
    real_trade = real_frame("real_ws_frames.jsonl", "xyz:NATGAS trades")["data"][0]
    assert shape(result.trades[0].wire()) == shape(real_trade)
    assert result.trades[0].wire()["users"] == [ALICE.lower(), BOB.lower()]
    place(engine, BOB, False, "190.5", "1")
    real_level = real_frame("real_ws_frames.jsonl", "full 20x20")["data"]["levels"][1][0]
    asks = engine.book_levels(COIN.asset)[1]
    assert shape(asks[0].wire()) == shape(real_level)
    assert asks[0].wire() == {"px": "190.5", "sz": "1", "n": 1}


def test_order_response_statuses_have_the_exchange_shape(engine: MatchingEngine) -> None:
    real = real_frame("real_account_frames.jsonl", "IOC filled on xyz:SILVER")
    real_filled = real["response"]["data"]["statuses"][0]
    place(engine, BOB, False, "190", "1")
    result = place(engine, ALICE, True, "190", "1", "Ioc")
    assert shape(result.status.wire()) == shape(real_filled)
    assert result.status.wire() == {"filled": {"totalSz": "1", "avgPx": "190", "oid": 1_000_001}}
    rested = place(engine, ALICE, True, "189", "1", cloid=CLOID).status
    assert rested.wire() == {"resting": {"oid": 1_000_002, "cloid": CLOID}}


# --- properties -----------------------------------------------------------------------------

OWNERS = (ALICE, BOB, CAROL, DAVE)
SIZES = ("0.06", "0.1", "0.25", "0.5", "1", "1.337")
TIFS: tuple[Tif, ...] = ("Gtc", "Gtc", "Ioc", "Alo")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(5, 120))
def test_random_order_flow_keeps_the_book_and_ledger_consistent(
    rnd: random.Random, n_ops: int
) -> None:
    eng = MatchingEngine([COIN], SimClock(START_MS))
    for who in OWNERS:
        eng.ledger.open_account(who, D(1_000_000))
    fees = D(0)
    n_fills = 0
    for _ in range(n_ops):
        who = rnd.choice(OWNERS)
        if rnd.random() < 0.2:
            orders = eng.open_orders(who)
            if orders:
                assert eng.cancel(who, COIN.asset, rnd.choice(orders).oid).ok
            continue
        px = D(190) + D(rnd.randint(-3, 3)) / 100  # within 3 ticks of 190.00
        sz = D(rnd.choice(SIZES))
        tif, reduce_only = rnd.choice(TIFS), rnd.random() < 0.25
        result = eng.place(who, COIN.asset, rnd.random() < 0.5, px, sz, tif, reduce_only)
        fills = result.fills
        assert len(fills) % 2 == 0
        for maker, taker in zip(fills[::2], fills[1::2], strict=True):
            assert (maker.crossed, taker.crossed) == (False, True)
            assert (maker.tid, maker.px, maker.sz) == (taker.tid, taker.px, taker.sz)
            assert maker.is_buy != taker.is_buy and maker.owner != taker.owner
            assert maker.sz > 0
        assert len(result.trades) == len(fills) // 2
        fees += sum((f.fee for f in fills), D(0))
        n_fills += len(fills)
        _check_invariants(eng, fees, n_fills)


def _check_invariants(eng: MatchingEngine, fees: Decimal, n_fills: int) -> None:
    bid, ask = eng.best_prices(COIN.asset)
    assert bid is None or ask is None or bid < ask, "crossed book"
    assert eng.ledger.net_position(COIN.asset) == 0
    bids, asks = eng.book_levels(COIN.asset, depth=100)
    assert all(level.sz > 0 and level.n > 0 for level in bids + asks)
    for who in OWNERS:
        for order in eng.open_orders(who):
            assert 0 < order.sz <= order.orig_sz
    # Money is conserved up to the micro-USDC rounding of each fill's closed PnL.
    mark = D(190)
    total = fees
    for who in OWNERS:
        position = eng.position(who, COIN.asset)
        total += eng.ledger.balance(who) + position.margin
        total += position.szi * (mark - position.entry_px)
    assert abs(total - len(OWNERS) * D(1_000_000)) <= D("0.000001") * n_fills
