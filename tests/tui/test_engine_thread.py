"""`EngineThread`: the node on its own thread and loop behind a thread-safe handle."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator

import pytest

from hip3term.core.events import LatchState
from hip3term.runtime.snapshot import OperatorCommand
from hip3term.runtime.thread import EngineThread
from tests.tui.fakes import RunnableFake

JOIN_S = 5.0


@pytest.fixture(autouse=True)
def _restore_switch_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def _engine(node: RunnableFake, **options: object) -> EngineThread:
    async def factory() -> RunnableFake:
        return node

    return EngineThread(factory, publish_interval_s=0.02, **options)  # type: ignore[arg-type]


def _stopped(engine: EngineThread) -> None:
    engine.request_stop("test")
    assert engine.join(JOIN_S)


def test_publishes_the_node_snapshot_and_sets_the_switch_interval() -> None:
    node = RunnableFake()
    engine = _engine(node, switch_interval_s=0.0005)
    with pytest.raises(RuntimeError, match="not published"):
        engine.snapshot()
    engine.start()
    assert engine.wait_ready(JOIN_S)
    assert engine.snapshot() is node.current
    assert sys.getswitchinterval() == pytest.approx(0.0005)
    _stopped(engine)
    assert engine.finished and engine.failure is None
    assert node.stop_reason == "test"


def test_command_runs_on_the_engine_thread_and_the_effect_is_published_at_once() -> None:
    node = RunnableFake()
    engine = _engine(node)
    engine.publish_interval_s = 3600.0  # only the publish after the command can show it
    engine.start()
    assert engine.wait_ready(JOIN_S)
    result = engine.command(OperatorCommand.HALT, who="test", reason="r")
    assert result.accepted
    assert node.threads == ["hip3term-engine"]
    assert engine.snapshot().latch.state is LatchState.TRIPPED
    _stopped(engine)


async def test_command_async_answers_on_the_callers_loop() -> None:
    node = RunnableFake()
    engine = _engine(node)
    engine.start()
    assert await asyncio.to_thread(engine.wait_ready, JOIN_S)
    result = await engine.command_async(OperatorCommand.PAUSE, reason="test")
    assert result.accepted and node.threads == ["hip3term-engine"]
    await asyncio.to_thread(_stopped, engine)


def test_command_from_the_engine_thread_itself_is_refused() -> None:
    engine = _engine(RunnableFake())
    engine.start()
    assert engine.wait_ready(JOIN_S)
    with pytest.raises(RuntimeError, match="deadlock"):
        engine.call(lambda _: engine.command(OperatorCommand.STATUS))
    _stopped(engine)


def test_commands_after_the_end_are_refused_not_lost() -> None:
    engine = _engine(RunnableFake())
    engine.start()
    assert engine.wait_ready(JOIN_S)
    _stopped(engine)
    result = engine.command(OperatorCommand.HALT)
    assert not result.accepted and "not running" in result.message


def test_stop_before_start_never_builds_the_node() -> None:
    built = threading.Event()

    async def factory() -> RunnableFake:
        built.set()
        return RunnableFake()

    engine = EngineThread(factory)
    engine.request_stop("early")
    engine.start()
    assert engine.join(JOIN_S)
    assert not built.is_set() and engine.failure is None


def test_stop_while_the_node_is_being_built_abandons_the_start() -> None:
    entered = threading.Event()

    async def factory() -> RunnableFake:
        entered.set()
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    engine = EngineThread(factory)
    engine.start()
    assert entered.wait(JOIN_S)
    engine.request_stop("abandon")
    assert engine.join(JOIN_S)
    assert engine.failure is None and engine.latest is None


def test_a_failing_factory_is_reported() -> None:
    async def factory() -> RunnableFake:
        raise ValueError("no market")

    engine = EngineThread(factory)
    engine.start()
    assert not engine.wait_ready(JOIN_S)
    assert engine.join(JOIN_S)
    assert isinstance(engine.failure, ValueError)


def test_a_failing_node_is_reported_with_its_last_snapshot() -> None:
    node = RunnableFake(fail=RuntimeError("boom"))
    engine = _engine(node)
    engine.start()
    assert engine.join(JOIN_S)
    assert isinstance(engine.failure, RuntimeError)
    assert engine.latest is node.current


def test_the_engine_loop_is_uvloop_when_asked_for() -> None:
    # uvloop is a dependency on Linux (pyproject.toml)
    engine = _engine(RunnableFake(), use_uvloop=True)
    engine.start()
    assert engine.wait_ready(JOIN_S)
    module = engine.call(lambda _: type(asyncio.get_running_loop()).__module__)
    assert module.startswith("uvloop")
    _stopped(engine)
