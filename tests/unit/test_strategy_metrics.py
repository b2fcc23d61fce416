"""Strategy metrics: round trips, realized edge, slippage, fill rate, time to flat, PnL.

Fills are real wire objects (userFills frames through the parser). Every expected number
is worked out by hand in the comments.
"""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal
from typing import Any

import pytest

from hip3term.strategy import PlaceOrder, Signal
from hip3term.strategy.context import FillLike
from hip3term.strategy.metrics import RoundTrip, RoundTripBuilder, StrategyMetrics
from tests.unit.test_strategy_api import COIN, T0, fill, fills_frame

A = "0x" + "a1" * 16
B = "0x" + "b2" * 16
C = "0x" + "c3" * 16


def wire_fills(*fills: dict[str, Any]) -> list[FillLike]:
    frame = fills_frame(list(fills))
    return list(frame.fills)  # type: ignore[attr-defined]  # a parsed UserFills


def order(cloid: str, is_buy: bool, px: str, sz: str, ref: str | None = None,
          edge: float | None = None, reduce_only: bool = False) -> PlaceOrder:
    return PlaceOrder(cloid, COIN, is_buy, Decimal(px), Decimal(sz), "Ioc",
                      reduce_only=reduce_only, expected_edge_bps=edge,
                      ref_px=None if ref is None else Decimal(ref))


def signal(edge: float | None, traded: bool) -> Signal:
    return Signal("oracle_dislocation", COIN, "entry", "buy", edge, traded)


# -- round trips ---------------------------------------------------------------------------


def test_simple_long_round_trip() -> None:
    metrics = StrategyMetrics("s")
    metrics.on_intent(order(A, True, "100.02", "2", ref="100", edge=25.0))
    f1, f2 = wire_fills(fill(1, "B", "100", "2", "0.09", T0, cloid=A),
                        fill(2, "A", "101", "2", "0.0909", T0 + 12_500))
    assert metrics.on_fill(f1) is None
    trip = metrics.on_fill(f2)
    # gross 2 x (101 - 100) = 2; fees 0.09 + 0.0909 = 0.1809; net 1.8191
    assert trip == RoundTrip(COIN, True, Decimal(2), Decimal(100), Decimal(101), T0,
                             T0 + 12_500, Decimal(2), Decimal("0.1809"), 25.0)
    assert trip.pnl == Decimal("1.8191")
    assert trip.entry_notional == Decimal(200)
    assert trip.realized_edge_bps == pytest.approx(90.955)  # 1.8191 / 200 x 1e4
    assert trip.time_to_flat_s == 12.5


def test_adds_and_partial_closes_use_average_cost() -> None:
    builder = RoundTripBuilder()
    assert builder.add(COIN, is_buy=True, px=Decimal(100), sz=Decimal(1), fee=Decimal("0.045"),
                       time_ms=0) is None
    assert builder.add(COIN, is_buy=True, px=Decimal(102), sz=Decimal(1),
                       fee=Decimal("0.0459"), time_ms=1_000) is None
    assert builder.position(COIN) == Decimal(2)
    # average entry 101; selling 1 at 103 realizes +2
    assert builder.add(COIN, is_buy=False, px=Decimal(103), sz=Decimal(1),
                       fee=Decimal("0.04635"), time_ms=2_000) is None
    trip = builder.add(COIN, is_buy=False, px=Decimal(99), sz=Decimal(1),
                       fee=Decimal("0.04455"), time_ms=5_000)
    assert trip is not None
    # second close realizes -2: gross 0; fees 0.045 + 0.0459 + 0.04635 + 0.04455 = 0.1818
    assert (trip.gross_pnl, trip.fees, trip.pnl) == (Decimal(0), Decimal("0.1818"),
                                                     Decimal("-0.1818"))
    assert (trip.size, trip.entry_px, trip.exit_px) == (Decimal(2), Decimal(101), Decimal(101))
    assert trip.time_to_flat_s == 5.0
    assert builder.position(COIN) == 0


def test_flip_closes_one_round_trip_and_opens_the_next_with_split_fee() -> None:
    builder = RoundTripBuilder()
    builder.add(COIN, is_buy=True, px=Decimal(100), sz=Decimal(1), fee=Decimal("0.05"),
                time_ms=0)
    first = builder.add(COIN, is_buy=False, px=Decimal(110), sz=Decimal(3),
                        fee=Decimal("0.33"), time_ms=1_000)
    # closes 1 of the 3: gross 10, fee share 0.11 -> fees 0.16, net 9.84
    assert first is not None
    assert (first.is_long, first.gross_pnl, first.fees, first.pnl) == (
        True, Decimal(10), Decimal("0.16"), Decimal("9.84"))
    assert builder.position(COIN) == Decimal(-2)
    second = builder.add(COIN, is_buy=True, px=Decimal(105), sz=Decimal(2),
                         fee=Decimal("0.21"), time_ms=4_000)
    # short 2 from 110 covered at 105: gross 10; fees 0.22 + 0.21 = 0.43; net 9.57
    assert second is not None
    assert (second.is_long, second.gross_pnl, second.fees, second.pnl) == (
        False, Decimal(10), Decimal("0.43"), Decimal("9.57"))
    assert (second.opened_ms, second.closed_ms) == (1_000, 4_000)


def test_markets_are_kept_apart() -> None:
    builder = RoundTripBuilder()
    builder.add(COIN, is_buy=True, px=Decimal(100), sz=Decimal(1), fee=Decimal(0), time_ms=0)
    assert builder.add("xyz:TSLA", is_buy=False, px=Decimal(400), sz=Decimal(1),
                       fee=Decimal(0), time_ms=1) is None
    assert builder.position(COIN) == 1
    assert builder.position("xyz:TSLA") == -1


# -- the metrics -----------------------------------------------------------------------------


def test_expected_edge_means_all_and_traded() -> None:
    metrics = StrategyMetrics("s")
    for edge, traded in ((20.0, True), (10.0, True), (30.0, False), (None, False)):
        metrics.on_signal(signal(edge, traded))
    snap = metrics.snapshot()
    assert (snap.signals, snap.signals_traded) == (4, 2)
    assert snap.mean_expected_edge_bps == 20.0        # (20 + 10 + 30) / 3
    assert snap.mean_expected_edge_traded_bps == 15.0  # (20 + 10) / 2


def test_slippage_is_size_weighted_against_the_decision_price() -> None:
    metrics = StrategyMetrics("s")
    metrics.on_intent(order(A, True, "100.05", "2", ref="100"))
    metrics.on_intent(order(B, False, "99.9", "1", ref="100"))
    metrics.on_intent(order(C, True, "100", "1"))  # no decision price: no slippage
    for f in wire_fills(fill(1, "B", "100.02", "0.5", "0", T0, cloid=A),
                        fill(2, "B", "100", "1.5", "0", T0, cloid=A),
                        fill(3, "A", "99.95", "1", "0", T0 + 1, cloid=B),
                        fill(4, "B", "101", "1", "0", T0 + 2, cloid=C)):
        metrics.on_fill(f)
    # buy: +2 bps on 0.5, 0 on 1.5; sell 5 bps worse on 1: (1 + 0 + 5) / 3 = 2 bps
    assert metrics.snapshot().mean_slippage_bps == pytest.approx(2.0)


def test_fill_rates_count_orders_and_size() -> None:
    metrics = StrategyMetrics("s")
    metrics.on_intent(order(A, True, "100", "2"))
    metrics.on_intent(order(B, True, "100", "1"))
    metrics.on_intent(order(C, False, "100", "1", reduce_only=True))
    metrics.on_intent(order(A, True, "100", "2"))  # the same cloid again: counted once
    for f in wire_fills(fill(1, "B", "100", "0.5", "0", T0, cloid=A),
                        fill(2, "A", "100", "1", "0", T0, cloid=C)):
        metrics.on_fill(f)
    snap = metrics.snapshot()
    assert (snap.orders_placed, snap.orders_filled) == (3, 2)
    assert snap.fill_rate == pytest.approx(2 / 3)
    assert snap.size_fill_rate == pytest.approx(1.5 / 4)  # (0.5 + 1) / (2 + 1 + 1)


def test_pnl_time_to_flat_and_counts_over_trades() -> None:
    metrics = StrategyMetrics("s")
    metrics.on_intent(order(A, True, "100", "1", edge=30.0))
    fills = wire_fills(
        fill(1, "B", "100", "1", "0.04", T0, cloid=A),
        fill(2, "A", "100.5", "1", "0.04", T0 + 8_000),        # flattener fill: no cloid
        fill(3, "A", "200", "0.1", "0.01", T0 + 20_000),
        fill(4, "B", "201", "0.1", "0.01", T0 + 50_000),
        fill(2, "A", "100.5", "1", "0.04", T0 + 8_000),        # duplicate tid: ignored
    )
    trips = [metrics.on_fill(f) for f in fills]
    assert [t is not None for t in trips] == [False, True, False, True, False]
    snap = metrics.snapshot()
    # trip 1: 0.5 - 0.08 = 0.42 (4.2 bps of 100); trip 2: -0.1 - 0.02 = -0.12 (-6 bps of 20)
    assert (snap.round_trips, snap.wins, snap.losses) == (2, 1, 1)
    assert snap.cumulative_pnl == Decimal("0.30")
    assert snap.pnl_per_trade == Decimal("0.15")
    assert snap.last_trade_pnl == Decimal("-0.12")
    assert snap.mean_realized_edge_bps == pytest.approx((42.0 - 60.0) / 2)
    assert snap.mean_time_to_flat_s == 19.0  # (8 + 30) / 2
    assert snap.max_time_to_flat_s == 30.0
    assert snap.fees == Decimal("0.10")
    assert snap.fills == 4
    assert metrics.trips[0].expected_edge_bps == 30.0
    assert metrics.trips[1].expected_edge_bps is None
    # the journal's row: every field, in order, Decimals as exact strings
    assert snap.as_dict() == {k: str(v) if isinstance(v, Decimal) else v
                              for k, v in dataclasses.asdict(snap).items()}  # fmt: skip
    assert list(snap.as_dict()) == [f.name for f in dataclasses.fields(snap)]
    assert snap.as_dict()["cumulative_pnl"] == "0.30"


def test_empty_snapshot_has_no_averages_and_serializes() -> None:
    snap = StrategyMetrics("maker").snapshot()
    assert snap.fill_rate is None
    assert snap.mean_slippage_bps is None
    assert snap.pnl_per_trade is None
    assert snap.cumulative_pnl == 0
    row = snap.as_dict()
    assert row["strategy"] == "maker"
    assert row["cumulative_pnl"] == "0"
    assert row["mean_expected_edge_bps"] is None


# -- running totals against the definitions, recomputed eagerly ------------------------------


def _eager(metrics: StrategyMetrics, placed: dict[str, PlaceOrder],
           filled: dict[str, Decimal], edges: list[float],
           traded_edges: list[float]) -> dict[str, Any]:
    # The module docstring's definitions over everything seen, from scratch.
    trips = metrics.trips
    pnls = [t.pnl for t in trips]
    times = [t.time_to_flat_s for t in trips]
    placed_sz = sum((o.sz for o in placed.values()), Decimal(0))
    filled_sz = sum((min(filled.get(c, Decimal(0)), o.sz) for c, o in placed.items()),
                    Decimal(0))  # fmt: skip
    n_filled = sum(1 for c in placed if filled.get(c, Decimal(0)) > 0)

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    return {
        "mean_expected_edge_bps": mean(edges), "mean_expected_edge_traded_bps": mean(traded_edges),
        "orders_placed": len(placed), "orders_filled": n_filled,
        "fill_rate": n_filled / len(placed) if placed else None,
        "size_fill_rate": float(filled_sz / placed_sz) if placed_sz else None,
        "round_trips": len(trips), "wins": sum(1 for p in pnls if p > 0),
        "losses": sum(1 for p in pnls if p < 0),
        "mean_realized_edge_bps": mean([t.realized_edge_bps for t in trips]),
        "mean_time_to_flat_s": mean(times), "max_time_to_flat_s": max(times, default=None),
        "pnl_per_trade": sum(pnls, Decimal(0)) / len(pnls) if pnls else None,
        "last_trade_pnl": pnls[-1] if pnls else None, "cumulative_pnl": sum(pnls, Decimal(0)),
    }  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
def test_running_totals_match_the_definitions_recomputed_at_every_step(seed: int) -> None:
    rng = random.Random(seed)
    metrics = StrategyMetrics("s")
    placed: dict[str, PlaceOrder] = {}
    filled: dict[str, Decimal] = {}
    edges: list[float] = []
    traded_edges: list[float] = []
    cloids = [f"0x{i:032x}" for i in range(12)]
    seen_tids: set[int] = set()
    for step in range(400):
        kind = rng.random()
        if kind < 0.3:
            edge = rng.choice([None, rng.uniform(-20, 40)])
            traded = rng.random() < 0.4
            metrics.on_signal(signal(edge, traded))
            if edge is not None:
                edges.append(edge)
                if traded:
                    traded_edges.append(edge)
        elif kind < 0.5:
            cloid = rng.choice(cloids)
            intent = order(cloid, rng.random() < 0.5, f"{rng.randint(99, 101)}",
                           f"{rng.randint(1, 4)}", ref=rng.choice([None, "100"]))  # fmt: skip
            metrics.on_intent(intent)
            placed.setdefault(cloid, intent)
        else:
            tid = rng.randint(1, 300)  # repeats now and then: duplicates are ignored
            cloid = rng.choice([None, *cloids])
            size = Decimal(rng.randint(1, 3))
            [f] = wire_fills(fill(tid, rng.choice("AB"), f"{rng.randint(98, 102)}", str(size),
                                  "0.01", T0 + step * 500, cloid=cloid))  # fmt: skip
            metrics.on_fill(f)
            if tid not in seen_tids:
                seen_tids.add(tid)
                if cloid in placed:
                    filled[cloid] = filled.get(cloid, Decimal(0)) + size
        snap = metrics.snapshot()
        expected = _eager(metrics, placed, filled, edges, traded_edges)
        assert {k: getattr(snap, k) for k in expected} == pytest.approx(expected), step
    assert metrics.trips and placed and any(filled.values())


def test_the_snapshot_is_kept_until_something_changes() -> None:
    metrics = StrategyMetrics("s")
    first = metrics.snapshot()
    assert metrics.snapshot() is first
    metrics.on_signal(signal(5.0, False))
    second = metrics.snapshot()
    assert second is not first and second.signals == 1
    metrics.on_intent(order(A, True, "100", "1"))
    third = metrics.snapshot()
    assert third is not second and third.orders_placed == 1
    [f] = wire_fills(fill(1, "B", "100", "1", "0", T0, cloid=A))
    metrics.on_fill(f)
    assert metrics.snapshot().fills == 1
    fourth = metrics.snapshot()
    metrics.on_fill(f)  # a duplicate changes nothing
    assert metrics.snapshot() is fourth
