"""A replay on its own thread and virtual-time loop, driven as a `NodeHandle` (the TUI).

`ReplayThread(config)` runs `runner.ReplaySession` on a `VirtualTimeLoop` in a thread of
its own, at the pace of its `Pacer`. It satisfies `runtime.snapshot.NodeHandle`:
`snapshot()` returns the snapshot the replay loop last published (every
`publish_interval_s` of real time, and after each command or pace change: a reference
read, never a wait), `command()` runs an operator command on the replay's engine and
waits for its answer, `request_stop()` ends the replay. The replay controls
`toggle_pause()`, `step()`, `faster()` and `slower()` act on the pacer from any thread.

When the replay ends the thread keeps the last snapshot (phase "finished") and the
`result`; `failure` holds the exception that ended it, if any.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from hip3term.recording.reader import RecordingReader
from hip3term.replay.clock import Pacer, VirtualClock, VirtualTimeLoop, run_virtual
from hip3term.replay.runner import ReplayConfig, ReplayResult, ReplaySession
from hip3term.replay.venue import recorded_start_ns
from hip3term.runtime.snapshot import CommandResult, NodeSnapshot, OperatorCommand

__all__ = ["SPEEDS", "ReplayThread"]

_log = logging.getLogger("hip3term.replay")

SPEEDS: Final[tuple[float | None, ...]] = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0, None)
"""The speed ladder of `faster()` and `slower()` (None: as fast as possible)."""


class ReplayThread:
    """A replay behind a thread-safe `NodeHandle` (see the module docstring).

    Args:
        config: the replay (`config.speed` is the starting speed).
        paused: start paused.
        publish_interval_s: real seconds between published snapshots.
        command_timeout_s: how long `command()` waits for the replay loop.
    """

    def __init__(self, config: ReplayConfig, *, paused: bool = False,
                 publish_interval_s: float = 0.1,
                 command_timeout_s: float = 5.0) -> None:  # fmt: skip
        self.config = config
        self.publish_interval_s = publish_interval_s
        self.command_timeout_s = command_timeout_s
        header = RecordingReader(config.recording).header
        self.clock = VirtualClock(recorded_start_ns(header))
        self.pacer = Pacer(config.speed, paused=paused)
        self.loop = VirtualTimeLoop(self.clock, self.pacer)
        self.loop.set_idle_hook(self._idle)
        self.result: ReplayResult | None = None
        self.failure: BaseException | None = None
        self._session: ReplaySession | None = None
        self._latest: NodeSnapshot | None = None
        self._published = 0.0
        self._stop_reason: str | None = None
        self._thread = threading.Thread(target=self._main, name="hip3term-replay", daemon=True)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the replay thread."""
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def finished(self) -> bool:
        """True once the replay has ended (its result or failure is set)."""
        return self._thread.ident is not None and not self._thread.is_alive()

    # ------------------------------------------------------------ NodeHandle

    def snapshot(self) -> NodeSnapshot:
        """The last published snapshot.

        Raises:
            RuntimeError: nothing was published yet.
        """
        latest = self._latest
        if latest is None:
            raise RuntimeError("the replay has not published a snapshot yet")
        return latest

    def command(self, command: OperatorCommand, *, who: str = "operator",
                reason: str = "") -> CommandResult:  # fmt: skip
        """Run an operator command on the replay's engine and wait for the answer."""
        def run(session: ReplaySession) -> CommandResult:
            return session.command(command, who=who, reason=reason)

        return self._on_loop(run) or CommandResult(False, "the replay is not running")

    def request_stop(self, reason: str = "operator quit") -> None:
        """End the replay (idempotent)."""
        self._stop_reason = self._stop_reason or reason
        self._call_soon(lambda: self._session.request_stop(reason) if self._session else None)

    # ------------------------------------------------------------ replay controls

    def toggle_pause(self) -> None:
        """Pause or resume virtual time."""
        self._call_soon(self.pacer.toggle)

    def step(self) -> None:
        """Pause, then run to the next market frame."""
        self._call_soon(self.pacer.step)

    def faster(self) -> None:
        """The next speed up the ladder (`SPEEDS`)."""
        self._call_soon(lambda: self.pacer.set_speed(_next_speed(self.pacer.speed, +1)))

    def slower(self) -> None:
        """The next speed down the ladder."""
        self._call_soon(lambda: self.pacer.set_speed(_next_speed(self.pacer.speed, -1)))

    # ------------------------------------------------------------ replay thread

    def _call_soon(self, action: Callable[[], object]) -> None:
        def run() -> None:
            action()
            self._publish()

        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to do
            self.loop.call_soon_threadsafe(run)

    def _on_loop(self, func: Callable[[ReplaySession], CommandResult]) -> CommandResult | None:
        async def run() -> CommandResult | None:
            if self._session is None:
                return None
            result = func(self._session)
            self._publish()
            return result

        try:
            future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        except RuntimeError:
            return None
        try:
            return future.result(self.command_timeout_s)
        except concurrent.futures.TimeoutError:
            return CommandResult(False, "the replay did not answer in time")

    def _main(self) -> None:
        started = time.perf_counter()

        async def main() -> None:
            self._session = ReplaySession(self.config, self.clock, self.pacer)
            if self._stop_reason is not None:
                self._session.request_stop(self._stop_reason)
            self._publish()
            await self._session.run()

        try:
            run_virtual(main(), self.loop)
            if self._session is not None:
                self.result = self._session.result(time.perf_counter() - started)
        except BaseException as exc:  # reason: any end of the replay is reported to the UI
            self.failure = exc
            _log.exception("the replay stopped with an error")
        finally:
            self._publish()

    def _idle(self) -> None:
        if time.monotonic() - self._published >= self.publish_interval_s:
            self._publish()

    def _publish(self) -> None:
        session = self._session
        if session is None:
            return
        self._published = time.monotonic()
        try:
            self._latest = session.snapshot()
        except Exception:  # a broken snapshot must not end the replay
            _log.exception("replay snapshot failed")


def _next_speed(speed: float | None, direction: int) -> float | None:
    if speed in SPEEDS:
        index = SPEEDS.index(speed) + direction
    elif speed is None:
        index = len(SPEEDS) - 1
    else:
        finite = [s for s in SPEEDS if s is not None]
        below = sum(1 for s in finite if s < speed)
        index = below if direction > 0 else below - 1
    return SPEEDS[max(0, min(len(SPEEDS) - 1, index))]
