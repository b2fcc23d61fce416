"""Pilot tests of the keys, modals and screens with a scripted node (no engine, no network).

The scripted node (`FakeNode`) records every command; each test checks which command
(if any) a key sequence sent and what the screen shows.
"""

from __future__ import annotations

import pytest
from textual.screen import Screen

from hip3term.core.events import LatchState
from hip3term.errors import ConfigError
from hip3term.runtime.snapshot import OperatorCommand
from hip3term.tui.app import WorkstationApp
from hip3term.tui.bindings import KEYS, keymap
from hip3term.tui.screens.confirm import ConfirmScreen
from hip3term.tui.screens.help import PANES, HelpScreen
from hip3term.tui.screens.resume import ResumeScreen
from hip3term.tui.widgets.lines import LinePane
from hip3term.tui.widgets.status_bar import LatchBanner, StatusBar
from tests.tui.conftest import shown_text
from tests.tui.fakes import FakeNode, make_snapshot, tripped

SIZE = (160, 48)


def _sent(node: FakeNode) -> list[OperatorCommand]:
    return [command for command, _, _ in node.commands]


# Read through functions: mypy would otherwise keep a narrowed value across the awaits.
def _shown(pane: LinePane) -> bool:
    return bool(pane.display)


def _stop_reason(node: FakeNode) -> str | None:
    return node.stop_reason


async def _run_keys(node: FakeNode, *keys: str) -> tuple[WorkstationApp, Screen[object]]:
    """Press `keys`; the app and the screen on top at the end."""
    app = WorkstationApp(node)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
        top = app.screen
    return app, top


async def test_h_sends_halt_at_once_and_the_banner_shows_the_reason() -> None:
    node = FakeNode()
    app = WorkstationApp(node)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        banner = app.main.query_one(LatchBanner)
        assert not _shown(banner)
        await pilot.press("h")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert _sent(node) == [OperatorCommand.HALT]
        assert _shown(banner)
        assert "TRIPPED" in banner.text_lines()[0]
        assert "halt key" in banner.text_lines()[0]
        assert "TRIPPED" in app.main.query_one(StatusBar).text_lines()[0]


async def test_c_sends_cancel_without_confirmation() -> None:
    node = FakeNode()
    await _run_keys(node, "c")
    assert _sent(node) == [OperatorCommand.CANCEL]


@pytest.mark.parametrize(("answer", "expected"), [("y", [OperatorCommand.FLATTEN]),
                                                  ("n", []), ("escape", [])])
async def test_f_flattens_only_after_yes(answer: str, expected: list[OperatorCommand]) -> None:
    node = FakeNode()
    _, top = await _run_keys(node, "f", answer)
    assert _sent(node) == expected
    assert not isinstance(top, ConfirmScreen)


async def test_enter_in_a_confirmation_presses_cancel_not_confirm() -> None:
    node = FakeNode()
    await _run_keys(node, "f", "enter")
    assert _sent(node) == []


async def test_p_pauses_then_unpauses() -> None:
    node = FakeNode()
    await _run_keys(node, "p", "p")
    assert _sent(node) == [OperatorCommand.PAUSE, OperatorCommand.RESUME]
    assert node.current.latch.state is LatchState.ACTIVE


async def test_p_on_a_tripped_latch_sends_nothing() -> None:
    node = FakeNode(tripped(make_snapshot()))
    await _run_keys(node, "p")
    assert _sent(node) == []


async def test_r_when_active_opens_nothing_and_sends_nothing() -> None:
    node = FakeNode()
    _, top = await _run_keys(node, "r")
    assert _sent(node) == []
    assert not isinstance(top, ResumeScreen)


async def test_r_shows_the_trip_reason_and_resumes_only_after_yes() -> None:
    node = FakeNode(tripped(make_snapshot(), "loss limit reached"))
    app = WorkstationApp(node)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        body = await shown_text(app, ResumeScreen, "#dialog-body")
        assert "loss limit reached" in body
        assert "TRIPPED" in body
        assert _sent(node) == []
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert _sent(node) == [OperatorCommand.RESUME]
        assert "loss limit reached" in node.commands[0][2]
        assert not app.main.query_one(LatchBanner).display


async def test_q_asks_then_stops_the_node_and_exits() -> None:
    node = FakeNode()
    app = WorkstationApp(node)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert _stop_reason(node) is None
        await pilot.press("y")
        await pilot.pause()
    assert _stop_reason(node) == "operator quit"
    assert app.return_code == 0


async def test_q_declined_keeps_running() -> None:
    node = FakeNode()
    _, top = await _run_keys(node, "q", "n")
    assert node.stop_reason is None
    assert not isinstance(top, ConfirmScreen)


async def test_operator_keys_are_off_inside_a_modal_but_halt_still_works() -> None:
    node = FakeNode()
    app = WorkstationApp(node)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        for key in ("f", "c", "p", "q"):
            await pilot.press(key)
        await pilot.press("h")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert _sent(node) == [OperatorCommand.HALT]
        assert isinstance(app.screen, HelpScreen)


async def test_help_lists_every_key_and_pane_and_escape_closes_it() -> None:
    node = FakeNode()
    app = WorkstationApp(node)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = await shown_text(app, HelpScreen, "#help-text")
        for spec in KEYS:
            assert spec.help[:40] in text.replace("\n", " ")
        for name, _ in PANES:
            assert name in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_keys_are_remapped_from_the_config() -> None:
    node = FakeNode()
    app = WorkstationApp(node, keys={"halt": "x", "help": "h"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await pilot.press("h")
        await pilot.pause()
        assert _sent(node) == [OperatorCommand.HALT]
        help_text = await shown_text(app, HelpScreen, "#help-text")
        assert "x" in help_text.split("HALT")[0]


def test_keymap_refuses_unknown_ids_and_shared_keys() -> None:
    assert keymap({"halt": "x"})["halt"] == "x"
    with pytest.raises(ConfigError, match="unknown binding"):
        keymap({"explode": "x"})
    with pytest.raises(ConfigError, match="both"):
        keymap({"halt": "f"})


@pytest.mark.parametrize(("venue", "mode", "badge"), [
    ("sim", "trading", " SIM "), ("testnet", "trading", " TESTNET "),
    ("mainnet", "trading", " MAINNET LIVE "), ("testnet", "observe", " TESTNET OBSERVE "),
    ("mainnet", "observe", " MAINNET OBSERVE "),
])  # fmt: skip
async def test_status_bar_shows_venue_and_mode(venue: str, mode: str, badge: str) -> None:
    node = FakeNode(make_snapshot(venue=venue, mode=mode))
    app = WorkstationApp(node)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        line = app.main.query_one(StatusBar).text_lines()[0]
        assert line.startswith(badge)


async def test_every_pane_draws_something_at_120x36_and_160x48() -> None:
    for size in ((120, 36), (160, 48)):
        app = WorkstationApp(FakeNode())
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            for pane in app.main.query(LinePane):
                if pane.id != "banner":
                    assert any(line.strip() for line in pane.text_lines()), pane.id
