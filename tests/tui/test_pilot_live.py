"""Pilot tests of the workstation against the real simulator and the real node.

Each test starts the real `TradingNode` on its engine thread (in-process simulator on
loopback, live clock), drives the app with the operator's keys and then asks the
exchange itself (clearinghouseState, openOrders, userFills) what happened.

Strategies: the maker sits in PAUSE for its first ~10 s (its volatility windows are not
valid yet), so with a seeded account (a 0.1 long and a far resting bid) nothing moves
unless a key acts; the taker with a zero threshold and no fees trades within a second,
which shows that trading resumed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from decimal import Decimal

from hip3term.core.events import LatchState, TripTrigger
from hip3term.tui.app import WorkstationApp
from hip3term.tui.screens.confirm import ConfirmScreen
from hip3term.tui.screens.resume import ResumeScreen
from hip3term.tui.widgets.book_ladder import BookLadder
from tests.tui.conftest import SEED_SIZE, LiveRig, shown_text, wait_for

SIZE = (160, 48)
EAGER_TAKER = {"threshold_bps": 0, "taker_fee_bps": 0, "cooldown_s": 0}


def _latch(app: WorkstationApp) -> LatchState | None:
    return app.last_snapshot.latch.state if app.last_snapshot else None


def _state(app: WorkstationApp) -> str:
    # What the workstation last showed, for a failure's message.
    snap = app.last_snapshot
    if snap is None:
        return "no snapshot yet"
    positions = ", ".join(f"{p.market} {p.size}{' flattening' if p.flattening else ''}"
                          for p in snap.positions) or "flat"  # fmt: skip
    events = " | ".join(f"{e.kind}: {e.text}" for e in snap.events[-6:])
    return (f"latch {snap.latch.state.name}, positions {positions}, orders {len(snap.orders)}, "
            f"ready {snap.ready.ready}; last events: {events}")


def _ready(app: WorkstationApp) -> bool:
    snap = app.last_snapshot
    return snap is not None and snap.ready.ready


async def _seeded_and_ready(app: WorkstationApp, rig: LiveRig) -> None:
    await wait_for(lambda: _ready(app), 10.0, "READY-TRADING")
    assert await rig.position_size() == SEED_SIZE
    assert len(await rig.open_orders()) == 1


async def _no_orders(rig: LiveRig) -> bool:
    return not await rig.open_orders()


async def _flat(rig: LiveRig) -> bool:
    return await rig.position_size() == Decimal(0)


async def test_book_is_drawn_within_3s_of_start_and_moves(
    make_rig: Callable[..., LiveRig],
) -> None:
    rig = make_rig()
    app = WorkstationApp(rig.engine)
    async with app.run_test(size=SIZE):
        started = time.monotonic()
        ladder = app.main.query_one(BookLadder)

        def levels() -> list[str]:
            return [line for line in ladder.text_lines() if "█" in line]

        await wait_for(lambda: len(levels()) >= 10, 3.0, "10 levels with size bars")
        assert time.monotonic() - started < 3.0
        first = levels()
        await wait_for(lambda: levels() != first, 5.0, "the book to move")


async def test_h_trips_the_latch_then_exchange_shows_no_orders_and_flat(
    make_rig: Callable[..., LiveRig],
) -> None:
    rig = make_rig("maker", seed_account=True)
    app = WorkstationApp(rig.engine)
    async with app.run_test(size=SIZE) as pilot:
        await _seeded_and_ready(app, rig)
        await pilot.press("h")
        await wait_for(lambda: _latch(app) is LatchState.TRIPPED, 5.0,
                       lambda: f"the latch to trip ({_state(app)})")
        await wait_for(lambda: _no_orders(rig), 10.0,
                       lambda: f"no open orders on the exchange ({_state(app)})")
        await wait_for(lambda: _flat(rig), 10.0,
                       lambda: f"a flat position on the exchange ({_state(app)})")
        assert app.last_snapshot is not None
        assert app.last_snapshot.latch.trigger is TripTrigger.OPERATOR
        banner = app.main.query_one("#banner")
        assert banner.display
        await pilot.pause()


async def test_c_cancels_every_order_and_keeps_the_position(
    make_rig: Callable[..., LiveRig],
) -> None:
    rig = make_rig("maker", seed_account=True)
    app = WorkstationApp(rig.engine)
    async with app.run_test(size=SIZE) as pilot:
        await _seeded_and_ready(app, rig)
        await pilot.press("c")
        await wait_for(lambda: _no_orders(rig), 10.0, "no open orders on the exchange")
        assert await rig.position_size() == SEED_SIZE
        await wait_for(lambda: _latch(app) is LatchState.HALTED, 5.0, "a hard halt")


async def test_f_with_confirmation_flattens(make_rig: Callable[..., LiveRig]) -> None:
    rig = make_rig("maker", seed_account=True)
    app = WorkstationApp(rig.engine)
    async with app.run_test(size=SIZE) as pilot:
        await _seeded_and_ready(app, rig)
        await pilot.press("f")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), 2.0, "the confirmation")
        assert await rig.position_size() == SEED_SIZE  # nothing happens before "y"
        await pilot.press("y")
        await wait_for(lambda: _flat(rig), 10.0, "a flat position on the exchange")


async def test_r_shows_the_trip_reason_and_resumes_trading_after_confirmation(
    make_rig: Callable[..., LiveRig],
) -> None:
    rig = make_rig("oracle_dislocation", params=EAGER_TAKER)
    app = WorkstationApp(rig.engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: _ready(app), 10.0, "READY-TRADING")
        await pilot.press("h")
        await wait_for(lambda: _latch(app) is LatchState.TRIPPED, 5.0, "the latch to trip")
        await wait_for(lambda: _flat(rig), 10.0, "flat after the trip")
        await pilot.pause(0.3)
        fills_before = len(await rig.info("userFills"))
        await pilot.press("r")
        assert "halt key" in await shown_text(app, ResumeScreen, "#dialog-body")
        assert _latch(app) is LatchState.TRIPPED  # nothing happens before "y"
        await pilot.press("y")
        await wait_for(lambda: _latch(app) is not LatchState.TRIPPED, 5.0, "the resume")

        async def traded_again() -> bool:
            return len(await rig.info("userFills")) > fills_before

        await wait_for(traded_again, 15.0, "a new fill after the resume")


async def test_q_with_confirmation_exits_cleanly(make_rig: Callable[..., LiveRig]) -> None:
    rig = make_rig("maker", seed_account=True)
    app = WorkstationApp(rig.engine)
    async with app.run_test(size=SIZE) as pilot:
        await _seeded_and_ready(app, rig)
        await pilot.press("q")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), 2.0, "the confirmation")
        await pilot.press("y")
        await wait_for(lambda: not app.is_running, 20.0, "the app to exit")
    assert app.return_code == 0
    assert rig.engine.join(5.0)
    assert rig.engine.failure is None
    assert all(t.name != "hip3term-engine" for t in threading.enumerate())
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert left == []
    assert await _no_orders(rig)  # cancel-all on quit (risk.cancel_all_on_quit)
    assert await rig.position_size() == SEED_SIZE  # quitting does not flatten
