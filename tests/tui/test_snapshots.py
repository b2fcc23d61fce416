"""Snapshot tests of the workstation's screens (layout only; behaviour is in the Pilot tests).

Every scene is deterministic (`snapshot_apps/workstation.py`): a fixed simulator seed and
a simulated clock for the book, fixed snapshots for everything else. Baselines live in
`__snapshots__/` and are regenerated deliberately with
`pytest tests/tui/test_snapshots.py --snapshot-update`, after looking at the new pictures.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import Input

from hip3term.tui.widgets.events_log import EventsLog
from hip3term.tui.widgets.positions import PositionsPane
from tests.tui.snapshot_apps.workstation import build

Compare = Callable[..., bool]
WIDE = (160, 48)
NARROW = (120, 36)


async def _settle(pilot: Pilot[object]) -> None:
    await pilot.pause()


def test_main_screen_160x48(snap_compare: Compare) -> None:
    assert snap_compare(build("main"), terminal_size=WIDE, run_before=_settle)


def test_main_screen_120x36(snap_compare: Compare) -> None:
    assert snap_compare(build("main"), terminal_size=NARROW, run_before=_settle)


def test_tripped_banner_120x36(snap_compare: Compare) -> None:
    assert snap_compare(build("tripped"), terminal_size=NARROW, run_before=_settle)


def test_resume_modal_shows_the_trip_reason(snap_compare: Compare) -> None:
    assert snap_compare(build("tripped"), terminal_size=NARROW, press=["r"],
                        run_before=_settle)  # fmt: skip


def test_observe_mode_on_testnet_160x48(snap_compare: Compare) -> None:
    assert snap_compare(build("observe"), terminal_size=WIDE, run_before=_settle)


def test_help_screen(snap_compare: Compare) -> None:
    assert snap_compare(build("main"), terminal_size=NARROW, press=["question_mark"],
                        run_before=_settle)  # fmt: skip


def test_mainnet_typed_confirmation(snap_compare: Compare) -> None:
    async def no_blink(pilot: Pilot[object]) -> None:
        await pilot.pause()
        pilot.app.screen.query_one(Input).cursor_blink = False
        await pilot.pause()

    assert snap_compare(build("mainnet"), terminal_size=NARROW, run_before=no_blink)


async def test_an_80x24_terminal_keeps_the_events_log_and_the_positions_pnl() -> None:
    # a default-sized terminal: the right-hand panes shrink (SHORT_UNDER) so that the
    # events log keeps rows, and the positions pane leaves out columns, not the PnL
    app = build("main")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        events = app.screen.query_one(EventsLog)
        assert events.size.height >= 3 and len(events.text_lines()) >= 3
        header = app.screen.query_one(PositionsPane).text_lines()[0].split()
        assert {"side", "size", "uPnL", "stop"} <= set(header) and "entry" not in header
