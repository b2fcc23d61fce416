"""PositionTracker: hand-checked position math (open, add, partial close, flip, fees,
rebates), snapshot buffering, tid de-duplication, the sync rule, reconcile (real frames
from tests/fixtures/real_account_frames.jsonl), and the order registry."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hip3term.core.events import (
    AlertRaised,
    EngineEvent,
    FillApplied,
    OpenOrderDiscovered,
    OpenOrderVanished,
    OrderState,
    OrderStateChanged,
    PositionClosed,
    PositionCorrected,
    PositionOpened,
    PositionsSynced,
)
from hip3term.execution.orders import OrderRequest, Tif, classify_status
from hip3term.positions import PositionTracker
from hip3term.strategy.context import OrdersView, PositionsView
from hip3term.venue.hyperliquid.parse import parse_frame
from hip3term.venue.hyperliquid.wire import Fill, OrderUpdates, UserFills

D = Decimal
COIN = "xyz:COIN"
T0 = 1_700_000_000_000
FRAMES = Path(__file__).parent.parent / "fixtures" / "real_account_frames.jsonl"


def frame(line: int) -> Any:
    # Line numbers of tests/fixtures/real_account_frames.jsonl (1-based).
    return json.loads(FRAMES.read_text().splitlines()[line - 1])["msg"]


def fill(tid: int, side: str, px: str, sz: str, start: str, time_ms: int, *, fee: str = "0",
         coin: str = COIN, oid: int = 1, cloid: str | None = None) -> Fill:
    return Fill(coin, D(px), D(sz), "B" if side == "B" else "A", time_ms, D(start), "", D(0),
                "0x0", oid, True, D(fee), "USDC", tid, cloid, None, None, None)  # fmt: skip


def state(time_ms: int, *positions: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "assetPositions": [
            {"type": "oneWay", "position": {"coin": c, "szi": s, "entryPx": e}}
            for c, s, e in positions
        ],
        "time": time_ms,
    }


def synced(now: int = T0) -> PositionTracker:
    t = PositionTracker()
    t.on_user_fills([], is_snapshot=True, now_ms=now)
    t.reconcile(state(now), [], now)
    assert t.synced
    return t


def is_synced(t: PositionTracker) -> bool:
    return t.synced  # a call, so that mypy does not keep a narrowed value across steps


def of(events: Sequence[EngineEvent], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


# ---------------------------------------------------------------- position math


def test_positions_open_add_partial_close_flip_with_fees_and_rebates() -> None:
    t = synced()
    events = t.on_user_fills([fill(1, "B", "100", "2", "0", T0 + 1, fee="0.1")],
                             is_snapshot=False, now_ms=T0 + 1)  # fmt: skip
    (opened,) = of(events, PositionOpened)
    assert (opened.size, opened.entry_px, opened.entry_ms) == (D(2), D(100), T0 + 1)
    t.on_user_fills([fill(2, "B", "110", "2", "2", T0 + 2, fee="0.1")],
                    is_snapshot=False, now_ms=T0 + 2)  # fmt: skip
    p = t.position(COIN)
    assert p is not None and (p.size, p.entry_px, p.open_fees) == (D(4), D(105), D("0.2"))
    # Sell 1 @ 120: 1 * (120 - 105) = 15, minus the closing fee 0.05 and a quarter of
    # the opening fees (0.05) = 14.9.
    t.on_user_fills([fill(3, "A", "120", "1", "4", T0 + 3, fee="0.05")],
                    is_snapshot=False, now_ms=T0 + 3)  # fmt: skip
    p = t.position(COIN)
    assert p is not None and (p.size, p.entry_px) == (D(3), D(105))
    assert p.realized_pnl == D("14.9") and p.open_fees == D("0.15")
    assert p.unrealized_pnl(D(107)) == D("5.85")  # 2 * 3 - 0.15
    assert p.entry_ms == T0 + 1
    # Sell 5 @ 100: closes 3 at -5 each (-15), closing fee 3/5 * 0.25, the open fees
    # 0.15: -15.3; the round trip made 14.9 - 15.3 = -0.4. Short 2 opens at 100.
    events = t.on_user_fills([fill(4, "A", "100", "5", "3", T0 + 4, fee="0.25")],
                             is_snapshot=False, now_ms=T0 + 4)  # fmt: skip
    (closed,) = of(events, PositionClosed)
    assert closed.pnl == D("-0.4") and closed.entry_ms == T0 + 1 and closed.closed_ms == T0 + 4
    (opened,) = of(events, PositionOpened)
    assert (opened.size, opened.entry_px, opened.entry_ms) == (D(-2), D(100), T0 + 4)
    p = t.position(COIN)
    assert p is not None and p.open_fees == D("0.1") and t.consecutive_losses == 1
    # Buy 2 @ 90 with a rebate of 0.02: 2 * 10 = 20, + 0.02, - 0.1 = 19.92.
    events = t.on_user_fills([fill(5, "B", "90", "2", "-2", T0 + 5, fee="-0.02")],
                             is_snapshot=False, now_ms=T0 + 5)  # fmt: skip
    (closed,) = of(events, PositionClosed)
    assert closed.pnl == D("19.92")
    assert t.position(COIN) is None
    assert t.realized_pnl == D("19.52")
    assert t.trade_outcomes == (D("-0.4"), D("19.92"))
    assert t.consecutive_losses == 0  # the win ended the streak


def test_positions_losing_streak_counts_and_resets_on_a_win() -> None:
    t = synced()
    results = ["99", "99", "99", "101", "99"]  # buy 1 @ 100, sell 1 @ px
    streaks = []
    for i, px in enumerate(results):
        base = T0 + 10 * i
        t.on_user_fills([fill(2 * i, "B", "100", "1", "0", base + 1),
                         fill(2 * i + 1, "A", px, "1", "1", base + 2)],
                        is_snapshot=False, now_ms=base + 2)  # fmt: skip
        streaks.append(t.consecutive_losses)
    assert streaks == [1, 2, 3, 0, 1]


cash_fills = st.lists(
    st.tuples(st.booleans(), st.integers(1, 50), st.integers(1, 400), st.integers(-5, 20)),
    min_size=1, max_size=25,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(cash_fills, st.integers(1, 400))
def test_positions_realized_plus_unrealized_equals_cash_accounting(
    fills: list[tuple[bool, int, int, int]], mark: int
) -> None:
    # Independent check: PnL net of fees = cash received - cash paid - fees + size * mark.
    t = synced()
    size, cash = D(0), D(0)
    for i, (buy, lots, px, fee_cents) in enumerate(fills):
        sz, price, fee = D(lots) / 10, D(px), D(fee_cents) / 100
        when = T0 + 1 + i  # after the sync's as_of (T0)
        t.on_user_fills([fill(i, "B" if buy else "A", str(price), str(sz), str(size), when,
                              fee=str(fee))], is_snapshot=False, now_ms=when)
        delta = sz if buy else -sz
        cash += -delta * price - fee
        size += delta
    total = t.realized_pnl + t.unrealized_pnl(lambda market: D(mark))
    assert abs(total - (cash + size * mark)) < D("1e-12")
    p = t.position(COIN)
    assert (p.size if p else D(0)) == size


# ---------------------------------------------------------------- snapshot, dedupe, sync


def test_positions_fills_buffer_until_snapshot_and_reconcile() -> None:
    t = PositionTracker()
    live = fill(7, "B", "100", "1", "0", T0 + 5_000)
    assert t.on_user_fills([live], is_snapshot=False, now_ms=T0) == []
    assert t.position(COIN) is None
    assert t.on_user_fills([], is_snapshot=True, now_ms=T0) == []  # no exchange state yet
    assert (t.snapshot_received, is_synced(t)) == (True, False)
    events = t.reconcile(state(T0), [], T0)
    assert of(events, PositionsSynced) and t.synced
    p = t.position(COIN)
    assert p is not None and p.size == D(1)  # after as_of: applied once synced


def test_positions_dedupe_by_tid() -> None:
    t = synced()
    f = fill(1, "B", "100", "1", "0", T0 + 1)
    t.on_user_fills([f, f], is_snapshot=False, now_ms=T0 + 1)
    t.on_user_fills([f], is_snapshot=False, now_ms=T0 + 2)
    p = t.position(COIN)
    assert p is not None and p.size == D(1)


@pytest.mark.parametrize("reconcile_first", [True, False])
def test_positions_first_sync_marks_snapshot_fills_reflected(reconcile_first: bool) -> None:
    # The exchange state (as of T0) already holds the snapshot's fills: no double count.
    t = PositionTracker()
    snapshot = [fill(1, "B", "100", "1", "0", T0 - 9_000),
                fill(2, "B", "102", "1", "1", T0 - 5_000)]
    later = fill(3, "B", "104", "1", "2", T0 + 1_000)
    exchange = state(T0, (COIN, "2", "101"))
    if reconcile_first:
        events = t.reconcile(exchange, [], T0 + 2_000)
        events += t.on_user_fills([*snapshot, later], is_snapshot=True, now_ms=T0 + 2_000)
    else:
        events = t.on_user_fills([*snapshot, later], is_snapshot=True, now_ms=T0 + 2_000)
        events += t.reconcile(exchange, [], T0 + 2_000)
    applied = of(events, FillApplied)
    assert [(f.tid, f.reflected) for f in applied] == [(1, True), (2, True), (3, False)]
    (loaded,) = of(events, PositionCorrected)
    assert loaded.believed_size is None and loaded.exchange_size == D(2)
    p = t.position(COIN)
    assert p is not None and p.size == D(3)
    assert p.entry_px == D(102)  # (2 * 101 + 104) / 3
    assert p.entry_ms == T0 - 9_000  # dated by the opening fill of the snapshot


def test_positions_resync_replays_missed_fills_then_compares() -> None:
    t = synced()
    t.on_user_fills([fill(1, "B", "100", "2", "0", T0 + 1)], is_snapshot=False, now_ms=T0 + 1)
    t.on_disconnect()
    assert not t.synced
    missed = fill(2, "A", "110", "2", "2", T0 + 5_000, fee="0.02")
    events = t.on_user_fills([fill(1, "B", "100", "2", "0", T0 + 1), missed],
                             is_snapshot=True, now_ms=T0 + 9_000)  # fmt: skip
    assert events == []  # buffered until the reconcile
    events = t.reconcile(state(T0 + 8_000), [], T0 + 9_000)
    (closed,) = of(events, PositionClosed)
    assert closed.pnl == D("19.98")  # 2 * 10 - 0.02, computed from the missed fill
    assert of(events, PositionCorrected) == []  # replayed belief matches the exchange
    assert t.position(COIN) is None and t.realized_pnl == D("19.98")


def test_positions_resync_adopts_exchange_truth_and_reports_it() -> None:
    t = synced()
    t.on_user_fills([fill(1, "B", "100", "2", "0", T0 + 1)], is_snapshot=False, now_ms=T0 + 1)
    t.on_disconnect()
    t.on_user_fills([], is_snapshot=True, now_ms=T0 + 9_000)
    events = t.reconcile(state(T0 + 8_000, (COIN, "5", "103")), [], T0 + 9_000)
    (corrected,) = of(events, PositionCorrected)
    assert (corrected.believed_size, corrected.exchange_size) == (D(2), D(5))
    assert corrected.exchange_entry == D(103)
    p = t.position(COIN)
    assert p is not None and (p.size, p.entry_px, p.entry_ms) == (D(5), D(103), T0 + 1)


def test_positions_live_fill_with_unexpected_start_adopts_exchange_start() -> None:
    t = synced()
    t.on_user_fills([fill(1, "B", "100", "1", "0", T0 + 1)], is_snapshot=False, now_ms=T0 + 1)
    events = t.on_user_fills([fill(3, "B", "100", "1", "2", T0 + 3)],
                             is_snapshot=False, now_ms=T0 + 3)  # fmt: skip
    (corrected,) = of(events, PositionCorrected)
    assert (corrected.believed_size, corrected.exchange_size) == (D(1), D(2))
    p = t.position(COIN)
    assert p is not None and p.size == D(3)


def test_positions_reconcile_while_synced_counts_fills_after_as_of() -> None:
    t = synced()
    t.on_user_fills([fill(1, "B", "100", "1", "0", T0 + 1_000)], is_snapshot=False,
                    now_ms=T0 + 1_000)  # fmt: skip
    # The answer was taken before that fill: flat. Not a difference.
    events = t.reconcile(state(T0 + 500), [], T0 + 2_000)
    assert of(events, PositionCorrected) == []
    p = t.position(COIN)
    assert p is not None and p.size == D(1)
    # A late fill older than as_of is reflected, not applied.
    events = t.on_user_fills([fill(9, "B", "100", "1", "0", T0 + 400)], is_snapshot=False,
                             now_ms=T0 + 3_000)  # fmt: skip
    assert [f.reflected for f in of(events, FillApplied)] == [True]


def test_positions_malformed_reconcile_alerts_and_changes_nothing() -> None:
    t = PositionTracker()
    t.on_user_fills([], is_snapshot=True, now_ms=T0)
    events = t.reconcile({"assetPositions": [{"position": {"coin": COIN, "szi": 1.5}}]}, [], T0)
    (alert,) = of(events, AlertRaised)
    assert alert.code == "reconcile_malformed" and "assetPositions[0]" in alert.message
    assert not t.synced
    assert of(t.reconcile(state(T0), {"not": "a list"}, T0), AlertRaised)


def test_positions_reconcile_real_nvda_state_and_sp500_snapshot() -> None:
    # Real frames: clearinghouseState (dex=xyz) with an isolated xyz:NVDA short, and a
    # userFills snapshot opening xyz:SP500 (Open Long, startPosition 0).
    nvda_state = frame(13)
    sp500 = parse_frame(json.dumps(frame(9)))
    assert isinstance(sp500, UserFills) and sp500.is_snapshot
    (sp_fill,) = sp500.fills
    t = PositionTracker()
    now = nvda_state["time"] + 1_000
    t.on_user_fills(sp500.fills, is_snapshot=True, now_ms=now)
    held = [*nvda_state["assetPositions"],
            {"type": "oneWay", "position": {"coin": "xyz:SP500", "szi": "1.149",
                                            "entryPx": "7429.1"}}]  # fmt: skip
    events = t.reconcile({**nvda_state, "assetPositions": held}, [], now, dex="xyz")
    nvda, sp = t.position("xyz:NVDA"), t.position("xyz:SP500")
    assert nvda is not None and (nvda.size, nvda.entry_px) == (D("-56.0"), D("217.057"))
    assert nvda.entry_ms == now  # no fill dates it
    assert sp is not None and sp.entry_ms == sp_fill.time_ms
    assert [f.reflected for f in of(events, FillApplied)] == [True]
    assert {e.market for e in of(events, PositionOpened)} == {"xyz:NVDA", "xyz:SP500"}


def test_positions_reconcile_scope_ignores_other_dexes() -> None:
    t = synced()
    t.on_user_fills([fill(1, "B", "100", "1", "0", T0 + 1, coin="BTC")], is_snapshot=False,
                    now_ms=T0 + 1)  # fmt: skip
    events = t.reconcile(state(T0 + 10), [], T0 + 20, dex="xyz")
    assert of(events, PositionCorrected) == [] and t.has_position("BTC")
    events = t.reconcile(state(T0 + 10), [], T0 + 20, dex="")
    assert of(events, PositionCorrected) and not t.has_position("BTC")


# ---------------------------------------------------------------- orders


def request(cloid: str, *, market: str = COIN, tif: Tif = "Gtc", ro: bool = False) -> OrderRequest:
    return OrderRequest(cloid, market, 1, True, D("31795.0"), D("0.00037"), tif, ro, T0)


def state_of(t: PositionTracker, cloid: str) -> OrderState | None:
    order = t.order(cloid=cloid)
    return None if order is None else order.state


def test_orders_real_open_then_canceled_updates() -> None:
    opened, canceled = (parse_frame(json.dumps(frame(n))) for n in (1, 2))
    assert isinstance(opened, OrderUpdates) and isinstance(canceled, OrderUpdates)
    cloid = opened.updates[0].cloid
    assert cloid is not None
    t = synced()
    t.mark_pending(request(cloid, market="BTC"), T0)
    assert t.pending_markets() == {"BTC"}
    t.orders.set_state(cloid, OrderState.SENT, T0 + 1, "sent")
    t.orders.on_updates(opened.updates, T0 + 2)
    order = t.order(cloid=cloid)
    assert order is not None and order.state is OrderState.RESTING
    assert order.oid == opened.updates[0].oid
    assert [o.cloid for o in t.open_orders()] == [cloid] == [o.cloid for o in t.exchange_orders()]
    events = t.orders.on_updates(canceled.updates, T0 + 3)
    assert [e.state for e in of(events, OrderStateChanged)] == [OrderState.CANCELED]
    assert t.pending_markets() == frozenset() and t.open_orders() == ()


def test_tracker_serves_the_strategy_views() -> None:
    # Checked statically by mypy: the tracker satisfies the strategy layer's protocols.
    t = synced()
    positions: PositionsView = t
    orders: OrdersView = t
    queued = f"0x{3:032x}"
    t.mark_pending(request(queued), T0)
    assert [o.cloid for o in orders.open_orders()] == [queued]  # queued orders are live
    assert t.exchange_orders() == () and positions.positions() == ()


def test_orders_late_resting_does_not_resurrect_a_filled_order() -> None:
    t = synced()
    cloid = f"0x{5:032x}"
    t.mark_pending(request(cloid), T0)
    t.orders.on_filled(cloid, 42, D("0.00037"), T0 + 1)
    assert t.orders.on_resting(cloid, 42, T0 + 2) == []
    order = t.order(oid=42)
    assert order is not None and order.state is OrderState.FILLED


def test_orders_partial_ioc_fill_is_final_partial_gtc_keeps_resting() -> None:
    t = synced()
    ioc, gtc = f"0x{1:032x}", f"0x{2:032x}"
    t.mark_pending(request(ioc, tif="Ioc"), T0)
    t.mark_pending(request(gtc, market="xyz:OTHER"), T0)
    t.orders.on_filled(ioc, 1, D("0.0001"), T0)
    t.orders.on_filled(gtc, 2, D("0.0001"), T0)
    states = [state_of(t, c) for c in (ioc, gtc)]
    assert states == [OrderState.FILLED, OrderState.RESTING]


def test_orders_reconcile_discovers_real_open_order_and_finishes_vanished_ones() -> None:
    listed = frame(6)  # real openOrders answer: one BTC bid with a cloid
    t = synced()
    mine, fresh, queued = (f"0x{n:032x}" for n in (1, 2, 3))
    t.mark_pending(request(mine, market="BTC"), T0)
    t.orders.set_state(mine, OrderState.SENT, T0 + 1, "sent")
    t.orders.on_resting(mine, 7, T0 + 2)
    t.mark_pending(request(fresh, market="BTC"), T0)
    t.orders.set_state(fresh, OrderState.SENT, T0 + 50, "sent")  # after the ask
    t.mark_pending(request(queued, market="ETH"), T0)
    events = t.reconcile(state(T0 + 10), listed, T0 + 100, requested_ms=T0 + 10)
    (found,) = of(events, OpenOrderDiscovered)
    assert (found.oid, found.cloid) == (listed[0]["oid"], listed[0]["cloid"])
    (gone,) = of(events, OpenOrderVanished)
    assert gone.cloid == mine and gone.previous is OrderState.RESTING
    states = {o.cloid: o.state for o in t.orders.live()}
    assert states == {fresh: OrderState.SENT, queued: OrderState.QUEUED,
                      listed[0]["cloid"]: OrderState.RESTING}  # fmt: skip


def test_orders_fills_count_toward_their_order() -> None:
    t = synced()
    cloid = f"0x{9:032x}"
    t.mark_pending(request(cloid), T0)
    t.orders.on_resting(cloid, 77, T0)
    t.on_user_fills([fill(1, "B", "100", "0.0002", "0", T0 + 1, oid=77)], is_snapshot=False,
                    now_ms=T0 + 1)  # fmt: skip
    order = t.order(cloid=cloid)
    assert order is not None and order.applied_sz == D("0.0002") == order.filled_sz


@pytest.mark.parametrize(
    ("word", "expected"),
    [("open", OrderState.RESTING), ("triggered", OrderState.RESTING),
     ("filled", OrderState.FILLED), ("canceled", OrderState.CANCELED),
     ("marginCanceled", OrderState.CANCELED), ("scheduledCancel", OrderState.CANCELED),
     ("badAloPxRejected", OrderState.REJECTED), ("rejected", OrderState.REJECTED),
     ("somethingNew", None)],
)  # fmt: skip
def test_orders_classify_exchange_status_words(word: str, expected: OrderState | None) -> None:
    assert classify_status(word) is expected


def test_positions_forgotten_old_tids_are_never_applied_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("hip3term.positions.tracker.MAX_SEEN_TIDS", 1)
    t = synced()
    old = fill(1, "B", "100", "1", "0", T0 + 1)
    t.on_user_fills([old, fill(2, "B", "100", "1", "1", T0 + 2)], is_snapshot=False,
                    now_ms=T0 + 2)  # fmt: skip
    t.on_disconnect()
    t.on_user_fills([old], is_snapshot=True, now_ms=T0 + 10)
    t.reconcile(state(T0 + 5, (COIN, "2", "100")), [], T0 + 10)  # prunes tids <= T0 + 5
    events = t.on_user_fills([old], is_snapshot=False, now_ms=T0 + 11)
    assert [f.reflected for f in of(events, FillApplied)] == [True]
    p = t.position(COIN)
    assert p is not None and p.size == D(2)


def test_open_position_flag_closed_trade_count_and_revision_follow_the_fills() -> None:
    t = synced()
    revision = t.revision
    assert not t.has_open_positions() and t.closed_trades == 0 and t.positions() == ()
    t.on_user_fills([fill(1, "B", "190", "0.1", "0", T0 + 1)], is_snapshot=False, now_ms=T0 + 1)
    assert t.revision > revision and t.has_open_positions() and t.closed_trades == 0
    (pos,) = t.positions()
    assert (pos.market, pos.size, pos.entry_px) == (COIN, D("0.1"), D("190"))
    revision = t.revision
    t.on_user_fills([fill(2, "A", "191", "0.1", "0.1", T0 + 2)], is_snapshot=False,
                    now_ms=T0 + 2)  # fmt: skip
    assert t.revision > revision and not t.has_open_positions() and t.positions() == ()
    assert t.closed_trades == len(t.trade_outcomes) == 1
    assert t.trade_outcomes[0] == D("0.1")  # (191 - 190) * 0.1, no fees
    revision = t.revision
    t.reconcile(state(T0 + 3), [], T0 + 3)
    assert t.revision > revision
    t.on_disconnect()
    assert t.revision > revision + 1
