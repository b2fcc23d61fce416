"""Feature value objects, formulas and the windowed trackers (pure, no clock)."""

from __future__ import annotations

import math
import random
from collections import deque
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.book import features
from hip3term.book.features import (
    Feature,
    FeatureSettings,
    RealizedVolatility,
    TradeFlow,
    dislocation_bps,
    finite_feature,
    imbalance,
    microprice,
    price_float,
    relative_bps,
    spread_bps,
    top_features,
)

S = 1_000_000_000  # ns per second


def test_feature_valid_carries_value_and_no_reason() -> None:
    feature = Feature(1.5)
    assert feature.valid
    assert feature.value == 1.5
    assert feature.reason == ""


def test_feature_invalid_carries_reason_and_no_value() -> None:
    feature: Feature[float] = Feature.invalid("book stale (21.0 s)")
    assert not feature.valid
    assert feature.value is None
    assert feature.reason == "book stale (21.0 s)"


def test_invalid_feature_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        Feature[float].invalid("")


def test_features_are_immutable_values() -> None:
    feature = Feature(2.0)
    assert feature == Feature(2.0)
    with pytest.raises(AttributeError):
        feature.value = 3.0  # type: ignore[misc]  # reason: assigning on purpose


def test_feature_zero_is_valid_not_missing() -> None:
    assert Feature(0.0).valid


def test_spread_bps_hand_computed() -> None:
    # (101 - 100) / 100.5 * 1e4
    assert spread_bps(100.0, 101.0) == pytest.approx(99.50248756218906)


def test_spread_bps_undefined_without_positive_mid() -> None:
    assert spread_bps(0.0, 0.0) is None


def test_imbalance_hand_computed_and_bounds() -> None:
    assert imbalance(3.0, 1.0) == pytest.approx(0.5)
    assert imbalance(0.0, 2.0) == pytest.approx(-1.0)
    assert imbalance(2.0, 0.0) == pytest.approx(1.0)
    assert imbalance(0.0, 0.0) is None


def test_microprice_leans_toward_thinner_side() -> None:
    # (100 * 1 + 101 * 3) / 4 = 100.75: more size on the bid pushes it toward the ask
    assert microprice(100.0, 101.0, 3.0, 1.0) == pytest.approx(100.75)
    assert microprice(100.0, 101.0, 1.0, 1.0) == pytest.approx(100.5)
    assert microprice(100.0, 101.0, 0.0, 0.0) is None


def test_dislocation_sign_convention() -> None:
    # ask 99 below oracle 100: buying is cheap, buy dislocation +100 bps;
    # bid 98 below oracle: selling there loses 200 bps, sell dislocation -200 bps
    buy, sell = dislocation_bps(98.0, 99.0, 100.0) or (0.0, 0.0)
    assert buy == pytest.approx(100.0)
    assert sell == pytest.approx(-200.0)
    # bid 102 above oracle 100: sell signal +200 bps; ask 103: buy -300 bps
    buy, sell = dislocation_bps(102.0, 103.0, 100.0) or (0.0, 0.0)
    assert buy == pytest.approx(-300.0)
    assert sell == pytest.approx(200.0)


def test_dislocation_undefined_without_positive_oracle() -> None:
    assert dislocation_bps(1.0, 2.0, 0.0) is None


def test_relative_bps_hand_computed() -> None:
    assert relative_bps(101.5, 102.0) == pytest.approx(-49.01960784313725)
    assert relative_bps(1.0, 0.0) is None


@pytest.mark.parametrize(
    "kwargs",
    [{"book_stale_after_s": 0.0}, {"ctx_stale_after_s": -1.0},
     {"oracle_frozen_after_s": math.inf}, {"flow_window_s": math.nan}, {"max_trades": 0},
     {"max_trades": True}],
)
def test_feature_settings_refuse_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be a positive"):
        FeatureSettings(**kwargs)  # type: ignore[arg-type]  # reason: bad values on purpose


@pytest.mark.parametrize("value", [None, math.inf, -math.inf, math.nan])
def test_finite_feature_refuses_what_is_not_a_finite_number(value: float | None) -> None:
    assert finite_feature(value, "why") == Feature.invalid("why")
    assert finite_feature(-2.5, "why") == Feature(-2.5)


def test_top_features_of_a_top_without_size() -> None:
    mid, micro, spread, imb = top_features(Decimal("99"), Decimal("101"), Decimal(0),
                                           Decimal(0))
    assert mid == Feature(Decimal(100))
    assert spread == Feature(2 / 100 * 1e4)
    assert micro.reason == imb.reason == "no size at the top of the book"


def test_realized_vol_not_valid_until_window_covered() -> None:
    vol = RealizedVolatility((1.0, 10.0))
    vol.observe(0, 100.0)
    assert vol.value_bps(0, S - 1) is None
    assert vol.value_bps(0, S) == 0.0  # covered, no change: a measured zero
    assert vol.value_bps(1, S) is None


def test_realized_vol_sums_squared_log_returns_in_window() -> None:
    vol = RealizedVolatility((1.0, 10.0))
    vol.observe(0, 100.0)
    vol.observe(2 * S, 101.0)  # r1 = ln(101/100)
    vol.observe(int(9.5 * S), 101.0)  # no change: no return
    vol.observe(int(9.6 * S), 100.0)  # r2 = ln(100/101)
    r1, r2 = math.log(101 / 100), math.log(100 / 101)
    assert vol.value_bps(1, 10 * S) == pytest.approx(math.sqrt(r1**2 + r2**2) * 1e4)
    # the 1 s window at 10 s holds only r2
    assert vol.value_bps(0, 10 * S) == pytest.approx(abs(r2) * 1e4)
    # 1 s later r2 has left the 1 s window; at 12 s, r1 (at 2 s) has left the 10 s one
    assert vol.value_bps(0, int(10.6 * S)) == 0.0
    assert vol.value_bps(1, 12 * S) == pytest.approx(abs(r2) * 1e4)


def test_realized_vol_restart_forgets_history_and_coverage() -> None:
    vol = RealizedVolatility((1.0,))
    vol.observe(0, 100.0)
    vol.observe(S // 2, 101.0)
    vol.restart()
    assert vol.covered_ns(10 * S) == 0
    vol.observe(10 * S, 50.0)  # first mid after restart: no return against 101
    assert vol.value_bps(0, 11 * S) == 0.0


def test_trade_flow_buys_minus_sells_in_window() -> None:
    flow = TradeFlow(10_000)
    flow.add(1_000, Decimal("2"))
    flow.add(5_000, Decimal("-0.5"))
    flow.add(9_000, Decimal("1.25"))
    assert flow.value(10_000) == Decimal("2.75")
    # at 11 000 the trade at 1 000 is exactly 10 s old: out of (now - 10 s, now]
    assert flow.value(11_000) == Decimal("0.75")
    assert flow.value(30_000) == Decimal(0)


def test_trade_flow_keeps_out_of_order_trades_sorted() -> None:
    flow = TradeFlow(10_000)
    flow.add(9_000, Decimal("1"))
    flow.add(2_000, Decimal("-3"))  # older, e.g. from a resubscribe snapshot
    assert flow.value(11_000) == Decimal("-2")
    assert flow.value(12_000) == Decimal("1")  # the older trade leaves first
    flow.clear()
    assert flow.value(12_000) == Decimal(0)


# -- the shared history of RealizedVolatility against one queue per window ---------------


class _QueuePerWindow:
    """The eager form of the tracker: a queue and a running sum of its own for each window,
    pruned on every observation and read. `RealizedVolatility` keeps one history for all
    windows; it must give the same floats, bit for bit, after any sequence of calls."""

    def __init__(self, windows_s: tuple[float, ...]) -> None:
        self.windows_ns = tuple(round(w * S) for w in windows_s)
        self.samples: list[deque[tuple[int, float]]] = [deque() for _ in windows_s]
        self.sums = [0.0] * len(windows_s)
        self.last: float | None = None
        self.since: int | None = None

    def restart(self) -> None:
        for samples in self.samples:
            samples.clear()
        self.sums = [0.0] * len(self.sums)
        self.last = self.since = None

    def observe(self, t: int, mid: float) -> None:
        last, self.last = self.last, mid
        if last is None:
            if self.since is None:
                self.since = t
            return
        if mid == last:
            return
        r2 = math.log(mid / last) ** 2
        for i, samples in enumerate(self.samples):
            samples.append((t, r2))
            self.sums[i] += r2
            self.prune(i, t)

    def prune(self, i: int, now: int) -> None:
        samples = self.samples[i]
        while samples and samples[0][0] <= now - self.windows_ns[i]:
            self.sums[i] -= samples.popleft()[1]
        if not samples:
            self.sums[i] = 0.0

    def value_bps(self, i: int, now: int) -> float | None:
        covered = 0 if self.since is None else max(0, now - self.since)
        if covered < self.windows_ns[i]:
            return None
        self.prune(i, now)
        return math.sqrt(max(self.sums[i], 0.0)) * 1e4


_WINDOWS = (0.002, 0.005, 0.02)  # seconds: small enough for short random runs
_MIDS = [100.0, 100.01, 99.99, 100.02, 101.0, 100.0 + 1e-12]
# waits on a millisecond grid as well (the windows are whole milliseconds): reads land
# exactly where a sample leaves a window or a window becomes covered
_wait = st.integers(0, 4_000_000) | st.integers(0, 6).map(lambda ms: ms * 1_000_000)
_vol_op = st.one_of(
    st.tuples(st.just("observe"), _wait, st.sampled_from(_MIDS) | st.floats(99.0, 101.0)),
    st.tuples(st.just("value"), _wait, st.integers(0, 2)),
    st.tuples(st.just("values"), _wait, st.just(0)),
    st.tuples(st.just("restart"), st.just(0), st.just(0)),
)


def _run_vol(ops: list[tuple[str, int, float]]) -> None:
    vol, ref = RealizedVolatility(_WINDOWS), _QueuePerWindow(_WINDOWS)
    now = 0
    for kind, dt, arg in ops:
        now += dt
        if kind == "observe":
            vol.observe(now, arg)
            ref.observe(now, arg)
        elif kind == "value":
            assert vol.value_bps(int(arg), now) == ref.value_bps(int(arg), now)
        elif kind == "values":
            assert vol.values_bps(now) == tuple(ref.value_bps(i, now) for i in range(3))
        else:
            vol.restart()
            ref.restart()
        assert vol.covered_ns(now) == (0 if ref.since is None else max(0, now - ref.since))


@settings(max_examples=300, deadline=None)
@given(st.lists(_vol_op, max_size=80))
def test_realized_vol_shared_history_equals_a_queue_per_window(
        ops: list[tuple[str, int, float]]) -> None:
    _run_vol(ops)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_realized_vol_long_runs_drop_old_history_and_stay_exact(seed: int) -> None:
    # thousands of changes, so that the history is compacted many times on the way
    rng = random.Random(seed)
    ops: list[tuple[str, int, float]] = []
    for _ in range(6_000):
        roll = rng.random()
        if roll < 0.8:  # mostly close together, sometimes after a window has emptied
            gap = rng.randrange(0, 400_000) if rng.random() < 0.97 else rng.randrange(30_000_000)
            ops.append(("observe", gap, rng.choice(_MIDS) + rng.random()))
        elif roll < 0.95:
            ops.append(("value", rng.randrange(0, 200_000), rng.randrange(3)))
        elif roll < 0.999:
            ops.append(("values", rng.randrange(0, 200_000), 0))
        else:
            ops.append(("restart", 0, 0))
    _run_vol(ops)


def test_realized_vol_values_change_exactly_when_a_sample_leaves_or_a_window_fills() -> None:
    # reads a nanosecond before, at and after every millisecond: the windows (2 and 5 ms)
    # fill and the samples (at 1, 2.5 and 4 ms) leave them exactly on those instants
    windows = (0.002, 0.005)
    vol, ref = RealizedVolatility(windows), _QueuePerWindow(windows)
    observations = {0: 100.0, 1_000_000: 100.5, 2_500_000: 99.8, 4_000_000: 100.1}
    for t in sorted({ms * 1_000_000 + d for ms in range(13) for d in (-1, 0, 1)} - {-1}):
        if t in observations:
            vol.observe(t, observations[t])
            ref.observe(t, observations[t])
        assert vol.values_bps(t) == tuple(ref.value_bps(i, t) for i in range(2)), t
    for t in (12_000_000, 5_000_000, 1_000_000):  # an earlier read is not the later one's
        assert vol.values_bps(t) == tuple(ref.value_bps(i, t) for i in range(2)), t


@given(st.lists(st.decimals(allow_nan=False, allow_infinity=False), min_size=1, max_size=30))
def test_price_float_is_float_of_the_decimal_asked_once_or_again(values: list[Decimal]) -> None:
    # the same objects asked again (cached), and equal ones made anew (not the same object)
    for value in [*values, *values, *(Decimal(str(v)) for v in values)]:
        got = price_float(value)
        assert got == float(value) and math.copysign(1.0, got) == math.copysign(
            1.0, float(value))  # -0 stays -0.0, 0 stays 0.0


def test_price_float_keeps_a_bounded_number_of_prices() -> None:
    zero, negative_zero = Decimal("0"), Decimal("-0")
    assert math.copysign(1.0, price_float(negative_zero)) == -1.0
    assert math.copysign(1.0, price_float(zero)) == 1.0  # equal Decimals, not one entry
    kept = [Decimal(i) / 7 for i in range(3 * features._FLOATS_KEPT)]
    assert [price_float(v) for v in kept] == [float(v) for v in kept]
    assert 0 < len(features._floats) <= features._FLOATS_KEPT
