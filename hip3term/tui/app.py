"""The workstation app (`WorkstationApp`) and its entry point `run_tui`.

The app never touches engine objects: it pulls the latest immutable `NodeSnapshot` at
`refresh_hz` (one `set_interval`, 10 Hz by default) and hands it to the main screen, whose
panes repaint only what changed. `hip3term run` runs the node in a child process
(`hip3term.runtime.process.EngineProcess`, the default: rendering never holds the
engine's interpreter lock) or on a thread of this process (`EngineThread`,
`tui.engine = "thread"`); either way commands reach the engine without blocking the UI
loop (`command_async`). A plain `NodeHandle` (tests, snapshot apps) is called directly.

Keys (remappable by binding id, `hip3term.tui.bindings`): h halt, f flatten (confirm),
c cancel all, p pause/unpause, r resume after a trip (modal with the reason; confirm),
q quit (confirm; the node cancels all first per config), ? help.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import BindingType
from textual.screen import ModalScreen

from hip3term.config.models import Settings
from hip3term.core.events import LatchState
from hip3term.runtime.process import EngineProcess, EngineProcessError
from hip3term.runtime.snapshot import (
    CommandResult,
    EventLine,
    NodeHandle,
    NodeSnapshot,
    OperatorCommand,
)
from hip3term.runtime.thread import EngineThread
from hip3term.tui.bindings import app_bindings, key_label, keymap
from hip3term.tui.screens.confirm import AlertScreen, ConfirmScreen
from hip3term.tui.screens.help import HelpScreen
from hip3term.tui.screens.main import MainScreen
from hip3term.tui.screens.mainnet import MainnetConfirmScreen
from hip3term.tui.screens.resume import ResumeScreen

__all__ = ["WorkstationApp", "run_tui"]

_OPERATOR_ACTIONS = frozenset({"flatten", "cancel_all", "pause", "resume", "quit"})

Engine = EngineThread | EngineProcess
"""An engine the app starts, polls and stops (on a thread or in a child process)."""


def failure_text(failure: BaseException) -> str:
    """The "kind: message" line of an engine failure (a child's keeps its original type name)."""
    kind = failure.kind if isinstance(failure, EngineProcessError) else type(failure).__name__
    return f"{kind}: {failure}"


class WorkstationApp(App[int]):
    """The workstation (see the module docstring).

    Args:
        node: an `EngineProcess` or `EngineThread` (started by the app, after the mainnet
            confirmation when asked) or any running `NodeHandle`.
        keys: binding id -> key overrides (the config's `[tui.bindings]`).
        confirm_mainnet: ask for the typed confirmation before starting the engine.
        mainnet_summary: what the confirmation screen says will happen.
        cancel_on_quit: say in the quit dialog that open orders are canceled first.
        refresh_hz: snapshot pulls a second (0: none; tests then call `show_snapshot`).
        stop_timeout_s: how long quitting waits for the engine to stop.
        freeze_gc: at the first snapshot, `gc.freeze()` everything allocated so far (the
            imports, the app, the node). A full collection otherwise scans them all and
            stops every thread, the engine's included, for 100-150 ms
            (`benchmarks/bench_tui_lag.py`); frozen, it scans only what came later.
        yield_cpu: with an `EngineProcess`, once it is started lower this process's CPU
            priority by this much (`os.nice`): on a machine with few cores the engine
            (and the simulator it starts, at the engine's priority) then gets a core
            before the screen does. 0 leaves the priority alone.
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "hip3term"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = list(app_bindings())

    def __init__(self, node: NodeHandle | Engine, *, keys: Mapping[str, str] | None = None,
                 confirm_mainnet: bool = False, mainnet_summary: str = "",
                 cancel_on_quit: bool = True, refresh_hz: float = 10.0,
                 stop_timeout_s: float = 20.0, freeze_gc: bool = False,
                 yield_cpu: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.node = node
        self.engine = node if isinstance(node, EngineThread | EngineProcess) else None
        self.keys = keymap(keys)
        self.confirm_mainnet = confirm_mainnet
        self.mainnet_summary = mainnet_summary
        self.cancel_on_quit = cancel_on_quit
        self.refresh_hz = refresh_hz
        self.stop_timeout_s = stop_timeout_s
        self.freeze_gc = freeze_gc
        self.yield_cpu = yield_cpu
        self.last_snapshot: NodeSnapshot | None = None
        self.stopping = False
        self.failure_shown = False
        self.results: list[CommandResult] = []
        self.main = MainScreen()

    # ------------------------------------------------------------ lifecycle

    def on_mount(self) -> None:
        """Main screen, keymap, the poll timer; the engine (after the mainnet question)."""
        self.set_keymap(self.keys)
        self.push_screen(self.main)
        if self.confirm_mainnet and self.engine is not None and not self.engine.started:
            self.push_screen(MainnetConfirmScreen(self.mainnet_summary), self._mainnet_answer)
        else:
            self._start_engine()
        if self.refresh_hz > 0:
            self.set_interval(1.0 / self.refresh_hz, self.poll, name="snapshot-poll")

    def _mainnet_answer(self, confirmed: bool | None) -> None:
        if confirmed:
            self._start_engine()
        else:
            self.exit(1, return_code=1, message="mainnet live not confirmed: nothing was started")

    def _start_engine(self) -> None:
        if self.engine is not None and not self.engine.started:
            self.engine.start()
            if self.yield_cpu > 0 and isinstance(self.engine, EngineProcess):
                with contextlib.suppress(OSError):
                    os.nice(self.yield_cpu)

    def poll(self) -> None:
        """Pull the latest snapshot; show it if new; notice the engine's end."""
        snapshot = self._latest()
        if snapshot is not None and snapshot is not self.last_snapshot:
            if self.last_snapshot is None and self.freeze_gc:
                gc.freeze()
            self.show_snapshot(snapshot)
        if self.engine is not None and self.engine.finished:
            self._engine_finished(self.engine)

    def _latest(self) -> NodeSnapshot | None:
        if self.engine is not None:
            return self.engine.latest
        try:
            return self.node.snapshot()
        except Exception as exc:  # a broken handle is shown, never fatal to the UI
            self.log.error(f"snapshot failed: {exc!r}")
            return None

    def show_snapshot(self, snapshot: NodeSnapshot) -> None:
        """Draw `snapshot` now (the poll timer does this; tests call it directly)."""
        self.last_snapshot = snapshot
        self.main.show(snapshot)

    def _engine_finished(self, engine: Engine) -> None:
        if self.stopping:
            code = 0 if engine.failure is None else 1
            self.exit(code, return_code=code)
            return
        if self.failure_shown:
            return
        self.failure_shown = True
        failure = engine.failure
        text = (f"ENGINE STOPPED: {failure_text(failure)}" if failure
                else "ENGINE STOPPED: the node ended on its own")  # fmt: skip
        self.main.alert(text + " — press Enter to exit")
        code = 1 if failure else 0
        self.push_screen(AlertScreen("The engine stopped", text[len("ENGINE STOPPED: "):]),
                         lambda _: self.exit(code, return_code=code))  # fmt: skip

    # ------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Operator keys act on the main screen only; halt and help work everywhere."""
        if action in _OPERATOR_ACTIONS:
            return not isinstance(self.screen, ModalScreen | MainnetConfirmScreen)
        if action == "halt":
            return not isinstance(self.screen, MainnetConfirmScreen)
        return True

    def action_halt(self) -> None:
        """Trip the latch now (no confirmation: the emergency key)."""
        self._send(OperatorCommand.HALT, "halt key")

    def action_flatten(self) -> None:
        """Flatten every position, after a confirmation."""
        body = ("Close every position with reduce-only IOC orders. This also halts: open "
                "orders are canceled and no new orders go out until you resume.")  # fmt: skip
        self._confirm("Flatten all positions?", body, OperatorCommand.FLATTEN, "flatten key")

    def action_cancel_all(self) -> None:
        """Cancel every open order (hard halt)."""
        self._send(OperatorCommand.CANCEL, "cancel-all key")

    def action_pause(self) -> None:
        """Pause the strategy, or unpause it when it is paused."""
        state = self.last_snapshot.latch.state if self.last_snapshot else LatchState.ACTIVE
        if state is LatchState.ACTIVE:
            self._send(OperatorCommand.PAUSE, "pause key")
        elif state is LatchState.PAUSED:
            self._send(OperatorCommand.RESUME, "unpause key")
        else:
            resume = key_label(self.keys, "resume")
            self.notify(f"The latch is {state.value.upper()}: press {resume} to resume.",
                        severity="warning")  # fmt: skip

    def action_resume(self) -> None:
        """Show the trip reason and resume after a confirmation."""
        latch = self.last_snapshot.latch if self.last_snapshot else None
        if latch is None or latch.state is LatchState.ACTIVE:
            self.notify("Nothing to resume: the latch is ACTIVE.")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._send(OperatorCommand.RESUME, f"resume key after: {latch.reason}")

        self.push_screen(ResumeScreen(latch), answer)

    def action_help(self) -> None:
        """Open the help screen (or close it)."""
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
        else:
            self.push_screen(HelpScreen(self.keys))

    async def action_quit(self) -> None:
        """Quit after a confirmation; the node stops first (cancel-all per config)."""
        if self.stopping:
            return
        note = ("The node cancels every open order first, then stops."
                if self.cancel_on_quit else "Open orders stay on the exchange.")  # fmt: skip
        body = f"{note} Positions are not closed by quitting (flatten first if needed)."

        def answer(yes: bool | None) -> None:
            if yes:
                self.begin_stop("operator quit")

        self.push_screen(ConfirmScreen("Quit hip3term?", body, confirm_label="Quit (y)"),
                         answer)  # fmt: skip

    def begin_stop(self, reason: str) -> None:
        """Ask the node to stop; exit once the engine thread ended (or after the timeout)."""
        self.stopping = True
        self._log_line("operator", f"quit: {reason}; stopping the node")
        self.node.request_stop(reason)
        if self.engine is None or not self.engine.started or self.engine.finished:
            self.exit(0)
            return
        self.main.alert("STOPPING: canceling open orders and closing the session…")
        self.set_timer(self.stop_timeout_s, self._stop_timed_out, name="stop-timeout")

    def _stop_timed_out(self) -> None:
        self.exit(1, return_code=1,
                  message=f"the engine did not stop within {self.stop_timeout_s:g} s")

    # ------------------------------------------------------------ commands

    def _confirm(self, title: str, body: str, command: OperatorCommand, reason: str) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self._send(command, reason)

        self.push_screen(ConfirmScreen(title, body), answer)

    def _send(self, command: OperatorCommand, reason: str) -> None:
        self.run_worker(self._command(command, reason), group="commands",
                        exit_on_error=False)  # fmt: skip

    async def _command(self, command: OperatorCommand, reason: str) -> CommandResult:
        try:
            if self.engine is not None:
                result = await self.engine.command_async(command, who="operator", reason=reason)
            else:
                result = self.node.command(command, who="operator", reason=reason)
        except Exception as exc:
            result = CommandResult(False, f"{command.value} failed: {exc}")
        self.results.append(result)
        self._log_line("key" if result.accepted else "key refused",
                       f"{reason} -> {command.value}: {result.message}",
                       "info" if result.accepted else "warning")  # fmt: skip
        self.notify(result.message, title=command.value,
                    severity="information" if result.accepted else "error")  # fmt: skip
        self.poll()
        return result

    def _log_line(self, kind: str, text: str, severity: str = "info") -> None:
        time_ms = self.last_snapshot.taken_ms if self.last_snapshot else 0
        self.main.log_line(EventLine(time_ms, severity, kind, text))


@contextlib.contextmanager
def _logging_to_file(path: Path | None) -> Iterator[None]:
    # Log records written to the terminal would draw over the TUI: while it runs, the
    # root logger's terminal handlers are swapped for a file (or nothing).
    root = logging.getLogger()
    terminal = [h for h in root.handlers if type(h) is logging.StreamHandler]
    for handler in terminal:
        root.removeHandler(handler)
    added: logging.Handler
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        added = logging.FileHandler(path, encoding="utf-8")
        added.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        added = logging.NullHandler()
    root.addHandler(added)
    try:
        yield
    finally:
        root.removeHandler(added)
        added.close()
        for handler in terminal:
            root.addHandler(handler)


def run_tui(engine: Engine, settings: Settings, *, confirm_mainnet: bool = False,
            mainnet_summary: str = "", log_path: Path | None = None,
            refresh_hz: float = 10.0) -> int:  # fmt: skip
    """Run the workstation on this thread with `engine` (not started yet); exit status.

    Args:
        engine: the node's engine, an `EngineProcess` (a child process) or an
            `EngineThread`; the app starts it (after the mainnet confirmation when asked)
            and stops it on quit.
        settings: the configuration (`tui.bindings`, `risk.cancel_all_on_quit`).
        confirm_mainnet: ask for the typed confirmation ("MAINNET") before the node starts.
        mainnet_summary: account, market and limits, shown on that confirmation screen.
        log_path: where this process's log records go while the TUI runs (None: dropped;
            the events pane still shows warnings and alerts).
        refresh_hz: screen refreshes a second.

    Returns:
        0 after a normal quit; 1 when the engine failed or did not stop in time, or the
        mainnet confirmation was declined.
    """
    keys = {str(binding): key for binding, key in settings.tui.bindings.items()}
    app = WorkstationApp(engine, keys=keys, confirm_mainnet=confirm_mainnet,
                         mainnet_summary=mainnet_summary,
                         cancel_on_quit=settings.risk.cancel_all_on_quit,
                         refresh_hz=refresh_hz, freeze_gc=True,
                         yield_cpu=settings.tui.yield_cpu)  # fmt: skip
    try:
        with _logging_to_file(log_path):
            code = app.run()
    finally:
        if engine.started and not engine.finished:
            engine.request_stop("the TUI exited")
            if not engine.join(app.stop_timeout_s) and isinstance(engine, EngineProcess):
                engine.terminate()
                engine.join(5)
    if engine.failure is not None:
        print(f"hip3term: the engine stopped: {failure_text(engine.failure)}", file=sys.stderr)
        return 1
    return app.return_code or (code or 0)
