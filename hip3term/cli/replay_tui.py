"""`hip3term replay --tui`: the workstation UI on a replay, with replay keys.

Imported by `replay_cmd` only when --tui is given (it imports textual). The replay runs on
its own thread and virtual-time loop (`hip3term.replay.thread.ReplayThread`), which is a
`NodeHandle`: the workstation app shows its snapshots exactly as a live node's (badge
"REPLAY <speed>", phase running / paused / finished), and its operator keys (halt,
flatten, cancel, pause, resume) act on the replay's engine. Added keys: space pauses and
resumes the replay, n steps one market frame (pausing first), + and - change the speed
along 0.25x ... 100x, max. Quitting ends the replay; the report follows in the terminal.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from textual.binding import Binding, BindingType

from hip3term.replay.runner import ReplayConfig, ReplayResult
from hip3term.replay.thread import ReplayThread
from hip3term.tui.app import WorkstationApp

__all__ = ["REPLAY_BINDINGS", "ReplayApp", "run_replay_tui"]

REPLAY_BINDINGS: tuple[Binding, ...] = (
    Binding("space", "replay_toggle", "play/pause", id="replay_pause"),
    Binding("n", "replay_step", "step", id="replay_step"),
    Binding("plus,equals_sign", "replay_faster", "faster", id="replay_faster"),
    Binding("minus", "replay_slower", "slower", id="replay_slower"),
)
"""The replay's keys, added to the workstation's."""


class ReplayApp(WorkstationApp):
    """The workstation app on a `ReplayThread`, with the replay keys."""

    BINDINGS: ClassVar[list[BindingType]] = [*WorkstationApp.BINDINGS, *REPLAY_BINDINGS]

    def __init__(self, replay: ReplayThread, *, cancel_on_quit: bool = True,
                 refresh_hz: float = 10.0) -> None:  # fmt: skip
        super().__init__(replay, cancel_on_quit=cancel_on_quit, refresh_hz=refresh_hz)
        self.replay = replay

    def action_replay_toggle(self) -> None:
        """Pause or resume the replay."""
        self.replay.toggle_pause()

    def action_replay_step(self) -> None:
        """Run to the next market frame, then pause."""
        self.replay.step()

    def action_replay_faster(self) -> None:
        """The next speed up."""
        self.replay.faster()

    def action_replay_slower(self) -> None:
        """The next speed down."""
        self.replay.slower()


def run_replay_tui(config: ReplayConfig) -> ReplayResult | None:
    """Replay `config` in the workstation UI until the operator quits; its result.

    Returns None when the replay failed (the error is printed).
    """
    replay = ReplayThread(config)
    root = logging.getLogger()
    terminal = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    for handler in terminal:  # log lines would draw over the UI
        root.removeHandler(handler)
    silent = logging.NullHandler()
    root.addHandler(silent)
    replay.start()
    app = ReplayApp(replay, cancel_on_quit=config.settings.risk.cancel_all_on_quit)
    try:
        app.run()
    finally:
        replay.request_stop("the TUI exited")
        replay.join(30.0)
        root.removeHandler(silent)
        for handler in terminal:
            root.addHandler(handler)
    if replay.failure is not None:
        print(f"hip3term: the replay stopped: {type(replay.failure).__name__}: "
              f"{replay.failure}")  # fmt: skip
        return None
    return replay.result
