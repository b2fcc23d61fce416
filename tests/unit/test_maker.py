"""The post-only maker: quotes, skew, inventory limit, states, minimal cancels, rejects.

Markets come from exchange-format frames through the real parser, with the real
`xyz:COIN` rules (ticks of 0.01 near 190, lots of 0.001). Expected prices are worked out
by hand in the comments. The hypothesis properties drive the maker through random
sequences of books, oracle/mark contexts, silences, positions and order updates.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hip3term.core.clock import SimClock
from hip3term.strategy import CancelAll, CancelOrder, Intent, PlaceOrder
from hip3term.strategy.harness import ManualPositions, StrategyHarness
from plugins.maker import Maker, MakerParams, MakerState
from plugins.maker.strategy import Quote, next_state
from tests.unit.test_strategy_api import (
    COIN,
    T0,
    bbo_frame,
    coin_info,
    ctx_frame,
    update_frame,
)

S = 1_000_000_000
REQUIRED = ("mid", "microprice", "spread_bps", "mark_oracle_bps", "oracle_age_s",
            "rv_1s_bps", "rv_10s_bps")


def maker(positions: ManualPositions | None = None,
          **params: Any) -> tuple[StrategyHarness, Maker]:
    strategy = Maker(MakerParams(**{"pause_hold_s": 0.0, "defensive_hold_s": 0.0, **params}))
    h = StrategyHarness(strategy, coin_info(), SimClock(T0),
                        positions=positions or ManualPositions())
    return h, strategy


def warm(h: StrategyHarness, *, seconds: int = 11, start: int = 0, bid: str = "189.99",
         ask: str = "190.01", oracle: str = "190.00", mark: str | None = None) -> list[Intent]:
    """Context and book every second: rv_10s becomes valid after 10 s of book."""
    out: list[Intent] = []
    for second in range(start, start + seconds + 1):
        t = T0 + second * 1000
        out += h.feed(ctx_frame(oracle, mark), at_ms=t)
        out += h.feed(bbo_frame(t, bid, ask), at_ms=t)
    return out


def state(m: Maker) -> MakerState:
    return m.state  # read through a call: each assert sees the state anew (no narrowing)


def placed(intents: list[Intent]) -> dict[bool, PlaceOrder]:
    return {i.is_buy: i for i in intents if isinstance(i, PlaceOrder)}


# -- the state machine, pure -----------------------------------------------------------------


@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.integers(0, 8_000)), max_size=60),
       st.floats(0, 5), st.floats(0, 12))
def test_next_state_pause_wins_and_pause_never_goes_straight_to_normal(
        steps: list[tuple[bool, bool, int]], pause_hold: float, defensive_hold: float) -> None:
    params = MakerParams(pause_hold_s=pause_hold, defensive_hold_s=defensive_hold)
    state, held = MakerState.PAUSE, 0
    for pause, defensive, dt_ms in steps:
        held += dt_ms * 1_000_000
        new = next_state(state, held, pause=pause, defensive=defensive, params=params)
        if pause:
            assert new is MakerState.PAUSE
        if state is MakerState.PAUSE:
            assert new is not MakerState.NORMAL
            if not pause and held >= pause_hold * S:
                assert new is MakerState.DEFENSIVE
        if defensive:
            assert new is not MakerState.NORMAL
        if new is not state:
            state, held = new, 0


# -- quotes ------------------------------------------------------------------------------------


def test_normal_quotes_fair_plus_minus_half_spread_post_only() -> None:
    h, m = maker()
    assert h.start() == [CancelAll(COIN, "starting in PAUSE")]
    warm(h)
    assert state(m) is MakerState.NORMAL
    bid, ask = m.quotes[True], m.quotes[False]
    # fair 190.00 (equal sizes); 190 x (1 -/+ 4 bps) = 189.924 / 190.076, rounded away
    assert (bid.px, ask.px) == (Decimal("189.92"), Decimal("190.08"))
    # $24 / 190 = 0.12631 -> 0.126 lots
    assert bid.sz == ask.sz == Decimal("0.126")
    last = placed(h.intents[-4:])
    assert {o.tif for o in last.values()} == {"Alo"}
    # (190 - 189.92) / 190 = 4.21 bps, minus the 3 bps maker fee
    assert last[True].expected_edge_bps == float(Decimal("0.08") / 190) * 1e4 - 3.0


def test_long_inventory_skews_quotes_down_and_caps_the_bid() -> None:
    positions = ManualPositions()
    positions.set(COIN, Decimal("0.1"), Decimal(190))  # $19 of the $40 limit
    h, m = maker(positions)
    warm(h)
    assert state(m) is MakerState.NORMAL
    # skew 3 x 19/40 = 1.425 bps: centre 189.972925; x 0.9996 = 189.8969 -> 189.89,
    # x 1.0004 = 190.0489 -> 190.05
    assert (m.quotes[True].px, m.quotes[False].px) == (Decimal("189.89"), Decimal("190.05"))
    # bid: 40 / 190 - 0.1 = 0.1105 -> 0.110 (a full fill keeps the position within $40)
    assert (m.quotes[True].sz, m.quotes[False].sz) == (Decimal("0.110"), Decimal("0.126"))


def test_skewed_ask_is_kept_above_the_best_bid() -> None:
    positions = ManualPositions()
    positions.set(COIN, Decimal("0.1"), Decimal(190))
    h, m = maker(positions, inventory_skew_bps=50.0)
    warm(h)
    # centre 190 x (1 - 23.75 bps) = 189.549; its ask 189.625 would cross the 189.99 bid
    assert m.quotes[False].px == Decimal("190.00")
    assert m.quotes[True].px == Decimal("189.47")  # 189.549 x 0.9996 = 189.473 -> down


def test_short_skewed_bid_is_kept_below_the_best_ask() -> None:
    positions = ManualPositions()
    positions.set(COIN, Decimal("-0.1"), Decimal(190))
    h, m = maker(positions, inventory_skew_bps=50.0)
    warm(h)
    assert m.quotes[True].px == Decimal("190.00")   # best ask 190.01 - one tick
    assert m.quotes[False].px == Decimal("190.53")  # 190.451 x 1.0004 = 190.527 -> up


def test_inventory_at_limit_quotes_only_the_reducing_side() -> None:
    positions = ManualPositions()
    positions.set(COIN, Decimal("0.2"), Decimal(190))  # $38: bid room 40/190 - 0.2 = 0.0105
    h, m = maker(positions, defensive_inventory_frac=1.0)
    warm(h)
    assert True not in m.quotes
    assert m.quotes[False].sz == Decimal("0.126")


def test_defensive_widens_and_shrinks_on_mark_oracle_divergence() -> None:
    h, m = maker()
    warm(h)
    # mark 30 bps over the oracle: over 20 (DEFENSIVE), under 50 (PAUSE)
    intents = h.feed(ctx_frame("190.00", "190.57"), at_ms=T0 + 11_500)
    assert state(m) is MakerState.DEFENSIVE
    new = placed(intents)
    # half spread 8 bps: 189.848 -> 189.84, 190.152 -> 190.16; $12 / 190 -> 0.063
    assert (new[True].px, new[False].px) == (Decimal("189.84"), Decimal("190.16"))
    assert new[True].sz == new[False].sz == Decimal("0.063")
    cancels = [i for i in intents if isinstance(i, CancelOrder)]
    assert len(cancels) == 2  # both old quotes replaced (moved 4.2 bps)
    assert h.signals[-1].kind == "state"
    assert h.signals[-1].reason.startswith("normal -> defensive: mark-oracle bps 30.0")


# -- PAUSE -----------------------------------------------------------------------------------


def assert_paused_with_cancel_all(m: Maker, intents: list[Intent], reason: str) -> None:
    assert state(m) is MakerState.PAUSE
    assert any(isinstance(i, CancelAll) for i in intents)
    assert not any(isinstance(i, PlaceOrder) for i in intents)
    assert m.quotes == {}
    assert reason in "; ".join(m.reasons)


def test_pause_on_mark_oracle_divergence_cancels_all() -> None:
    h, m = maker()
    warm(h)
    intents = h.feed(ctx_frame("190.00", "191.14"), at_ms=T0 + 11_500)  # 60 bps
    assert_paused_with_cancel_all(m, intents, "mark-oracle bps 60.0 > 50")


def test_pause_on_stale_book_cancels_all() -> None:
    h, m = maker()
    warm(h)
    assert h.feed(ctx_frame("190.00"), at_ms=T0 + 15_000) == []  # book 4 s old
    intents = h.feed(ctx_frame("190.00"), at_ms=T0 + 16_100)     # 5.1 s > 5
    assert_paused_with_cancel_all(m, intents, "book stale (5.1 s)")


def test_pause_on_invalid_feature_and_no_quote() -> None:
    h, m = maker()
    warm(h)
    # the last context is 10.5 s old: mark/oracle features invalid
    intents = h.feed(bbo_frame(T0 + 21_500, "189.99", "190.01"), at_ms=T0 + 21_500)
    assert_paused_with_cancel_all(m, intents, "mark_oracle_bps invalid: asset context stale")


def test_pause_on_inventory_over_limit() -> None:
    positions = ManualPositions()
    h, m = maker(positions)
    warm(h)
    positions.set(COIN, Decimal("-0.25"), Decimal(190))  # $47.50 > $40
    intents = h.timer(at_ms=T0 + 11_500)
    assert_paused_with_cancel_all(m, intents, "inventory $47.50 over the $40 limit")


def test_pause_on_violent_move() -> None:
    h, m = maker()
    warm(h)
    # one mid move 190.00 -> 190.50: ln(190.5 / 190) = 26.3 bps within 1 s, over 20
    intents = h.feed(bbo_frame(T0 + 11_200, "190.49", "190.51"), at_ms=T0 + 11_200)
    assert_paused_with_cancel_all(m, intents, "rv 1 s bps 26.3 > 20")


def test_leaving_pause_goes_to_defensive_then_normal_after_holds() -> None:
    h, m = maker(pause_hold_s=2.0, defensive_hold_s=5.0)
    warm(h, seconds=10)                                        # rv_10s valid at 10 s
    assert state(m) is MakerState.DEFENSIVE
    warm(h, start=11, seconds=3)                               # DEFENSIVE held 4 s < 5
    assert state(m) is MakerState.DEFENSIVE
    warm(h, start=15, seconds=1)
    assert state(m) is MakerState.NORMAL
    h.feed(ctx_frame("190.00", "191.14"), at_ms=T0 + 17_000)   # PAUSE at 17 s
    assert state(m) is MakerState.PAUSE
    h.feed(ctx_frame("190.00"), at_ms=T0 + 18_000)             # cleared, held 1 s < 2
    assert state(m) is MakerState.PAUSE
    warm(h, start=19, seconds=0)
    assert state(m) is MakerState.DEFENSIVE                     # never straight to NORMAL
    assert m.quotes[True].px == Decimal("189.84")
    warm(h, start=20, seconds=3)                               # DEFENSIVE held 4 s < 5
    assert state(m) is MakerState.DEFENSIVE
    warm(h, start=24, seconds=0)
    assert state(m) is MakerState.NORMAL
    path = [(old, new) for _, old, new, _ in m.transitions]
    assert path == [(MakerState.PAUSE, MakerState.DEFENSIVE),
                    (MakerState.DEFENSIVE, MakerState.NORMAL),
                    (MakerState.NORMAL, MakerState.PAUSE),
                    (MakerState.PAUSE, MakerState.DEFENSIVE),
                    (MakerState.DEFENSIVE, MakerState.NORMAL)]


def test_stop_cancels_all() -> None:
    h, _ = maker()
    warm(h)
    assert h.stop() == [CancelAll(COIN, "stopping")]


# -- minimal cancels and rejects ---------------------------------------------------------


def test_small_moves_keep_quotes_large_moves_and_age_replace_them() -> None:
    h, m = maker()
    warm(h)
    bid = m.quotes[True]
    # mid 190.00 -> 190.01: the wanted bid moves 0.5 bps (< 2): nothing sent
    assert h.feed(bbo_frame(T0 + 11_300, "190.00", "190.02"), at_ms=T0 + 11_300) == []
    assert m.quotes[True] == bid
    # refresh: the quotes placed at 10 s are replaced at 30 s though nothing moved
    replaced_at, intents = None, []
    for second in range(12, 32):  # book and context fresh, same prices
        t = T0 + second * 1000
        intents = h.feed(ctx_frame("190.00"), at_ms=t) + h.feed(
            bbo_frame(t, "190.00", "190.02"), at_ms=t)
        if intents:
            replaced_at = second
            break
    assert replaced_at == 30
    assert sum(isinstance(i, CancelOrder) for i in intents) == 2
    assert len(placed(intents)) == 2


def test_post_only_reject_is_retried_on_a_later_tick() -> None:
    h, m = maker(reject_retry_s=1.0)
    warm(h)
    bid = m.quotes[True]
    assert h.feed(update_frame(bid.cloid, "badAloPxRejected"), at_ms=T0 + 11_100) == []
    assert True not in m.quotes
    assert m.rejects == 1
    assert True not in placed(h.timer(at_ms=T0 + 11_600))       # 0.5 s: still waiting
    again = placed(h.timer(at_ms=T0 + 12_200))[True]           # 1.1 s: quoted again
    assert again.px == bid.px
    assert again.cloid != bid.cloid


def test_filled_quote_is_replaced_on_the_next_evaluation() -> None:
    h, m = maker()
    warm(h)
    ask = m.quotes[False]
    h.feed(update_frame(ask.cloid, "filled", side="A"), at_ms=T0 + 11_100)
    assert False not in m.quotes
    assert False in placed(h.timer(at_ms=T0 + 11_200))


# -- properties over random market sequences ------------------------------------------------

_BASE = 19_000  # 190.00 in ticks of 0.01

_op = st.one_of(
    st.tuples(st.just("bbo"), st.integers(-80, 80), st.integers(1, 6),
              st.sampled_from(["0.1", "2.5", "40"]), st.sampled_from(["0.1", "2.5", "40"])),
    st.tuples(st.just("ctx"), st.integers(-150, 150), st.integers(-150, 150)),
    st.tuples(st.just("wait"), st.integers(50, 9_000)),
    st.tuples(st.just("position"), st.integers(-300, 300)),
    st.tuples(st.just("update"), st.booleans(),
              st.sampled_from(["badAloPxRejected", "filled", "canceled", "open"])),
)


def _px(ticks: int) -> str:
    return str(Decimal(ticks) / 100)


def _check_orders(h: StrategyHarness, m: Maker, intents: list[Intent]) -> None:
    info, book = coin_info(), h.ctx.book
    position = h.ctx.position()
    held = Decimal(0) if position is None else position.size
    limit = min(m.params.max_inventory_notional, h.ctx.limits.per_market)
    for order in intents:
        if not isinstance(order, PlaceOrder):
            continue
        assert order.tif == "Alo"
        assert book.best_bid is not None and book.best_ask is not None
        if order.is_buy:
            assert order.px < book.best_ask.px
        else:
            assert order.px > book.best_bid.px
        assert info.is_valid_price(order.px)
        assert order.sz == info.round_size(order.sz, reduce_only=True)
        assert order.px * order.sz >= 10
        after = held + (order.sz if order.is_buy else -order.sz)
        assert abs(after) * order.px <= limit


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_op, min_size=1, max_size=40), st.floats(0, 3), st.floats(0, 10))
def test_maker_invariants_over_random_markets(ops: list[tuple[Any, ...]], pause_hold: float,
                                              defensive_hold: float) -> None:
    positions = ManualPositions()
    h, m = maker(positions, pause_hold_s=pause_hold, defensive_hold_s=defensive_hold)
    h.start()
    warm(h)
    now, mid = T0 + 11_000, _BASE
    for op in ops:
        before = len(m.transitions)
        evaluated = True
        if op[0] == "bbo":
            now += 100
            mid = _BASE + op[1]
            intents = h.feed(bbo_frame(now, _px(mid - op[2] // 2 - 1), _px(mid + op[2] // 2 + 1),
                                       op[3], op[4]), at_ms=now)
        elif op[0] == "ctx":
            now += 100
            intents = h.feed(ctx_frame(_px(mid + op[1]), _px(mid + op[2])), at_ms=now)
        elif op[0] == "wait":
            now += op[1]
            intents = h.timer(at_ms=now)
        elif op[0] == "position":
            positions.set(COIN, Decimal(op[1]) / 1000, Decimal(190))
            intents, evaluated = [], False
        else:
            quote = m.quotes.get(op[1])
            evaluated = False
            intents = [] if quote is None else h.feed(update_frame(quote.cloid, op[2]),
                                                      at_ms=now)
            assert not any(isinstance(i, PlaceOrder) for i in intents)  # never at once
        _check_orders(h, m, intents)
        if any(isinstance(i, PlaceOrder) for i in intents):
            event("placed quotes after the warm-up")
        entered = [new for _, _, new, _ in m.transitions[before:]]
        for new_state in entered:
            event(f"entered {new_state.value}")
        if MakerState.PAUSE in entered:
            assert any(isinstance(i, CancelAll) for i in intents)
        if m.state is MakerState.PAUSE:
            assert not any(isinstance(i, PlaceOrder) for i in intents)
        if evaluated:
            features = dict(h.ctx.features().items())
            if any(not features[name].valid for name in REQUIRED):
                assert state(m) is MakerState.PAUSE
                assert not any(isinstance(i, PlaceOrder) for i in intents)
            if m.triggers(h.ctx, h.ctx.features())[0]:
                assert state(m) is MakerState.PAUSE
    for _, old, new, _ in m.transitions:
        assert (old, new) != (MakerState.PAUSE, MakerState.NORMAL)


def _eager_quotes(m: Maker, h: StrategyHarness) -> dict[bool, Quote]:
    # a maker of the same parameters and state that has never quoted: nothing remembered
    fresh = Maker(m.params)
    fresh.state = m.state
    return fresh.wanted_quotes(h.ctx, h.ctx.features())


def _written(quotes: dict[bool, Quote]) -> dict[bool, tuple[str, str, float]]:
    return {side: (str(q.px), str(q.sz), q.edge_bps) for side, q in quotes.items()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_op, min_size=1, max_size=40))
def test_remembered_quotes_equal_quotes_computed_afresh(ops: list[tuple[Any, ...]]) -> None:
    positions = ManualPositions()
    h, m = maker(positions)
    h.start()
    warm(h)
    now, mid = T0 + 11_000, _BASE
    for op in ops:
        if op[0] == "bbo":
            now += 100
            mid = _BASE + op[1]
            h.feed(bbo_frame(now, _px(mid - op[2] // 2 - 1), _px(mid + op[2] // 2 + 1),
                             op[3], op[4]), at_ms=now)
        elif op[0] == "ctx":
            now += 100
            h.feed(ctx_frame(_px(mid + op[1]), _px(mid + op[2])), at_ms=now)
        elif op[0] == "wait":
            now += op[1]
            h.timer(at_ms=now)
        elif op[0] == "position":
            positions.set(COIN, Decimal(op[1]) / 1000, Decimal(190))
        actual = m.state
        for state_now in (actual, MakerState.NORMAL, MakerState.DEFENSIVE, actual):
            m.state = state_now  # every state's quotes, remembered or not
            remembered = m.wanted_quotes(h.ctx, h.ctx.features())
            assert _written(remembered) == _written(_eager_quotes(m, h))
            assert remembered == m.wanted_quotes(h.ctx, h.ctx.features())
