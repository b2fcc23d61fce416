from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from hip3term.core.clock import SimClock
from hip3term.venue.sim.ladder import lot_size, tick_decimals
from hip3term.venue.sim.ledger import FundingPayment, MarketSpec, hip3_fee_rates
from hip3term.venue.sim.market import (
    HOUSE_MAKER,
    HOUSE_TAKER,
    OraclePush,
    SyntheticMarket,
    SyntheticParams,
)
from hip3term.venue.sim.matching import MatchingEngine
from hip3term.venue.sim.records import Filled, FillRecord, Resting

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
D = Decimal
START_MS = 1_785_000_000_000
STEP_MS = 100
_TAKER, _MAKER = hip3_fee_rates(D("1.0"), growth_mode=True)  # xyz:COIN in meta(xyz)
COIN = MarketSpec(110007, "xyz:COIN", 3, 10, _TAKER, _MAKER)
USER = "0x" + "a1" * 20


def new_market(seed: int, params: SyntheticParams | None = None) -> tuple[
    SimClock, MatchingEngine, SyntheticMarket
]:  # fmt: skip
    clock = SimClock(START_MS)
    engine = MatchingEngine([COIN], clock)
    engine.ledger.open_account(USER, D(100_000))
    return clock, engine, SyntheticMarket(engine, COIN, seed, clock=clock, params=params)


@dataclass
class Run:
    """One simulated stretch sampled after every step."""

    samples: list[tuple[int, Decimal, Decimal, Decimal]] = field(default_factory=list)
    pushes: list[OraclePush] = field(default_factory=list)
    trades: int = 0
    depth_ok: bool = True
    crossed: bool = False
    impact_bps: list[float] = field(default_factory=list)


def run_market(seed: int, minutes: int) -> Run:
    clock, engine, market = new_market(seed)
    run = Run()
    for i in range(minutes * 60_000 // STEP_MS):
        clock.advance(STEP_MS)
        result = market.step()
        run.pushes.extend(result.oracle_pushes)
        run.trades += len(result.trades)
        bid, ask = engine.best_prices(COIN.asset)
        assert bid is not None and ask is not None
        run.crossed |= bid >= ask
        run.samples.append((clock.now_ms(), bid, ask, market.oracle_px))
        if i % 10 == 0:
            bids, asks = engine.book_levels(COIN.asset)
            run.depth_ok &= len(bids) == len(asks) == 20
        if i % 50 == 0:
            impact = market.impact_pxs()
            assert impact is not None
            run.impact_bps.append(float((impact[1] - impact[0]) / impact[0]) * 1e4)
    return run


@pytest.fixture(scope="module")
def hour() -> Run:
    return run_market(seed=7, minutes=60)


# --- determinism ----------------------------------------------------------------------------


def _trace(seed: int, minutes: int) -> list[Any]:
    clock, engine, market = new_market(seed)
    trace: list[Any] = []
    for _ in range(minutes * 60_000 // STEP_MS):
        clock.advance(STEP_MS)
        result = market.step()
        bids, asks = engine.book_levels(COIN.asset)
        trace.append((
            [lvl.wire() for lvl in bids], [lvl.wire() for lvl in asks],
            str(market.oracle_px), str(market.mark_px), [t.wire() for t in result.trades],
        ))  # fmt: skip
    return trace


def test_same_seed_gives_the_same_books_oracle_and_trades() -> None:
    first, second = _trace(3, 10), _trace(3, 10)
    assert first == second
    assert sum(len(step[4]) for step in first) > 10  # trades did happen
    assert _trace(4, 1) != first[:600]


# --- oracle, mark, book -----------------------------------------------------------------------


def test_oracle_pushes_are_at_least_2_5_s_apart_and_about_3_s_on_average(hour: Run) -> None:
    gaps = [b.time - a.time for a, b in itertools.pairwise(hour.pushes)]
    assert min(gaps) >= 2500
    assert 2850 <= statistics.mean(gaps) <= 3150
    assert len(hour.pushes) > 1000


def test_mark_moves_at_most_1_percent_per_update() -> None:
    # A violent fair price (200 bps per root second) so that the clamp has to act.
    clock, _, market = new_market(11, SyntheticParams(sigma_bps=200.0))
    marks = [market.mark_px]
    for _ in range(3000):
        clock.advance(STEP_MS)
        marks.extend(push.mark_px for push in market.step().oracle_pushes)
    moves = [abs(b - a) / a for a, b in itertools.pairwise(marks)]
    assert max(moves) <= D("0.01")
    assert sum(move > D("0.009") for move in moves) >= 5  # the clamp was reached


def test_the_book_is_never_crossed_and_keeps_20_levels_a_side(hour: Run) -> None:
    assert not hour.crossed
    assert hour.depth_ok
    spreads = [ask - bid for _, bid, ask, _ in hour.samples]
    one_tick = sum(spread == D("0.01") for spread in spreads) / len(spreads)
    assert one_tick > 0.9  # about one tick at the top on normal times
    assert 3 <= statistics.mean(hour.impact_bps) <= 15  # real xyz:COIN: 7.01 bps
    assert hour.trades > 100


# --- the dislocation shape ----------------------------------------------------------------------


def _dislocation(bid: Decimal, ask: Decimal, oracle: Decimal) -> tuple[float, bool]:
    """Bps by which the touch is through the oracle, and whether it is the ask (a buy)."""
    buy, sell = (oracle - ask) / oracle * 10_000, (bid - oracle) / oracle * 10_000
    return (float(buy), True) if buy >= sell else (float(sell), False)


def _excursion_peaks(samples: list[tuple[int, Decimal, Decimal, Decimal]]) -> list[float]:
    # Peak size of each stretch of time where the touch is more than 1 bp through the oracle.
    peaks: list[float] = []
    current = 0.0
    for _, bid, ask, oracle in samples:
        size = _dislocation(bid, ask, oracle)[0]
        if size > 1:
            current = max(current, size)
        elif current:
            peaks.append(current)
            current = 0.0
    return peaks


def _large_events(samples: list[tuple[int, Decimal, Decimal, Decimal]]) -> list[bool]:
    # For each first sample at >= 25 bps: did the touch come back at least halfway to the
    # oracle of that moment within 10 s? (A new event needs the gap to fall under 10 bps.)
    outcomes: list[bool] = []
    armed = True
    for i, (t, bid, ask, oracle) in enumerate(samples):
        size, is_buy = _dislocation(bid, ask, oracle)
        if size < 10:
            armed = True
        if size < 25 or not armed:
            continue
        armed = False
        gap = abs(oracle - (ask if is_buy else bid))
        later = (s for s in samples[i:] if s[0] <= t + 10_000)
        outcomes.append(any(abs(oracle - (s[2] if is_buy else s[1])) <= gap / 2 for s in later))
    return outcomes


@pytest.mark.slow
def test_dislocations_are_frequent_and_small_large_ones_rare_and_mostly_reverting(
    hour: Run,
) -> None:
    # Three simulated hours (three seeds) so that the rare large events are not a handful.
    runs = [hour, run_market(seed=8, minutes=60), run_market(seed=9, minutes=60)]
    samples = [sample for run in runs for sample in run.samples]
    sizes = [_dislocation(bid, ask, oracle)[0] for _, bid, ask, oracle in samples]
    through = [size for size in sizes if size > 0]
    peaks = [peak for run in runs for peak in _excursion_peaks(run.samples)]
    small = sum(peak < 10 for peak in peaks)
    medium = sum(10 <= peak < 25 for peak in peaks)
    large = [outcome for run in runs for outcome in _large_events(run.samples)]
    print(
        f"\nthree simulated hours: touch through the oracle {len(through) / len(sizes):.0%} of"
        f" the time, mean {statistics.mean(through):.1f} bps; excursions over 1 bp: {small}"
        f" peaking under 10 bps, {medium} at 10-25 bps; {len(large)} events of 25 bps or"
        f" more, {sum(large)} back halfway within 10 s; impact spread"
        f" {statistics.mean(hour.impact_bps):.1f} bps; {hour.trades} trades in the first hour"
    )
    assert len(through) / len(sizes) > 0.5  # a small dislocation most of the time
    assert 2 <= statistics.mean(through) <= 10  # the real study: 5-8 bps on raw signals
    assert small > 600
    assert small > 5 * medium > 0
    assert 3 <= len(large) <= 90  # the real study: about 1-20 an hour at 25-45 bps
    assert medium > len(large)
    assert sum(large) / len(large) >= 0.6  # mostly reverting


# --- living with user orders ----------------------------------------------------------------------


def test_user_ioc_fills_at_the_house_makers_prices() -> None:
    clock, engine, market = new_market(5)
    for _ in range(50):
        clock.advance(STEP_MS)
        market.step()
    asks = engine.book_levels(COIN.asset)[1]
    part = (asks[2].sz / 2).quantize(D("0.001"), ROUND_DOWN)
    size = asks[0].sz + asks[1].sz + part
    result = engine.place(USER, COIN.asset, True, asks[2].px, size, "Ioc")
    assert isinstance(result.status, Filled) and result.status.total_sz == size
    makers = [(f.owner, f.px, f.sz) for f in result.fills if not f.crossed]
    assert makers == [
        (HOUSE_MAKER, asks[0].px, asks[0].sz),
        (HOUSE_MAKER, asks[1].px, asks[1].sz),
        (HOUSE_MAKER, asks[2].px, part),
    ]
    assert engine.position(USER, COIN.asset).szi == size


def test_house_taker_hits_a_resting_user_order_and_requotes_never_cancel_it() -> None:
    clock, engine, market = new_market(9)
    bid = engine.best_prices(COIN.asset)[0]
    assert bid is not None
    far = engine.place(USER, COIN.asset, False, bid * 2, D(1))  # far away, never touched
    near = engine.place(USER, COIN.asset, True, bid, D(2))  # joins the best bid
    assert isinstance(far.status, Resting) and isinstance(near.status, Resting)
    user_fills: list[FillRecord] = []
    takers: dict[int, Any] = {}
    for _ in range(20 * 60_000 // STEP_MS):
        clock.advance(STEP_MS)
        result = market.step()
        user_fills += result.fills
        takers.update({trade.tid: trade.wire()["users"] for trade in result.trades})
        assert all(e.status in ("open", "filled") for e in result.events)
    assert user_fills, "the house taker never reached the user's bid in 20 minutes"
    assert all(f.owner == USER.lower() and not f.crossed for f in user_fills)
    assert all(takers[f.tid] == [USER.lower(), HOUSE_TAKER] for f in user_fills)
    assert engine.is_open(far.status.oid)


def test_funding_is_paid_every_hour_on_user_positions() -> None:
    clock, engine, market = new_market(2)
    ask = engine.best_prices(COIN.asset)[1]
    assert ask is not None
    engine.place(USER, COIN.asset, True, ask, D(1), "Ioc")
    fundings: list[FundingPayment] = []
    for _ in range(61 * 60_000 // 1000):
        clock.advance(1000)
        fundings += market.step().fundings
    [payment] = fundings  # one hour boundary crossed, the house accounts left out
    assert (payment.owner, payment.szi, payment.coin) == (USER.lower(), D(1), "xyz:COIN")
    assert payment.funding_rate != 0
    # Paid at the mark of that moment, which is within 1 % of the mark now.
    expected = -payment.szi * payment.funding_rate * market.mark_px
    assert abs(payment.usdc - expected) <= abs(expected) * D("0.02") + D("0.000001")


def test_asset_ctx_has_the_real_keys_and_string_numbers() -> None:
    clock, _, market = new_market(1)
    clock.advance(10_000)
    market.step()
    with (FIXTURES / "real_ws_frames.jsonl").open() as handle:
        frames = [json.loads(line) for line in handle]
    real = next(f["msg"] for f in frames if "xyz:AAPL ctx" in f["note"])["data"]["ctx"]
    ctx = market.asset_ctx()
    assert list(ctx) == list(real)
    assert all(isinstance(ctx[key], str) for key in ctx if key != "impactPxs")
    assert isinstance(ctx["impactPxs"], list) and len(ctx["impactPxs"]) == 2
    assert ctx["oraclePx"] == str(market.oracle_px).rstrip("0").rstrip(".")


def test_step_backwards_is_refused() -> None:
    clock, _, market = new_market(1)
    clock.advance(1000)
    market.step()
    with pytest.raises(ValueError, match="before the previous step"):
        market.step(START_MS)


def test_two_markets_in_one_engine_share_the_house_accounts() -> None:
    nvda = MarketSpec(110002, "xyz:NVDA", 3, 20, _TAKER, _MAKER)
    clock = SimClock(START_MS)
    engine = MatchingEngine([COIN, nvda], clock)
    markets = [
        SyntheticMarket(engine, COIN, 1, clock=clock),
        SyntheticMarket(engine, nvda, 2, clock=clock, start_px=D("221.5")),
    ]
    for _ in range(2 * 60_000 // STEP_MS):
        clock.advance(STEP_MS)
        for market in markets:
            market.step()
    for spec in (COIN, nvda):
        bids, asks = engine.book_levels(spec.asset)
        assert len(bids) == len(asks) == 20
        assert engine.open_order_count(HOUSE_MAKER, spec.asset) == 40
    assert engine.open_order_count(HOUSE_MAKER) == 80
    nvda_bid = engine.best_prices(nvda.asset)[0]
    assert nvda_bid is not None and abs(nvda_bid - D("221.5")) < 5


@pytest.mark.parametrize(
    ("size", "px", "expected"),
    [
        (2.3456, "190", "2.346"),  # rounded to the 0.001 lot
        (0.01, "190", "0.056"),  # raised to 5 % over $10: 10.5 / 190 = 0.0553 -> 0.056
        (0.0, "10", "1.05"),
    ],
)
def test_lot_size_rounds_to_the_lot_and_clears_the_minimum_value(
    size: float, px: str, expected: str
) -> None:
    assert lot_size(size, D(px), COIN) == D(expected)


@pytest.mark.parametrize(("px", "decimals"), [("190.5", 2), ("99.99", 3), ("19000", 0)])
def test_tick_decimals(px: str, decimals: int) -> None:
    assert tick_decimals(D(px), 3) == decimals
