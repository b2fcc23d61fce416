"""Pilot tests of the app driving an `EngineThread`: mainnet confirmation, engine failure.

The node is the scripted `RunnableFake`, run by a real `EngineThread` on its own thread
and loop; the app starts it, pulls its snapshots and sends it commands across threads.
"""

from __future__ import annotations

import asyncio

from hip3term.runtime.snapshot import OperatorCommand
from hip3term.runtime.thread import EngineThread
from hip3term.tui.app import WorkstationApp
from hip3term.tui.screens.confirm import AlertScreen
from hip3term.tui.screens.mainnet import CONFIRM_WORD, MainnetConfirmScreen
from hip3term.tui.widgets.lines import LinePane
from tests.tui.conftest import shown_text, wait_for
from tests.tui.fakes import RunnableFake, make_snapshot

SIZE = (120, 36)


def _started(engine: EngineThread) -> bool:
    # read through a function: mypy would keep the narrowed value across the awaits
    return engine.started


def _engine(node: RunnableFake) -> EngineThread:
    async def factory() -> RunnableFake:
        return node

    return EngineThread(factory, publish_interval_s=0.05, use_uvloop=False)


async def test_mainnet_live_starts_nothing_until_the_word_is_typed() -> None:
    node = RunnableFake(make_snapshot(venue="mainnet"))
    engine = _engine(node)
    app = WorkstationApp(engine, confirm_mainnet=True, mainnet_summary="xyz:COIN, $50 max")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainnetConfirmScreen)
        await pilot.press(*"mainnet", "enter")  # not the exact word
        await pilot.pause()
        assert isinstance(app.screen, MainnetConfirmScreen)
        assert "not MAINNET" in await shown_text(app, MainnetConfirmScreen, "#mainnet-error")
        assert not _started(engine)
        await pilot.press(*CONFIRM_WORD, "enter")
        await wait_for(lambda: app.last_snapshot is not None and node.ran, 5.0, "the node")
        assert engine.started
        status = app.main.query_one("#status", LinePane).text_lines()[0]
        assert status.startswith(" MAINNET LIVE ")
        assert node.commands == []
        app.begin_stop("test")
        await wait_for(lambda: not app.is_running, 5.0, "the app to exit")
    assert await asyncio.to_thread(engine.join, 5.0)
    assert node.stop_reason == "test"


async def test_mainnet_declined_exits_with_status_1_and_never_starts() -> None:
    node = RunnableFake(make_snapshot(venue="mainnet"))
    engine = _engine(node)
    app = WorkstationApp(engine, confirm_mainnet=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape")
        await wait_for(lambda: not app.is_running, 5.0, "the app to exit")
    assert app.return_code == 1
    assert not engine.started and not node.ran


async def test_commands_cross_to_the_engine_thread() -> None:
    node = RunnableFake()
    engine = _engine(node)
    app = WorkstationApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.last_snapshot is not None, 5.0, "the first snapshot")
        await pilot.press("c")
        await app.workers.wait_for_complete()
        assert [c for c, _, _ in node.commands] == [OperatorCommand.CANCEL]
        assert node.threads == ["hip3term-engine"]
        assert app.results[-1].accepted
        app.begin_stop("test")
        await wait_for(lambda: not app.is_running, 5.0, "the app to exit")
    assert await asyncio.to_thread(engine.join, 5.0)
    assert app.return_code == 0


async def test_engine_failure_is_shown_then_the_app_exits_with_status_1() -> None:
    node = RunnableFake(fail=RuntimeError("feed exploded"))
    engine = _engine(node)
    app = WorkstationApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        assert "feed exploded" in await shown_text(app, AlertScreen, "#dialog-body")
        banner = app.main.query_one("#banner", LinePane)
        assert banner.display and "ENGINE STOPPED" in banner.text_lines()[0]
        await pilot.press("enter")
        await wait_for(lambda: not app.is_running, 5.0, "the app to exit")
    assert app.return_code == 1
    assert isinstance(engine.failure, RuntimeError)
