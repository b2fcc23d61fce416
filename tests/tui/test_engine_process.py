"""The engine in a child process (`EngineProcess`, what `hip3term run` uses by default).

Real parts only: the child builds the real `TradingNode` with `launch` (which starts the
embedded simulator as its own child on 127.0.0.1), the app is the real workstation, and
the keys go through the pipe to the engine loop in the other process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from hip3term.config import Settings, load_settings
from hip3term.core.events import LatchState
from hip3term.keys import SecretKey
from hip3term.runtime.credentials import Credentials
from hip3term.runtime.process import EngineProcess, EngineProcessError, NodeSpec
from hip3term.runtime.snapshot import OperatorCommand
from hip3term.tui.app import WorkstationApp
from hip3term.tui.screens.confirm import ConfirmScreen
from hip3term.tui.screens.resume import ResumeScreen
from tests.tui.conftest import wait_for

KEY = SecretKey.from_hex("0x" + "5a" * 32)  # a throwaway test key, never used for real
SIZE = (160, 48)


def _settings(root: Path, **extra: object) -> Settings:
    overrides = {"paths.state_dir": str(root / "state"),
                 "paths.journal": str(root / "state" / "journal.sqlite"),
                 "paths.recordings_dir": str(root / "recordings"), **extra}  # fmt: skip
    return load_settings(None, overrides, env={})


def _engine(root: Path, **extra: object) -> EngineProcess:
    credentials = Credentials(KEY, KEY.address, ((KEY.address, Decimal(100_000)),), "test key")
    spec = NodeSpec.of(_settings(root, **extra), credentials, root / "state" / "hip3term.log")
    return EngineProcess(spec, KEY.secret_bytes(), publish_interval_s=0.05)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie child of ours still answers kill 0: ask /proc
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


async def test_keys_reach_the_engine_process_and_quit_ends_it(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    app = WorkstationApp(engine, stop_timeout_s=30)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.last_snapshot is not None and app.last_snapshot.ready.ready,
                       30.0, "READY-TRADING from the engine process")  # fmt: skip
        assert engine.pid is not None and engine.pid != os.getpid()
        await pilot.press("h")
        await wait_for(lambda: app.last_snapshot.latch.state is LatchState.TRIPPED, 5.0,
                       "the latch tripped by h")  # fmt: skip
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ResumeScreen), 5.0, "the resume modal")
        await pilot.press("y")
        await wait_for(lambda: app.last_snapshot.latch.state is LatchState.ACTIVE, 5.0,
                       "the latch active again")  # fmt: skip
        await pilot.press("q")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), 5.0, "the quit dialog")
        await pilot.press("y")
        await wait_for(lambda: app.return_code is not None, 30.0, "the app to exit")
    assert app.return_code == 0
    assert engine.finished and engine.failure is None
    assert engine.join(10)
    assert _gone(engine.pid)
    log = (tmp_path / "state" / "hip3term.log").read_text()
    assert "latch_tripped: operator" in log  # the child's records went to the file
    assert KEY.secret_bytes().hex() not in log


def test_a_failure_in_the_child_is_reported_with_its_kind(tmp_path: Path) -> None:
    engine = _engine(tmp_path, **{"strategy.params": {"threshold_bps": "lots"}})
    engine.start()
    assert not engine.wait_ready(60)
    assert engine.join(30)
    assert isinstance(engine.failure, EngineProcessError)
    assert engine.failure.kind == "PluginError"
    assert "threshold_bps" in str(engine.failure)


def test_commands_get_answers_and_a_stopped_engine_refuses_them(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    engine.start()
    try:
        assert engine.wait_ready(60)
        assert engine.pid is not None
        os.kill(engine.pid, signal.SIGHUP)  # the terminal closing: the TUI decides, not ^C/HUP
        os.kill(engine.pid, signal.SIGINT)
        result = engine.command(OperatorCommand.PAUSE, reason="test pause")
        assert result.accepted, result.message
        deadline = time.monotonic() + 5
        while engine.snapshot().latch.state is not LatchState.PAUSED:
            assert time.monotonic() < deadline, "the pause never showed in a snapshot"
            time.sleep(0.05)
    finally:
        engine.request_stop("test done")
        assert engine.join(30)
    assert engine.failure is None
    refused = engine.command(OperatorCommand.RESUME)
    assert not refused.accepted and "not running" in refused.message


_PARENT = """
import sys, time
from decimal import Decimal
from pathlib import Path
from hip3term.config import load_settings
from hip3term.keys import SecretKey
from hip3term.runtime.credentials import Credentials
from hip3term.runtime.process import EngineProcess, NodeSpec

if __name__ == "__main__":
    root = Path(sys.argv[1])
    key = SecretKey.from_hex("0x" + "5a" * 32)
    settings = load_settings(None, {"paths.state_dir": str(root / "state"),
                                    "paths.journal": str(root / "state" / "j.sqlite"),
                                    "paths.recordings_dir": str(root / "rec")}, env={})
    spec = NodeSpec.of(settings, Credentials(key, key.address, (), "test key"))
    engine = EngineProcess(spec, key.secret_bytes())
    engine.start()
    print(engine.pid, engine.wait_ready(60), flush=True)
    time.sleep(600)
"""


def test_the_engine_process_stops_when_the_tui_process_dies(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert parent.stdout is not None
        pid_text, ready = parent.stdout.readline().split()
        assert ready == "True"
        child = int(pid_text)
        assert not _gone(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 30
        while not _gone(child):
            assert time.monotonic() < deadline, "the orphaned engine process kept running"
            time.sleep(0.1)
    finally:
        parent.kill()
        parent.wait(10)
