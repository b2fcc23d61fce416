"""MarketState: merge rules of l2Book and bbo, trades, context, features (pure, no clock)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.book import Features, FeatureSettings, MarketState
from hip3term.book.features import VOL_WINDOWS_S, RealizedVolatility
from hip3term.venue.hyperliquid.parse import parse_frame
from hip3term.venue.hyperliquid.wire import (
    AssetCtx,
    Bbo,
    L2Book,
    Ladder,
    Level,
    Trade,
    Trades,
)

COIN = "xyz:COIN"
S = 1_000_000_000  # ns per second
MS = 1_000_000
FIXTURE = Path(__file__).parent.parent / "fixtures" / "recordings" / "xyz_aapl_frames.jsonl"


def lv(px: str, sz: str = "1") -> Level:
    return Level(Decimal(px), Decimal(sz), 1)


def book(time_ms: int, bids: list[Level], asks: list[Level], coin: str = COIN) -> L2Book:
    return L2Book(coin, time_ms, Ladder(bids), Ladder(asks))


def bbo(time_ms: int, bid: Level | None, ask: Level | None, coin: str = COIN) -> Bbo:
    return Bbo(coin, time_ms, bid, ask)


def ctx(oracle: str, mark: str, coin: str = COIN) -> AssetCtx:
    return AssetCtx(coin=coin, mark_px=Decimal(mark), oracle_px=Decimal(oracle),
                    mid_px=None, funding=Decimal("0.0000125"), open_interest=Decimal("1000"),
                    premium=None, impact_pxs=None, day_ntl_vlm=None,
                    prev_day_px=Decimal(oracle), day_base_vlm=None)


def trade(tid: int, side: str, sz: str, time_ms: int, coin: str = COIN) -> Trade:
    return Trade(coin, "B" if side == "B" else "A", Decimal(100), Decimal(sz), time_ms, tid,
                 "0x00", ("0xbuyer", "0xseller"))


def prices(levels: tuple[object, ...]) -> list[str]:
    return [str(level.px) for level in levels]  # type: ignore[attr-defined]  # reason: levels


def standard_book(time_ms: int = 1_000) -> L2Book:
    return book(time_ms, [lv("100", "3"), lv("99"), lv("98")],
                [lv("101", "1"), lv("102"), lv("103")])


# -- book merge ------------------------------------------------------------------------


def test_l2book_sets_book_and_top_features() -> None:
    state = MarketState(COIN)
    assert state.on_l2_book(standard_book(), 0)
    features = state.features(0)
    assert features.mid.value == Decimal("100.5")
    assert features.spread_bps.value == pytest.approx(1 / 100.5 * 1e4)
    assert features.microprice.value == pytest.approx((100 * 1 + 101 * 3) / 4)
    assert features.imbalance.value == pytest.approx(0.5)
    assert prices(state.bids()) == ["100", "99", "98"]
    assert prices(state.asks()) == ["101", "102", "103"]


def test_newer_bbo_replaces_top_and_drops_overtaken_levels() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(1_000), 0)
    assert state.on_bbo(bbo(1_001, lv("99.5", "2"), lv("100.5", "4")), 1)
    assert prices(state.bids()) == ["99.5", "99", "98"]
    assert prices(state.asks()) == ["100.5", "101", "102", "103"]
    assert state.best_bid == lv("99.5", "2")
    assert state.mid == Decimal("100")


def test_bbo_moving_up_drops_asks_it_crossed() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(1_000), 0)
    state.on_bbo(bbo(1_001, lv("101.5"), lv("102.5")), 1)
    assert prices(state.bids()) == ["101.5", "100", "99", "98"]
    assert prices(state.asks()) == ["102.5", "103"]


def test_bbo_at_same_price_replaces_level_size() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(1_000), 0)
    state.on_bbo(bbo(1_000, lv("100", "7"), lv("101", "1")), 1)  # same time: later wins
    assert [str(level.sz) for level in state.bids()] == ["7", "1", "1"]


def test_older_bbo_is_ignored_and_counted() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(1_000), 0)
    assert not state.on_bbo(bbo(999, lv("50"), lv("60")), 1)
    assert state.counters["stale_frames"] == 1
    assert prices(state.bids())[0] == "100"


def test_newer_l2book_replaces_everything() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(1_000), 0)
    state.on_bbo(bbo(1_001, lv("99.5"), lv("100.5")), 1)
    state.on_l2_book(book(1_002, [lv("90")], [lv("91")]), 2)
    assert prices(state.bids()) == ["90"]
    assert prices(state.asks()) == ["91"]
    assert state.book_time_ms == 1_002


def test_l2book_older_than_bbo_replaces_depth_under_the_bbo() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(1_000), 0)
    state.on_bbo(bbo(1_005, lv("99.5"), lv("100.5")), 1)
    state.on_l2_book(book(1_003, [lv("99.6"), lv("99.4"), lv("97")],
                          [lv("100.4"), lv("101.5")]), 2)
    assert prices(state.bids()) == ["99.5", "99.4", "97"]
    assert prices(state.asks()) == ["100.5", "101.5"]
    assert state.book_time_ms == 1_005


def test_l2book_older_than_last_l2book_is_ignored() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(1_000), 0)
    assert not state.on_l2_book(book(999, [lv("1")], [lv("2")]), 1)
    assert state.counters["stale_frames"] == 1
    assert prices(state.bids())[0] == "100"


def test_bbo_null_side_empties_that_side_and_invalidates_top() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(1_000), 0)
    state.on_bbo(bbo(1_001, None, lv("101")), 1)
    assert state.bids() == ()
    assert state.best_bid is None
    assert state.mid is None
    features = state.features(1)
    assert not features.mid.valid
    assert features.spread_bps.reason == "bid side empty"


def test_crossed_bbo_is_refused() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(1_000), 0)
    assert not state.on_bbo(bbo(1_001, lv("101"), lv("101")), 1)
    assert state.counters["crossed"] == 1
    assert prices(state.bids())[0] == "100"


def test_crossed_l2book_drops_crossing_levels_of_both_sides() -> None:
    state = MarketState(COIN)
    state.on_l2_book(book(1_000, [lv("102"), lv("101"), lv("99")],
                          [lv("100"), lv("103")]), 0)
    # 102 vs 100 cross: both go; 101 vs 103 do not
    assert prices(state.bids()) == ["101", "99"]
    assert prices(state.asks()) == ["103"]
    assert state.counters["crossed"] == 1


def test_other_coin_is_ignored_and_counted() -> None:
    state = MarketState(COIN)
    assert state.on_l2_book(standard_book(), 0)
    assert not state.on_l2_book(book(2_000, [lv("1")], [lv("2")], coin="xyz:AAPL"), 1)
    assert not state.on_bbo(bbo(2_000, lv("1"), lv("2"), coin="xyz:AAPL"), 1)
    assert not state.on_asset_ctx(ctx("1", "1", coin="xyz:AAPL"), 1)
    assert state.counters["other_coin"] == 3
    assert state.mid == Decimal("100.5")


def test_apply_dispatches_by_channel_and_ignores_others() -> None:
    state = MarketState(COIN)
    assert state.apply(standard_book(), 0)
    assert state.apply(bbo(1_001, lv("100"), lv("101")), 0)
    assert state.apply(ctx("100", "100"), 0)
    assert state.apply(Trades((trade(1, "B", "1", 1_000),)), 0)
    assert not state.apply(object(), 0)
    assert not state.apply(Trades((trade(1, "B", "1", 1_000),)), 0)  # duplicate


# -- staleness and missing inputs ------------------------------------------------------


def test_features_invalid_before_any_input() -> None:
    features = MarketState(COIN).features(0)
    for name, feature in features.items():
        assert not feature.valid, name
        assert feature.reason, name
    assert features.mid.reason == "no book yet"
    assert features.buy_dislocation_bps.reason == "no asset context yet"
    assert features.trade_flow.reason == "no trades frame yet"


def test_book_features_invalid_when_book_stale() -> None:
    state = MarketState(COIN, FeatureSettings(book_stale_after_s=20.0, ctx_stale_after_s=60.0))
    state.on_l2_book(standard_book(), 0)
    state.on_asset_ctx(ctx("100", "100"), 0)
    assert state.features(20 * S).mid.valid
    stale = state.features(20 * S + 1)
    for name in ("mid", "microprice", "spread_bps", "imbalance", "buy_dislocation_bps",
                 "sell_dislocation_bps", "rv_1s_bps"):
        assert getattr(stale, name).reason.startswith("book stale"), name
    # context features do not depend on the book
    assert stale.mark_oracle_bps.valid


def test_context_features_invalid_when_context_stale() -> None:
    state = MarketState(COIN, FeatureSettings(ctx_stale_after_s=10.0))
    state.on_l2_book(standard_book(), 0)
    state.on_asset_ctx(ctx("100", "100"), 0)
    state.on_l2_book(standard_book(2_000), 11 * S)
    features = state.features(11 * S)
    assert features.mid.valid
    for name in ("buy_dislocation_bps", "sell_dislocation_bps", "mark_oracle_bps",
                 "oracle_age_s"):
        assert getattr(features, name).reason.startswith("asset context stale"), name


def test_oracle_features_hand_computed() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(), 0)  # bid 100, ask 101
    state.on_asset_ctx(ctx(oracle="102", mark="101.5"), 0)
    features = state.features(S)
    assert features.buy_dislocation_bps.value == pytest.approx((102 - 101) / 102 * 1e4)
    assert features.sell_dislocation_bps.value == pytest.approx((100 - 102) / 102 * 1e4)
    assert features.mark_oracle_bps.value == pytest.approx((101.5 - 102) / 102 * 1e4)
    assert features.oracle_age_s.value == pytest.approx(1.0)
    assert state.ctx is not None
    assert state.ctx.funding == Decimal("0.0000125")
    assert state.ctx.open_interest == Decimal("1000")


def test_oracle_age_counts_from_last_change_and_frozen_oracle_invalidates_dislocation(
) -> None:
    state = MarketState(COIN, FeatureSettings(oracle_frozen_after_s=30.0))
    state.on_asset_ctx(ctx("100", "100"), 0)
    state.on_asset_ctx(ctx("100.5", "100"), 3 * S)  # changed at 3 s
    for t in range(6, 40, 3):  # unchanged pushes keep the context fresh
        state.on_asset_ctx(ctx("100.5", "100.2"), t * S)
    state.on_l2_book(standard_book(), 39 * S)
    features = state.features(39 * S)
    assert features.oracle_age_s.value == pytest.approx(36.0)
    assert features.buy_dislocation_bps.reason == "oracle frozen (36.0 s unchanged)"
    assert features.mark_oracle_bps.valid
    state.on_asset_ctx(ctx("100.7", "100.2"), 40 * S)
    assert state.features(40 * S).oracle_age_s.value == 0.0
    assert state.features(40 * S).buy_dislocation_bps.valid



def _oracle_four(features: Features) -> tuple[object, ...]:
    return (features.buy_dislocation_bps, features.sell_dislocation_bps,
            features.mark_oracle_bps, features.oracle_age_s)


def test_oracle_features_alone_equal_the_snapshot_in_every_state() -> None:
    # before anything, book only, both, oracle frozen, context stale, book stale, a side
    # empty: the cheap call must give the same four features (values and reasons)
    state = MarketState(COIN, FeatureSettings(book_stale_after_s=20.0, ctx_stale_after_s=30.0,
                                              oracle_frozen_after_s=10.0))
    seen: list[str] = []

    def check(now_ns: int) -> None:
        alone = state.oracle_features(now_ns)
        assert tuple(alone) == _oracle_four(state.features(now_ns))
        seen.extend(f.reason or "valid" for f in alone)

    check(0)
    state.on_l2_book(standard_book(), 0)
    check(S)
    state.on_asset_ctx(ctx(oracle="102", mark="101.5"), 2 * S)
    check(3 * S)
    check(13 * S)  # the oracle has not changed for 11 s: frozen
    state.on_asset_ctx(ctx(oracle="99", mark="99.5"), 14 * S)
    check(15 * S)  # a buy above, a sell below: valid again
    check(21 * S)  # book stale
    state.on_l2_book(standard_book(30_000), 40 * S)
    check(50 * S)  # context stale
    state.on_bbo(bbo(31_000, None, lv("101")), 51 * S)
    state.on_asset_ctx(ctx(oracle="100", mark="100"), 51 * S)
    check(51 * S)  # bid side empty
    assert {"valid", "no asset context yet"} <= set(seen)
    assert any(r.startswith("oracle frozen") for r in seen)
    assert any(r.startswith("asset context stale") for r in seen)
    assert any(r.startswith("book stale") for r in seen)
    assert "bid side empty" in seen


# -- trades and flow -------------------------------------------------------------------


def test_trades_deduplicated_by_tid_and_bounded() -> None:
    state = MarketState(COIN, FeatureSettings(max_trades=3))
    pushed = Trades(tuple(trade(tid, "B", "1", 1_000 + tid) for tid in range(5)))
    assert state.on_trades(pushed, 0) == 5
    assert [t.tid for t in state.recent_trades] == [2, 3, 4]
    assert state.on_trades(Trades((trade(4, "B", "1", 1_004),)), 0) == 0
    assert state.counters["duplicate_trades"] == 1
    # a tid that left the bounded window is no longer known
    assert state.on_trades(Trades((trade(0, "A", "1", 1_000),)), 0) == 1


def test_trade_flow_hand_computed_in_exchange_time() -> None:
    state = MarketState(COIN, FeatureSettings(flow_window_s=10.0))
    state.on_trades(Trades((trade(1, "B", "2", 1_000), trade(2, "A", "0.5", 5_000))), 0)
    state.on_l2_book(standard_book(9_000), 0)  # exchange time 9 000 ms at local 0
    assert state.features(0).trade_flow.value == pytest.approx(1.5)
    # local +2 s: estimated exchange time 11 000; the buy at 1 000 left the window
    assert state.exchange_now_ms(2 * S) == 11_000
    assert state.features(2 * S).trade_flow.value == pytest.approx(-0.5)


def test_trade_flow_zero_is_valid_after_empty_push() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(), 0)
    state.on_trades(Trades(()), 0)
    assert state.features(0).trade_flow.value == 0.0


def test_trade_flow_invalid_with_only_other_coins() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(), 0)
    state.on_trades(Trades((trade(1, "B", "1", 1_000, coin="xyz:AAPL"),)), 0)
    assert state.features(0).trade_flow.reason == "no trades frame yet"


# -- realized volatility ---------------------------------------------------------------


def quote(state: MarketState, time_ms: int, bid: str, ask: str, local_ns: int) -> None:
    assert state.on_bbo(bbo(time_ms, lv(bid), lv(ask)), local_ns)


def test_realized_vol_from_mid_changes() -> None:
    state = MarketState(COIN)
    quote(state, 1, "99", "101", 0)  # mid 100
    quote(state, 2, "100", "102", 3 * S)  # mid 101
    quote(state, 3, "100", "102", 5 * S)  # unchanged
    quote(state, 4, "99.5", "100.5", int(9.5 * S))  # mid 100
    features = state.features(10 * S)
    r1, r2 = math.log(101 / 100), math.log(100 / 101)
    assert features.rv_10s_bps.value == pytest.approx(math.sqrt(r1**2 + r2**2) * 1e4)
    assert features.rv_1s_bps.value == pytest.approx(abs(r2) * 1e4)
    assert features.rv_60s_bps.reason == "warming up (10.0 of 60 s covered)"


def test_realized_vol_restarts_after_book_gap() -> None:
    state = MarketState(COIN, FeatureSettings(book_stale_after_s=5.0))
    quote(state, 1, "99", "101", 0)
    quote(state, 2, "99", "101", 4 * S)
    quote(state, 3, "100", "102", 20 * S)  # 16 s without an update: a gap
    features = state.features(21 * S)
    assert features.rv_1s_bps.value == 0.0  # the jump across the gap is not a return
    assert features.rv_10s_bps.reason == "warming up (1.0 of 10 s covered)"


def test_reset_forgets_everything() -> None:
    state = MarketState(COIN)
    state.on_l2_book(standard_book(), 0)
    state.on_asset_ctx(ctx("100", "100"), 0)
    state.on_trades(Trades((trade(1, "B", "1", 1_000),)), 0)
    state.reset()
    assert state.best_bid is None
    assert state.ctx is None
    assert state.recent_trades == ()
    assert state.book_time_ms is None
    assert state.on_l2_book(standard_book(1), 0)  # an older time is accepted again


# -- real frames ---------------------------------------------------------------------


def test_real_xyz_aapl_frames_build_the_book() -> None:
    state = MarketState("xyz:AAPL")
    lines = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    for line in lines:
        frame = line["frame"]
        raw = frame if isinstance(frame, str) else json.dumps(frame)
        state.apply(parse_frame(raw), line["ts_ns"])
    # values of the real 20x20 frame
    assert len(state.bids()) == 20
    assert len(state.asks()) == 20
    assert state.best_bid == Level(Decimal("297.73"), Decimal("1.465"), 1)
    assert state.best_ask is not None
    assert state.best_ask.px == Decimal("297.84")
    features = state.features(lines[-1]["ts_ns"])
    assert features.mid.value == Decimal("297.785")
    assert features.mark_oracle_bps.value == pytest.approx((312.12 - 312.05) / 312.05 * 1e4)
    assert state.counters["other_coin"] == 3  # the NATGAS context and its two trades


# -- properties ------------------------------------------------------------------------

_ticks = st.integers(min_value=1, max_value=60)


@st.composite
def _sides(draw: st.DrawFn) -> tuple[list[Level], list[Level]]:
    bid_ticks = sorted(draw(st.sets(_ticks, max_size=8)), reverse=True)
    ask_ticks = sorted(draw(st.sets(_ticks, max_size=8)))
    crossed = draw(st.booleans())
    if not crossed and bid_ticks and ask_ticks:
        ask_ticks = [t for t in ask_ticks if t > bid_ticks[0]]
    return ([lv(str(Decimal(t) / 4)) for t in bid_ticks],
            [lv(str(Decimal(t) / 4)) for t in ask_ticks])


@st.composite
def _frames(draw: st.DrawFn) -> L2Book | Bbo:
    time_ms = draw(st.integers(min_value=0, max_value=50))
    bids, asks = draw(_sides())
    if draw(st.booleans()):
        return book(time_ms, bids, asks)
    keep_bid: bool = draw(st.booleans())
    keep_ask: bool = draw(st.booleans())
    return bbo(time_ms, bids[0] if bids and keep_bid else None,
               asks[0] if asks and keep_ask else None)


@settings(max_examples=300, deadline=None)
@given(st.lists(_frames(), max_size=30))
def test_merged_book_never_crosses_and_stays_sorted(frames: list[L2Book | Bbo]) -> None:
    state = MarketState(COIN)
    for i, frame in enumerate(frames):
        state.apply(frame, i)
        bids, asks = state.bids(), state.asks()
        bid_px = [level.px for level in bids]
        ask_px = [level.px for level in asks]
        assert bid_px == sorted(set(bid_px), reverse=True)
        assert ask_px == sorted(set(ask_px))
        if bids and asks:
            assert bid_px[0] < ask_px[0]
        assert state.best_bid == (bids[0] if bids else None)
        assert state.best_ask == (asks[0] if asks else None)


@settings(max_examples=200, deadline=None)
@given(st.lists(_frames(), min_size=1, max_size=30))
def test_top_comes_from_newest_accepted_source(frames: list[L2Book | Bbo]) -> None:
    state = MarketState(COIN)
    for i, frame in enumerate(frames):
        before = state.book_time_ms
        accepted = state.apply(frame, i)
        if not accepted:
            continue
        assert before is None or frame.time_ms >= before or isinstance(frame, L2Book)
        if isinstance(frame, Bbo):
            assert state.best_bid == frame.bid
            assert state.best_ask == frame.ask
        elif state.book_time_ms == frame.time_ms and frame.bids and frame.asks and (
                frame.bids[0].px < frame.asks[0].px):
            assert state.best_bid == frame.bids[0]
            assert state.best_ask == frame.asks[0]


# -- the cached features against a state that computes them once ----------------------

# equal prices written differently (the exact mid keeps its operands' exponents), and
# prices that differ below a float's precision
_BIDS = ["99.9", "99.90", "100", "100.0", "99.95", "99.9500000000000000001"]
_ASKS = ["100.1", "100.10", "100.2", "100.15", "101"]
_ORACLES = ["100", "100.0", "100.05", "99", "101.5", "0"]
_SIZES = ["1", "2.5", "0.001", "0"]
_SHORT = FeatureSettings(book_stale_after_s=2.0, ctx_stale_after_s=1.0,
                         oracle_frozen_after_s=3.0)

_update = st.one_of(
    st.tuples(st.just("book"), st.sampled_from(_BIDS), st.sampled_from(_ASKS),
              st.sampled_from(_SIZES), st.sampled_from(_SIZES)),
    st.tuples(st.just("bbo"), st.sampled_from([*_BIDS, None]),
              st.sampled_from([*_ASKS, None]), st.sampled_from(_SIZES),
              st.sampled_from(_SIZES)),
    st.tuples(st.just("ctx"), st.sampled_from(_ORACLES), st.sampled_from(_ORACLES),
              st.just(""), st.just("")),
    st.tuples(st.just("trades"), st.sampled_from(["B", "A"]), st.sampled_from(_SIZES[:3]),
              st.just(""), st.just("")),
)
_step = st.tuples(_update, st.integers(0, 4 * S), st.booleans())


def _message(update: tuple[str, ...], time_ms: int, tid: int) -> object:
    kind, a, b, c, d = update
    if kind == "book":
        return book(time_ms, [lv(a, c), lv("99", "3")], [lv(b, d), lv("102", "3")])
    if kind == "bbo":
        return bbo(time_ms, None if a is None else lv(a, c), None if b is None else lv(b, d))
    if kind == "ctx":
        return ctx(oracle=a, mark=b)
    return Trades((trade(tid, a, b, time_ms),))


def _same_features(cached: Features, eager: Features) -> None:
    # everything but the realized volatilities, whose running sums depend on when they
    # were read (a read prunes), is the same value with the same reason
    for (name, one), (_, other) in zip(cached.items(), eager.items(), strict=True):
        if name.startswith("rv_"):
            assert one.reason == other.reason
            assert (one.value is None) == (other.value is None)
            if one.value is not None and other.value is not None:
                assert one.value == pytest.approx(other.value, rel=1e-9, abs=1e-12)
        else:
            assert one == other, name
    assert str(cached.mid.value) == str(eager.mid.value)  # the exact Decimal, as written


@settings(max_examples=300, deadline=None)
@given(st.lists(_step, min_size=1, max_size=40))
def test_cached_features_equal_a_fresh_state_after_any_updates(
        steps: list[tuple[tuple[str, ...], int, bool]]) -> None:
    state = MarketState(COIN, _SHORT)
    applied: list[tuple[object, int]] = []
    now = 0
    for i, (update, wait_ns, read_before) in enumerate(steps):
        now += wait_ns
        message = _message(update, 1_000 + now // MS, i)
        if read_before:  # a read between updates fills the caches with the old top
            state.features(now)
        state.apply(message, now)
        applied.append((message, now))
        read_at = now + wait_ns // 2  # reads go forward in time, as the clock does
        now = read_at
        cached = state.features(read_at)
        alone = state.oracle_features(read_at)
        fresh = MarketState(COIN, _SHORT)
        for old, at in applied:
            fresh.apply(old, at)
        eager = fresh.features(read_at)
        _same_features(cached, eager)
        assert tuple(alone) == _oracle_four(eager)


def test_cached_top_features_follow_a_top_written_differently() -> None:
    # the same prices and sizes again, but written with more digits: the exact mid is the
    # new levels' own, not the one computed for the previous top
    state = MarketState(COIN)
    state.on_l2_book(book(1_000, [lv("99.9", "2")], [lv("100.1", "2")]), 0)
    assert str(state.features(1).mid.value) == str((Decimal("99.9") + Decimal("100.1")) / 2)
    state.on_l2_book(book(1_001, [lv("99.90", "2")], [lv("100.1", "2")]), 2)
    assert str(state.features(3).mid.value) == str((Decimal("99.90") + Decimal("100.1")) / 2)


_paced_step = st.tuples(_update, st.sampled_from([0, S // 10, S // 3, S, 3 * S // 2, 3 * S]),
                       st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(_paced_step, min_size=1, max_size=60))
def test_realized_vol_follows_every_mid_the_book_shows(
        steps: list[tuple[tuple[str, ...], int, bool]]) -> None:
    # the rule of the module docstrings, applied on every accepted book update: a gap
    # longer than the book staleness or an empty side restarts the history, every mid is
    # observed (the state skips a mid whose prices did not change; the tracker ignores it)
    state = MarketState(COIN, _SHORT)
    eager = RealizedVolatility(VOL_WINDOWS_S)
    last_ns: int | None = None
    now = 0
    for i, (update, wait_ns, read_before) in enumerate(steps):
        now += wait_ns
        message = _message(update, 1_000 + now // MS, i)
        if state.apply(message, now) and isinstance(message, L2Book | Bbo):
            if last_ns is not None and now - last_ns > _SHORT.book_stale_after_s * S:
                eager.restart()
            last_ns = now
            bid, ask = state.best_bid, state.best_ask
            if bid is None or ask is None:
                eager.restart()
            else:
                eager.observe(now, float(bid.px + ask.px) / 2.0)
        if read_before or i == len(steps) - 1:
            now += S // 2  # half a second later: coverage and pruning move on
            features = state.features(now)
            if not features.mid.reason.startswith("book stale"):
                rvs = (features.rv_1s_bps, features.rv_10s_bps, features.rv_60s_bps)
                assert tuple(f.value for f in rvs) == eager.values_bps(now)


def test_a_book_of_plain_sequences_reads_as_one_of_ladders() -> None:
    # The state reads a side's best level from the parser's ladders (`Ladder.best`) and
    # from any other sequence (the `BookFrame` protocol) by its first item.
    @dataclass(frozen=True)
    class PlainBook:
        coin: str
        time_ms: int
        bids: tuple[Level, ...]
        asks: tuple[Level, ...]

    bids, asks = [lv("189.99"), lv("189.98")], [lv("190.01")]
    for frame, empty in ((book(1, bids, asks), book(2, [], asks)),
                         (PlainBook(COIN, 1, tuple(bids), tuple(asks)),
                          PlainBook(COIN, 2, (), tuple(asks)))):  # fmt: skip
        state = MarketState(COIN)
        assert state.on_l2_book(frame, S)
        assert (state.best_bid, state.best_ask) == (bids[0], asks[0])
        assert state.on_l2_book(empty, 2 * S)
        assert (state.best_bid, state.best_ask) == (None, asks[0])
